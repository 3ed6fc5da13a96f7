//! Lost-state recovery (DESIGN.md 6.1 "Lost state"): a replica whose engine
//! incarnation is new or changed copies data, locks, finished markers and
//! decision registers from peers, page by page, and votes again only once,
//! for every replica set it belongs to, enough peers finished that any lock
//! quorum or accept quorum it was part of intersects what it copied
//! (`rf - quorum + 1` of the others).

use std::collections::BTreeMap;
use std::ops::Bound;

use zerodb_storage::{Direction, Engine, ScanRange, Space, StorageError, WriteBatch};

use super::{keys, system_record, Finished, LockRecord, RegisterState};
use crate::codec;
use crate::membership::{quorum, NodeId};
use crate::message::Message;
use crate::node::{ReplicaStatus, TxnNode};
use crate::types::{LockMode, TxnId, Ver, Versioned};

/// Copy progress from one peer.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerCopy {
    /// `b'd'` then `b's'`.
    space_tag: u8,
    after: Option<Vec<u8>>,
    done: bool,
    asked_at_ms: Option<u64>,
}

/// Progress of a lost-state copy.
#[derive(Clone, Debug, Default)]
pub(crate) struct LostState {
    peers: BTreeMap<NodeId, PeerCopy>,
}

fn space_of(tag: u8) -> Option<Space> {
    Space::from_tag(tag)
}

impl<E: Engine> TxnNode<E> {
    /// Asks peers for pages and finishes when enough peers are copied.
    pub(crate) fn lost_state_tick(&mut self) {
        if self.replica.status != ReplicaStatus::Recovering {
            return;
        }
        let Some(view) = &self.view else { return };
        let sets = view.replica_sets_of(self.id);
        let mut complete = true;
        let mut wanted = Vec::new();
        for set in &sets {
            let others: Vec<NodeId> = set.iter().copied().filter(|n| *n != self.id).collect();
            let needed = (set.len() - quorum(set.len()) + 1).min(others.len());
            let lost = self.replica.lost.get_or_insert_with(LostState::default);
            let done = others
                .iter()
                .filter(|n| lost.peers.get(n).is_some_and(|p| p.done))
                .count();
            if done < needed {
                complete = false;
            }
            wanted.extend(others.into_iter().filter(|n| !view.is_down(*n)));
        }
        if complete {
            self.finish_lost_state();
            return;
        }
        for peer in wanted {
            self.ask_peer(peer, false);
        }
    }

    fn ask_peer(&mut self, peer: NodeId, now: bool) {
        let retry_ms = self.options.sync_retry_ms;
        let now_ms = self.now_ms;
        let lost = self.replica.lost.get_or_insert_with(LostState::default);
        let copy = lost.peers.entry(peer).or_insert_with(|| PeerCopy {
            space_tag: Space::Data.tag(),
            ..PeerCopy::default()
        });
        if copy.done {
            return;
        }
        if !now && copy.asked_at_ms.is_some_and(|at| at + retry_ms > now_ms) {
            return;
        }
        copy.asked_at_ms = Some(now_ms);
        let msg = Message::SyncRequest {
            space_tag: copy.space_tag,
            after: copy.after.clone(),
        };
        self.send(peer, msg);
    }

    fn finish_lost_state(&mut self) {
        if let Err(e) = self.write_incarnation_marker() {
            tracing::warn!(error = %e, "could not record the incarnation; staying recovering");
            return;
        }
        self.replica.status = ReplicaStatus::Normal;
        self.replica.lost = None;
    }

