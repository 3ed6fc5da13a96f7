//! The upstream `zeroql-syntax.md` examples of issue 17
//! (`query/tests/common/upstream.rs`, the same code the query crate runs
//! on its in-memory store) through `zerodb sql --raw` on a `zerodb dev`
//! cluster, with their results checked.

mod cluster_support;

#[path = "../../query/tests/common/upstream.rs"]
mod upstream;

use std::path::{Path, PathBuf};

use cluster_support::dev::Dev;
use cluster_support::{free_ports, zerodb, TempDir};
use upstream::ExampleDb;

/// One example's database: its own zeroql database on the shared cluster,
/// followed through `USE` statements as a session would.
struct DevDb {
    dir: PathBuf,
    namespace: String,
    database: String,
}

impl DevDb {
    fn sql(&self, text: &str) -> (Option<i32>, String, String) {
        let output = zerodb()
            .arg("--dir")
            .arg(&self.dir)
            .args(["--ns", &self.namespace, "--db", &self.database])
            .args(["sql", "--raw", text])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    }

    /// Follows `USE NS n [DB d]` / `USE DB d` of a text that ran, as the
    /// session of one connection would between its queries.
    fn follow_use(&mut self, text: &str) {
        for statement in text.split(';') {
            let words: Vec<&str> = statement.split_whitespace().collect();
            if !words.first().is_some_and(|w| w.eq_ignore_ascii_case("use")) {
                continue;
            }
            let mut at = 1;
            while at + 1 < words.len() {
                let name = words[at + 1].to_string();
                match words[at].to_ascii_uppercase().as_str() {
                    "NS" | "NAMESPACE" => self.namespace = name,
                    "DB" | "DATABASE" => self.database = name,
                    _ => {}
                }
                at += 2;
            }
        }
    }
}

impl ExampleDb for DevDb {
    fn run(&mut self, text: &str) -> Vec<String> {
        let (code, out, err) = self.sql(text);
        assert_eq!(code, Some(0), "{text}\nstdout: {out}\nstderr: {err}");
        self.follow_use(text);
        out.lines().map(str::to_string).collect()
    }

    fn error(&mut self, text: &str) -> String {
        let (code, out, err) = self.sql(text);
        assert_ne!(code, Some(0), "{text} should fail\nstdout: {out}");
        err
    }

    /// `zerodb sql` has no strict mode; the examples do not rely on it.
    fn set_strict(&mut self, _strict: bool) {}
}

fn fresh(dir: &Path, name: &str) -> DevDb {
    DevDb {
        dir: dir.to_path_buf(),
        namespace: "default".into(),
        database: name.into(),
    }
}

#[test]
fn upstream_examples_run_through_zerodb_sql_on_a_dev_cluster() {
    let temp = TempDir::new("upstream-examples");
    let dir = temp.0.join("cluster");
    let dev = Dev::start(&dir, free_ports(3));
    // A zeroql namespace is a cluster namespace, which an admin creates
    // (`DEFINE NAMESPACE` records its definition for zeroql only).
    let created = zerodb()
        .arg("--dir")
        .arg(&dir)
        .args(["ns", "create", "staging"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    upstream::run_all(|name| fresh(&dir, name));
    dev.stop();
}
