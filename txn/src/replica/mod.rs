//! The replica role: durable locks, the decision-register acceptor (in
//! [`crate::paxos`]), applying decisions, reads, stores and hints, and
//! lost-state copy.
//!
//! Durable state lives in `Space::System` under one-letter prefixes:
//! - `L txn` -> [`LockRecord`]: the locks of the txn's current attempt here;
//! - `F txn` -> [`Finished`]: attempts released or decided here, so late
//!   duplicates are refused;
//! - `D txn attempt` -> [`RegisterState`]: the decision register;
//! - `H node key` -> hinted record for `node`;
//! - `P namespace` -> the namespace's policy, remembered after a drop (see
//!   [`placement`]);
//! - `M` -> the engine incarnation this state belongs to.

mod anti_entropy;
#[cfg(test)]
mod clock_tests;
mod copied;
mod data;
mod fence;
mod learn;
#[cfg(test)]
mod lock_tests;
mod locks;
mod placement;
#[cfg(test)]
mod range_lock_tests;
#[cfg(test)]
mod restart_tests;
mod sync;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bincode::{Decode, Encode};
use zerodb_storage::{
    Direction, Engine, Record, ScanRange, Space, StorageError, Version, WriteBatch,
};

pub(crate) use locks::Waiting;
pub(crate) use sync::LostState;

use crate::codec;
use crate::message::{BlindWrites, LockKey, LockRange};
use crate::node::{ReplicaStatus, TxnNode};
use crate::types::{Attempt, Ballot, Decision, LockMode, PartitionId, TxnId};

/// The durable form of a granted lock set.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) struct LockRecord {
    pub(crate) txn: TxnId,
    pub(crate) attempt: Attempt,
    pub(crate) home: PartitionId,
    pub(crate) lease_ms: u64,
    pub(crate) keys: Vec<LockKey>,
    /// Share-locked ranges (scans).
    pub(crate) ranges: Vec<LockRange>,
    /// A blind transaction's prepared writes and commit version (protocol
    /// v2): the lock is then a prepare that only a decided outcome
    /// releases.
    pub(crate) blind: Option<BlindWrites>,
    /// Copied from peers during lost-state recovery: a lock, never a vote
    /// (I1); it does not count toward the fast path or termination.
    pub(crate) copied: bool,
}

impl LockRecord {
    /// Adds the keys and ranges of `other` (a lock of the same attempt,
    /// e.g. copied from a peer) that this one lacks, and raises a shared
    /// key to exclusive where `other` holds it so. Returns whether anything
    /// changed.
    pub(crate) fn absorb(&mut self, other: &LockRecord) -> bool {
        debug_assert_eq!((self.txn, self.attempt), (other.txn, other.attempt));
        let mut changed = false;
        for k in &other.keys {
            match self.keys.iter_mut().find(|m| m.key == k.key) {
                Some(m) if k.mode == LockMode::Exclusive && m.mode != LockMode::Exclusive => {
                    m.mode = LockMode::Exclusive;
                    changed = true;
                }
                Some(_) => {}
                None => {
                    self.keys.push(k.clone());
                    changed = true;
                }
            }
        }
        for r in &other.ranges {
            if !self.ranges.contains(r) {
                self.ranges.push(r.clone());
                changed = true;
            }
        }
        changed
    }
}

/// Which attempts of a transaction are over at this replica.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub(crate) struct Finished {
    /// Every attempt up to this one is released or decided.
    pub(crate) through: Attempt,
    /// The attempt that committed, if one did (the transaction is done).
    pub(crate) committed: Option<Attempt>,
}

impl Finished {
    pub(crate) fn refuses(&self, attempt: Attempt) -> bool {
        self.committed.is_some() || attempt <= self.through
    }

    pub(crate) fn merge(&mut self, other: Finished) {
        self.through = self.through.max(other.through);
        self.committed = self.committed.or(other.committed);
    }
}

/// A decision register (Paxos acceptor + learner state).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub(crate) struct RegisterState {
    pub(crate) promised: Ballot,
    pub(crate) accepted: Option<(Ballot, Decision)>,
    pub(crate) decided: Option<Decision>,
}

/// A lock set held in memory, with its lease.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub(crate) record: LockRecord,
    /// Local time the lease ends; re-armed from `now` after a restart.
    pub(crate) lease_until_ms: u64,
}

