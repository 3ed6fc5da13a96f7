//! The `Commit` a transaction hands back: what it read, at which version,
//! what ranges it scanned, and what it writes, so the caller can commit it
//! as one strictly serializable transaction.

mod common;

use common::db::Db;
use zerodb_query::exec::{execute, transactions, Commit, Environment, SequentialIds};
use zerodb_query::keys::{DatabaseName, StoreKey};
use zerodb_query::value::Value;

/// Runs `text` as one transaction without applying it.
fn prepare(db: &mut Db, text: &str) -> Commit<u64> {
    let query = zerodb_query::parse(text).unwrap();
    let units = transactions(&query).unwrap();
    assert_eq!(units.len(), 1, "one transaction");
    let mut ids = SequentialIds::default();
    let mut environment = Environment {
        now: 0,
        ids: &mut ids,
    };
    execute(&units[0], &mut db.session, &mut db.store, &mut environment)
        .unwrap()
        .commit
}

fn database() -> DatabaseName {
    DatabaseName::new("test", "test")
}

fn record(table: &str, key: &str) -> StoreKey {
    database().record_key(table, &Value::from(key))
}

#[test]
fn a_point_read_of_a_missing_record_is_a_read_of_absence() {
    let mut db = Db::new();
    let commit = prepare(&mut db, "SELECT * FROM person:ghost");
    assert!(commit.reads.contains(&(record("person", "ghost"), None)));
    // Someone creates it before the reader commits: the reader conflicts.
    db.run("CREATE person:ghost");
    let conflict = db.store.apply(&commit).unwrap_err();
    assert!(conflict.contains("was read at None"), "{conflict}");
}

#[test]
fn a_create_reads_the_absence_of_its_record_and_writes_record_and_index_entries() {
    let mut db = Db::new();
    db.run("DEFINE INDEX by_a ON t FIELDS a; DEFINE INDEX by_b ON t FIELDS b UNIQUE");
    let commit = prepare(&mut db, "CREATE t:x SET a = 1, b = 2");
    assert!(commit.reads.contains(&(record("t", "x"), None)));
    let written: Vec<&str> = commit
        .writes
        .iter()
        .map(|(key, _)| key.table.as_str())
        .collect();
    assert_eq!(written, ["#ix", "#ix", "t"]);
    // The unique check scanned the value's range.
    let unique = database().index_range(
        "t",
        "by_b",
        std::ops::Bound::Included(&[Value::Int(2)][..]),
        std::ops::Bound::Included(&[Value::Int(2)][..]),
    );
    assert!(commit.ranges.contains(&unique), "{:?}", commit.ranges);
    // A concurrent create of the same unique value conflicts through it.
    db.run("CREATE t:y SET b = 2");
    assert!(db.store.apply(&commit).is_err());
}

#[test]
fn an_update_reads_the_record_at_its_version() {
    let mut db = Db::new();
    db.run("CREATE t:x SET a = 1");
    let commit = prepare(&mut db, "UPDATE t:x SET a += 1");
    let read = commit
        .reads
        .iter()
        .find(|(key, _)| *key == record("t", "x"))
        .unwrap();
    assert!(read.1.is_some());
    // A concurrent update of the record: lost update prevented.
    db.run("UPDATE t:x SET a = 10");
    assert!(db.store.apply(&commit).unwrap_err().contains("was read at"));
}

#[test]
fn writes_hold_one_final_value_per_key() {
    let mut db = Db::new();
    let commit = prepare(
        &mut db,
        "BEGIN; CREATE t:x SET a = 1; UPDATE t:x SET a = 2; UPDATE t:x SET a = 3; COMMIT",
    );
    assert_eq!(commit.writes.len(), 1);
    db.store.apply(&commit).unwrap();
    assert_eq!(db.last("SELECT a FROM t:x"), "[{ a: 3 }]");
    let commit = prepare(&mut db, "BEGIN; DELETE t:x; CREATE t:x SET a = 4; COMMIT");
    assert_eq!(commit.writes.len(), 1);
}

#[test]
fn a_read_only_query_writes_nothing_and_applies_cleanly() {
    let mut db = Db::new();
    db.run("CREATE t:x SET a = 1");
    let commit = prepare(&mut db, "SELECT * FROM t WHERE a = 1");
    assert!(commit.is_read_only());
    db.store.apply(&commit).unwrap();
}

#[test]
fn an_index_scan_locks_only_its_range() {
    let mut db = Db::new();
    db.run("DEFINE INDEX by_a ON t FIELDS a; CREATE t:x SET a = 1; CREATE t:y SET a = 5");
    let commit = prepare(&mut db, "SELECT * FROM t WHERE a = 1");
    assert!(
        commit.ranges.iter().all(|range| range.table != "t"),
        "no table scan"
    );
    // An insert outside the scanned index range does not conflict ...
    db.run("CREATE t:z SET a = 9");
    db.store.apply(&commit).unwrap();
    // ... one inside does.
    let commit = prepare(&mut db, "SELECT * FROM t WHERE a = 1");
    db.run("CREATE t:w SET a = 1");
    assert!(db
        .store
        .apply(&commit)
        .unwrap_err()
        .contains("appeared in a scanned range"));
}

#[test]
fn write_skew_between_two_transactions_is_refused() {
    // Two doctors on call; each goes off call if the other is still on:
    // run concurrently on the same snapshot, both would succeed without
    // read validation and leave nobody on call.
    let mut db = Db::new();
    db.run("CREATE doctor:a SET on_call = true; CREATE doctor:b SET on_call = true");
    let first = prepare(
        &mut db,
        "BEGIN; LET $others = (SELECT * FROM doctor WHERE on_call = true AND id != doctor:a);
         UPDATE doctor:a SET on_call = false WHERE $others != []; COMMIT",
    );
    let second = prepare(
        &mut db,
        "BEGIN; LET $others = (SELECT * FROM doctor WHERE on_call = true AND id != doctor:b);
         UPDATE doctor:b SET on_call = false WHERE $others != []; COMMIT",
    );
    db.store.apply(&first).unwrap();
    assert!(db.store.apply(&second).is_err());
    assert_eq!(
        db.last("SELECT id FROM doctor WHERE on_call = true"),
        "[{ id: doctor:b }]"
    );
}