    /// Serves a page to a recovering peer (only when this replica votes).
    pub(crate) fn handle_sync_request(
        &mut self,
        from: NodeId,
        space_tag: u8,
        after: Option<Vec<u8>>,
    ) {
        if !self.votes() {
            return;
        }
        let Some(space) = space_of(space_tag) else {
            return;
        };
        let range = ScanRange {
            space,
            start: after.clone().map_or(Bound::Unbounded, Bound::Excluded),
            end: Bound::Unbounded,
        };
        let limit = self.options.sync_page_entries.max(1);
        let Ok(page) = self.engine.scan(&range, Direction::Forward, limit) else {
            return;
        };
        let done = page.len() < limit;
        if space == Space::System {
            for (key, record) in &page {
                if key.first() != Some(&keys::LOCK) {
                    continue;
                }
                if let Some(lock) = record
                    .value
                    .as_deref()
                    .and_then(|v| codec::decode::<LockRecord>(v).ok())
                {
                    self.note_lock_served(from, lock.txn);
                }
            }
        }
        let entries = page
            .into_iter()
            .filter(|(k, _)| {
                space == Space::Data
                    || matches!(
                        k.first(),
                        Some(&keys::LOCK) | Some(&keys::FINISHED) | Some(&keys::REGISTER)
                    )
            })
            .map(|(k, r)| {
                (
                    k,
                    Versioned {
                        version: Ver(r.version),
                        value: r.value,
                    },
                )
            })
            .collect();
        self.send(
            from,
            Message::SyncChunk {
                space_tag,
                after,
                entries,
                done,
            },
        );
    }

    /// Merges a page from a peer and asks for the next.
    pub(crate) fn handle_sync_chunk(
        &mut self,
        from: NodeId,
        space_tag: u8,
        after: Option<Vec<u8>>,
        entries: Vec<(Vec<u8>, Versioned)>,
        done: bool,
    ) {
        let expected = self
            .replica
            .lost
            .as_ref()
            .and_then(|l| l.peers.get(&from))
            .is_some_and(|p| !p.done && p.space_tag == space_tag && p.after == after);
        if !expected {
            return;
        }
        let last = entries.last().map(|(k, _)| k.clone());
        let merged = if space_tag == Space::Data.tag() {
            self.merge_data(&entries)
        } else {
            self.merge_system(entries)
        };
        if let Err(e) = merged {
            tracing::warn!(error = %e, "lost-state copy could not store a page; will ask again");
            return;
        }
        let Some(copy) = self
            .replica
            .lost
            .as_mut()
            .and_then(|l| l.peers.get_mut(&from))
        else {
            return;
        };
        if done {
            if space_tag == Space::Data.tag() {
                copy.space_tag = Space::System.tag();
                copy.after = None;
            } else {
                copy.done = true;
            }
        } else if let Some(last) = last {
            copy.after = Some(last);
        }
        self.ask_peer(from, true);
        self.lost_state_tick();
    }

    fn merge_data(&mut self, entries: &[(Vec<u8>, Versioned)]) -> Result<(), StorageError> {
        let mut batch = WriteBatch::new();
        for (key, record) in entries {
            let mine = self.view.as_ref().is_some_and(|v| {
                v.partition_of_storage_key(key)
                    .is_some_and(|p| v.replicates(self.id, &p))
            });
            if mine {
                self.put_if_newer(&mut batch, key, record)?;
            }
        }
        self.engine.write(batch)
    }

