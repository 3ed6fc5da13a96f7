//! End to end: parse -> resolve -> plan -> execute on the in-memory store.

mod common;

use common::db::Db;
use zerodb_query::exec::{execute, transactions, Environment, SequentialIds};
use zerodb_query::value::Value;

#[test]
fn create_with_an_id_and_select_it_back() {
    let mut db = Db::new();
    assert_eq!(
        db.last("CREATE person:tobie SET name = 'Tobie', age = 40"),
        "[{ age: 40, id: person:tobie, name: 'Tobie' }]"
    );
    assert_eq!(
        db.last("SELECT * FROM person:tobie"),
        "[{ age: 40, id: person:tobie, name: 'Tobie' }]"
    );
    assert_eq!(
        db.last("person:tobie"),
        "{ age: 40, id: person:tobie, name: 'Tobie' }"
    );
    assert!(db
        .error("CREATE person:tobie")
        .contains("record person:tobie already exists"));
}

#[test]
fn create_with_a_generated_id_content_and_values() {
    let mut db = Db::new();
    db.run("CREATE person SET name = 'a'");
    db.run("CREATE person CONTENT {name: 'b', tags: ['x']}");
    db.run("CREATE person SET (name, age) VALUES ('c', 1), ('d', 2)");
    assert_eq!(
        db.last("SELECT id, name FROM person"),
        "[{ id: person:'00000000000000000001', name: 'a' }, \
          { id: person:'00000000000000000002', name: 'b' }, \
          { id: person:'00000000000000000003', name: 'c' }, \
          { id: person:'00000000000000000004', name: 'd' }]"
    );
    db.run("INSERT INTO person {id: person:e, name: 'e'}");
    assert_eq!(db.last("SELECT name FROM person:e"), "[{ name: 'e' }]");
}

/// Runs the first transaction of `text` over `store`, as the caller of
/// the executor would before committing it (nothing is committed).
fn first_unit<S: zerodb_query::exec::TxnStore>(
    session: &mut zerodb_query::exec::Session,
    store: &mut S,
    text: &str,
) -> Result<zerodb_query::exec::Outcome<S::Version>, zerodb_query::exec::ExecError> {
    let query = zerodb_query::parse(text).unwrap();
    let units = transactions(&query).unwrap();
    let mut ids = SequentialIds::default();
    let mut environment = Environment {
        now: 0,
        ids: &mut ids,
    };
    execute(&units[0], session, store, &mut environment)
}

fn people(db: &mut Db) {
    db.run(
        "CREATE person:a SET name = 'Ann', age = 31, tags = ['x'];
         CREATE person:b SET name = 'Bob', age = 25, tags = [];
         CREATE person:c SET name = 'Cid', age = 47, tags = ['x', 'y'];
         CREATE person:d SET name = 'Dee', age = 25, tags = ['y']",
    );
}

#[test]
fn select_with_where_order_start_limit_and_omit() {
    let mut db = Db::new();
    people(&mut db);
    assert_eq!(
        db.last("SELECT name FROM person WHERE age > 26 AND tags CONTAINS 'x' ORDER BY age DESC"),
        "[{ name: 'Cid' }, { name: 'Ann' }]"
    );
    assert_eq!(
        db.last("SELECT name FROM person ORDER BY age ASC, name DESC START 1 LIMIT 2"),
        "[{ name: 'Bob' }, { name: 'Ann' }]"
    );
    assert_eq!(
        db.last("SELECT * OMIT tags, id FROM person WHERE name IN ['Ann', 'Dee']"),
        "[{ age: 31, name: 'Ann' }, { age: 25, name: 'Dee' }]"
    );
    assert_eq!(
        db.last("SELECT string::uppercase(name) AS loud, age * 2 + 1 AS n FROM person:b"),
        "[{ loud: 'BOB', n: 51 }]"
    );
}

#[test]
fn order_by_an_alias_sorts_by_the_aliased_expression() {
    let mut db = Db::new();
    people(&mut db);
    assert_eq!(
        db.last("SELECT name, 100 - age AS youth FROM person ORDER BY youth, name LIMIT 2"),
        "[{ name: 'Cid', youth: 53 }, { name: 'Ann', youth: 69 }]"
    );
}

