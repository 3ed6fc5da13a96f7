//! The premise of the vote fence (`fence.rs`): a replica asked to vote on
//! a transaction reports, when a peer that lost its disk asks its clock, a
//! time at or past the transaction's timestamp, also after a restart. A
//! transaction its coordinator issued with a clock far ahead of the
//! replica's is the case that needs it (the coordinator may be the very
//! node whose disk was lost, so its own report is gone).

use std::collections::BTreeSet;

use zerodb_storage::{Engine, MemoryEngine, Version};

use super::lock_tests::{lock_read, node, sent, txn};
use crate::membership::{NodeId, Policies, View};
use crate::message::Message;
use crate::node::TxnNode;
use crate::options::TxnOptions;
use crate::testing::test_ring;
use crate::types::{version, Ballot, Decision, Epoch, LockMode, PartitionId, TxnId};

/// The replica's own clock reads 10 ms; the coordinator's a minute more.
const AHEAD_MS: u64 = 60_000;

fn home() -> PartitionId {
    PartitionId {
        namespace: "ns".into(),
        token: 1,
    }
}

fn ballot() -> Ballot {
    Ballot {
        round: 0,
        node: 2,
        life: 1,
    }
}

/// The three requests that ask a replica for a vote on `t`.
fn vote_requests(t: TxnId) -> Vec<(&'static str, Message)> {
    let epoch = Epoch { ring: 1, policy: 0 };
    vec![
        (
            "lock",
            Message::LockRead(lock_read(t, 1, &[("k", LockMode::Exclusive)])),
        ),
        (
            "decide",
            Message::Decide {
                txn: t,
                attempt: 1,
                ballot: ballot(),
                value: Decision::Aborted,
                epoch,
                home: home(),
            },
        ),
        (
            "prepare",
            Message::Prepare {
                txn: t,
                attempt: 1,
                ballot: ballot(),
                epoch,
                home: home(),
            },
        ),
    ]
}

/// The clock `n` tells a recovering peer (node 3) at `at_ms`.
fn clock_told(n: &mut TxnNode<MemoryEngine>, at_ms: u64) -> Version {
    let actions = n.handle_message(at_ms, NodeId(3), Message::ClockAsk { req: 77 });
    let told = sent(&actions).into_iter().find_map(|m| match m {
        Message::ClockSeen { hlc, .. } => Some(version(*hlc)),
        _ => None,
    });
    told.expect("a clock answer")
}

/// `n` after a crash that keeps what was synced (the driver syncs a batch
/// that raised the clock's floor before any of its outputs leave).
fn restarted(mut n: TxnNode<MemoryEngine>, options: TxnOptions) -> TxnNode<MemoryEngine> {
    n.engine_mut().sync().unwrap();
    let mut engine = n.into_engine();
    engine.crash();
    let view = View::new(test_ring(3), BTreeSet::new(), Policies::default());
    TxnNode::open(NodeId(1), engine, 7, options, false, view).unwrap()
}

fn node_with(options: TxnOptions) -> TxnNode<MemoryEngine> {
    let mut n = restarted(node(), options);
    assert!(clock_told(&mut n, 10) < version(txn(AHEAD_MS).timestamp));
    n
}

#[test]
fn a_replica_reports_a_clock_past_every_transaction_it_was_asked_to_vote_on() {
    for (what, request) in vote_requests(txn(AHEAD_MS)) {
        let mut n = node_with(TxnOptions::default());
        let t = version(txn(AHEAD_MS).timestamp);
        n.handle_message(10, NodeId(2), request);
        assert!(
            n.take_floor_raised(),
            "{what}: the batch raised the durable floor, so its answers wait for the sync"
        );
        let told = clock_told(&mut n, 20);
        assert!(told >= t, "{what}: told {told:?}, below {t:?}");
        let mut n = restarted(n, TxnOptions::default());
        let told = clock_told(&mut n, 30);
        assert!(
            told >= t,
            "{what} then a restart: told {told:?}, below {t:?}"
        );
    }
}

#[test]
fn without_the_request_clock_a_replica_reports_below_the_transaction() {
    // The switch the test above guards: the report stays at the replica's
    // own clock, below a transaction it voted on.
    let options = TxnOptions {
        unsafe_skip_request_clock: true,
        ..TxnOptions::default()
    };
    for (what, request) in vote_requests(txn(AHEAD_MS)) {
        let mut n = node_with(options.clone());
        n.handle_message(10, NodeId(2), request);
        let told = clock_told(&mut n, 20);
        assert!(told < version(txn(AHEAD_MS).timestamp), "{what}: {told:?}");
    }
}

#[test]
fn a_report_is_above_every_transaction_id_of_the_same_instant() {
    // Ids at one `(physical, logical)` differ in their node field (a
    // nonce); the clock keeps only the instant, so the answer must sit
    // above all of them.
    let mut n = node_with(TxnOptions::default());
    let mut t = txn(AHEAD_MS);
    t.timestamp = crate::types::ver(Version {
        node: u32::MAX - 1,
        ..version(t.timestamp)
    });
    n.handle_message(
        10,
        NodeId(2),
        Message::LockRead(lock_read(t, 1, &[("k", LockMode::Exclusive)])),
    );
    assert!(clock_told(&mut n, 20) > version(t.timestamp));
}
