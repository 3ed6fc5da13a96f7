//! Tests of lost-state copy: merged lock copies, copied markers, and
//! reads and lock requests over copied locks.

use crate::types::ver;
use crate::types::KeyExt;

use zerodb_storage::{Engine, Incarnation, MemoryEngine, Space, Version};

use super::super::{keys, Finished, LockRecord};
use crate::codec;
use crate::membership::NodeId;
use crate::message::{LockKey, LockRead, Message};
use crate::node::{Action, ReplicaStatus, Timer, TxnNode};
use crate::options::TxnOptions;
use crate::testing::{test_ring, test_view};

/// Node 1 of a 3-node ring over a store that is not a bootstrap member's
/// (so it comes up recovering and copies from its peers). Without a
/// watermark, its vote fence lifts once both peers told their clocks
/// (`chunk` answers for them); the last test here covers a fence that waits.
pub(crate) fn recovering_node() -> TxnNode<MemoryEngine> {
    recovering_node_with(TxnOptions {
        watermark_ms: 0,
        ..TxnOptions::default()
    })
}

/// Like [`recovering_node`], with `options`.
fn recovering_node_with(options: TxnOptions) -> TxnNode<MemoryEngine> {
    TxnNode::open(
        NodeId(1),
        MemoryEngine::new(Incarnation(9)),
        3,
        options,
        false,
        test_view(3),
    )
    .unwrap()
}
use crate::types::{Epoch, Key, LockMode, PartitionId, TxnId, Ver, Versioned};

fn system_entry(key: Vec<u8>, bytes: Vec<u8>) -> (Vec<u8>, Versioned) {
    (
        key,
        Versioned {
            version: Ver::ZERO,
            value: Some(bytes),
            expires_at_ms: None,
        },
    )
}

/// A transaction id of coordinator 2 at `ms`.
pub(crate) fn txn_at(ms: u64) -> TxnId {
    TxnId {
        timestamp: ver(Version {
            physical_ms: ms,
            logical: 0,
            node: 2,
        }),
        coordinator: 2,
    }
}

/// The test partition of the `strong` namespace.
pub(crate) fn strong_partition() -> PartitionId {
    PartitionId {
        namespace: "strong".into(),
        token: 1,
    }
}

/// An exclusive lock on key `id` of the test partition.
pub(crate) fn lock_key(id: &str) -> LockKey {
    LockKey {
        key: Key::new("strong", "db", "t", id).storage_key(),
        partition: strong_partition(),
        mode: LockMode::Exclusive,
    }
}

/// A lock record as a peer's system-space entry.
pub(crate) fn lock_entry(record: &LockRecord) -> (Vec<u8>, Versioned) {
    system_entry(keys::lock(record.txn), codec::encode_stored(record))
}

/// Delivers a whole space from `peer` in one final page.
pub(crate) fn chunk(
    n: &mut TxnNode<MemoryEngine>,
    peer: u32,
    space: Space,
    entries: Vec<(Vec<u8>, Versioned)>,
) {
    let msg = Message::SyncChunk {
        space_tag: space.tag(),
        after: None,
        entries,
        done: true,
    };
    n.handle_message(10, NodeId(peer), msg);
    if let Some(req) = n.fence_req() {
        for peer in [2, 3] {
            let hlc = Ver::ZERO;
            let msg = Message::ClockSeen {
                req,
                hlc,
                incarnation: u64::from(peer),
                voting: true,
            };
            n.handle_message(10, NodeId(peer), msg);
        }
    }
}