#[test]
fn a_limit_without_filter_or_order_reads_only_what_it_returns() {
    let mut db = Db::new();
    people(&mut db);
    let outcome = first_unit(
        &mut db.session,
        &mut db.store,
        "SELECT name FROM person START 1 LIMIT 2",
    )
    .unwrap();
    assert_eq!(
        outcome.results[0].to_string(),
        "[{ name: 'Bob' }, { name: 'Cid' }]"
    );
    let records_read = outcome
        .commit
        .reads
        .iter()
        .filter(|(key, _)| key.table == "person" && !zerodb_query::keys::is_schema_key(key))
        .count();
    assert_eq!(records_read, 3);
}

#[test]
fn update_with_set_add_subtract_and_merge() {
    let mut db = Db::new();
    people(&mut db);
    db.run("UPDATE person SET age += 1, tags += 'z' WHERE age = 25");
    assert_eq!(
        db.last("SELECT name, age, tags FROM person WHERE age = 26"),
        "[{ age: 26, name: 'Bob', tags: ['z'] }, { age: 26, name: 'Dee', tags: ['y', 'z'] }]"
    );
    db.run("UPDATE person:c SET tags -= 'x', age -= 7");
    db.run("UPDATE person:c MERGE {address: {city: 'London'}}");
    db.run("UPDATE person:c MERGE {address: {zip: 'N1'}}");
    assert_eq!(
        db.last("SELECT * OMIT id FROM person:c"),
        "[{ address: { city: 'London', zip: 'N1' }, age: 40, name: 'Cid', tags: ['y'] }]"
    );
}

fn index_entries(db: &Db, index: &str) -> usize {
    let database = zerodb_query::keys::DatabaseName::new("test", "test");
    db.store
        .keys_in(&database.index_entries_range("person", index))
        .len()
}

#[test]
fn delete_where_removes_records_and_their_index_entries() {
    let mut db = Db::new();
    db.run("DEFINE INDEX by_age ON person FIELDS age");
    people(&mut db);
    assert_eq!(index_entries(&db, "by_age"), 4);
    db.run("DELETE person WHERE age = 25");
    assert_eq!(index_entries(&db, "by_age"), 2);
    assert_eq!(
        db.last("SELECT name FROM person"),
        "[{ name: 'Ann' }, { name: 'Cid' }]"
    );
    assert_eq!(db.last("SELECT name FROM person WHERE age = 25"), "[]");
    db.run("DELETE person:a");
    assert_eq!(index_entries(&db, "by_age"), 1);
}

#[test]
fn an_update_moves_the_index_entry() {
    let mut db = Db::new();
    db.run("DEFINE INDEX by_age ON person FIELDS age");
    people(&mut db);
    db.run("UPDATE person:a SET age = 90");
    assert_eq!(index_entries(&db, "by_age"), 4);
    assert_eq!(db.last("SELECT name FROM person WHERE age = 31"), "[]");
    assert_eq!(
        db.last("SELECT name FROM person WHERE age >= 90"),
        "[{ name: 'Ann' }]"
    );
}

#[test]
fn a_unique_index_refuses_a_duplicate_naming_index_value_and_record() {
    let mut db = Db::new();
    db.run("DEFINE INDEX email ON person FIELDS email UNIQUE");
    db.run("CREATE person:a SET email = 'a@x'");
    let error = db.error("CREATE person:b SET email = 'a@x'");
    assert!(
        error.contains(
            "unique index `email` on table `person` already contains 'a@x' for record person:a"
        ),
        "{error}"
    );
    // The failed statement wrote nothing.
    assert_eq!(db.last("SELECT id FROM person"), "[{ id: person:a }]");
    // Within one transaction, the second of two creates is refused too.
    let error = db.error(
        "BEGIN; CREATE person:c SET email = 'c@x'; CREATE person:d SET email = 'c@x'; COMMIT",
    );
    assert!(error.contains("for record person:c"), "{error}");
    assert_eq!(db.last("SELECT id FROM person"), "[{ id: person:a }]");
    // Changing one's own value, and absent values, are fine.
    db.run("UPDATE person:a SET email = 'a@y'; CREATE person:e; CREATE person:f");
    // Defining a unique index over duplicates fails.
    db.run("CREATE person:g SET name = 'x'; CREATE person:h SET name = 'x'");
    assert!(db
        .error("DEFINE INDEX name ON person FIELDS name UNIQUE")
        .contains("already contains 'x'"));
}

