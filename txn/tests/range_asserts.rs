//! `Op::AssertRange` through whole transactions on the in-crate harness:
//! a range that still holds what was read commits; an insert, a delete or
//! an update inside it fails the assert and names the record; a table
//! spread over the cluster is refused.

use zerodb_txn::membership::{NamespacePolicy, PartitionLevel};
use zerodb_txn::testing::Cluster;
use zerodb_txn::{
    ClientError, Key, Level, Op, Policies, RangeAssert, Request, Response, TxnOptions, Ver,
};

fn key(id: &str) -> Key {
    Key::new("shop", "main", "orders", id)
}

fn put(c: &mut Cluster, id: &str, value: &[u8]) -> Ver {
    let req = Request::Put {
        key: key(id),
        value: value.to_vec(),
        level: Level::One,
        ttl_ms: None,
    };
    match c.call(1, req, 5_000) {
        Some(Response::Written { version }) => version,
        other => panic!("put {id}: {other:?}"),
    }
}

fn delete(c: &mut Cluster, id: &str) {
    let req = Request::Delete {
        key: key(id),
        level: Level::One,
    };
    assert!(matches!(
        c.call(1, req, 5_000),
        Some(Response::Written { .. })
    ));
}

/// Ids `start..end` expected to hold exactly `expect`, then a write of
/// `marker` (so the commit is observable).
fn assert_range(start: &str, end: &str, expect: &[(&str, Ver)]) -> Request {
    Request::Txn {
        ops: vec![
            Op::AssertRange(RangeAssert {
                start: key(start),
                end_id: end.as_bytes().to_vec(),
                expect: expect
                    .iter()
                    .map(|(id, v)| (id.as_bytes().to_vec(), *v))
                    .collect(),
            }),
            Op::Put(key("marker"), b"seen".to_vec()),
        ],
    }
}

fn failed_on(response: Option<Response>) -> (Key, Ver, Option<Ver>) {
    match response {
        Some(Response::Error(ClientError::RangeChanged {
            key,
            expected,
            found,
        })) => (key, expected, found),
        other => panic!("expected a failed range assert, got {other:?}"),
    }
}

#[test]
fn a_range_that_still_holds_what_was_read_commits() {
    let mut c = Cluster::new(3, 1, TxnOptions::default());
    let a = put(&mut c, "a", b"1");
    let b = put(&mut c, "b", b"2");
    put(&mut c, "d", b"outside");
    let done = c.call(2, assert_range("a", "c", &[("a", a), ("b", b)]), 5_000);
    assert!(matches!(done, Some(Response::Committed { .. })), "{done:?}");
    c.run_for(100);
    assert_eq!(c.locks_held(), 0, "range locks are released with the rest");
}

#[test]
fn an_insert_into_the_range_fails_the_assert_and_names_the_new_record() {
    let mut c = Cluster::new(3, 2, TxnOptions::default());
    let a = put(&mut c, "a", b"1");
    let phantom = put(&mut c, "ab", b"phantom");
    let failed = failed_on(c.call(3, assert_range("a", "c", &[("a", a)]), 5_000));
    assert_eq!(failed, (key("ab"), Ver::ZERO, Some(phantom)));
    // Nothing of the failed transaction was written.
    let read = c.call(
        1,
        Request::Get {
            key: key("marker"),
            level: Level::One,
        },
        5_000,
    );
    assert_eq!(read, Some(Response::Value(None)));
}

#[test]
fn a_delete_or_an_update_inside_the_range_fails_the_assert() {
    let mut c = Cluster::new(3, 3, TxnOptions::default());
    let a = put(&mut c, "a", b"1");
    let b = put(&mut c, "b", b"2");
    delete(&mut c, "b");
    let failed = failed_on(c.call(2, assert_range("a", "c", &[("a", a), ("b", b)]), 5_000));
    assert_eq!(failed, (key("b"), b, None));
    let newer = put(&mut c, "a", b"changed");
    let failed = failed_on(c.call(2, assert_range("a", "c", &[("a", a)]), 5_000));
    assert_eq!(failed, (key("a"), a, Some(newer)));
    let done = c.call(2, assert_range("a", "c", &[("a", newer)]), 5_000);
    assert!(matches!(done, Some(Response::Committed { .. })), "{done:?}");
}

#[test]
fn a_range_of_a_table_spread_over_the_cluster_is_refused_with_the_reason() {
    let mut policies = Policies::default();
    policies.namespaces.insert(
        "shop".into(),
        NamespacePolicy {
            partition_level: PartitionLevel::Record,
            ..NamespacePolicy::default()
        },
    );
    let mut c = Cluster::with_policies(3, 4, TxnOptions::default(), policies);
    match c.call(1, assert_range("a", "c", &[]), 5_000) {
        Some(Response::Error(ClientError::BadRequest { reason })) => {
            assert!(reason.contains("partition level record"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn expected_records_out_of_order_or_outside_the_range_are_refused() {
    let mut c = Cluster::new(3, 5, TxnOptions::default());
    let v = put(&mut c, "a", b"1");
    for expect in [vec![("b", v), ("a", v)], vec![("x", v)]] {
        match c.call(1, assert_range("a", "c", &expect), 5_000) {
            Some(Response::Error(ClientError::BadRequest { reason })) => {
                assert!(reason.contains("strictly increasing"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
