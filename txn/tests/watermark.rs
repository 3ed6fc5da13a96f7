//! The released watermark: finished markers and decision registers of
//! transactions that are over everywhere are deleted, and lock requests of
//! transactions older than a node's reported low are refused.

use zerodb_txn::membership::NodeId;
use zerodb_txn::message::{LockKey, LockRead};
use zerodb_txn::testing::{test_ring, Cluster};
use zerodb_txn::KeyExt;
use zerodb_txn::{
    Action, Epoch, Key, Level, Message, Op, PartitionId, Refusal, Request, Response, TxnId,
    TxnOptions,
};

fn options(watermark_ms: u64) -> TxnOptions {
    TxnOptions {
        watermark_ms,
        watermark_margin_ms: 500,
        ..TxnOptions::default()
    }
}

fn key(i: usize) -> Key {
    Key::new("bank", "main", "accounts", format!("a{i}"))
}

/// Runs `count` two-key transactions through rotating coordinators.
fn transactions(c: &mut Cluster, count: usize) {
    for i in 0..count {
        let request = Request::Txn {
            ops: vec![Op::Incr(key(i % 7), 1), Op::Incr(key((i + 3) % 7), 1)],
        };
        let answer = c.call(1 + (i % 3) as u32, request, 5_000);
        assert!(
            matches!(answer, Some(Response::Committed { .. })),
            "{answer:?}"
        );
    }
}

fn records(c: &mut Cluster) -> usize {
    (1..=3).map(|n| c.node(n).decision_records()).sum()
}

#[test]
fn decision_records_of_finished_transactions_are_deleted() {
    let mut c = Cluster::new(3, 1, options(100));
    transactions(&mut c, 40);
    let before = records(&mut c);
    assert!(before > 40, "{before} records after 40 transactions");
    c.run_for(3_000);
    assert_eq!(records(&mut c), 0, "every transaction is over everywhere");
    let deleted: u64 = (1..=3)
        .map(|n| c.node(n).decision_records_collected())
        .sum();
    assert!(deleted >= before as u64);
    // The data is untouched.
    let read = c.call(
        2,
        Request::Get {
            key: key(0),
            level: Level::One,
        },
        5_000,
    );
    assert!(matches!(read, Some(Response::Value(Some(_)))), "{read:?}");
}

#[test]
fn without_the_watermark_records_stay() {
    let mut c = Cluster::new(3, 1, options(0));
    transactions(&mut c, 10);
    let before = records(&mut c);
    c.run_for(3_000);
    // (Applies still in flight at the last answer add markers.)
    assert!(records(&mut c) >= before && before > 0);
}

#[test]
fn a_late_lock_request_of_an_old_transaction_is_refused() {
    let mut c = Cluster::new(3, 2, options(100));
    transactions(&mut c, 5);
    c.run_for(3_000);
    let released = c.node(1).released_watermark();
    assert!(released.physical_ms > 0, "the watermark advanced");
    // A duplicate of a lock request from long ago arrives now.
    let k = key(0).storage_key();
    let old = LockRead {
        txn: TxnId {
            timestamp: zerodb_txn::ver(zerodb_storage::Version {
                physical_ms: 1_000,
                logical: 0,
                node: 2,
            }),
            coordinator: 2,
        },
        attempt: 1,
        home: PartitionId {
            namespace: "bank".into(),
            token: 0,
        },
        epoch: Epoch {
            ring: test_ring(3).epoch(),
            policy: 0,
        },
        lease_ms: 2_000,
        keys: vec![LockKey {
            key: k,
            partition: PartitionId {
                namespace: "bank".into(),
                token: 0,
            },
            mode: zerodb_txn::types::LockMode::Exclusive,
        }],
        ranges: Vec::new(),
        blind: None,
    };
    let now = c.now_ms();
    let actions = c
        .node(1)
        .handle_message(now, NodeId(2), Message::LockRead(old));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send {
                msg: Message::LockRefused {
                    reason: Refusal::TooOld { .. },
                    ..
                },
                ..
            }
        )),
        "{actions:?}"
    );
    assert_eq!(c.node(1).locks_held(), 0, "no orphan lock");
}