#[test]
fn explain_shows_index_scan_or_table_scan() {
    let mut db = Db::new();
    db.run("DEFINE INDEX by_age ON person FIELDS age");
    assert_eq!(
        db.last("EXPLAIN SELECT name FROM person WHERE age = 25"),
        "[{ index: 'by_age', operation: 'IndexScan', range: 'age = 25', table: 'person' }, \
          { condition: '(age = 25)', operation: 'Filter' }, \
          { fields: 'name', operation: 'Project' }]"
    );
    assert!(db
        .last("EXPLAIN SELECT * FROM person WHERE 18 < age AND age <= 30 LIMIT 3")
        .contains("range: 'age > 18 AND age <= 30'"));
    let scan = db.last("EXPLAIN SELECT * FROM person WHERE name = 'x'");
    assert!(scan.contains("operation: 'TableScan'"), "{scan}");
    let hinted = db.last("EXPLAIN SELECT * FROM person WITH NO INDEX WHERE age = 1");
    assert!(hinted.contains("TableScan"), "{hinted}");
    assert!(db
        .last("EXPLAIN DELETE person WHERE age < 3")
        .contains("operation: 'IndexScan'"));
}

#[test]
fn begin_commit_with_let_is_one_transaction() {
    let mut db = Db::new();
    let text = "BEGIN;
        LET $owner = (CREATE person:owner SET name = 'O');
        CREATE account:one SET owner = person:owner, balance = 100;
        UPDATE account:one SET balance -= 30;
        LET $left = (SELECT balance FROM account:one);
        RETURN $left;
        COMMIT";
    let query = zerodb_query::parse(text).unwrap();
    let units = transactions(&query).unwrap();
    assert_eq!(units.len(), 1);
    assert!(units[0].block);
    let mut environment = Environment {
        now: 0,
        ids: &mut db.ids,
    };
    let outcome = execute(&units[0], &mut db.session, &mut db.store, &mut environment).unwrap();
    assert_eq!(
        outcome.results.last().unwrap().to_string(),
        "[{ balance: 70 }]"
    );
    // Nothing is written until the caller applies the commit.
    assert!(db.store.is_empty());
    // Record writes are buffered per key: two records.
    assert_eq!(outcome.commit.writes.len(), 2);
    db.store.apply(&outcome.commit).unwrap();
    assert_eq!(db.last("SELECT balance FROM account"), "[{ balance: 70 }]");
    // CANCEL writes nothing.
    db.run("BEGIN; UPDATE account:one SET balance = 0; CANCEL");
    assert_eq!(db.last("SELECT balance FROM account"), "[{ balance: 70 }]");
}

#[test]
fn units_say_whether_they_were_written_as_a_block() {
    let query = zerodb_query::parse(
        "RETURN 1; BEGIN; RETURN 2; COMMIT; BEGIN; CANCEL; BEGIN TRANSACTION; RETURN 3; RETURN 4; COMMIT; RETURN 5",
    )
    .unwrap();
    let units = transactions(&query).unwrap();
    let shape: Vec<(usize, bool, bool)> = units
        .iter()
        .map(|unit| (unit.statements.len(), unit.block, unit.cancelled))
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, false, false),
            (1, true, false),
            (0, true, true),
            (2, true, false),
            (1, false, false)
        ]
    );
}

#[test]
fn a_failed_block_writes_nothing() {
    let mut db = Db::new();
    let error = db.error("BEGIN; CREATE a:1; CREATE a:1; COMMIT");
    assert!(error.contains("already exists"));
    assert!(db.store.is_empty());
    assert!(db
        .error("BEGIN; CREATE a:1")
        .contains("BEGIN without COMMIT"));
    assert!(db
        .error("COMMIT")
        .contains("COMMIT or CANCEL without BEGIN"));
}