/// Seed 15 of `zerodb-sim --workload append --faults heavy`: a commit
/// was applied only on the replica that then lost its disk; another
/// replica still held the attempt's lock, and a participant replica of
/// another partition had marked the transaction finished. The copied
/// marker must not make the recovering replica drop the copied lock,
/// or the write is gone once the lock holder loses its disk in turn.
#[test]
fn a_finished_marker_copied_from_a_peer_does_not_drop_a_copied_lock() {
    let mut n = recovering_node();
    assert_eq!(n.status(), ReplicaStatus::Recovering);
    // The tick asks both peers for their data space first.
    n.handle_timer(10, Timer::Tick);
    let txn = TxnId {
        timestamp: ver(Version {
            physical_ms: 5,
            logical: 0,
            node: 2,
        }),
        coordinator: 2,
    };
    let home = PartitionId {
        namespace: "strong".into(),
        token: 1,
    };
    let lock = LockRecord {
        txn,
        attempt: 2,
        home: home.clone(),
        lease_ms: 1_000,
        keys: vec![LockKey {
            key: Key::new("strong", "db", "t", "k").storage_key(),
            partition: home,
            mode: LockMode::Exclusive,
        }],
        ranges: Vec::new(),
        blind: None,
        copied: false,
    };
    let finished = Finished {
        through: 2,
        committed: Some(2),
    };
    // Peer 2 finished the transaction (it applied its own part); peer 3
    // still holds the attempt's lock.
    let marker = system_entry(keys::finished(txn), codec::encode_stored(&finished));
    chunk(&mut n, 2, Space::System, vec![marker]);
    let held = system_entry(keys::lock(txn), codec::encode_stored(&lock));
    chunk(&mut n, 3, Space::System, vec![held]);
    for peer in [2, 3] {
        chunk(&mut n, peer, Space::Data, Vec::new());
    }
    assert_eq!(n.status(), ReplicaStatus::Normal, "both peers copied");
    assert_eq!(
        n.locks_held(),
        1,
        "the copied lock is kept until recovery learns and applies its decision"
    );
}

/// Seed 498 of `zerodb-sim --workload bank --faults mixed`: peers of
/// different partitions hold different keys of one attempt. The copy
/// of the first peer (only `k1`) must not hide the second peer's lock
/// on `k0`, or a younger transaction is granted `k0` here.
#[test]
fn copies_of_one_attempt_from_different_peers_lock_every_key() {
    let mut n = recovering_node();
    n.handle_timer(10, Timer::Tick);
    let partition = strong_partition();
    let record = |keys: Vec<LockKey>| LockRecord {
        txn: txn_at(5),
        attempt: 4,
        home: partition.clone(),
        lease_ms: 1_000,
        keys,
        ranges: Vec::new(),
        blind: None,
        copied: false,
    };
    let only_k1 = record(vec![lock_key("k1")]);
    let both = record(vec![lock_key("k0"), lock_key("k1")]);
    chunk(&mut n, 2, Space::System, vec![lock_entry(&only_k1)]);
    chunk(&mut n, 3, Space::System, vec![lock_entry(&both)]);
    for peer in [2, 3] {
        chunk(&mut n, peer, Space::Data, Vec::new());
    }
    assert_eq!(n.status(), ReplicaStatus::Normal);
    let younger = LockRead {
        txn: txn_at(9),
        attempt: 1,
        home: partition.clone(),
        epoch: Epoch { ring: 1, policy: 0 },
        lease_ms: 1_000,
        keys: vec![lock_key("k0")],
        ranges: Vec::new(),
        blind: None,
    };
    let actions = n.handle_message(20, NodeId(2), Message::LockRead(younger));
    let replies: Vec<&Message> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { msg, .. } => Some(msg),
            _ => None,
        })
        .collect();
    assert!(
        matches!(replies.as_slice(), [Message::LockBusy { holder, .. }] if *holder == txn_at(5)),
        "k0 is still locked by the copied attempt: {replies:?}"
    );
}

/// Register seed 294 of `--faults heavy`: copies from two peers can
/// leave two exclusive locks of different transactions on one key; a
/// read must be told about both, or the one that committed is missed.
#[test]
fn a_read_reports_every_copied_write_lock_on_a_key() {
    let mut n = recovering_node();
    n.handle_timer(10, Timer::Tick);
    let partition = strong_partition();
    let key = Key::new("strong", "db", "t", "k0").storage_key();
    let record = |ms: u64| LockRecord {
        txn: TxnId {
            timestamp: ver(Version {
                physical_ms: ms,
                logical: 0,
                node: 2,
            }),
            coordinator: 2,
        },
        attempt: 1,
        home: partition.clone(),
        lease_ms: 1_000,
        keys: vec![LockKey {
            key: key.clone(),
            partition: partition.clone(),
            mode: LockMode::Exclusive,
        }],
        ranges: Vec::new(),
        blind: None,
        copied: false,
    };
    chunk(&mut n, 2, Space::System, vec![lock_entry(&record(5))]);
    chunk(&mut n, 3, Space::System, vec![lock_entry(&record(7))]);
    for peer in [2, 3] {
        chunk(&mut n, peer, Space::Data, Vec::new());
    }
    assert_eq!(n.status(), ReplicaStatus::Normal);
    let read = Message::Read {
        req: 1,
        key,
        epoch: Epoch {
            ring: test_ring(3).epoch(),
            policy: 0,
        },
    };
    let actions = n.handle_message(20, NodeId(2), read);
    let locks = actions.iter().find_map(|a| match a {
        Action::Send {
            msg: Message::ReadReply { locks, .. },
            ..
        } => Some(locks.len()),
        _ => None,
    });
    assert_eq!(locks, Some(2), "{actions:?}");
}

