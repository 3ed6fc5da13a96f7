//! Lock table behaviour at one replica, driven through `handle_message`.
use crate::types::ver;
use crate::types::KeyExt;
use std::collections::BTreeSet;

use zerodb_storage::{Engine, Incarnation, MemoryEngine, Version};

use crate::membership::{NodeId, Policies};
use crate::message::{LockKey, LockRead, Message};
use crate::node::{Action, TxnNode};
use crate::options::TxnOptions;
use crate::testing::{test_ring, test_view};
use crate::types::{Decision, Epoch, Key, LockMode, PartitionId, TxnId};

pub(super) fn node() -> TxnNode<MemoryEngine> {
    TxnNode::open(
        NodeId(1),
        MemoryEngine::new(Incarnation(1)),
        7,
        TxnOptions::default(),
        true,
        test_view(3),
    )
    .unwrap()
}

pub(super) fn txn(age: u64) -> TxnId {
    TxnId {
        timestamp: ver(Version {
            physical_ms: age,
            logical: 0,
            node: 2,
        }),
        coordinator: 2,
    }
}

pub(super) fn lock_read(txn: TxnId, attempt: u32, keys: &[(&str, LockMode)]) -> LockRead {
    let home = PartitionId {
        namespace: "ns".into(),
        token: 1,
    };
    LockRead {
        txn,
        attempt,
        home: home.clone(),
        epoch: Epoch { ring: 1, policy: 0 },
        lease_ms: 1_000,
        keys: keys
            .iter()
            .map(|(id, mode)| LockKey {
                key: Key::new("ns", "db", "t", *id).storage_key(),
                partition: home.clone(),
                mode: *mode,
            })
            .collect(),
        ranges: Vec::new(),
        blind: None,
    }
}

pub(super) fn sent(actions: &[Action]) -> Vec<&Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { msg, .. } => Some(msg),
            _ => None,
        })
        .collect()
}

pub(super) fn ask(n: &mut TxnNode<MemoryEngine>, req: LockRead) -> Vec<Message> {
    let actions = n.handle_message(10, NodeId(2), Message::LockRead(req));
    sent(&actions).into_iter().cloned().collect()
}

pub(super) fn apply(
    n: &mut TxnNode<MemoryEngine>,
    txn: TxnId,
    attempt: u32,
    d: Decision,
) -> Vec<Message> {
    let home = PartitionId {
        namespace: "ns".into(),
        token: 1,
    };
    let msg = Message::Apply {
        txn,
        attempt,
        home,
        decision: d,
    };
    let actions = n.handle_message(20, NodeId(2), msg);
    sent(&actions).into_iter().cloned().collect()
}

use LockMode::{Exclusive as X, Shared as S};

#[test]
fn shared_locks_share_and_exclusive_ones_do_not() {
    let mut n = node();
    assert!(matches!(
        ask(&mut n, lock_read(txn(5), 1, &[("a", S)]))[..],
        [Message::LockGranted { .. }]
    ));
    assert!(matches!(
        ask(&mut n, lock_read(txn(6), 1, &[("a", S)]))[..],
        [Message::LockGranted { .. }]
    ));
    let out = ask(&mut n, lock_read(txn(7), 1, &[("a", X)]));
    assert!(
        matches!(&out[..], [Message::LockBusy { holder, .. }] if *holder == txn(5) || *holder == txn(6))
    );
}

#[test]
fn a_request_is_granted_all_or_nothing() {
    let mut n = node();
    ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
    // Younger: dies on `a`, and must not keep `b`.
    let out = ask(&mut n, lock_read(txn(9), 1, &[("b", X), ("a", X)]));
    assert!(matches!(&out[..], [Message::LockBusy { holder, .. }] if *holder == txn(5)));
    let out = ask(&mut n, lock_read(txn(10), 1, &[("b", X)]));
    assert!(
        matches!(out[..], [Message::LockGranted { .. }]),
        "b was not left locked"
    );
}