#[test]
fn a_commit_conflicts_when_a_scanned_range_changed() {
    let mut db = Db::new();
    people(&mut db);
    let outcome = first_unit(
        &mut db.session,
        &mut db.store,
        "SELECT * FROM person WHERE age > 30",
    )
    .unwrap();
    assert!(outcome.commit.is_read_only());
    // The table's documents; its schema is one key read, not a range.
    let tables: Vec<&str> = outcome
        .commit
        .ranges
        .iter()
        .map(|range| range.table.as_str())
        .collect();
    assert_eq!(tables, ["person"]);
    assert!(outcome
        .commit
        .reads
        .iter()
        .any(|(key, _)| zerodb_query::keys::is_schema_key(key) && key.table == "person"));
    // A concurrent insert into the scanned table: a phantom for the reader.
    db.run("CREATE person:z SET age = 99");
    let conflict = db.store.apply(&outcome.commit).unwrap_err();
    assert!(
        conflict.contains("appeared in a scanned range"),
        "{conflict}"
    );
}

#[test]
fn the_planner_prefers_equality_then_two_sided_ranges_then_hints() {
    let mut db = Db::new();
    db.run("DEFINE INDEX by_a ON t FIELDS a; DEFINE INDEX by_b ON t FIELDS b; DEFINE INDEX by_c ON t FIELDS c");
    let plan = db.last("EXPLAIN SELECT * FROM t WHERE a > 1 AND b = 2 AND c < 3");
    assert!(plan.contains("index: 'by_b'"), "{plan}");
    let plan = db.last("EXPLAIN SELECT * FROM t WHERE a > 1 AND c < 3 AND c > 0");
    assert!(
        plan.contains("index: 'by_c', operation: 'IndexScan', range: 'c > 0 AND c < 3'"),
        "{plan}"
    );
    let plan = db.last("EXPLAIN SELECT * FROM t WITH INDEX by_a WHERE a > 1 AND b = 2");
    assert!(plan.contains("index: 'by_a'"), "{plan}");
    // A comparison with something that reads the document is no bound.
    let plan = db.last("EXPLAIN SELECT * FROM t WHERE a = b");
    assert!(plan.contains("TableScan"), "{plan}");
    // Neither is OR.
    let plan = db.last("EXPLAIN SELECT * FROM t WHERE a = 1 OR a = 2");
    assert!(plan.contains("TableScan"), "{plan}");
    // A parameter is a constant.
    db.run("LET $x = 5");
    let plan = db.last("EXPLAIN SELECT * FROM t WHERE $x <= a");
    assert!(plan.contains("range: 'a >= $x'"), "{plan}");
}

#[test]
fn a_compound_index_answers_its_first_field_and_is_unique_on_all() {
    let mut db = Db::new();
    db.run("DEFINE INDEX by_ab ON t FIELDS a, b UNIQUE");
    db.run("CREATE t:1 SET a = 1, b = 2; CREATE t:2 SET a = 1, b = 3; CREATE t:3 SET a = 2, b = 2");
    let error = db.error("CREATE t:4 SET a = 1, b = 2");
    assert!(
        error.contains("already contains [1, 2] for record t:1"),
        "{error}"
    );
    let plan = db.last("EXPLAIN SELECT id FROM t WHERE a = 1");
    assert!(plan.contains("IndexScan"), "{plan}");
    assert_eq!(
        db.last("SELECT id FROM t WHERE a = 1"),
        "[{ id: t:1 }, { id: t:2 }]"
    );
    assert_eq!(db.last("SELECT id FROM t WHERE a >= 1.5"), "[{ id: t:3 }]");
    // Only `a` is an index key prefix: a bound on `b` alone scans the table.
    assert!(db
        .last("EXPLAIN SELECT id FROM t WHERE b = 2")
        .contains("TableScan"));
}

#[test]
fn random_ids_come_from_the_callers_random_source() {
    use zerodb_query::exec::{IdGenerator, RandomIds};
    let mut state = 7u64;
    let mut ids = RandomIds(move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        state
    });
    let first = ids.generate("person");
    let second = ids.generate("person");
    let Value::Str(text) = &first else {
        panic!("{first:?}")
    };
    assert_eq!(text.len(), 20);
    assert!(text
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    assert_ne!(first, second);
}

