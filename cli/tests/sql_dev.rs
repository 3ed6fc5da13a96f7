//! `zerodb sql` as users run it against `zerodb dev`: definitions, an
//! indexed select, an update, a unique violation, a parse error with its
//! caret, JSON output, the query on standard input, zeroql in the shell,
//! concurrent updates of one counter that all count, and statements in an
//! eventual namespace (blocks and uniqueness refused there).

mod cluster_support;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use cluster_support::dev::Dev;
use cluster_support::{free_ports, zerodb, TempDir};

/// Runs `zerodb --dir DIR sql ARGS...`: exit code, stdout, stderr.
fn sql(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = zerodb()
        .arg("--dir")
        .arg(dir)
        .arg("sql")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// Runs a query that must succeed; returns its stdout.
fn sql_ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = sql(dir, args);
    assert_eq!(code, Some(0), "{args:?}\nstdout: {out}\nstderr: {err}");
    out
}

fn json(dir: &Path, query: &str) -> serde_json::Value {
    let out = sql_ok(dir, &["--json", query]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn sql_runs_zeroql_on_a_dev_cluster() {
    let temp = TempDir::new("sql");
    let dir = temp.0.join("cluster");
    let dev = Dev::start(&dir, free_ports(3));

    sql_ok(
        &dir,
        &["DEFINE TABLE person SCHEMALESS; DEFINE INDEX age ON person FIELDS age;"],
    );
    sql_ok(&dir, &["CREATE person:tobie SET name = 'Tobie', age = 33"]);
    sql_ok(&dir, &["CREATE person:jaime SET name='Jaime', age = 40"]);

    // The table form: a header, a rule, one line per row.
    let out = sql_ok(&dir, &["SELECT name FROM person WHERE age > 35"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, vec!["name", "-----", "Jaime", "(1 row)"], "{out}");
    assert_eq!(
        json(&dir, "SELECT name FROM person WHERE age > 35"),
        serde_json::json!([[{"name": "Jaime"}]])
    );
    // The planner uses the index for it.
    let plan = json(&dir, "EXPLAIN SELECT name FROM person WHERE age > 35");
    assert!(plan.to_string().contains("IndexScan"), "{plan}");

    sql_ok(&dir, &["UPDATE person:tobie SET age += 1"]);
    assert_eq!(
        json(&dir, "SELECT name, age FROM person ORDER BY age"),
        serde_json::json!([[{"name": "Tobie", "age": 34}, {"name": "Jaime", "age": 40}]])
    );
    assert_eq!(
        json(
            &dir,
            "UPDATE person SET age += 1 WHERE age >= 40; SELECT age FROM person:jaime"
        ),
        serde_json::json!([[{"age": 41, "id": "person:jaime", "name": "Jaime"}], [{"age": 41}]])
    );

    // A unique violation: exit 3, the index, the value and the record.
    sql_ok(
        &dir,
        &["DEFINE INDEX unique_name ON person FIELDS name UNIQUE"],
    );
    let (code, _, err) = sql(&dir, &["CREATE person:other SET name = 'Jaime'"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("unique_name"), "{err}");
    assert!(err.contains("person:jaime"), "{err}");
    let (code, out, _) = sql(&dir, &["--json", "CREATE person:other SET name = 'Jaime'"]);
    assert_eq!(code, Some(3));
    let answer: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["error"]["kind"], "violation", "{answer}");
    assert_eq!(
        json(&dir, "SELECT * FROM person:other"),
        serde_json::json!([[]])
    );

    // A parse error: exit 2, line:column and a caret under the problem.
    let (code, _, err) = sql(&dir, &["SELECT * FROM person WHERE"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("1:27"), "{err}");
    assert!(err.contains("^"), "{err}");
    assert!(!err.contains("error: error:"), "{err}");

    // Parameters, and the query on standard input.
    assert_eq!(
        json_with(
            &dir,
            &["--param", "min=40"],
            "SELECT name FROM person WHERE age > $min"
        ),
        serde_json::json!([[{"name": "Jaime"}]])
    );
    let mut child = zerodb()
        .arg("--dir")
        .arg(&dir)
        .args(["sql", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"RETURN 1 + 2; SELECT name FROM person:tobie")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer, serde_json::json!([3, [{"name": "Tobie"}]]));

    // The shell takes zeroql lines beside its own commands.
    let mut shell = zerodb()
        .arg("--dir")
        .arg(&dir)
        .arg("shell")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    shell
        .stdin
        .take()
        .unwrap()
        .write_all(b"put k v\nSELECT name FROM person:jaime\nsql RETURN 40 + 2\nexit\n")
        .unwrap();
    let output = shell.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("OK ("), "{out}");
    assert!(out.contains("Jaime"), "{out}");
    assert!(out.contains("42"), "{out}");

    // Concurrent updates of one counter, from separate processes: each
    // reruns on a conflict, so every one counts.
    sql_ok(&dir, &["CREATE counter:c SET n = 0"]);
    let updates: Vec<_> = (0..4)
        .map(|_| {
            zerodb()
                .arg("--dir")
                .arg(&dir)
                .args(["sql", "UPDATE counter:c SET n += 1"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut update in updates {
        assert_eq!(update.wait().unwrap().code(), Some(0));
    }
    assert_eq!(
        json(&dir, "SELECT n FROM counter:c"),
        serde_json::json!([[{"n": 4}]])
    );

    let rest = dev.stop();
    assert!(rest.contains("Stopped."), "{rest}");
}

#[test]
fn sql_runs_in_an_eventual_namespace_without_multi_key_guarantees() {
    let temp = TempDir::new("sql-eventual");
    let dir = temp.0.join("cluster");
    let dev = Dev::start(&dir, free_ports(3));
    let created = zerodb()
        .arg("--dir")
        .arg(&dir)
        .args(["ns", "create", "shop", "--consistency", "eventual"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let in_shop = |query: &str| json_with(&dir, &["--ns", "shop"], query);

    assert_eq!(
        in_shop("DEFINE TABLE item SCHEMALESS; DEFINE INDEX price ON item FIELDS price"),
        serde_json::json!([null, null])
    );
    in_shop("CREATE item:pen SET name = 'pen', price = 2");
    in_shop("CREATE item:ink SET name = 'ink', price = 9");
    // The index answers the range.
    let plan = in_shop("EXPLAIN SELECT name FROM item WHERE price > 5");
    assert!(plan.to_string().contains("IndexScan"), "{plan}");
    assert_eq!(
        in_shop("SELECT name FROM item WHERE price > 5"),
        serde_json::json!([[{"name": "ink"}]])
    );
    in_shop("UPDATE item:pen SET price += 10");
    assert_eq!(
        in_shop("SELECT name FROM item WHERE price > 5 ORDER BY name"),
        serde_json::json!([[{"name": "ink"}, {"name": "pen"}]])
    );
    in_shop("DELETE item:ink");
    assert_eq!(
        in_shop("SELECT name, price FROM item"),
        serde_json::json!([[{"name": "pen", "price": 12}]])
    );

    // What an eventual namespace cannot keep is refused, with why.
    let refusals = [
        (
            "BEGIN; CREATE item:cap SET price = 1; COMMIT",
            "BEGIN ... COMMIT",
        ),
        ("DEFINE INDEX by_name ON item FIELDS name UNIQUE", "UNIQUE"),
        ("DEFINE FIELD code ON item UNIQUE", "UNIQUE"),
    ];
    for (query, what) in refusals {
        let (code, _, err) = sql(&dir, &["--ns", "shop", query]);
        assert_eq!(code, Some(2), "{query}: {err}");
        for part in [
            "namespace \"shop\" is eventual",
            "without multi-key guarantees",
            what,
            "use a strong namespace",
        ] {
            assert!(err.contains(part), "{query}: {err}");
        }
    }
    assert_eq!(
        in_shop("SELECT name FROM item:cap"),
        serde_json::json!([[]])
    );
    let rest = dev.stop();
    assert!(rest.contains("Stopped."), "{rest}");
}

fn json_with(dir: &Path, extra: &[&str], query: &str) -> serde_json::Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    args.push(query);
    let out = sql_ok(dir, &args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn sql_help_names_the_grammar_and_the_exit_codes() {
    let output = zerodb().args(["sql", "--help"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("GRAMMAR.md"), "{help}");
    assert!(help.contains("--json"), "{help}");
    assert!(help.contains("Exit codes"), "{help}");
}

#[test]
fn sql_relates_traverses_and_deletes_edges_on_a_dev_cluster() {
    let temp = TempDir::new("sql-graph");
    let dir = temp.0.join("cluster");
    let dev = Dev::start(&dir, free_ports(3));

    sql_ok(
        &dir,
        &["DEFINE EDGE knows; CREATE person:alice SET name = 'alice';
           CREATE person:bob SET name = 'bob'; CREATE person:carol SET name = 'carol'"],
    );
    // One statement, one transaction: both edges and their four
    // adjacency entries.
    sql_ok(
        &dir,
        &["RELATE person:alice -> knows -> [person:bob, person:carol] SET since = 2020"],
    );
    sql_ok(
        &dir,
        &["RELATE person:bob -> knows -> person:carol SET since = 2024"],
    );
    assert_eq!(
        json(&dir, "person:alice -> knows -> person -> knows -> person"),
        serde_json::json!([["person:carol"]])
    );
    assert_eq!(
        json(&dir, "person:carol <- knows[0..2] <- *"),
        serde_json::json!([["person:alice", "person:bob"]])
    );
    assert_eq!(
        json(
            &dir,
            "SELECT p.name AS name FROM person:alice -> (knows WHERE since < 2021) -> (person AS p) ORDER BY name DESC"
        ),
        serde_json::json!([[{"name": "carol"}, {"name": "bob"}]])
    );
    assert_eq!(
        json(
            &dir,
            "SELECT name, ->knows->person AS knows FROM person:bob"
        ),
        serde_json::json!([[{"name": "bob", "knows": ["person:carol"]}]])
    );

    // Deleting a record deletes its edges and the other ends' entries.
    sql_ok(&dir, &["DELETE person:carol"]);
    let edges = json(&dir, "SELECT `in`, out FROM knows");
    assert_eq!(
        edges,
        serde_json::json!([[{"in": "person:alice", "out": "person:bob"}]])
    );
    assert_eq!(
        json(&dir, "person:alice -> knows -> *"),
        serde_json::json!([["person:bob"]])
    );
    sql_ok(
        &dir,
        &["DELETE person:alice -> knows -> * WHERE since = 2020"],
    );
    assert_eq!(
        json(&dir, "person:bob <- knows <- *"),
        serde_json::json!([[]])
    );

    // Bad input fails with its reason and changes nothing.
    let (code, _, err) = sql(&dir, &["RELATE person:alice -> knows -> person:zed"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot RELATE person:zed: the record does not exist"),
        "{err}"
    );
    let (code, _, err) = sql(&dir, &["person:alice -> knows[3..1] -> *"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("holds no level"), "{err}");
    assert_eq!(json(&dir, "SELECT * FROM knows"), serde_json::json!([[]]));
    dev.stop();
}