/// Bank seed 67 of `--faults heavy`: a lock copied from a peer covered
/// only k3 of a transfer's attempt; the attempt's own request for k0
/// and k3 must then lock k0 too, not be answered as a duplicate.
#[test]
fn a_request_of_an_attempt_with_a_partial_copied_lock_locks_the_rest() {
    let mut n = recovering_node();
    n.handle_timer(10, Timer::Tick);
    let partition = strong_partition();
    let copied = LockRecord {
        txn: txn_at(5),
        attempt: 2,
        home: partition.clone(),
        lease_ms: 1_000,
        keys: vec![lock_key("k3")],
        ranges: Vec::new(),
        blind: None,
        copied: false,
    };
    for peer in [2, 3] {
        chunk(
            &mut n,
            peer,
            Space::System,
            vec![system_entry(
                keys::lock(copied.txn),
                codec::encode_stored(&copied),
            )],
        );
        chunk(&mut n, peer, Space::Data, Vec::new());
    }
    assert_eq!(n.status(), ReplicaStatus::Normal);
    let epoch = Epoch {
        ring: test_ring(3).epoch(),
        policy: 0,
    };
    let request = |txn: TxnId, attempt, keys| LockRead {
        txn,
        attempt,
        home: partition.clone(),
        epoch,
        lease_ms: 1_000,
        keys,
        ranges: Vec::new(),
        blind: None,
    };
    let own = request(txn_at(5), 2, vec![lock_key("k0"), lock_key("k3")]);
    let actions = n.handle_message(20, NodeId(2), Message::LockRead(own));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send {
                msg: Message::LockGranted { .. },
                ..
            }
        )),
        "{actions:?}"
    );
    let younger = request(txn_at(9), 1, vec![lock_key("k0")]);
    let actions = n.handle_message(21, NodeId(3), Message::LockRead(younger));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send { msg: Message::LockBusy { holder, .. }, .. } if *holder == txn_at(5)
        )),
        "k0 is locked by the attempt now: {actions:?}"
    );
}

/// A recovering node whose copy from peer 2 brought the released
/// watermark 4,000 ms (peer 2's system space, nothing else yet).
fn recovering_node_given_a_released_watermark() -> (TxnNode<MemoryEngine>, Version) {
    let mut n = recovering_node();
    n.handle_timer(10, Timer::Tick);
    let released = Version {
        physical_ms: 4_000,
        logical: 0,
        node: 0,
    };
    let entry = system_entry(
        crate::watermark::RELEASED_KEY.to_vec(),
        codec::encode_stored(&ver(released)),
    );
    chunk(&mut n, 2, Space::System, vec![entry]);
    (n, released)
}

/// DESIGN.md I6: a node that comes back adopts the released watermark as
/// its floor before it answers. Without it, a decision its peers deleted
/// below their watermark reads as "never accepted" at the new disk.
#[test]
fn a_recovering_replica_adopts_its_peers_released_watermark() {
    let (n, released) = recovering_node_given_a_released_watermark();
    assert_eq!(n.released_watermark(), released);
    assert!(n.forgotten(txn_at(3_999)).is_some());
    assert!(n.forgotten(txn_at(4_001)).is_none());
}

/// A bootstrap member `id` of the 3-node test ring.
fn peer(id: u32) -> TxnNode<MemoryEngine> {
    TxnNode::open(
        NodeId(id),
        MemoryEngine::new(Incarnation(u64::from(id))),
        u64::from(id),
        TxnOptions::default(),
        true,
        test_view(3),
    )
    .unwrap()
}

pub(crate) fn sends(actions: Vec<Action>) -> Vec<(NodeId, Message)> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((to, msg)),
            _ => None,
        })
        .collect()
}

