//! Graph fixtures shared by `tests/graph.rs` and `tests/graph_writes.rs`.

use super::db::Db;
use zerodb_query::keys::{Adjacency, DatabaseName, IN_EDGES, OUT_EDGES};
use zerodb_query::value::{RecordId, Value};

pub fn id(table: &str, key: &str) -> RecordId {
    RecordId::new(table, Value::from(key))
}

/// The keys under one adjacency list of `vertex` in the test database.
pub fn adjacency(db: &Db, side: Adjacency, vertex: &RecordId) -> Vec<Value> {
    let database = DatabaseName::new("test", "test");
    let range = database.adjacency_range(side, vertex, None);
    db.store
        .keys_in(&range)
        .iter()
        .map(|key| db.store.value_of(key).expect("an entry decodes"))
        .collect()
}

/// Every adjacency entry in the test database (both sides).
pub fn adjacency_count(db: &Db) -> usize {
    [OUT_EDGES, IN_EDGES]
        .iter()
        .map(|table| {
            let range = zerodb_query::keys::KeyRange {
                namespace: "test".into(),
                database: "test".into(),
                table: table.to_string(),
                start: Vec::new(),
                end: vec![0xff],
            };
            db.store.keys_in(&range).len()
        })
        .sum()
}

/// alice -> likes -> bob, carol; bob -> likes -> alice, dave;
/// carol -> plays -> alice; dave -> likes -> post:one.
pub fn social(db: &mut Db) {
    db.run(
        "CREATE person:alice SET name = 'alice', age = 40;
         CREATE person:bob SET name = 'bob', age = 30;
         CREATE person:carol SET name = 'carol', age = 25;
         CREATE person:dave SET name = 'dave', age = 50;
         CREATE post:one SET title = 'hello';
         DEFINE EDGE likes;
         DEFINE EDGE plays;
         RELATE person:alice -> likes:ab -> person:bob SET since = 2020;
         RELATE person:alice -> likes:ac -> person:carol SET since = 2023;
         RELATE person:bob -> likes:ba -> person:alice SET since = 2021;
         RELATE person:bob -> likes:bd -> person:dave SET since = 2019;
         RELATE person:carol -> plays:ca -> person:alice;
         RELATE person:alice -> plays:ab -> person:bob;
         RELATE person:dave -> likes:dp -> post:one SET since = 2024",
    );
}

/// Runs `text` as one transaction over the store's current state without
/// committing it: what a node does before its commit.
pub fn prepare(db: &mut Db, text: &str) -> zerodb_query::exec::Commit<u64> {
    use zerodb_query::exec::{execute, transactions, Environment};
    let query = zerodb_query::parse(text).unwrap();
    let units = transactions(&query).unwrap();
    let mut environment = Environment {
        now: db.now,
        ids: &mut db.ids,
    };
    execute(&units[0], &mut db.session, &mut db.store, &mut environment)
        .unwrap()
        .commit
}