#[test]
fn every_definition_change_rewrites_the_table_schema_key() {
    use zerodb_query::keys::{DatabaseName, KeyRange};
    let mut db = Db::new();
    db.run("DEFINE TABLE t SCHEMAFULL; DEFINE FIELD a ON t TYPE int");
    let schema_key = DatabaseName::new(
        db.session.namespace.as_deref().unwrap(),
        db.session.database.as_deref().unwrap(),
    )
    .schema_key("t");
    let whole = KeyRange {
        namespace: schema_key.namespace.clone(),
        database: schema_key.database.clone(),
        table: "t".into(),
        start: Vec::new(),
        end: vec![0xff, 0xff],
    };
    assert_eq!(db.store.keys_in(&whole), std::slice::from_ref(&schema_key));
    // A statement reads the schema as that one key, so a definition change
    // committed after its read fails its commit.
    let outcome = first_unit(&mut db.session, &mut db.store, "CREATE t:1 SET a = 1").unwrap();
    assert!(outcome
        .commit
        .reads
        .iter()
        .any(|(key, _)| *key == schema_key));
    db.run("DEFINE FIELD b ON t TYPE string");
    assert!(db.store.apply(&outcome.commit).is_err());
    // The new field is in force at once; removing it lifts it.
    assert!(db.error("CREATE t:2 SET a = 1").contains("`b`"));
    db.run("REMOVE FIELD b ON TABLE t; CREATE t:2 SET a = 1");
    assert!(db.error("CREATE t:3 SET a = 'x'").contains("int"));
    // IF NOT EXISTS of a field that exists changes nothing.
    db.run("DEFINE FIELD IF NOT EXISTS a ON t TYPE string; CREATE t:3 SET a = 3");
    db.run("REMOVE TABLE t");
    // Only the schema key is left, with nothing defined in it: it is never
    // deleted, so that a schema read as absent was never written.
    assert_eq!(db.store.keys_in(&whole), std::slice::from_ref(&schema_key));
    assert_eq!(
        db.store.value_of(&schema_key).unwrap().to_string(),
        "{ fields: [], indexes: [], table: NONE }"
    );
    db.run("CREATE t:4 SET anything = 'goes'");
}

/// A store whose records of one table are not fetched yet: they read as
/// absent, and every key asked for is noted (as the node's store of one
/// read round does).
struct NotFetched<'s> {
    inner: &'s mut zerodb_query::exec::MemoryStore,
    table: &'static str,
    asked: Vec<zerodb_query::keys::StoreKey>,
}

impl zerodb_query::exec::TxnStore for NotFetched<'_> {
    type Version = u64;

    fn get(
        &mut self,
        key: &zerodb_query::keys::StoreKey,
    ) -> Result<Option<zerodb_query::exec::Stored<u64>>, String> {
        if key.table == self.table && !zerodb_query::keys::is_schema_key(key) {
            self.asked.push(key.clone());
            return Ok(None);
        }
        self.inner.get(key)
    }

    fn scan(
        &mut self,
        range: &zerodb_query::keys::KeyRange,
        limit: usize,
    ) -> Result<Vec<zerodb_query::exec::Scanned<u64>>, String> {
        self.inner.scan(range, limit)
    }
}

#[test]
fn an_index_lookup_asks_for_every_record_of_its_range_before_reporting_one_missing() {
    let mut db = Db::new();
    db.run("DEFINE INDEX by_k ON people FIELDS k");
    let values: Vec<String> = (0..30).map(|n| format!("({})", n % 3)).collect();
    db.run(&format!(
        "CREATE people SET (k) VALUES {}",
        values.join(", ")
    ));
    let mut store = NotFetched {
        inner: &mut db.store,
        table: "people",
        asked: Vec::new(),
    };
    let error = first_unit(
        &mut db.session,
        &mut store,
        "SELECT * FROM people WHERE k = 1",
    )
    .unwrap_err();
    assert!(error.to_string().contains("missing record"), "{error}");
    // All ten records of the range, in one run.
    assert_eq!(store.asked.len(), 10, "{:?}", store.asked);
}
