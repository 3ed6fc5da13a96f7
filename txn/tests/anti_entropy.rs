//! Anti-entropy (DESIGN.md 7): replicas of an eventual namespace that missed
//! writes without anyone noticing (no hint, no read) catch up by comparing
//! hash trees with their successors.

use zerodb_txn::membership::{Consistency, NamespacePolicy, NodeId};
use zerodb_txn::testing::Cluster;
use zerodb_txn::{Key, Level, Policies, Request, Response, TxnOptions};

const ROUND_MS: u64 = 100;

fn cluster(seed: u64, anti_entropy_ms: u64) -> Cluster {
    let mut policies = Policies::default();
    policies.namespaces.insert(
        "cache".to_string(),
        NamespacePolicy {
            consistency: Consistency::Eventual,
            ..Default::default()
        },
    );
    let options = TxnOptions {
        anti_entropy_ms,
        ..TxnOptions::default()
    };
    Cluster::with_policies(5, seed, options, policies)
}

fn put(c: &mut Cluster, coordinator: u32, key: &Key, value: &[u8]) {
    let written = c.call(
        coordinator,
        Request::Put {
            key: key.clone(),
            value: value.to_vec(),
            level: Level::One,
            ttl_ms: None,
        },
        5_000,
    );
    assert!(
        matches!(written, Some(Response::Written { .. })),
        "{written:?}"
    );
}

/// Writes `key` while one of its replicas is crashed but not reported down
/// (so no hint is kept for it), then restarts that replica. Returns it.
fn write_past_a_silent_crash(c: &mut Cluster, key: &Key, value: &[u8]) -> u32 {
    let r: Vec<u32> = c.replicas_of(key).iter().map(|n| n.0).collect();
    c.crash(r[2]);
    put(c, r[0], key, value);
    c.run_for(50);
    c.restart(r[2]);
    let hints: usize = c
        .running()
        .into_iter()
        .map(|n| c.node(n).hints_pending())
        .sum();
    assert_eq!(hints, 0, "nobody saw the replica down, so there is no hint");
    r[2]
}

#[test]
fn a_replica_that_missed_a_write_gets_it_from_anti_entropy() {
    let mut c = cluster(1, ROUND_MS);
    let k = Key::new("cache", "web", "pages", "home");
    let stale = write_past_a_silent_crash(&mut c, &k, b"<html>");
    assert_eq!(c.stored(stale, &k), None);
    assert!(
        c.run_until(20 * ROUND_MS, |c| c.stored(stale, &k).is_some()),
        "anti-entropy copies the write"
    );
    assert_eq!(
        c.stored(stale, &k).and_then(|r| r.value),
        Some(b"<html>".to_vec())
    );
    assert!(c.node(stale).anti_entropy_repaired() >= 1);
}

#[test]
fn without_anti_entropy_the_replica_stays_stale() {
    let mut c = cluster(1, 0);
    let k = Key::new("cache", "web", "pages", "home");
    let stale = write_past_a_silent_crash(&mut c, &k, b"<html>");
    c.run_for(20 * ROUND_MS);
    assert_eq!(c.stored(stale, &k), None);
}

#[test]
fn a_delete_reaches_a_replica_that_missed_it_and_nothing_is_resurrected() {
    let mut c = cluster(2, ROUND_MS);
    let k = Key::new("cache", "web", "pages", "old");
    let r: Vec<u32> = c.replicas_of(&k).iter().map(|n| n.0).collect();
    put(&mut c, r[0], &k, b"v1");
    c.run_for(50);
    c.crash(r[1]);
    let deleted = c.call(
        r[0],
        Request::Delete {
            key: k.clone(),
            level: Level::One,
        },
        5_000,
    );
    assert!(
        matches!(deleted, Some(Response::Written { .. })),
        "{deleted:?}"
    );
    c.run_for(50);
    c.restart(r[1]);
    assert!(
        c.stored(r[1], &k).is_some_and(|rec| rec.value.is_some()),
        "the restarted replica still holds the value"
    );
    assert!(c.run_until(20 * ROUND_MS, |c| {
        c.stored(r[1], &k).is_some_and(|rec| rec.value.is_none())
    }));
    c.run_for(10 * ROUND_MS);
    for node in r {
        let record = c.stored(node, &k).expect("a tombstone is kept");
        assert_eq!(record.value, None, "replica {node} holds the tombstone");
    }
}

#[test]
fn many_missed_writes_converge_over_several_rounds() {
    let mut c = cluster(3, ROUND_MS);
    let keys: Vec<Key> = (0..1_500)
        .map(|i| Key::new("cache", "web", "pages", format!("p{i}")))
        .collect();
    // One replica of some keys is crashed, unnoticed, during all writes.
    let victim = 3;
    c.crash(victim);
    for (i, k) in keys.iter().enumerate() {
        let coordinator = [1, 2, 4, 5][i % 4];
        put(&mut c, coordinator, k, format!("v{i}").as_bytes());
    }
    c.restart(victim);
    let held: Vec<&Key> = keys
        .iter()
        .filter(|k| c.replicas_of(k).contains(&NodeId(victim)))
        .collect();
    let missing = |c: &mut Cluster| {
        held.iter()
            .filter(|k| c.stored(victim, k).is_none())
            .count()
    };
    let before = missing(&mut c);
    assert!(before > 500, "the victim missed {before} writes");
    assert!(
        c.run_until(200 * ROUND_MS, |c| missing(c) == 0),
        "{} writes still missing",
        missing(&mut c)
    );
}
