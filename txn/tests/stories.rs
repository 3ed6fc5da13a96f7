//! Protocol stories on the in-crate harness: each test drives a small
//! cluster of `TxnNode`s through a scenario and checks what clients and
//! replicas end up with.

use zerodb_txn::request::{decode_int, encode_int};
use zerodb_txn::testing::Cluster;
use zerodb_txn::{
    ClientError, CompareOp, Condition, Key, Level, Op, OpResult, Request, Response, TxnOptions,
};

fn key(id: &str) -> Key {
    Key::new("bank", "main", "accounts", id)
}

fn put(k: &Key, v: &[u8]) -> Request {
    Request::Put {
        key: k.clone(),
        value: v.to_vec(),
        level: Level::One,
    }
}

fn get(k: &Key) -> Request {
    Request::Get {
        key: k.clone(),
        level: Level::One,
    }
}

fn value_of(r: Option<Response>) -> Option<Vec<u8>> {
    match r {
        Some(Response::Value(v)) => v.and_then(|v| v.value),
        other => panic!("expected a value, got {other:?}"),
    }
}

#[test]
fn put_then_get_from_another_coordinator() {
    let mut c = Cluster::new(3, 1, TxnOptions::default());
    let written = c.call(1, put(&key("alice"), b"100"), 5_000);
    assert!(
        matches!(written, Some(Response::Written { .. })),
        "{written:?}"
    );
    assert_eq!(
        value_of(c.call(2, get(&key("alice")), 5_000)),
        Some(b"100".to_vec())
    );
    assert_eq!(value_of(c.call(3, get(&key("bob")), 5_000)), None);
    c.run_for(100);
    assert_eq!(c.locks_held(), 0, "every lock is released after apply");
}

fn balance(n: i64) -> Vec<u8> {
    encode_int(n)
}

fn transfer(from: &Key, to: &Key, amount: i64) -> Request {
    Request::Txn {
        ops: vec![
            Op::Assert(
                from.clone(),
                Condition::IntCompare {
                    op: CompareOp::Ge,
                    value: amount,
                },
            ),
            Op::Incr(from.clone(), -amount),
            Op::Incr(to.clone(), amount),
        ],
    }
}

#[test]
fn transfer_with_assert_commits_then_refuses_an_overdraft() {
    let mut c = Cluster::new(3, 2, TxnOptions::default());
    c.call(1, put(&key("alice"), &balance(50)), 5_000);
    c.call(1, put(&key("bob"), &balance(0)), 5_000);
    let done = c.call(2, transfer(&key("alice"), &key("bob"), 30), 5_000);
    match done {
        Some(Response::Committed { results, .. }) => {
            assert_eq!(results[1], OpResult::Int(20));
            assert_eq!(results[2], OpResult::Int(30));
        }
        other => panic!("transfer should commit: {other:?}"),
    }
    let refused = c.call(3, transfer(&key("alice"), &key("bob"), 30), 5_000);
    match refused {
        Some(Response::Error(ClientError::ConditionFailed { key: k, found, .. })) => {
            assert_eq!(k, key("alice"));
            assert_eq!(
                found.and_then(|f| f.value).and_then(|v| decode_int(&v)),
                Some(20)
            );
        }
        other => panic!("overdraft should fail its condition: {other:?}"),
    }
    let a = value_of(c.call(1, get(&key("alice")), 5_000)).and_then(|v| decode_int(&v));
    let b = value_of(c.call(1, get(&key("bob")), 5_000)).and_then(|v| decode_int(&v));
    assert_eq!((a, b), (Some(20), Some(30)));
    c.run_for(100);
    assert_eq!(c.locks_held(), 0);
}