    fn merge_system(&mut self, entries: Vec<(Vec<u8>, Versioned)>) -> Result<(), StorageError> {
        for (key, record) in entries {
            let Some(bytes) = record.value else { continue };
            match key.first() {
                Some(&keys::LOCK) => {
                    let Ok(lock) = codec::decode::<LockRecord>(&bytes) else {
                        continue;
                    };
                    self.merge_lock(lock)?;
                }
                Some(&keys::FINISHED) => {
                    let Ok(theirs) = codec::decode::<Finished>(&bytes) else {
                        continue;
                    };
                    let Some(txn) = txn_of(&key) else { continue };
                    let mut mine = self.load_finished(txn)?;
                    mine.merge(theirs);
                    let mut batch = WriteBatch::new();
                    batch.put(
                        Space::System,
                        key,
                        system_record(codec::encode_stored(&mine)),
                    );
                    self.engine.write(batch)?;
                }
                Some(&keys::REGISTER) => {
                    let Ok(theirs) = codec::decode::<RegisterState>(&bytes) else {
                        continue;
                    };
                    let mut batch = WriteBatch::new();
                    let mut mine = self
                        .engine
                        .get(Space::System, &key)?
                        .and_then(|r| r.value)
                        .and_then(|v| codec::decode::<RegisterState>(&v).ok())
                        .unwrap_or_default();
                    mine.merge(theirs);
                    batch.put(
                        Space::System,
                        key,
                        system_record(codec::encode_stored(&mine)),
                    );
                    self.engine.write(batch)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A peer's lock becomes ours too (conservative: it only blocks), with a
    /// fresh lease; recovery later learns its decision and applies it here.
    ///
    /// Peers of different partitions hold different keys of the same
    /// attempt (a peer that shares only one of our partitions locked only
    /// that partition's keys), so copies of one attempt are merged: the
    /// lock covers every key of a partition this replica holds, from every
    /// peer, in the strongest mode seen. Keeping only the first copy left a
    /// committed transaction's key unlocked here (seed 498 of the bank
    /// workload): a younger transaction then locked it at this replica and
    /// one other, read the value from before the commit and overwrote it
    /// with a higher version, so the commit's write was lost once applied.
    ///
    /// The lock is taken even when a `Finished` marker says the attempt is
    /// over: a replica with lost state has no marker of its own, only
    /// markers copied from peers (any peer, including replicas of other
    /// partitions of the transaction), and such a marker says that *the
    /// peer* applied its part, not that this replica holds the writes. The
    /// peer's lock may be the last trace of a committed write whose only
    /// applied copy was on the lost disk; dropping it loses the write.
    fn merge_lock(&mut self, mut lock: LockRecord) -> Result<(), StorageError> {
        lock.keys.retain(|k| self.is_replica_of(&k.partition));
        if lock.keys.is_empty() {
            return Ok(());
        }
        if let Some(held) = self.replica.held.get(&lock.txn) {
            if held.record.attempt > lock.attempt {
                return Ok(());
            }
            if held.record.attempt == lock.attempt {
                let mut merged = held.record.clone();
                let before = merged.keys.clone();
                for k in lock.keys {
                    match merged.keys.iter_mut().find(|m| m.key == k.key) {
                        Some(m) => {
                            if k.mode == LockMode::Exclusive {
                                m.mode = LockMode::Exclusive;
                            }
                        }
                        None => merged.keys.push(k),
                    }
                }
                if merged.keys == before {
                    return Ok(());
                }
                lock = merged;
            }
            self.remove_held(lock.txn);
        }
        let mut batch = WriteBatch::new();
        batch.put(
            Space::System,
            keys::lock(lock.txn),
            system_record(codec::encode_stored(&lock)),
        );
        self.engine.write(batch)?;
        self.insert_held(lock, self.now_ms);
        Ok(())
    }
}

/// The transaction id inside a `F txn` key.
fn txn_of(key: &[u8]) -> Option<TxnId> {
    let rest = key.get(1..1 + TxnId::ENCODED_LEN)?;
    let mut ts = [0u8; zerodb_storage::Version::ENCODED_LEN];
    ts.copy_from_slice(&rest[..zerodb_storage::Version::ENCODED_LEN]);
    let coordinator = u32::from_be_bytes(
        rest[zerodb_storage::Version::ENCODED_LEN..]
            .try_into()
            .ok()?,
    );
    Some(TxnId {
        timestamp: Ver(zerodb_storage::Version::from_bytes(ts)),
        coordinator,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use zerodb_storage::{Incarnation, MemoryEngine, Space, Version};

    use super::super::{keys, Finished, LockRecord};
    use crate::codec;
    use crate::membership::{NodeId, Policies};
    use crate::message::{LockKey, LockRead, Message};
    use crate::node::{Action, ReplicaStatus, Timer, TxnNode};
    use crate::options::TxnOptions;
    use crate::testing::test_ring;

    /// Node 1 of a 3-node ring over a store that is not a bootstrap member's
    /// (so it comes up recovering and copies from its peers).
    fn recovering_node() -> TxnNode<MemoryEngine> {
        let mut n = TxnNode::open(
            NodeId(1),
            MemoryEngine::new(Incarnation(9)),
            3,
            TxnOptions::default(),
            false,
        )
        .unwrap();
        n.set_view(test_ring(3), BTreeSet::new(), Policies::default());
        n
    }
    use crate::types::{Epoch, Key, LockMode, PartitionId, TxnId, Ver, Versioned};

    fn system_entry(key: Vec<u8>, bytes: Vec<u8>) -> (Vec<u8>, Versioned) {
        (
            key,
            Versioned {
                version: Ver::ZERO,
                value: Some(bytes),
            },
        )
    }

    /// Delivers a whole space from `peer` in one final page.
    fn chunk(
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
            timestamp: Ver(Version {
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
        };
        let finished = Finished {
            through: 2,
            committed: Some(2),
        };
        for peer in [2, 3] {
            chunk(&mut n, peer, Space::Data, Vec::new());
        }
        // Peer 2 finished the transaction (it applied its own part); peer 3
        // still holds the attempt's lock.
        let marker = system_entry(keys::finished(txn), codec::encode_stored(&finished));
        chunk(&mut n, 2, Space::System, vec![marker]);
        let held = system_entry(keys::lock(txn), codec::encode_stored(&lock));
        chunk(&mut n, 3, Space::System, vec![held]);
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
        let txn_at = |ms: u64| TxnId {
            timestamp: Ver(Version {
                physical_ms: ms,
                logical: 0,
                node: 2,
            }),
            coordinator: 2,
        };
        let partition = PartitionId {
            namespace: "strong".into(),
            token: 1,
        };
        let lock_key = |id: &str| LockKey {
            key: Key::new("strong", "db", "t", id).storage_key(),
            partition: partition.clone(),
            mode: LockMode::Exclusive,
        };
        let record = |keys: Vec<LockKey>| LockRecord {
            txn: txn_at(5),
            attempt: 4,
            home: partition.clone(),
            lease_ms: 1_000,
            keys,
        };
        for peer in [2, 3] {
            chunk(&mut n, peer, Space::Data, Vec::new());
        }
        let only_k1 = record(vec![lock_key("k1")]);
        let both = record(vec![lock_key("k0"), lock_key("k1")]);
        let entry = |r: &LockRecord| system_entry(keys::lock(r.txn), codec::encode_stored(r));
        chunk(&mut n, 2, Space::System, vec![entry(&only_k1)]);
        chunk(&mut n, 3, Space::System, vec![entry(&both)]);
        assert_eq!(n.status(), ReplicaStatus::Normal);
        let younger = LockRead {
            txn: txn_at(9),
            attempt: 1,
            home: partition.clone(),
            epoch: Epoch { ring: 1, policy: 0 },
            lease_ms: 1_000,
            keys: vec![lock_key("k0")],
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
        let partition = PartitionId {
            namespace: "strong".into(),
            token: 1,
        };
        let key = Key::new("strong", "db", "t", "k0").storage_key();
        let record = |ms: u64| LockRecord {
            txn: TxnId {
                timestamp: Ver(Version {
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
        };
        for peer in [2, 3] {
            chunk(&mut n, peer, Space::Data, Vec::new());
        }
        let entry = |r: &LockRecord| system_entry(keys::lock(r.txn), codec::encode_stored(r));
        chunk(&mut n, 2, Space::System, vec![entry(&record(5))]);
        chunk(&mut n, 3, Space::System, vec![entry(&record(7))]);
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
        let partition = PartitionId {
            namespace: "strong".into(),
            token: 1,
        };
        let lock_key = |id: &str| LockKey {
            key: Key::new("strong", "db", "t", id).storage_key(),
            partition: partition.clone(),
            mode: LockMode::Exclusive,
        };
        let txn_at = |ms: u64| TxnId {
            timestamp: Ver(Version {
                physical_ms: ms,
                logical: 0,
                node: 2,
            }),
            coordinator: 2,
        };
        let copied = LockRecord {
            txn: txn_at(5),
            attempt: 2,
            home: partition.clone(),
            lease_ms: 1_000,
            keys: vec![lock_key("k3")],
        };
        for peer in [2, 3] {
            chunk(&mut n, peer, Space::Data, Vec::new());
            chunk(
                &mut n,
                peer,
                Space::System,
                vec![system_entry(
                    keys::lock(copied.txn),
                    codec::encode_stored(&copied),
                )],
            );
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
}
