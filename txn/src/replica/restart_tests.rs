//! What a replica keeps across a restart (issue 14 case 7): the lease of a
//! reloaded lock runs again from the restart.
use std::collections::BTreeSet;

use zerodb_storage::{Engine, Incarnation, MemoryEngine};

use super::lock_tests::{ask, lock_read, txn};
use crate::membership::{NodeId, Policies, Ring};
use crate::message::Message;
use crate::node::{Timer, TxnNode};
use crate::options::TxnOptions;
use crate::testing::test_ring;
use crate::types::LockMode;

/// The lease `lock_read` asks for.
const LEASE_MS: u64 = 1_000;

fn open(
    engine: MemoryEngine,
    ring: Ring,
    policies: Policies,
    bootstrap: bool,
) -> TxnNode<MemoryEngine> {
    let mut n = TxnNode::open(NodeId(1), engine, 7, TxnOptions::default(), bootstrap).unwrap();
    n.set_view(ring, BTreeSet::new(), policies);
    n
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