/// Issue 14 case 4: a peer applies and releases a committed transaction
/// between two pages it serves to a recovering replica. Whatever the order
/// of the pages, the copy must end with the transaction's lock (so its
/// decision is learned later) or with its writes; with neither, a quorum
/// read of the recovering replica and a peer that never saw the commit
/// answers the value from before an acknowledged write.
#[test]
fn a_commit_applied_during_the_copy_is_never_missed_by_both_data_and_locks() {
    use crate::replica::lock_tests::{lock_read, txn};
    use crate::types::{Decision, Write};
    let mut x = recovering_node();
    let mut peers = [peer(2), peer(3)];
    // T locked `k` at peer 2 only (peer 3 was not in its lock quorum and
    // its `Apply` to peer 3 is lost).
    let t = txn(5);
    let request = lock_read(t, 1, &[("k", LockMode::Exclusive)]);
    let k = request.keys[0].key.clone();
    let partition = request.keys[0].partition.clone();
    let granted = sends(peers[0].handle_message(10, NodeId(9), Message::LockRead(request)));
    assert!(matches!(granted[..], [(_, Message::LockGranted { .. })]));
    let commit = Message::Apply {
        txn: t,
        attempt: 1,
        home: partition.clone(),
        decision: Decision::Committed {
            version: ver(Version {
                physical_ms: 6,
                logical: 0,
                node: 2,
            }),
            writes: vec![Write {
                partition,
                key: k.clone(),
                value: Some(b"new".to_vec()),
                expires_at_ms: None,
            }],
            participants: vec![],
        },
    };
    let mut commit = Some(commit);
    let mut wire = sends(x.handle_timer(10, Timer::Tick));
    for _ in 0..20 {
        let mut back = Vec::new();
        for (to, msg) in std::mem::take(&mut wire) {
            let peer = &mut peers[to.0 as usize - 2];
            let replies = sends(peer.handle_message(20, NodeId(1), msg));
            back.extend(replies.into_iter().map(|(_, reply)| (to, reply)));
            if to == NodeId(2) {
                // Right after serving its first page, peer 2 applies T.
                if let Some(apply) = commit.take() {
                    peer.handle_message(20, NodeId(9), apply);
                    assert_eq!(peer.locks_held(), 0);
                }
            }
        }
        for (from, msg) in back {
            wire.extend(sends(x.handle_message(30, from, msg)));
        }
        if x.status() == ReplicaStatus::Normal {
            break;
        }
    }
    assert_eq!(x.status(), ReplicaStatus::Normal, "the copy finished");
    let value = x
        .engine_mut()
        .get(Space::Data, &k)
        .unwrap()
        .and_then(|r| r.value);
    assert!(
        x.locks_held() == 1 || value == Some(b"new".to_vec()),
        "the recovered replica has neither T's lock nor its write (value {value:?})"
    );
}

/// Bank seeds 72, 84, 136 and 153 of `zerodb-sim --faults mixed` (with the
/// adopted watermark above, before this rule): a replica back from a lost
/// disk had adopted its peers' watermark but reported no low yet, so a
/// late lock request of a transaction below the watermark (whose finished
/// markers were deleted) was granted; no decision could release it (Paxos
/// below the watermark is refused), and the watermark stopped for good.
#[test]
fn after_a_lost_disk_no_lock_is_granted_below_the_adopted_watermark() {
    let (mut n, _) = recovering_node_given_a_released_watermark();
    chunk(&mut n, 3, Space::System, vec![]);
    for peer in [2, 3] {
        chunk(&mut n, peer, Space::Data, vec![]);
    }
    assert_eq!(n.status(), ReplicaStatus::Normal);
    let late = LockRead {
        txn: txn_at(3_000),
        attempt: 1,
        home: strong_partition(),
        epoch: Epoch { ring: 1, policy: 0 },
        lease_ms: 1_000,
        keys: vec![lock_key("k")],
        ranges: Vec::new(),
        blind: None,
    };
    let out = sends(n.handle_message(20, NodeId(2), Message::LockRead(late)));
    assert!(
        matches!(
            &out[..],
            [(
                _,
                Message::LockRefused {
                    reason: crate::error::Refusal::TooOld { .. },
                    ..
                }
            )]
        ),
        "{out:?}"
    );
    assert_eq!(n.locks_held(), 0);
}

