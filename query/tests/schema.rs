//! Definitions, schema rules and name resolution, end to end.

mod common;

use common::db::Db;

#[test]
fn a_schemafull_table_rejects_undefined_fields() {
    let mut db = Db::new();
    db.run("DEFINE TABLE person SCHEMAFULL; DEFINE FIELD name ON person TYPE string");
    db.run("CREATE person:a SET name = 'Ann'");
    // Named in the statement: a resolution error at the name.
    let text = "CREATE person:b SET name = 'Bob', age = 3";
    let error = db.error(text);
    assert!(
        error.contains("unknown field `age` on schemafull table `person`"),
        "{error}"
    );
    assert!(error.contains("--> 1:35"), "{error}");
    let error = db.error("SELECT name FROM person WHERE agee > 3");
    assert!(error.contains("unknown field `agee`"), "{error}");
    assert!(db
        .error("UPDATE person SET x += 1")
        .contains("unknown field `x`"));
    // Aliases and `id` are fine.
    db.run("SELECT name AS n, id FROM person ORDER BY n");
    // Only known when the document is built: a write error.
    let error = db.error("CREATE person:c CONTENT {name: 'Cid', age: 3}");
    assert!(
        error.contains("table `person` is schemafull and has no field `age`"),
        "{error}"
    );
}

#[test]
fn group_by_is_not_supported_yet() {
    let error = Db::new().error("SELECT a FROM t GROUP BY a");
    assert!(error.contains("GROUP BY is not supported yet"), "{error}");
}

#[test]
fn a_table_with_fields_is_schemafull_unless_it_says_schemaless() {
    let mut db = Db::new();
    db.run("DEFINE TABLE a FIELDS x TYPE int");
    assert!(db
        .error("CREATE a:1 SET x = 1, y = 2")
        .contains("unknown field `y`"));
    db.run("DEFINE TABLE b SCHEMALESS FIELDS x TYPE int");
    db.run("CREATE b:1 SET x = 1, y = 2");
    assert!(db.last("DESCRIBE TABLE b").contains("schema: 'schemaless'"));
}

#[test]
fn field_types_are_checked_on_every_write() {
    let mut db = Db::new();
    db.run(
        "DEFINE FIELD age ON person TYPE int;
         DEFINE FIELD nick ON person TYPE string?;
         DEFINE FIELD friends ON person TYPE [record[person]]?",
    );
    let error = db.error("CREATE person:a SET age = 'old'");
    assert!(
        error.contains("field `age` of table `person` must be int, found 'old'"),
        "{error}"
    );
    assert!(db
        .error("CREATE person:a")
        .contains("must be int, found NONE"));
    db.run("CREATE person:a SET age = 3, friends = [person:b]");
    assert!(db
        .error("UPDATE person:a SET age = 1.5")
        .contains("must be int"));
    assert!(db
        .error("UPDATE person:a SET friends = [dog:rex]")
        .contains("array<record<person>>"));
}

#[test]
fn readonly_assert_and_value_clauses() {
    let mut db = Db::new();
    db.run(
        "DEFINE FIELD created ON event TYPE datetime VALUE time::now() READONLY;
         DEFINE FIELD score ON event TYPE int ASSERT $value >= 0 AND $value <= 10;
         DEFINE FIELD name ON event TYPE string VALUE string::lowercase($value)",
    );
    db.run("CREATE event:a SET score = 3, name = 'LOUD'");
    assert_eq!(
        db.last("SELECT name, created FROM event:a"),
        "[{ created: d'2023-11-14T22:13:20Z', name: 'loud' }]"
    );
    let error = db.error("UPDATE event:a SET score = 11");
    assert!(error.contains("ASSERT"), "{error}");
    db.now += 1_000_000_000;
    db.run("UPDATE event:a SET score = 4");
    assert_eq!(
        db.last("SELECT score, created FROM event:a"),
        "[{ created: d'2023-11-14T22:13:20Z', score: 4 }]"
    );
    let error = db.error("UPDATE event:a SET created = time::now()");
    assert!(
        error.contains("field `created` of table `event`: is READONLY"),
        "{error}"
    );
}

#[test]
fn unknown_names_are_errors_at_their_text_in_strict_mode() {
    let mut db = Db::new();
    db.session.strict = true;
    db.run("DEFINE NAMESPACE test; DEFINE DATABASE test; DEFINE TABLE person");
    let text = "SELECT * FROM persons";
    let error = db.error(text);
    assert!(
        error.contains("unknown table `persons` in database `test`"),
        "{error}"
    );
    assert!(
        error.contains("1 | SELECT * FROM persons\n  |               ^^^^^^^"),
        "{error}"
    );
    let error = db.error("SELECT * FROM person WITH INDEX nope WHERE a = 1");
    assert!(
        error.contains("unknown index `nope` on table `person`"),
        "{error}"
    );
    assert!(error.contains("^^^^"), "{error}");
    let error = db.error("USE DB other");
    assert!(
        error.contains("unknown database `other` in namespace `test`"),
        "{error}"
    );
}

