//! What a replica keeps across a restart and a namespace drop (issue 14
//! case 7): the lease of a reloaded lock runs again from the restart, and
//! the locks of a dropped namespace are recovered on the replica ring its
//! policy placed them on, not on the default policy's.
use std::collections::{BTreeMap, BTreeSet};

use zerodb_storage::{Engine, Incarnation, MemoryEngine, Space};

use super::lock_tests::{ask, lock_read, sent, txn};
use crate::membership::{NamespacePolicy, NodeId, Policies, Ring, View};
use crate::message::Message;
use crate::node::{Timer, TxnNode};
use crate::options::TxnOptions;
use crate::testing::test_ring;
use crate::types::{Ballot, LockMode, PartitionId};

/// The lease `lock_read` asks for.
const LEASE_MS: u64 = 1_000;

fn open(
    engine: MemoryEngine,
    ring: Ring,
    policies: Policies,
    bootstrap: bool,
) -> TxnNode<MemoryEngine> {
    TxnNode::open(
        NodeId(1),
        engine,
        7,
        TxnOptions::default(),
        bootstrap,
        View::new(ring, BTreeSet::new(), policies),
    )
    .unwrap()
}

fn restart(mut n: TxnNode<MemoryEngine>, ring: Ring, policies: Policies) -> TxnNode<MemoryEngine> {
    n.engine_mut().sync().unwrap();
    let mut engine = n.into_engine();
    engine.crash();
    open(engine, ring, policies, false)
}

/// Ticks from `from_ms` to `to_ms` (inclusive) and returns the nodes
/// every recovery `Prepare` went to.
fn prepares(n: &mut TxnNode<MemoryEngine>, from_ms: u64, to_ms: u64) -> BTreeSet<NodeId> {
    let tick = TxnOptions::default().tick_ms;
    let mut targets = BTreeSet::new();
    for at in (from_ms..=to_ms).step_by(tick as usize) {
        for action in n.handle_timer(at, Timer::Tick) {
            if let crate::node::Action::Send {
                to,
                msg: Message::Prepare { .. },
            } = action
            {
                targets.insert(to);
            }
        }
    }
    targets
}

#[test]
fn a_restart_rearms_the_lease_of_every_reloaded_lock() {
    let mut n = open(
        MemoryEngine::new(Incarnation(1)),
        test_ring(3),
        Policies::default(),
        true,
    );
    ask(&mut n, lock_read(txn(5), 1, &[("a", LockMode::Exclusive)]));
    let mut n = restart(n, test_ring(3), Policies::default());
    assert_eq!(n.locks_held(), 1);
    // Long after the grant: the lock is reloaded, and its lease runs again
    // from the restart, so its live coordinator is not pre-empted.
    let restart_ms = 100_000;
    n.start(restart_ms);
    let early = prepares(&mut n, restart_ms, restart_ms + LEASE_MS - 1);
    assert!(
        early.is_empty(),
        "no recovery before the lease elapses after the restart: {early:?}"
    );
    let jitter_ms = TxnOptions::default().backoff_base_ms;
    let late = prepares(
        &mut n,
        restart_ms + LEASE_MS,
        restart_ms + LEASE_MS + jitter_ms + 20,
    );
    assert!(!late.is_empty(), "once the lease elapsed, recovery starts");
}

/// The ballots of the recovery `Prepare`s sent while ticking from
/// `from_ms` to `to_ms`.
fn prepare_ballots(n: &mut TxnNode<MemoryEngine>, from_ms: u64, to_ms: u64) -> BTreeSet<Ballot> {
    let tick = TxnOptions::default().tick_ms;
    let mut ballots = BTreeSet::new();
    for at in (from_ms..=to_ms).step_by(tick as usize) {
        for m in sent(&n.handle_timer(at, Timer::Tick)) {
            if let Message::Prepare { ballot, .. } = m {
                ballots.insert(*ballot);
            }
        }
    }
    ballots
}

#[test]
fn a_restarted_recovery_never_reuses_a_ballot_of_an_earlier_life() {
    let mut n = open(
        MemoryEngine::new(Incarnation(1)),
        test_ring(3),
        Policies::default(),
        true,
    );
    n.start(0);
    ask(&mut n, lock_read(txn(5), 1, &[("a", LockMode::Exclusive)]));
    let window_ms = LEASE_MS + TxnOptions::default().backoff_base_ms + 20;
    let first = prepare_ballots(&mut n, 10, 10 + window_ms);
    assert!(!first.is_empty(), "the expired lock is recovered");
    // The node restarts over its disk and has forgotten the rounds it used;
    // with no answer seen, it starts again from round 1.
    let mut n = restart(n, test_ring(3), Policies::default());
    n.start(50_000);
    let second = prepare_ballots(&mut n, 50_000, 50_000 + window_ms);
    assert!(!second.is_empty(), "the reloaded lock is recovered");
    assert!(
        first.is_disjoint(&second),
        "one ballot could carry two values: {first:?} and {second:?}"
    );
}