/// The replica's in-memory state (rebuilt from the engine on open).
#[derive(Clone, Debug)]
pub(crate) struct ReplicaState {
    pub(crate) status: ReplicaStatus,
    /// Lock sets by transaction (one attempt per transaction).
    pub(crate) held: BTreeMap<TxnId, Held>,
    /// Holders per storage key.
    pub(crate) by_key: BTreeMap<Vec<u8>, BTreeMap<TxnId, LockMode>>,
    /// Holders of range locks (their ranges are in `held`).
    pub(crate) ranged: BTreeSet<TxnId>,
    /// Older lock requests waiting for younger holders (wait-die).
    pub(crate) waiting: VecDeque<Waiting>,
    /// Hint replays in flight: request id -> (hint key, version sent).
    pub(crate) hint_sends: BTreeMap<crate::message::ReqId, (Vec<u8>, crate::types::Ver)>,
    pub(crate) next_hint_replay_ms: u64,
    /// Lost-state copy progress while recovering.
    pub(crate) lost: Option<LostState>,
    /// After the copy, the wait before voting again (see `fence.rs`).
    pub(crate) fence: Option<fence::Fence>,
    /// Anti-entropy rounds (eventual namespaces).
    pub(crate) anti_entropy: anti_entropy::AntiEntropy,
    /// Recoveries of expired locks (see `recovery.rs`).
    pub(crate) recoveries: BTreeMap<(TxnId, Attempt), crate::recovery::Recovery>,
    /// The policy of every namespace a view has shown (see [`placement`]).
    pub(crate) placements: BTreeMap<String, crate::membership::NamespacePolicy>,
}

impl Default for ReplicaState {
    fn default() -> ReplicaState {
        ReplicaState {
            status: ReplicaStatus::Normal,
            held: BTreeMap::new(),
            by_key: BTreeMap::new(),
            ranged: BTreeSet::new(),
            waiting: VecDeque::new(),
            hint_sends: BTreeMap::new(),
            next_hint_replay_ms: 0,
            lost: None,
            fence: None,
            anti_entropy: anti_entropy::AntiEntropy::default(),
            recoveries: BTreeMap::new(),
            placements: BTreeMap::new(),
        }
    }
}

/// System-space keys.
pub(crate) mod keys {
    use crate::types::{Attempt, TxnId};

    pub(crate) const LOCK: u8 = b'L';
    pub(crate) const FINISHED: u8 = b'F';
    pub(crate) const REGISTER: u8 = b'D';
    pub(crate) const HINT: u8 = b'H';
    pub(crate) const PLACEMENT: u8 = b'P';
    pub(crate) const META: &[u8] = b"M";

    pub(crate) fn lock(txn: TxnId) -> Vec<u8> {
        let mut k = vec![LOCK];
        k.extend(txn.to_bytes());
        k
    }

    pub(crate) fn finished(txn: TxnId) -> Vec<u8> {
        let mut k = vec![FINISHED];
        k.extend(txn.to_bytes());
        k
    }

    pub(crate) fn register(txn: TxnId, attempt: Attempt) -> Vec<u8> {
        let mut k = vec![REGISTER];
        k.extend(txn.to_bytes());
        k.extend(attempt.to_be_bytes());
        k
    }

    pub(crate) fn hint(node: u32, key: &[u8]) -> Vec<u8> {
        let mut k = vec![HINT];
        k.extend(node.to_be_bytes());
        k.extend_from_slice(key);
        k
    }

    pub(crate) fn placement(namespace: &str) -> Vec<u8> {
        let mut k = vec![PLACEMENT];
        k.extend_from_slice(namespace.as_bytes());
        k
    }

    /// The namespace of a placement key.
    pub(crate) fn placement_namespace(key: &[u8]) -> Option<String> {
        let rest = key.strip_prefix(&[PLACEMENT])?;
        String::from_utf8(rest.to_vec()).ok()
    }

    /// The target node of a hint key.
    pub(crate) fn hint_target(key: &[u8]) -> Option<(u32, &[u8])> {
        let rest = key.strip_prefix(&[HINT])?;
        let (node, data_key) = rest.split_at_checked(4)?;
        Some((u32::from_be_bytes(node.try_into().ok()?), data_key))
    }
}

/// A system-space value as a record (system records carry no version).
pub(crate) fn system_record(bytes: Vec<u8>) -> Record {
    Record::value(Version::ZERO, bytes)
}

impl<E: Engine> TxnNode<E> {
    /// Rebuilds the lock table and decides whether the replica lost state.
    pub(crate) fn load_replica_state(&mut self, bootstrap: bool) -> Result<(), StorageError> {
        let incarnation = self.engine.incarnation().0;
        let marker = self
            .engine
            .get(Space::System, keys::META)?
            .and_then(|r| r.value)
            .and_then(|v| codec::decode::<u64>(&v).ok());
        let lost = match marker {
            Some(stored) => stored != incarnation,
            None => !bootstrap,
        };
        let recover = lost && !self.options.unsafe_skip_lost_state_recovery;
        if recover {
            self.replica.status = ReplicaStatus::Recovering;
            self.replica.lost = Some(LostState::default());
        } else {
            self.write_incarnation_marker()?;
        }
        let locks = self.engine.scan(
            &ScanRange::prefix(Space::System, &[keys::LOCK]),
            Direction::Forward,
            usize::MAX,
        )?;
        if recover {
            // A store that lost state may have lost the `Resolved` that
            // released a lock while keeping the `Prepared` that took it
            // (a WAL cut after a bit flip keeps the records before the
            // flip): such a lock is of a transaction over everywhere,
            // possibly below the released watermark, so nothing can
            // resolve it any more (its termination is refused
            // `Forgotten`) and it would hold this node's low, hence the
            // watermark and the vote fence, forever (issue 14, bank seed
            // 5 with disk faults). The leftover locks are the old
            // incarnation's, whose votes no longer count; the copy
            // rebuilds the lock table from `rf - quorum + 1` peers, which
            // meets every quorum that holds a lock still needed. So they
            // are dropped, durably, before anything else is done; a
            // restart before the copy completes copies again.
            if !locks.is_empty() {
                let mut batch = WriteBatch::new();
                for (key, _) in locks {
                    batch.remove(Space::System, key);
                }
                self.engine.write(batch)?;
            }
            return Ok(());
        }
        for (_, record) in locks {
            let Some(bytes) = record.value else { continue };
            // A record that does not decode is a bug or corruption; an
            // unreadable lock must not be dropped silently, so stop.
            let lock: LockRecord = codec::decode(&bytes).map_err(|e| StorageError::Corruption {
                what: "lock record".to_string(),
                detail: e.to_string(),
            })?;
            self.insert_held(lock, 0);
        }
        Ok(())
    }

