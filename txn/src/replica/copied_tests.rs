//! Tests of a copied blind prepare turned into this replica's vote when
//! termination asks (sim/FAILING.md section 16).

use zerodb_storage::{Engine, MemoryEngine, Space, Version};

use super::super::{keys, LockRecord};
use crate::codec;
use crate::membership::NodeId;
use crate::message::Message;
use crate::node::{ReplicaStatus, Timer, TxnNode};
use crate::testing::test_ring;
use crate::types::{ver, Epoch, TxnId, Versioned};

use super::super::sync::tests::{
    chunk, lock_entry, lock_key, recovering_node, sends, strong_partition, txn_at,
};

/// A blind attempt's prepare at `ms` writing key `k` of the test
/// partition at version `version_ms`, as a peer granted it.
fn blind_prepare(ms: u64, version_ms: u64) -> LockRecord {
    use crate::message::BlindWrites;
    use crate::types::Write;
    let key = lock_key("k");
    LockRecord {
        txn: txn_at(ms),
        attempt: 1,
        home: strong_partition(),
        lease_ms: 1_000,
        keys: vec![key.clone()],
        ranges: Vec::new(),
        blind: Some(BlindWrites {
            version: ver(Version {
                physical_ms: version_ms,
                logical: 0,
                node: 2,
            }),
            writes: vec![Write {
                partition: strong_partition(),
                key: key.key,
                value: Some(b"v".to_vec()),
                expires_at_ms: None,
            }],
        }),
        copied: false,
    }
}

/// A node that lost its disk, copied `lock` from both peers and `k` at
/// `stored_ms` (if any) from peer 2, and votes again (no watermark, so
/// its fence lifts once both peers told their clocks).
fn voting_after_copying(lock: &LockRecord, stored_ms: Option<u64>) -> TxnNode<MemoryEngine> {
    let mut n = recovering_node();
    n.handle_timer(10, Timer::Tick);
    let data: Vec<_> = stored_ms
        .map(|ms| {
            let version = ver(Version {
                physical_ms: ms,
                logical: 0,
                node: 3,
            });
            let value = Some(b"old".to_vec());
            (
                lock_key("k").key,
                Versioned {
                    version,
                    value,
                    expires_at_ms: None,
                },
            )
        })
        .into_iter()
        .collect();
    chunk(&mut n, 2, Space::System, vec![lock_entry(lock)]);
    chunk(&mut n, 3, Space::System, vec![lock_entry(lock)]);
    chunk(&mut n, 2, Space::Data, data);
    chunk(&mut n, 3, Space::Data, Vec::new());
    assert_eq!(n.status(), ReplicaStatus::Normal, "both peers copied");
    n
}

/// What `n` reports of its prepare of `lock`'s attempt when peer 2's
/// termination asks (a Paxos `Prepare` on the attempt's register).
fn prepare_reported_to_termination(
    n: &mut TxnNode<MemoryEngine>,
    lock: &LockRecord,
) -> crate::message::PrepareState {
    let msg = Message::Prepare {
        txn: lock.txn,
        attempt: lock.attempt,
        ballot: crate::types::Ballot {
            round: 1,
            node: 2,
            life: 1,
        },
        epoch: Epoch {
            ring: test_ring(3).epoch(),
            policy: 0,
        },
        home: lock.home.clone(),
    };
    let answers = sends(n.handle_message(20, NodeId(2), msg));
    let promised = answers.iter().find_map(|(_, m)| match m {
        Message::Promise { status, .. } => Some(status.prepare),
        _ => None,
    });
    promised.unwrap_or_else(|| panic!("no promise: {answers:?}"))
}

/// The lock record of `txn` in `n`'s store.
fn stored_lock(n: &mut TxnNode<MemoryEngine>, txn: TxnId) -> LockRecord {
    let record = n.engine_mut().get(Space::System, &keys::lock(txn)).unwrap();
    codec::decode(&record.and_then(|r| r.value).unwrap()).unwrap()
}

/// Register seed 1293 of `--nodes 3 --clients 16 --faults mixed`
/// (sim/FAILING.md 16): a blind attempt had one self-granted prepare and
/// two copies, so termination could neither commit it (no quorum of
/// self-granted prepares) nor abort it (no refusal), and a fenced replica
/// waited for it forever. A voting replica asked by termination grants its
/// copy as its own, durably, as it would grant the attempt's late request.
#[test]
fn a_voting_replica_grants_its_copied_blind_prepare_when_termination_asks() {
    use crate::message::PrepareState;
    let lock = blind_prepare(5, 6);
    let mut n = voting_after_copying(&lock, Some(4));
    assert!(stored_lock(&mut n, lock.txn).copied);
    assert_eq!(
        prepare_reported_to_termination(&mut n, &lock),
        PrepareState::Prepared { self_granted: true }
    );
    assert!(
        !stored_lock(&mut n, lock.txn).copied,
        "the vote is durable before the promise leaves"
    );
    assert_eq!(n.locks_held(), 1, "still one lock, now a vote");
}

/// The grant checks I8 as a lock request would: a stored version at or
/// above the commit version keeps the copy a lock, never a vote.
#[test]
fn a_copied_blind_prepare_not_above_the_stored_version_stays_a_lock() {
    use crate::message::PrepareState;
    let lock = blind_prepare(5, 6);
    let mut n = voting_after_copying(&lock, Some(6));
    assert_eq!(
        prepare_reported_to_termination(&mut n, &lock),
        PrepareState::Prepared {
            self_granted: false
        }
    );
    assert!(stored_lock(&mut n, lock.txn).copied);
}

/// Reads only report: a read that meets the copy does not turn it into a
/// vote (only termination asks for one).
#[test]
fn a_read_does_not_turn_a_copied_blind_prepare_into_a_vote() {
    let lock = blind_prepare(5, 6);
    let mut n = voting_after_copying(&lock, None);
    let msg = Message::QueryDecision {
        req: 7,
        txn: lock.txn,
        attempt: lock.attempt,
    };
    n.handle_message(20, NodeId(2), msg);
    assert!(stored_lock(&mut n, lock.txn).copied);
}
