//! Shared range locks at one replica (DESIGN.md 6.1 step 1): a range
//! share-locked by one transaction keeps every other transaction from
//! writing a key inside it, and the other way round, under wait-die.
use crate::types::KeyExt;

use super::lock_tests::{apply, ask, lock_read, node, txn};
use crate::message::{LockRange, LockRead, Message};
use crate::options::TxnOptions;
use crate::types::{Decision, Key, LockMode, PartitionId, TxnId, Write};

use LockMode::{Exclusive as X, Shared as S};

fn skey(id: &str) -> Vec<u8> {
    Key::new("ns", "db", "t", id).storage_key()
}

/// A request of `txn` share-locking ids `start..end` of table `t`.
fn range_read(txn: TxnId, start: &str, end: &str) -> LockRead {
    let mut req = lock_read(txn, 1, &[]);
    req.ranges.push(LockRange {
        start: skey(start),
        end: skey(end),
        partition: PartitionId {
            namespace: "ns".into(),
            token: 1,
        },
    });
    req
}

fn granted(out: &[Message]) -> bool {
    matches!(out, [Message::LockGranted { .. }])
}

fn busy_on(out: &[Message], key: &str, holder: TxnId) -> bool {
    matches!(out, [Message::LockBusy { key: k, holder: h, .. }] if *k == skey(key) && *h == holder)
}

fn commit(id: &str, value: Option<&[u8]>) -> Decision {
    Decision::Committed {
        version: crate::types::ver(zerodb_storage::Version {
            physical_ms: 50,
            logical: 0,
            node: 2,
        }),
        writes: vec![Write {
            partition: PartitionId {
                namespace: "ns".into(),
                token: 1,
            },
            key: skey(id),
            value: value.map(<[u8]>::to_vec),
            expires_at_ms: None,
        }],
        participants: vec![PartitionId {
            namespace: "ns".into(),
            token: 1,
        }],
    }
}

#[test]
fn a_shared_range_keeps_a_younger_writer_out_of_it_but_not_out_of_its_neighbours() {
    let mut n = node();
    assert!(granted(&ask(&mut n, range_read(txn(5), "b", "d"))));
    let inside = ask(&mut n, lock_read(txn(9), 1, &[("c", X)]));
    assert!(busy_on(&inside, "c", txn(5)), "{inside:?}");
    // The end is excluded, the start included.
    assert!(granted(&ask(&mut n, lock_read(txn(10), 1, &[("d", X)]))));
    let start = ask(&mut n, lock_read(txn(11), 1, &[("b", X)]));
    assert!(busy_on(&start, "b", txn(5)), "{start:?}");
    // Readers share the range.
    assert!(granted(&ask(&mut n, lock_read(txn(12), 1, &[("c", S)]))));
    assert!(granted(&ask(&mut n, range_read(txn(13), "a", "d"))));
}

#[test]
fn a_younger_range_read_dies_on_a_writer_inside_and_an_older_one_waits_then_sees_the_write() {
    let mut n = node();
    assert!(granted(&ask(&mut n, lock_read(txn(7), 1, &[("c", X)]))));
    let younger = ask(&mut n, range_read(txn(9), "a", "z"));
    assert!(busy_on(&younger, "c", txn(7)), "{younger:?}");
    let older = ask(&mut n, range_read(txn(5), "a", "z"));
    assert!(older.is_empty(), "the older reader waits: {older:?}");
    let woken = apply(&mut n, txn(7), 1, commit("c", Some(b"new")));
    let ranges = woken.iter().find_map(|m| match m {
        Message::LockGranted { txn: t, ranges, .. } if *t == txn(5) => Some(ranges.clone()),
        _ => None,
    });
    let ranges = ranges.expect("the release grants the waiting range read");
    assert_eq!(ranges.len(), 1);
    assert_eq!(ranges[0].len(), 1);
    assert_eq!(ranges[0][0].key, skey("c"));
    assert!(ranges[0][0].live);
}

#[test]
fn a_range_read_returns_deleted_records_too_so_a_delete_outranks_an_older_copy() {
    let mut n = node();
    assert!(granted(&ask(&mut n, lock_read(txn(7), 1, &[("c", X)]))));
    apply(&mut n, txn(7), 1, commit("c", None));
    let out = ask(&mut n, range_read(txn(9), "a", "z"));
    match &out[..] {
        [Message::LockGranted { ranges, .. }] => {
            assert_eq!(ranges[0].len(), 1, "{ranges:?}");
            assert_eq!(ranges[0][0].key, skey("c"));
            assert!(!ranges[0][0].live, "the tombstone is answered");
        }
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn a_released_range_lets_writers_in() {
    let mut n = node();
    assert!(granted(&ask(&mut n, range_read(txn(5), "a", "z"))));
    apply(&mut n, txn(5), 1, Decision::Aborted);
    assert!(granted(&ask(&mut n, lock_read(txn(9), 1, &[("c", X)]))));
    assert!(n.replica.ranged.is_empty());
}

#[test]
fn the_skip_range_locks_switch_lets_a_writer_into_a_read_range() {
    let mut n = node();
    n.options = TxnOptions {
        unsafe_skip_range_locks: true,
        ..TxnOptions::default()
    };
    assert!(granted(&ask(&mut n, range_read(txn(5), "b", "d"))));
    assert!(granted(&ask(&mut n, lock_read(txn(9), 1, &[("c", X)]))));
}