#[test]
fn an_older_requester_waits_and_is_granted_on_release() {
    let mut n = node();
    ask(&mut n, lock_read(txn(9), 1, &[("a", X)]));
    let out = ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
    assert!(out.is_empty(), "the older transaction waits: {out:?}");
    let out = apply(&mut n, txn(9), 1, Decision::Aborted);
    assert!(
        out.iter()
            .any(|m| matches!(m, Message::LockGranted { txn: t, .. } if *t == txn(5))),
        "release wakes the waiter: {out:?}"
    );
    assert_eq!(n.locks_held(), 1);
}

#[test]
fn a_waiter_gives_up_after_the_wait_limit() {
    let mut n = node();
    ask(&mut n, lock_read(txn(9), 1, &[("a", X)]));
    assert!(ask(&mut n, lock_read(txn(5), 1, &[("a", X)])).is_empty());
    let at = 10 + TxnOptions::default().wait_max_ms;
    let actions = n.handle_timer(at, crate::node::Timer::Tick);
    assert!(sent(&actions)
        .iter()
        .any(|m| matches!(m, Message::LockBusy { txn: t, .. } if *t == txn(5))));
}

#[test]
fn late_duplicates_of_a_finished_attempt_are_refused() {
    let mut n = node();
    ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
    apply(&mut n, txn(5), 1, Decision::Aborted);
    assert_eq!(n.locks_held(), 0);
    let out = ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
    assert!(matches!(
        &out[..],
        [Message::LockRefused {
            reason: crate::error::Refusal::Finished,
            ..
        }]
    ));
    assert_eq!(n.locks_held(), 0, "no orphan lock");
    // An Apply that overtakes its LockRead also fences it.
    apply(&mut n, txn(6), 1, Decision::Aborted);
    let out = ask(&mut n, lock_read(txn(6), 1, &[("b", X)]));
    assert!(matches!(out[..], [Message::LockRefused { .. }]));
    // A new attempt of an aborted transaction is welcome.
    let out = ask(&mut n, lock_read(txn(5), 2, &[("a", X)]));
    assert!(matches!(out[..], [Message::LockGranted { .. }]));
}

#[test]
fn a_wrong_epoch_is_refused_with_the_replica_epoch() {
    let mut n = node();
    let mut req = lock_read(txn(5), 1, &[("a", X)]);
    req.epoch.ring = 99;
    let out = ask(&mut n, req);
    assert!(matches!(
        &out[..],
        [Message::LockRefused { reason: crate::error::Refusal::WrongEpoch { replica }, .. }] if replica.ring == 1
    ));
}

#[test]
fn granted_locks_survive_a_crash_once_synced() {
    let mut n = node();
    ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
    n.engine_mut().sync().unwrap();
    let mut engine = n.into_engine();
    engine.crash();
    let mut n = TxnNode::open(
        NodeId(1),
        engine,
        7,
        TxnOptions::default(),
        false,
        test_view(3),
    )
    .unwrap();
    assert_eq!(n.locks_held(), 1);
    let out = ask(&mut n, lock_read(txn(9), 1, &[("a", X)]));
    assert!(matches!(out[..], [Message::LockBusy { .. }]));
}

#[test]
fn the_durability_switch_keeps_locks_only_in_memory() {
    let options = TxnOptions {
        unsafe_skip_lock_durability: true,
        ..TxnOptions::default()
    };
    let mut n = TxnNode::open(
        NodeId(1),
        MemoryEngine::new(Incarnation(1)),
        7,
        options.clone(),
        true,
        test_view(3),
    )
    .unwrap();
    ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
    n.engine_mut().sync().unwrap();
    let n = TxnNode::open(NodeId(1), n.into_engine(), 7, options, false, test_view(3)).unwrap();
    assert_eq!(n.locks_held(), 0);
}

