//! Lost-state recovery (DESIGN.md 6.1 "Lost state"): a replica whose engine
//! incarnation is new or changed copies locks, finished markers and
//! decision registers, then data, from peers, page by page, and votes again
//! only once,
//! for every replica set it belongs to, enough peers finished that any lock
//! quorum or accept quorum it was part of intersects what it copied
//! (`rf - quorum + 1` of the others).

use crate::types::ver;
use std::collections::BTreeMap;
use std::ops::Bound;

use zerodb_storage::{Direction, Engine, ScanRange, Space, StorageError, WriteBatch};

use super::{keys, system_record, Finished, LockRecord, RegisterState};
use crate::codec;
use crate::membership::{quorum, NodeId};
use crate::message::Message;
use crate::node::{ReplicaStatus, TxnNode};
use crate::types::{versioned, TxnId, Versioned};
use crate::watermark::RELEASED_KEY;

/// Copy progress from one peer.
///
/// The system space (locks and decision records) is copied before the
/// data space. A peer applies a commit and releases its lock in one batch;
/// if that batch falls between two pages, copying locks first means the
/// copy holds either the lock (taken before the batch) or the writes (data
/// read after it). Copying data first could miss both (issue 14 case 4):
/// data served before the apply, locks after the release.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerCopy {
    /// `b's'` then `b'd'`.
    space_tag: u8,
    /// Every page of the peer's system space is merged.
    system_copied: bool,
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
        if self.replica.fence.is_some() {
            self.fence_tick();
            return;
        }
        let view = &self.view;
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
            space_tag: Space::System.tag(),
            ..PeerCopy::default()
        });
        if copy.done {
            return;
        }
        assert!(
            copy.space_tag == Space::System.tag() || copy.system_copied,
            "peer {peer}: data asked for before its locks were copied"
        );
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

    /// The copy is complete; votes wait for the fence (see `fence.rs`).
    /// The incarnation marker is written only when it lifts, so a restart
    /// before that copies again.
    fn finish_lost_state(&mut self) {
        self.replica.lost = None;
        self.start_fence();
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
                        Some(&keys::LOCK)
                            | Some(&keys::FINISHED)
                            | Some(&keys::REGISTER)
                            | Some(&keys::PLACEMENT)
                    )
                    || k.as_slice() == RELEASED_KEY
            })
            .map(|(k, r)| (k, versioned(r)))
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
            if space_tag == Space::System.tag() {
                copy.system_copied = true;
                copy.space_tag = Space::Data.tag();
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
            let v = &self.view;
            let mine = v
                .partition_of_storage_key(key)
                .is_some_and(|p| v.replicates(self.id, &p));
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
                Some(&keys::PLACEMENT) => self.merge_placement(&key, &bytes)?,
                // The peer's released watermark becomes this node's floor:
                // what the peer may have deleted below it is forgotten
                // here too, not "never accepted" (DESIGN.md I6).
                _ if key.as_slice() == RELEASED_KEY => {
                    if let Ok(released) = codec::decode::<crate::types::Ver>(&bytes) {
                        self.adopt_released(crate::types::version(released))?;
                    }
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
        lock.copied = true;
        lock.keys.retain(|k| self.is_replica_of(&k.partition));
        lock.ranges.retain(|r| self.is_replica_of(&r.partition));
        if lock.keys.is_empty() && lock.ranges.is_empty() {
            return Ok(());
        }
        if let Some(held) = self.replica.held.get(&lock.txn) {
            if held.record.attempt > lock.attempt {
                return Ok(());
            }
            if held.record.attempt == lock.attempt {
                let mut merged = held.record.clone();
                if !merged.absorb(&lock) {
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
        timestamp: ver(zerodb_storage::Version::from_bytes(ts)),
        coordinator,
    })
}

#[cfg(test)]
#[path = "sync_tests.rs"]
pub(crate) mod tests;