#[test]
fn unknown_parameters_are_errors_at_their_text() {
    let mut db = Db::new();
    let text = "SELECT * FROM person WHERE age > $minimum";
    let error = db.error(text);
    assert!(error.contains("unknown parameter `$minimum`"), "{error}");
    assert!(
        error.contains("                                 ^^^^^^^^"),
        "{error}"
    );
    db.run("LET $minimum = 3");
    db.run(text);
}

#[test]
fn statements_need_a_database() {
    let mut db = Db::new();
    db.session.database = None;
    let error = db.error("SELECT * FROM person");
    assert!(
        error.contains("no database selected: run `USE NS name DB name` first"),
        "{error}"
    );
    db.run("USE DB other; CREATE person:a");
    assert_eq!(db.last("SELECT id FROM person"), "[{ id: person:a }]");
    db.run("USE DB test");
    assert_eq!(db.last("SELECT id FROM person"), "[]");
}

#[test]
fn define_twice_is_an_error_unless_if_not_exists() {
    let mut db = Db::new();
    db.run("DEFINE TABLE person");
    assert!(db
        .error("DEFINE TABLE person")
        .contains("table `person` already exists"));
    db.run("DEFINE TABLE IF NOT EXISTS person");
    db.run("DEFINE INDEX i ON person FIELDS a");
    assert!(db
        .error("DEFINE INDEX i ON person FIELDS a")
        .contains("index `i` already exists"));
}

#[test]
fn remove_table_drops_records_definitions_and_index_entries() {
    let mut db = Db::new();
    db.run("DEFINE FIELD a ON t TYPE int; DEFINE INDEX by_a ON t FIELDS a; CREATE t:1 SET a = 1");
    assert!(db.store.len() > 3);
    db.run("REMOVE TABLE t");
    // Only the table's schema key is left, holding an empty schema (it is
    // never deleted: see `keys`).
    assert_eq!(db.store.len(), 1, "{:?}", db.store);
    let left = db
        .store
        .value_of(&zerodb_query::keys::DatabaseName::new("test", "test").schema_key("t"));
    assert_eq!(
        left.unwrap().to_string(),
        "{ fields: [], indexes: [], table: NONE }"
    );
    assert!(db.error("REMOVE TABLE t").contains("unknown table `t`"));
    db.run("REMOVE TABLE IF EXISTS t");
}

#[test]
fn remove_index_drops_its_entries_and_queries_fall_back_to_a_scan() {
    let mut db = Db::new();
    db.run("DEFINE INDEX by_a ON t FIELDS a; CREATE t:1 SET a = 1; CREATE t:2 SET a = 2");
    assert!(db
        .last("EXPLAIN SELECT * FROM t WHERE a = 1")
        .contains("IndexScan"));
    db.run("REMOVE INDEX by_a ON TABLE t");
    assert!(db
        .last("EXPLAIN SELECT * FROM t WHERE a = 1")
        .contains("TableScan"));
    // The two records and the table's schema key.
    assert_eq!(db.store.len(), 3);
    assert_eq!(db.last("SELECT a FROM t WHERE a = 1"), "[{ a: 1 }]");
}

#[test]
fn a_unique_field_gets_a_unique_index() {
    let mut db = Db::new();
    db.run("DEFINE FIELD email ON user TYPE string UNIQUE; CREATE user:a SET email = 'x'");
    let error = db.error("CREATE user:b SET email = 'x'");
    assert!(error.contains("unique index `unique_email`"), "{error}");
}

#[test]
fn an_index_defined_over_existing_records_is_filled() {
    let mut db = Db::new();
    db.run("CREATE t:1 SET a = 5; CREATE t:2 SET a = 7; DEFINE INDEX by_a ON t FIELDS a");
    assert!(db
        .last("EXPLAIN SELECT * FROM t WHERE a > 6")
        .contains("IndexScan"));
    assert_eq!(db.last("SELECT id FROM t WHERE a > 6"), "[{ id: t:2 }]");
}

#[test]
fn describe_database_lists_tables() {
    let mut db = Db::new();
    db.run("DEFINE TABLE a; DEFINE TABLE b");
    assert_eq!(
        db.last("INFO FOR DB"),
        "{ name: 'test', tables: ['a', 'b'] }"
    );
}
