//! A coordinator never answers a client with a decision that is not its
//! attempt's own (sim/FAILING.md section 17: a transaction id issued twice
//! after a crash let a `PaxosNack` carrying an earlier transaction's empty
//! commit answer an append, which was acknowledged and lost).

use zerodb_txn::message::{PrepareState, RegisterStatus};
use zerodb_txn::request::encode_int;
use zerodb_txn::testing::Cluster;
use zerodb_txn::{
    ClientError, Decision, Key, Level, Message, Op, Request, Response, TxnOptions, Ver,
};

fn key(id: &str) -> Key {
    Key::new("bank", "main", "accounts", id)
}

fn transfer(amount: i64) -> Request {
    Request::Txn {
        ops: vec![
            Op::Incr(key("alice"), -amount),
            Op::Incr(key("bob"), amount),
        ],
    }
}

/// Every `Accepted` sent to the coordinator is replaced by a `PaxosNack`
/// whose register holds a commit of nothing: what a replica answers when
/// the id was used before by a read-only transaction.
fn answer_with_a_foreign_commit(c: &mut Cluster, coordinator: u32) {
    c.rewrite_hook = Some(Box::new(move |_, to, msg| match msg {
        Message::Accepted {
            txn,
            attempt,
            ballot,
            ..
        } if to.0 == coordinator => Message::PaxosNack {
            txn,
            attempt,
            ballot,
            status: RegisterStatus {
                promised: ballot,
                accepted: None,
                decided: Some(Decision::Committed {
                    version: Ver::ZERO,
                    writes: Vec::new(),
                    participants: Vec::new(),
                }),
                prepare: PrepareState::Unknown,
            },
        },
        other => other,
    }));
}

#[test]
fn a_commit_of_other_writes_is_never_acknowledged() {
    let mut c = Cluster::new(3, 7, TxnOptions::default());
    let put = |k: &str, n: i64| Request::Put {
        key: key(k),
        value: encode_int(n),
        level: Level::One,
        ttl_ms: None,
    };
    c.call(1, put("alice", 100), 5_000);
    c.call(1, put("bob", 0), 5_000);
    answer_with_a_foreign_commit(&mut c, 2);
    let answer = c.call(2, transfer(30), 5_000);
    assert_eq!(
        answer,
        Some(Response::Error(ClientError::Timeout {
            outcome_unknown: true
        })),
        "the foreign commit is not this transfer's outcome"
    );
}

#[test]
fn the_attempts_own_commit_is_acknowledged() {
    let mut c = Cluster::new(3, 7, TxnOptions::default());
    let answer = c.call(2, transfer(30), 5_000);
    assert!(
        matches!(answer, Some(Response::Committed { .. })),
        "{answer:?}"
    );
}
