//! A replica fenced after a lost disk in a ring of two replicas
//! (sim/FAILING.md section 12). Every quorum of such a ring is both
//! replicas, so a transaction left undecided by a coordinator that lost
//! its disk can be decided only with the fenced replica's vote; its lock
//! pins the released watermark, and the fence waits for that watermark.
//! Without the fenced vote the replica stayed `recovering` for good.

use zerodb_txn::membership::NamespacePolicy;
use zerodb_txn::testing::Cluster;
use zerodb_txn::{Key, Message, Op, Policies, ReplicaStatus, Request, TxnOptions};

fn options() -> TxnOptions {
    TxnOptions {
        watermark_ms: 100,
        watermark_margin_ms: 500,
        ..TxnOptions::default()
    }
}

fn ring_of_two() -> Policies {
    Policies {
        default: NamespacePolicy {
            replication_factor: 2,
            ..NamespacePolicy::default()
        },
        ..Policies::default()
    }
}

fn key() -> Key {
    Key::new("bank", "main", "accounts", "a0")
}

#[test]
fn a_fenced_replica_in_a_ring_of_two_votes_so_the_undecided_lock_resolves_and_the_fence_lifts() {
    let mut c = Cluster::with_policies(2, 3, options(), ring_of_two());
    // Node 2 coordinates a read-modify-write (not blind, so it decides at
    // ballot 0 at home, protocol v1's path) and crashes right after
    // accepting its own ballot-0 Decide; node 1 accepts it too, nobody
    // learns the outcome.
    c.crash_hook = Some(Box::new(|node, msg| {
        node.0 == 2 && matches!(msg, Message::Accepted { .. })
    }));
    c.submit(
        2,
        Request::Txn {
            ops: vec![Op::Get(key()), Op::Put(key(), b"new".to_vec())],
        },
    );
    let crashed = c.run_until(5_000, |c| !c.running().contains(&2));
    assert!(crashed, "node 2 never reached its accept");
    c.crash_hook = None;
    // Its disk is lost: it comes back as a new incarnation, copies node 1's
    // locks and registers, and fences.
    c.wipe(2);
    c.restart(2);
    assert_eq!(c.node(2).status(), ReplicaStatus::Recovering);
    let settled = c.run_until(30_000, |c| {
        c.node(2).status() == ReplicaStatus::Normal && c.locks_held() == 0
    });
    assert!(
        settled,
        "node 2 {:?}, locks held {}; node 2's watermark: {}",
        c.node(2).status(),
        c.locks_held(),
        c.node(2).watermark_report()
    );
    // Node 1 had accepted the commit at ballot 0: the recovery adopted it.
    for node in [1, 2] {
        let record = c.stored(node, &key()).expect("the put was applied");
        assert_eq!(record.value.as_deref(), Some(&b"new"[..]), "node {node}");
    }
}
