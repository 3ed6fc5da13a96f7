//! Strong single-key writes of one key that meet at one coordinator commit
//! together (`coordinator/combine.rs`).

use std::collections::BTreeSet;

use zerodb_txn::testing::Cluster;
use zerodb_txn::{ClientId, Key, Level, Request, Response, TxnOptions, Ver};

fn key(id: &str) -> Key {
    Key::new("hot", "main", "kv", id)
}

fn put(k: &Key, v: &str) -> Request {
    Request::Put {
        key: k.clone(),
        value: v.as_bytes().to_vec(),
        level: Level::One,
        ttl_ms: None,
    }
}

fn stored_value(c: &mut Cluster, k: &Key) -> Option<Vec<u8>> {
    let get = Request::Get {
        key: k.clone(),
        level: Level::One,
    };
    match c.call(2, get, 5_000) {
        Some(Response::Value(found)) => found.and_then(|v| v.value),
        other => panic!("expected a value, got {other:?}"),
    }
}

fn versions(c: &mut Cluster, clients: &[ClientId]) -> Vec<Ver> {
    let all = clients.to_vec();
    assert!(
        c.run_until(10_000, |c| all.iter().all(|id| c.reply(*id).is_some())),
        "every writer is answered"
    );
    clients
        .iter()
        .map(|id| match c.reply(*id) {
            Some(Response::Written { version }) => *version,
            other => panic!("writer {id:?} got {other:?}"),
        })
        .collect()
}

#[test]
fn writes_that_meet_a_locking_run_commit_as_one_after_it() {
    // The first write's prepares carry its value (protocol v2), so the
    // writes that come while it locks wait for it and then commit as one.
    let mut c = Cluster::new(3, 11, TxnOptions::default());
    let k = key("a");
    let writers: Vec<ClientId> = (0..5)
        .map(|i| c.submit(1, put(&k, &format!("v{i}"))))
        .collect();
    let versions = versions(&mut c, &writers);
    let later: BTreeSet<Ver> = versions[1..].iter().copied().collect();
    assert_eq!(
        later.len(),
        1,
        "one commit for the four later writes: {versions:?}"
    );
    assert!(
        versions[0] < versions[1],
        "the first commits first: {versions:?}"
    );
    assert_eq!(
        stored_value(&mut c, &k),
        Some(b"v4".to_vec()),
        "the last write's value"
    );
    c.run_for(100);
    assert_eq!(c.locks_held(), 0);
}

#[test]
fn writes_that_meet_a_run_in_flight_commit_in_one_more_round() {
    let mut c = Cluster::new(3, 12, TxnOptions::default());
    let k = key("b");
    let first = c.submit(1, put(&k, "first"));
    // Every replica holds the first write's prepare: its value is fixed,
    // and the writes that come now wait for it.
    assert!(c.run_until(5_000, |c| c.locks_held() == 3));
    let later: Vec<ClientId> = (0..3)
        .map(|i| c.submit(1, put(&k, &format!("later{i}"))))
        .collect();
    let all: Vec<ClientId> = std::iter::once(first)
        .chain(later.iter().copied())
        .collect();
    let versions = versions(&mut c, &all);
    let later_versions: BTreeSet<Ver> = versions[1..].iter().copied().collect();
    assert_eq!(
        later_versions.len(),
        1,
        "the later writes commit as one: {versions:?}"
    );
    // (With this seed the first write had decided: they waited for it.)
    assert!(versions[1] > versions[0], "{versions:?}");
    assert_eq!(stored_value(&mut c, &k), Some(b"later2".to_vec()));
}

#[test]
fn writers_of_one_key_on_every_coordinator_all_commit_and_the_key_holds_one_of_them() {
    let mut c = Cluster::new(3, 13, TxnOptions::default());
    let k = key("c");
    let mut writers = Vec::new();
    for round in 0..4 {
        for node in 1..=3 {
            writers.push(c.submit(node, put(&k, &format!("n{node}r{round}"))));
        }
    }
    let versions = versions(&mut c, &writers);
    let highest = versions.iter().max().copied();
    let winner = writers
        .iter()
        .zip(&versions)
        .filter(|(_, v)| Some(**v) == highest)
        .count();
    assert!(winner >= 1);
    let value = stored_value(&mut c, &k).expect("written");
    assert!(String::from_utf8(value).expect("utf-8").starts_with('n'));
}