/// "ns" replicated on 5 of 5 nodes while the default policy has RF 3.
fn wide_ns_policies() -> Policies {
    let wide = NamespacePolicy {
        replication_factor: 5,
        ..NamespacePolicy::default()
    };
    Policies {
        namespaces: BTreeMap::from([("ns".to_string(), wide)]),
        ..Policies::default()
    }
}

fn home() -> PartitionId {
    lock_read(txn(5), 1, &[]).home
}

fn wide_home_replicas() -> BTreeSet<NodeId> {
    let view = crate::membership::View {
        ring: test_ring(5),
        down: BTreeSet::new(),
        policies: wide_ns_policies(),
    };
    let replicas: BTreeSet<NodeId> = view.replicas(&home()).into_iter().collect();
    assert_eq!(replicas.len(), 5);
    replicas
}

#[test]
fn a_dropped_namespace_keeps_its_placement_for_recovery() {
    let mut n = open(
        MemoryEngine::new(Incarnation(1)),
        test_ring(5),
        wide_ns_policies(),
        true,
    );
    n.start(0);
    ask(&mut n, lock_read(txn(5), 1, &[("a", LockMode::Exclusive)]));
    // "ns" is dropped: its policy leaves the view.
    n.set_view(test_ring(5), BTreeSet::new(), Policies::default());
    let asked = prepares(&mut n, 10, 10 + LEASE_MS + 50);
    assert_eq!(
        asked,
        wide_home_replicas(),
        "the register is on the ring of the namespace's own policy"
    );
    // A quorum of that ring (3 of 5), not of the default one (2 of 3).
    let ballot = Ballot {
        round: 1,
        node: 1,
        life: n.life_id(),
    };
    let promise = |n: &mut TxnNode<MemoryEngine>, from: u32| {
        let msg = Message::Promise {
            txn: txn(5),
            attempt: 1,
            ballot,
            status: crate::replica::RegisterState::default().status(),
            voter: crate::quorum::Voter::normal(u64::from(from)),
        };
        let actions = n.handle_message(2_000, NodeId(from), msg);
        sent(&actions)
            .iter()
            .any(|m| matches!(m, Message::Decide { .. }))
    };
    assert!(!promise(&mut n, 2));
    assert!(!promise(&mut n, 3), "two promises are not a quorum of five");
    assert!(promise(&mut n, 4));
}

#[test]
fn a_dropped_namespace_keeps_its_placement_across_a_restart() {
    let mut n = open(
        MemoryEngine::new(Incarnation(1)),
        test_ring(5),
        wide_ns_policies(),
        true,
    );
    ask(&mut n, lock_read(txn(5), 1, &[("a", LockMode::Exclusive)]));
    // The node restarts after the drop: its first view never shows "ns".
    let mut n = restart(n, test_ring(5), Policies::default());
    n.start(50_000);
    let asked = prepares(&mut n, 50_000, 50_000 + LEASE_MS + 50);
    assert_eq!(asked, wide_home_replicas());
}

/// A replica that lost its disk after the drop copies the dropped
/// namespace's locks from peers; it must copy the namespace's placement
/// with them, or it recovers those locks on the default policy's ring.
#[test]
fn lost_state_copy_brings_the_placement_of_a_dropped_namespace() {
    let mut peer = open(
        MemoryEngine::new(Incarnation(1)),
        test_ring(5),
        wide_ns_policies(),
        true,
    );
    let served = peer.handle_message(
        10,
        NodeId(2),
        Message::SyncRequest {
            space_tag: Space::System.tag(),
            after: None,
        },
    );
    let Some(Message::SyncChunk { entries, .. }) = sent(&served).into_iter().next().cloned() else {
        panic!("the peer serves its system space: {served:?}");
    };
    // A new disk, and a view in which "ns" is already dropped.
    let mut n = open(
        MemoryEngine::new(Incarnation(9)),
        test_ring(5),
        Policies::default(),
        false,
    );
    n.handle_timer(10, Timer::Tick);
    let chunk = |space: Space, entries| Message::SyncChunk {
        space_tag: space.tag(),
        after: None,
        entries,
        done: true,
    };
    n.handle_message(10, NodeId(2), chunk(Space::Data, Vec::new()));
    n.handle_message(10, NodeId(2), chunk(Space::System, entries));
    let rf = |n: &TxnNode<MemoryEngine>| {
        let view = &n.view;
        view.policies.get("ns").replication_factor
    };
    assert_eq!(rf(&n), 5, "the copied placement fills the view");
    let n = restart(n, test_ring(5), Policies::default());
    assert_eq!(rf(&n), 5, "and is remembered across a restart");
}
