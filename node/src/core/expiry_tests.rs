//! Stories of the expiry sweep on three cores: a strong record stays until
//! a quorum's clocks passed its expiry, then the sweep deletes it; an
//! eventual one reads as absent at once and is swept into a tombstone.

use zerodb_config::{Consistency, NamespacePolicy};
use zerodb_storage::{Engine, Space};
use zerodb_txn::{Key, Level, Request, Response, Ver};

use super::metadata::tests::{admin, change};
use super::tests::{Harness, HARNESS_STEP_MS};
use super::NodeId;

const TTL_MS: u64 = 2_000;

fn key(ns: &str) -> Key {
    Key::new(ns, "db", "t", "session")
}

fn put_ttl(harness: &mut Harness, node: u32, client: u64, ns: &str) -> Ver {
    let put = Request::Put {
        key: key(ns),
        value: b"token".to_vec(),
        // Every replica at once, so each holds it before it expires.
        level: if ns == "default" {
            Level::One
        } else {
            Level::All
        },
        ttl_ms: Some(TTL_MS),
    };
    match harness.request(node, client, put) {
        Response::Written { version } => version,
        other => panic!("the put failed: {other:?}"),
    }
}

fn read(harness: &mut Harness, node: u32, client: u64, ns: &str) -> Option<Vec<u8>> {
    let get = Request::Get {
        key: key(ns),
        level: Level::One,
    };
    match harness.request(node, client, get) {
        Response::Value(found) => found.and_then(|v| v.value),
        other => panic!("the read failed: {other:?}"),
    }
}

/// Runs the harness until true time reaches `at_ms`.
fn run_until(harness: &mut Harness, at_ms: u64) {
    let left = at_ms.saturating_sub(harness.now_ms);
    harness.run(left.max(HARNESS_STEP_MS));
}

#[test]
fn a_strong_record_outlives_one_clock_ahead_and_is_deleted_once_a_quorum_passed_it() {
    // Whichever node is the key's sweeper, or coordinates, or replies
    // first: one clock 30 s ahead never deletes the record early.
    for ahead in 1..=3u32 {
        let mut harness = Harness::new(3);
        harness.ahead_ms.insert(NodeId(ahead), 30_000);
        let writer = ahead % 3 + 1;
        let version = put_ttl(&mut harness, writer, 1, "default");
        // The record expires at its version's time plus the TTL, in the
        // writer's (exact) clock; the harness's time is true time.
        let expires_at = version.physical_ms + TTL_MS;
        assert!(expires_at > harness.now_ms + TTL_MS / 2, "{version:?}");
        let mut client = 10;
        while harness.now_ms + 200 < expires_at {
            harness.run(200);
            for node in 1..=3 {
                client += 1;
                assert_eq!(
                    read(&mut harness, node, client, "default"),
                    Some(b"token".to_vec()),
                    "node {ahead} runs 30 s ahead: read through node {node} at {} ms, {} ms before the expiry",
                    harness.now_ms,
                    expires_at - harness.now_ms,
                );
            }
        }
        // A pass every second, a deleting transaction: a few seconds.
        run_until(
            &mut harness,
            expires_at + 3 * super::expiry::EXPIRY_PASS_INTERVAL_MS,
        );
        for node in 1..=3 {
            client += 1;
            assert_eq!(
                read(&mut harness, node, client, "default"),
                None,
                "node {node}"
            );
        }
        let tallies: Vec<_> = harness.nodes.values().map(|n| n.expiry_tally()).collect();
        let committed: u64 = tallies.iter().map(|t| t.deletes_committed).sum();
        assert_eq!(committed, 1, "one expiring delete committed: {tallies:?}");
    }
}

#[test]
fn an_eventual_record_reads_as_absent_once_expired_and_is_swept_into_a_tombstone() {
    let mut harness = Harness::new(3);
    let eventual = NamespacePolicy {
        consistency: Consistency::Eventual,
        ..NamespacePolicy::default()
    };
    let created = change(&mut harness, 1, 1, admin(), |c| {
        c.create_namespace("ev", eventual.clone()).unwrap()
    });
    assert!(matches!(created, Response::Committed { .. }), "{created:?}");
    // Every node learns the namespace through gossip.
    harness.run(3_000);
    let version = put_ttl(&mut harness, 2, 3, "ev");
    let expires_at = version.physical_ms + TTL_MS;
    assert_eq!(read(&mut harness, 3, 4, "ev"), Some(b"token".to_vec()));
    run_until(&mut harness, expires_at - 100);
    assert_eq!(read(&mut harness, 1, 5, "ev"), Some(b"token".to_vec()));
    // At the expiry, before any sweep: absent by the reader's clock.
    run_until(&mut harness, expires_at);
    assert_eq!(read(&mut harness, 1, 6, "ev"), None);
    run_until(
        &mut harness,
        expires_at + 2 * super::expiry::EXPIRY_PASS_INTERVAL_MS,
    );
    let skey = zerodb_txn::KeyExt::storage_key(&key("ev"));
    for (id, node) in harness.nodes.iter_mut() {
        let stored = node.engine_mut().get(Space::Data, &skey).unwrap().unwrap();
        assert_eq!(stored.value, None, "node {id} swept the record");
        assert_eq!(zerodb_txn::ver(stored.version), version, "same version");
        assert_eq!(stored.expires_at_ms, Some(expires_at), "expiry kept");
        assert_eq!(node.expiry_tally().tombstoned, 1);
    }
}

#[test]
fn a_ttl_out_of_bounds_is_refused_by_name() {
    let mut harness = Harness::new(3);
    for (ttl_ms, why) in [(0, "at least 1 ms"), (u64::MAX, "longest allowed")] {
        let put = Request::Put {
            key: key("default"),
            value: b"v".to_vec(),
            level: Level::One,
            ttl_ms: Some(ttl_ms),
        };
        match harness.request(1, ttl_ms % 7 + 1, put) {
            Response::Error(error) => assert!(error.to_string().contains(why), "{error}"),
            other => panic!("a TTL of {ttl_ms} ms was taken: {other:?}"),
        }
    }
}
