//! Every statement form parses to the expected tree, shown in its canonical
//! printed form; every case also checks the round trip (see `canonical`).

mod common;

use common::canonical;

fn check(cases: &[(&str, &str)]) {
    for (source, expected) in cases {
        assert_eq!(canonical(source), *expected, "for {source}");
    }
}

#[test]
fn select_forms() {
    check(&[
        ("SELECT * FROM person", "SELECT * FROM person"),
        ("select * from person:alice", "SELECT * FROM person:alice"),
        (
            "SELECT name, age AS years FROM person, person:alice WHERE age > 40 ORDER BY age DESC, name LIMIT 10 START 5",
            "SELECT name, age AS years FROM person, person:alice WHERE (age > 40) ORDER BY age DESC, name ASC START 5 LIMIT 10",
        ),
        (
            "SELECT * FROM person ORDER age DESC START AT 10 LIMIT TO 100",
            "SELECT * FROM person ORDER BY age DESC START 10 LIMIT 100",
        ),
        (
            "SELECT * FROM person LIMIT 5 WHERE active",
            "SELECT * FROM person WHERE active LIMIT 5",
        ),
        ("SELECT * OMIT age, password FROM person", "SELECT * OMIT age, password FROM person"),
        (
            "SELECT main_address.coords, addresses[0].coords FROM person",
            "SELECT main_address.coords, addresses[0].coords FROM person",
        ),
        ("SELECT * FROM person WITH INDICES idx_name, idx_age", "SELECT * FROM person WITH INDEX idx_name, idx_age"),
        ("SELECT * FROM person WITH NO INDEX", "SELECT * FROM person WITH NO INDEX"),
        ("SELECT * FROM product GROUP BY family", "SELECT * FROM product GROUP BY family"),
        (
            "SELECT (SELECT coords FROM addresses) AS coords FROM person",
            "SELECT (SELECT coords FROM addresses) AS coords FROM person",
        ),
        (
            "SELECT name FROM person WHERE age > 40 AND name ~ //^[aA].*//",
            "SELECT name FROM person WHERE ((age > 40) AND (name ~ //^[aA].*//))",
        ),
        (
            "SELECT * FROM [person:alice, person:bob], $people, (SELECT * FROM x)",
            "SELECT * FROM [person:alice, person:bob], $people, (SELECT * FROM x)",
        ),
        ("SELECT owner.person.* FROM car:tesla", "SELECT owner.person.* FROM car:tesla"),
        ("SELECT *, count() AS n FROM t GROUP family", "SELECT *, count() AS n FROM t GROUP BY family"),
        ("SELECT `select`, value FROM `from`", "SELECT `select`, value FROM `from`"),
    ]);
}