    pub(crate) fn write_incarnation_marker(&mut self) -> Result<(), StorageError> {
        let incarnation = self.engine.incarnation().0;
        let mut batch = WriteBatch::new();
        batch.put(
            Space::System,
            keys::META.to_vec(),
            system_record(codec::encode_stored(&incarnation)),
        );
        self.engine.write(batch)
    }

    /// Re-arms the lease of every lock from `now_ms` (on start). Locks
    /// reloaded by `open` got their lease from time 0, as no clock is
    /// known there; without this every one of them would be expired at
    /// the first tick, and each restart would pre-empt live coordinators
    /// (issue 14 case 7).
    pub(crate) fn rearm_leases(&mut self, now_ms: u64) {
        for held in self.replica.held.values_mut() {
            held.lease_until_ms = now_ms + held.record.lease_ms;
        }
    }

    /// Adds a lock set to the in-memory table with a lease from `now`.
    pub(crate) fn insert_held(&mut self, record: LockRecord, now_ms: u64) {
        // No lock below the released watermark (see `watermark.rs`): every
        // member held none of it when it reported and refuses it since.
        debug_assert!(
            self.options.unsafe_watermark_ignores_locks
                || crate::types::version(record.txn.timestamp) >= self.watermark.released,
            "txn {}: a lock inserted below the released watermark",
            record.txn
        );
        for k in &record.keys {
            self.replica
                .by_key
                .entry(k.key.clone())
                .or_default()
                .insert(record.txn, k.mode);
        }
        if !record.ranges.is_empty() {
            self.replica.ranged.insert(record.txn);
        }
        let lease_until_ms = now_ms + record.lease_ms;
        self.replica.held.insert(
            record.txn,
            Held {
                record,
                lease_until_ms,
            },
        );
    }

    /// Removes a lock set from memory (the caller removes it from disk).
    pub(crate) fn remove_held(&mut self, txn: TxnId) -> Option<Held> {
        let held = self.replica.held.remove(&txn)?;
        self.replica.ranged.remove(&txn);
        for k in &held.record.keys {
            if let Some(holders) = self.replica.by_key.get_mut(&k.key) {
                holders.remove(&txn);
                if holders.is_empty() {
                    self.replica.by_key.remove(&k.key);
                }
            }
        }
        Some(held)
    }

    pub(crate) fn load_finished(&mut self, txn: TxnId) -> Result<Finished, StorageError> {
        Ok(self
            .engine
            .get(Space::System, &keys::finished(txn))?
            .and_then(|r| r.value)
            .and_then(|v| codec::decode(&v).ok())
            .unwrap_or_default())
    }

    pub(crate) fn load_register(
        &mut self,
        txn: TxnId,
        attempt: Attempt,
    ) -> Result<RegisterState, StorageError> {
        Ok(self
            .engine
            .get(Space::System, &keys::register(txn, attempt))?
            .and_then(|r| r.value)
            .and_then(|v| codec::decode(&v).ok())
            .unwrap_or_default())
    }

    pub(crate) fn store_register(
        &mut self,
        txn: TxnId,
        attempt: Attempt,
        state: &RegisterState,
    ) -> Result<(), StorageError> {
        let mut batch = WriteBatch::new();
        batch.put(
            Space::System,
            keys::register(txn, attempt),
            system_record(codec::encode_stored(state)),
        );
        self.engine.write(batch)
    }

    /// Whether this replica may vote (not recovering lost state).
    pub(crate) fn votes(&self) -> bool {
        self.replica.status == ReplicaStatus::Normal
    }

    /// Whether `partition` has this node among its replicas.
    pub(crate) fn is_replica_of(&self, partition: &PartitionId) -> bool {
        self.view.replicates(self.id, partition)
    }

    pub(crate) fn replica_tick(&mut self) {
        self.expire_waiting();
        self.recovery_tick();
        self.hint_tick();
        self.lost_state_tick();
        self.anti_entropy_tick();
    }
}
