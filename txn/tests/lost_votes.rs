//! A replica that lost its disk forgets votes still in flight (issue 14
//! case 6, DESIGN.md 6.1 step 7). Replica C accepts a coordinator's
//! ballot-0 `Decide` and loses its disk; it copies its state back from A
//! and B before the delayed `Decide` reaches A. A then accepts: `{A, C-old}`
//! is a quorum and the coordinator answers `Committed`. If C-new votes as
//! soon as its copy is done, a recovery whose promise quorum is
//! `{B, C-new}` sees nothing accepted and decides `Aborted`.

use zerodb_storage::{Incarnation, MemoryEngine};
use zerodb_txn::membership::NodeId;
use zerodb_txn::testing::{test_ring, test_view};
use zerodb_txn::{
    Action, Ballot, Decision, Epoch, Message, PartitionId, Refusal, TxnId, TxnNode, TxnOptions, Ver,
};

fn open(id: u32, incarnation: u64, bootstrap: bool) -> TxnNode<MemoryEngine> {
    let engine = MemoryEngine::new(Incarnation(incarnation));
    let mut node = TxnNode::open(
        NodeId(id),
        engine,
        5,
        TxnOptions::default(),
        bootstrap,
        test_view(3),
    )
    .unwrap();
    node.start(2_000);
    node
}

fn sends(actions: Vec<Action>) -> Vec<(NodeId, Message)> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((to, msg)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_replica_back_from_a_lost_disk_casts_no_vote_while_old_votes_may_be_in_flight() {
    let epoch = Epoch {
        ring: test_ring(3).epoch(),
        policy: 0,
    };
    let txn = TxnId {
        timestamp: Ver {
            physical_ms: 1_900,
            logical: 0,
            node: 9,
        },
        coordinator: 9,
    };
    let commit = Decision::Committed {
        version: Ver {
            physical_ms: 1_950,
            logical: 0,
            node: 9,
        },
        writes: vec![],
        participants: vec![],
    };
    // The register's home: any partition, each has all three replicas.
    let home = PartitionId {
        namespace: "bank".into(),
        token: 7,
    };
    let mut nodes = [open(1, 1, true), open(2, 2, true), open(3, 3, true)];
    // C (node 3) accepts the coordinator's ballot-0 Decide...
    let decide = Message::Decide {
        txn,
        attempt: 1,
        ballot: Ballot {
            round: 0,
            node: 9,
            life: 0,
        },
        value: commit,
        epoch,
        home: home.clone(),
    };
    let out = sends(nodes[2].handle_message(2_000, NodeId(9), decide));
    assert!(matches!(out[..], [(_, Message::Accepted { .. })]));
    // ...and loses its disk. C-new copies from A and B (the Decide to A is
    // still on the wire).
    nodes[2] = open(3, 33, false);
    let mut now = 2_000;
    let mut wire = Vec::new();
    for _ in 0..50 {
        now += 10;
        for (i, node) in nodes.iter_mut().enumerate() {
            let from = NodeId(i as u32 + 1);
            let out = sends(node.handle_timer(now, zerodb_txn::Timer::Tick));
            wire.extend(out.into_iter().map(|(to, m)| (from, to, m)));
        }
        while let Some((from, to, msg)) = wire.pop() {
            let Some(node) = nodes.get_mut(to.0 as usize - 1) else {
                continue;
            };
            let out = sends(node.handle_message(now, from, msg));
            wire.extend(out.into_iter().map(|(next, m)| (to, next, m)));
        }
    }
    // A recovery at B asks C-new for a promise.
    let prepare = Message::Prepare {
        txn,
        attempt: 1,
        ballot: Ballot {
            round: 1,
            node: 2,
            life: 1,
        },
        epoch,
        home,
    };
    let out = sends(nodes[2].handle_message(now, NodeId(2), prepare));
    assert!(
        matches!(
            &out[..],
            [(
                _,
                Message::PaxosRefused {
                    reason: Refusal::Recovering,
                    ..
                }
            )]
        ),
        "C-new promised on an empty register while C-old's accept may still \
         form a quorum with the delayed Decide: {out:?}"
    );
}