/// Issue 14 case 1: H (younger) holds `a`; T attempt 2 waits for it; a
/// delayed request of T attempt 1 arrives. Once H is released, attempt 1
/// must not replace attempt 2's lock, or aborting attempt 1 frees `a`
/// while attempt 2 believes it holds it.
#[test]
fn a_late_older_attempt_never_replaces_a_newer_attempts_lock() {
    let mut n = node();
    let (h, t) = (txn(9), txn(5));
    ask(&mut n, lock_read(h, 1, &[("a", X)]));
    assert!(
        ask(&mut n, lock_read(t, 2, &[("a", X)])).is_empty(),
        "older: waits"
    );
    let late = ask(&mut n, lock_read(t, 1, &[("a", X)]));
    assert!(
        matches!(
            &late[..],
            [] | [Message::LockRefused {
                attempt: 1,
                reason: crate::error::Refusal::Finished,
                ..
            }]
        ),
        "the late attempt is refused or left waiting: {late:?}"
    );
    apply(&mut n, h, 1, Decision::Aborted);
    apply(&mut n, t, 1, Decision::Aborted);
    let out = ask(&mut n, lock_read(txn(10), 1, &[("a", X)]));
    assert!(
        matches!(&out[..], [Message::LockBusy { holder, .. }] if *holder == t),
        "T attempt 2 still holds `a`: {out:?}"
    );
}

#[test]
fn an_older_attempt_arriving_while_a_newer_one_waits_is_refused() {
    let mut n = node();
    let (h, t) = (txn(9), txn(5));
    ask(&mut n, lock_read(h, 1, &[("a", X)]));
    assert!(ask(&mut n, lock_read(t, 2, &[("a", X)])).is_empty());
    let late = ask(&mut n, lock_read(t, 1, &[("a", X)]));
    assert!(
        matches!(
            &late[..],
            [Message::LockRefused {
                attempt: 1,
                reason: crate::error::Refusal::Finished,
                ..
            }]
        ),
        "a queued newer attempt fences the older one: {late:?}"
    );
    let out = apply(&mut n, h, 1, Decision::Aborted);
    let granted: Vec<_> = out
        .iter()
        .filter_map(|m| match m {
            Message::LockGranted { txn, attempt, .. } => Some((*txn, *attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(granted, vec![(t, 2)], "only the newer attempt: {out:?}");
}

#[test]
fn a_newer_attempt_replaces_an_older_one_waiting_in_the_queue() {
    let mut n = node();
    let (h, t) = (txn(9), txn(5));
    ask(&mut n, lock_read(h, 1, &[("a", X)]));
    assert!(ask(&mut n, lock_read(t, 1, &[("a", X)])).is_empty());
    let out = ask(&mut n, lock_read(t, 2, &[("a", X)]));
    assert!(
        matches!(
            &out[..],
            [Message::LockRefused {
                attempt: 1,
                reason: crate::error::Refusal::Finished,
                ..
            }]
        ),
        "the abandoned attempt leaves the queue, the new one waits: {out:?}"
    );
    let out = apply(&mut n, h, 1, Decision::Aborted);
    assert!(
        matches!(&out[..], [Message::LockGranted { txn, attempt: 2, .. }] if *txn == t),
        "only the newer attempt is granted: {out:?}"
    );
}

#[test]
fn a_woken_request_is_rechecked() {
    let mut n = node();
    let (h, t) = (txn(9), txn(5));
    ask(&mut n, lock_read(h, 1, &[("a", X)]));
    assert!(ask(&mut n, lock_read(t, 1, &[("a", X)])).is_empty());
    // The policy version moves while T waits: its request, checked against
    // the old epoch on arrival, no longer matches this replica.
    let policies = Policies {
        version: 1,
        ..Policies::default()
    };
    n.set_view(test_ring(3), BTreeSet::new(), policies);
    let out = apply(&mut n, h, 1, Decision::Aborted);
    assert!(
        matches!(
            &out[..],
            [Message::LockRefused {
                reason: crate::error::Refusal::WrongEpoch { .. },
                ..
            }]
        ),
        "woken, the request is checked again: {out:?}"
    );
    assert_eq!(n.locks_held(), 0);
}