#[test]
fn create_forms() {
    check(&[
        (
            r#"CREATE person:alice SET age = 40, company = "Gigamono", weight = 70.5"#,
            r#"CREATE person:alice SET age = 40, company = "Gigamono", weight = 70.5"#,
        ),
        (
            "CREATE person:alice SET {\n    age: 40,\n    company: \"Gigamono\",\n    weight: 70.5,\n}",
            r#"CREATE person:alice SET {age: 40, company: "Gigamono", weight: 70.5}"#,
        ),
        ("CREATE person:alice CONTENT {age: 40}", "CREATE person:alice SET {age: 40}"),
        ("CREATE person CONTENT $doc", "CREATE person CONTENT $doc"),
        (
            "CREATE person SET (name, age, company, weight) VALUES \\\n    (\"alice\", 40, \"Gigamono\", 70.5),\n    (\"bob\", 30, \"Gigamono\", 80.5)",
            r#"CREATE person SET (name, age, company, weight) VALUES ("alice", 40, "Gigamono", 70.5), ("bob", 30, "Gigamono", 80.5)"#,
        ),
        ("CREATE person:* -- Creates a new record with a random ID.", "CREATE person:*"),
        ("CREATE person", "CREATE person"),
        ("CREATE person:1 SET n = 1", "CREATE person:1 SET n = 1"),
        (r#"CREATE person:"alice smith""#, r#"CREATE person:"alice smith""#),
        ("CREATE person:$id SET age = $age", "CREATE person:$id SET age = $age"),
        ("CREATE temperature:['london', 2026] SET c = 5", r#"CREATE temperature:["london", 2026] SET c = 5"#),
        ("CREATE car:tesla SET owner = person:alice", "CREATE car:tesla SET owner = person:alice"),
    ]);
}

#[test]
fn update_delete_insert_forms() {
    check(&[
        (
            "UPDATE person:alice SET age = 30",
            "UPDATE person:alice SET age = 30",
        ),
        (
            "UPDATE person:alice SET {\n    age: 30\n}",
            "UPDATE person:alice SET {age: 30}",
        ),
        (
            "UPDATE person:alice MERGE {age: 30}",
            "UPDATE person:alice SET {age: 30}",
        ),
        (
            "UPDATE person:alice CONTENT {age: 30}",
            "UPDATE person:alice CONTENT {age: 30}",
        ),
        (
            "UPDATE person WHERE age > 40 SET age = 30",
            "UPDATE person SET age = 30 WHERE (age > 40)",
        ),
        (
            "UPDATE person WHERE * SET age = none",
            "UPDATE person SET age = NONE",
        ),
        (
            "UPDATE person:alice SET age += 1, debt -= 2, x *= 3",
            "UPDATE person:alice SET age += 1, debt -= 2, x *= 3",
        ),
        ("DELETE person:alice", "DELETE person:alice"),
        ("DELETE person", "DELETE person"),
        (
            "DELETE person WHERE age < 18",
            "DELETE person WHERE (age < 18)",
        ),
        (
            "INSERT INTO person {name: 'a'}",
            r#"INSERT INTO person {name: "a"}"#,
        ),
        (
            r#"insert into person [{"first name": 'a'}, {name: 'b', tags: []}]"#,
            r#"INSERT INTO person [{"first name": "a"}, {name: "b", tags: []}]"#,
        ),
    ]);
}

#[test]
fn define_forms() {
    check(&[
        ("DEFINE NAMESPACE staging", "DEFINE NAMESPACE staging"),
        ("DEFINE NS IF NOT EXISTS staging", "DEFINE NAMESPACE IF NOT EXISTS staging"),
        ("DEFINE NAMESPACE staging IF NOT EXISTS", "DEFINE NAMESPACE IF NOT EXISTS staging"),
        ("DEFINE DATABASE app ON staging", "DEFINE DATABASE app ON NAMESPACE staging"),
        ("DEFINE DB app ON NS staging", "DEFINE DATABASE app ON NAMESPACE staging"),
        ("DEFINE DATABASE IF NOT EXISTS app", "DEFINE DATABASE IF NOT EXISTS app"),
        ("DEFINE TABLE person", "DEFINE TABLE person"),
        ("DEFINE TABLE person SCHEMAFULL", "DEFINE TABLE person SCHEMAFULL"),
        ("define table person schemaless", "DEFINE TABLE person SCHEMALESS"),
        (
            "DEFINE TABLE person FIELDS \\\n    name TYPE string,\n    age TYPE u8",
            "DEFINE TABLE person FIELDS name TYPE string, age TYPE u8",
        ),
        (
            "DEFINE TABLE IF NOT EXISTS product ON app FIELDS \\\n    name TYPE string,\n    brand TYPE string VALUE \"Gigamono\",\n    weight_lbs TYPE f64 VALUE 0.5",
            r#"DEFINE TABLE IF NOT EXISTS product ON DATABASE app FIELDS name TYPE string, brand TYPE string VALUE "Gigamono", weight_lbs TYPE f64 VALUE 0.5"#,
        ),
        (
            "DEFINE TABLE person FIELDS email TYPE string ASSERT $value CONTAINS '@' ASSERT string::len($value) < 100 UNIQUE READONLY",
            r#"DEFINE TABLE person FIELDS email TYPE string ASSERT ($value CONTAINS "@") ASSERT (string::len($value) < 100) READONLY UNIQUE"#,
        ),
        ("DEFINE FIELD age ON person TYPE u8", "DEFINE FIELD age ON TABLE person TYPE u8"),
        (
            "DEFINE FIELD IF NOT EXISTS tags ON TABLE person TYPE [string] VALUE [] ON DB app",
            "DEFINE FIELD IF NOT EXISTS tags ON TABLE person ON DATABASE app TYPE [string] VALUE []",
        ),
        ("DEFINE FIELD nick ON TABLE person", "DEFINE FIELD nick ON TABLE person"),
        (
            "DEFINE INDEX idx_name ON TABLE person FIELDS name",
            "DEFINE INDEX idx_name ON TABLE person FIELDS name",
        ),
        (
            "DEFINE INDEX idx_name ON person FIELDS last, first UNIQUE",
            "DEFINE INDEX idx_name ON TABLE person FIELDS last, first UNIQUE",
        ),
        (
            "DEFINE INDEX idx_v ON TABLE person FIELDS v WITH index::hnsw(m = 16, ef = 64)",
            "DEFINE INDEX idx_v ON TABLE person FIELDS v WITH index::hnsw(m = 16, ef = 64)",
        ),
    ]);
}

#[test]
fn type_signatures() {
    check(&[
        ("LET $flag TYPE u8 = 0b0000_0001", "LET $flag TYPE u8 = 1"),
        ("LET $cost TYPE f64 = .75", "LET $cost TYPE f64 = 0.75"),
        (
            r#"LET $token TYPE [u8 10] = b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09""#,
            r#"LET $token TYPE [u8 10] = b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09""#,
        ),
        (
            r#"LET $person TYPE (string, u8) = ("alice", 40)"#,
            r#"LET $person TYPE (string, u8) = ("alice", 40)"#,
        ),
        ("LET $age TYPE u8? = 40", "LET $age TYPE u8? = 40"),
        (
            "LET $m TYPE map[string, [u8]]? = {}",
            "LET $m TYPE map[string, [u8]]? = {}",
        ),
        (
            "LET $name TYPE regex = //a.*//",
            "LET $name TYPE regex = //a.*//",
        ),
    ]);
}

#[test]
fn remove_and_describe_forms() {
    check(&[
        ("REMOVE NAMESPACE staging", "REMOVE NAMESPACE staging"),
        (
            "REMOVE NAMESPACE staging IF EXISTS",
            "REMOVE NAMESPACE IF EXISTS staging",
        ),
        (
            "REMOVE DATABASE IF EXISTS app",
            "REMOVE DATABASE IF EXISTS app",
        ),
        (
            "REMOVE DB app ON NS staging",
            "REMOVE DATABASE app ON NAMESPACE staging",
        ),
        ("REMOVE TABLE person", "REMOVE TABLE person"),
        (
            "REMOVE TABLE IF EXISTS person ON DB app",
            "REMOVE TABLE IF EXISTS person ON DATABASE app",
        ),
        (
            "REMOVE INDEX idx_name ON TABLE person ON DB app",
            "REMOVE INDEX idx_name ON TABLE person ON DATABASE app",
        ),
        (
            "REMOVE INDEX idx_name IF EXISTS ON TABLE person",
            "REMOVE INDEX IF EXISTS idx_name ON TABLE person",
        ),
        (
            "REMOVE FIELD age ON person",
            "REMOVE FIELD age ON TABLE person",
        ),
        (
            "DESCRIBE TABLE person IF EXISTS ON DB app",
            "DESCRIBE TABLE IF EXISTS person ON DATABASE app",
        ),
        (
            "DESCRIBE DATABASE app IF EXISTS ON NS staging",
            "DESCRIBE DATABASE IF EXISTS app ON NAMESPACE staging",
        ),
        ("DESCRIBE INDEX idx_name", "DESCRIBE INDEX idx_name"),
        ("INFO FOR DB", "DESCRIBE DATABASE"),
        ("INFO FOR NS", "DESCRIBE NAMESPACE"),
        ("INFO FOR TABLE person", "DESCRIBE TABLE person"),
    ]);
}

#[test]
fn session_transaction_and_other_forms() {
    check(&[
        ("USE NS staging DB app", "USE NS staging DB app"),
        ("USE DB app NAMESPACE staging", "USE NS staging DB app"),
        ("USE NS staging", "USE NS staging"),
        ("USE DATABASE app", "USE DB app"),
        ("LET $age = 40", "LET $age = 40"),
        (
            "LET $adults = SELECT * FROM person WHERE age >= 18",
            "LET $adults = (SELECT * FROM person WHERE (age >= 18))",
        ),
        ("SET $age = 20", "SET $age = 20"),
        ("SET $i -= 1", "SET $i -= 1"),
        ("BEGIN", "BEGIN TRANSACTION"),
        ("begin transaction", "BEGIN TRANSACTION"),
        ("COMMIT", "COMMIT TRANSACTION"),
        ("CANCEL TRANSACTION", "CANCEL TRANSACTION"),
        ("RETURN $age + 1", "RETURN ($age + 1)"),
        ("RETURN SELECT * FROM t", "RETURN (SELECT * FROM t)"),
        (
            "EXPLAIN SELECT * FROM person WHERE age > 40",
            "EXPLAIN SELECT * FROM person WHERE (age > 40)",
        ),
        ("person:alice", "person:alice"),
        ("person", "person"),
        ("http::get($endpoint)", "http::get($endpoint)"),
    ]);
}

#[test]
fn statements_are_separated_by_semicolons() {
    check(&[
        (
            "BEGIN TRANSACTION;\nCREATE account:alice SET balance = 1000;\nUPDATE account:alice SET balance += 500;\nCOMMIT TRANSACTION;",
            "BEGIN TRANSACTION; CREATE account:alice SET balance = 1000; UPDATE account:alice SET balance += 500; COMMIT TRANSACTION",
        ),
        (";; SELECT * FROM a ;; SELECT * FROM b ;", "SELECT * FROM a; SELECT * FROM b"),
    ]);
}

#[test]
fn spans_cover_the_source_text() {
    let source = "SELECT name FROM person WHERE age > 40;\nDELETE person:bob";
    let query = zerodb_query::parse(source).unwrap();
    let text = |span: zerodb_query::ast::Span| &source[span.start..span.end];
    assert_eq!(
        text(query.statements[0].span),
        "SELECT name FROM person WHERE age > 40"
    );
    assert_eq!(text(query.statements[1].span), "DELETE person:bob");
    let zerodb_query::ast::StatementKind::Select(select) = &query.statements[0].kind else {
        panic!("not a select");
    };
    assert_eq!(text(select.condition.as_ref().unwrap().span), "age > 40");
    assert_eq!(text(select.from[0].span), "person");
    let zerodb_query::ast::StatementKind::Delete(delete) = &query.statements[1].kind else {
        panic!("not a delete");
    };
    assert_eq!(text(delete.target.span), "person:bob");
    let expr = zerodb_query::parse_expression("f(a) + (b * 2)[0].c").unwrap();
    assert_eq!(expr.span, zerodb_query::ast::Span::new(0, 19));
}