/// The vote fence's deadlock (bank and register seeds under `--faults
/// mixed` before the fix): a replica fenced after its copy (DESIGN.md 6.1
/// step 7) held a copied lock whose decision nobody sent it again. The
/// lock held its low, the low held the released watermark, and the fence
/// waits for the watermark. A fenced replica must resolve such a lock as
/// a proposer (it still casts no vote).
#[test]
fn a_fenced_replica_runs_recovery_for_the_locks_it_copied() {
    let mut n = recovering_node_with(TxnOptions {
        watermark_ms: 250,
        ..TxnOptions::default()
    });
    n.handle_timer(10, Timer::Tick);
    let lock = LockRecord {
        txn: txn_at(5),
        attempt: 1,
        home: strong_partition(),
        lease_ms: 1_000,
        keys: vec![lock_key("k")],
        ranges: Vec::new(),
        blind: None,
        copied: false,
    };
    chunk(&mut n, 2, Space::System, vec![lock_entry(&lock)]);
    chunk(&mut n, 3, Space::System, vec![]);
    for peer in [2, 3] {
        chunk(&mut n, peer, Space::Data, vec![]);
    }
    assert!(
        n.fence_req().is_some(),
        "the copy is done and the fence holds"
    );
    assert_eq!(n.status(), ReplicaStatus::Recovering);
    assert_eq!(n.locks_held(), 1);
    let mut prepares = Vec::new();
    for now in [5_000, 5_050, 5_100] {
        for (to, msg) in sends(n.handle_timer(now, Timer::Tick)) {
            if matches!(msg, Message::Prepare { txn, .. } if txn == lock.txn) {
                prepares.push(to);
            }
        }
    }
    assert!(
        prepares.iter().any(|to| *to != NodeId(1)),
        "the fenced replica never asked the home replicas to decide the copied lock"
    );
    assert_eq!(n.status(), ReplicaStatus::Recovering, "still no vote");
}

/// Bank seed 5 of `zerodb-sim --engine zero --disk-faults`: a bit flip in
/// a node's WAL cut the tail on reopen, keeping the `Prepared` of its own
/// transaction's attempt but losing the `Resolved` that released it
/// (synced long before, and reported: the watermark had passed it). The
/// store came back as a new incarnation still holding that lock; its
/// termination was refused `Forgotten` at every home replica, so the lock
/// held the node's low, the watermark never passed its vote fence's
/// clocks, and the node stayed recovering for good. The locks left in a
/// store that lost state are dropped: the copy rebuilds the lock table.
#[test]
fn a_store_that_lost_state_does_not_revive_a_released_lock() {
    let stale = LockRecord {
        txn: txn_at(3_000),
        attempt: 6,
        home: strong_partition(),
        lease_ms: 2_000,
        keys: vec![lock_key("k")],
        ranges: Vec::new(),
        blind: None,
        copied: false,
    };
    // The old incarnation (8) wrote its marker and the lock; the cut store
    // reopens as incarnation 9.
    let mut engine = MemoryEngine::new(Incarnation(9));
    let mut batch = zerodb_storage::WriteBatch::new();
    batch.put(
        Space::System,
        keys::META.to_vec(),
        super::super::system_record(codec::encode_stored(&8u64)),
    );
    batch.put(
        Space::System,
        keys::lock(stale.txn),
        super::super::system_record(codec::encode_stored(&stale)),
    );
    engine.write(batch).unwrap();
    let options = TxnOptions {
        watermark_ms: 0,
        ..TxnOptions::default()
    };
    let mut n = TxnNode::open(NodeId(1), engine, 3, options.clone(), false, test_view(3)).unwrap();
    assert_eq!(n.status(), ReplicaStatus::Recovering);
    assert_eq!(
        n.locks_held(),
        0,
        "a lock left in the lost store was loaded"
    );

    // The copy brings the peers' watermark, which passed the transaction,
    // and no lock of it: nothing holds the node's low below the watermark.
    n.handle_timer(10, Timer::Tick);
    let released = Version {
        physical_ms: 4_000,
        logical: 0,
        node: 0,
    };
    let entry = system_entry(
        crate::watermark::RELEASED_KEY.to_vec(),
        codec::encode_stored(&ver(released)),
    );
    chunk(&mut n, 2, Space::System, vec![entry]);
    chunk(&mut n, 3, Space::System, vec![]);
    for peer in [2, 3] {
        chunk(&mut n, peer, Space::Data, vec![]);
    }
    assert_eq!(n.status(), ReplicaStatus::Normal);
    assert_eq!(n.locks_held(), 0);
    n.assert_no_lock_below_watermark();

    // Dropped durably: a restart does not bring it back either.
    let engine = n.into_engine();
    let mut n = TxnNode::open(NodeId(1), engine, 3, options, false, test_view(3)).unwrap();
    assert_eq!(n.status(), ReplicaStatus::Normal);
    assert_eq!(n.locks_held(), 0, "the dropped lock came back on restart");
    let left = n
        .engine_mut()
        .get(Space::System, &keys::lock(stale.txn))
        .unwrap();
    assert!(
        left.as_ref().and_then(|r| r.value.as_ref()).is_none(),
        "{left:?}"
    );
}
