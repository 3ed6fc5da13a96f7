//! Data at a replica: the version rule, reads, stores (read repair and
//! eventual writes) and hinted handoff.

use crate::types::version;
use crate::types::versioned;
use zerodb_storage::{Direction, Engine, ScanRange, Space, StorageError, WriteBatch};

use super::{keys, system_record};
use crate::codec;
use crate::error::Refusal;
use crate::membership::{Consistency, NodeId};
use crate::message::{LockInfo, Message, ReqId};
use crate::node::TxnNode;
use crate::types::{Epoch, LockMode, Versioned};

/// Hints replayed per tick, at most.
const HINT_REPLAY_BATCH_MAX: usize = 64;

impl<E: Engine> TxnNode<E> {
    /// Adds `record` under `key` to `batch` unless the stored record has an
    /// equal or higher version (DESIGN.md 5: never replace with a lower
    /// version). Returns whether it added it.
    pub(crate) fn put_if_newer(
        &mut self,
        batch: &mut WriteBatch,
        key: &[u8],
        record: &Versioned,
    ) -> Result<bool, StorageError> {
        let current = self.engine.get(Space::Data, key)?;
        if current.is_some_and(|c| c.version >= version(record.version)) {
            return Ok(false);
        }
        batch.put(Space::Data, key.to_vec(), crate::types::record(record));
        Ok(true)
    }

    /// Strong (`epoch: Some`) or eventual read of one key.
    pub(crate) fn handle_read(
        &mut self,
        from: NodeId,
        req: ReqId,
        key: Vec<u8>,
        epoch: Option<Epoch>,
    ) {
        if let Err(reason) = self.check_read(&key, epoch) {
            self.send(from, Message::Refused { req, reason });
            return;
        }
        let value = match self.engine.get(Space::Data, &key) {
            Ok(r) => r.map(versioned),
            Err(e) => {
                self.send(
                    from,
                    Message::Refused {
                        req,
                        reason: Refusal::Storage(e.to_string()),
                    },
                );
                return;
            }
        };
        let locks = self.write_locks_on(&key);
        self.send(from, Message::ReadReply { req, value, locks });
    }

    fn check_read(&self, key: &[u8], epoch: Option<Epoch>) -> Result<(), Refusal> {
        if !self.votes() {
            return Err(Refusal::Recovering);
        }
        if let Some(epoch) = epoch {
            let view = &self.view;
            if epoch != view.epoch() {
                return Err(Refusal::WrongEpoch {
                    replica: view.epoch(),
                });
            }
            view.check_strong(key)?;
        }
        Ok(())
    }

    /// Every exclusive holder of `key`. Normally one at most; a replica
    /// that copied locks from several peers after losing its state can hold
    /// more. Register seed 294 (`--faults heavy`): a wiped replica copied
    /// a committed transaction's lock from one peer and another
    /// transaction's lock on the same key from another; replying with only
    /// the first holder hid the commit, and a quorum read returned the
    /// value from before it.
    fn write_locks_on(&self, key: &[u8]) -> Vec<LockInfo> {
        let Some(holders) = self.replica.by_key.get(key) else {
            return Vec::new();
        };
        holders
            .iter()
            .filter(|(_, mode)| **mode == LockMode::Exclusive)
            .filter_map(|(txn, _)| {
                let held = self.replica.held.get(txn)?;
                Some(LockInfo {
                    txn: *txn,
                    attempt: held.record.attempt,
                    home: held.record.home.clone(),
                    blind: held.record.blind.is_some(),
                })
            })
            .collect()
    }

    /// Stores a record (version rule), or keeps it as a hint for another
    /// node. Acknowledged with `Stored` (released after the driver syncs).
    pub(crate) fn handle_store(
        &mut self,
        from: NodeId,
        req: ReqId,
        key: Vec<u8>,
        record: Versioned,
        hint_for: Option<u32>,
        policy: Option<u64>,
    ) {
        if let Some(policy) = policy {
            if let Err(reason) = self.check_eventual_store(&key, policy) {
                self.send(from, Message::Refused { req, reason });
                return;
            }
        }
        self.hlc.observe(version(record.version));
        let result = match hint_for {
            Some(target) if target != self.id.0 => self.store_hint(target, &key, &record),
            _ => {
                let mut batch = WriteBatch::new();
                self.put_if_newer(&mut batch, &key, &record)
                    .and_then(|_| self.engine.write(batch))
            }
        };
        match result {
            Ok(()) => self.send(from, Message::Stored { req }),
            Err(e) => self.send(
                from,
                Message::Refused {
                    req,
                    reason: Refusal::Storage(e.to_string()),
                },
            ),
        }
    }

    fn store_hint(
        &mut self,
        target: u32,
        key: &[u8],
        record: &Versioned,
    ) -> Result<(), StorageError> {
        let hint_key = keys::hint(target, key);
        // Keep only the newest hinted version per key and target.
        if let Some(existing) = self.engine.get(Space::System, &hint_key)? {
            if let Some(Ok(old)) = existing.value.map(|v| codec::decode::<Versioned>(&v)) {
                if old.version >= record.version {
                    return Ok(());
                }
            }
        }
        let mut batch = WriteBatch::new();
        batch.put(
            Space::System,
            hint_key,
            system_record(codec::encode_stored(record)),
        );
        self.engine.write(batch)
    }

    /// Replays hints whose target is up again.
    pub(crate) fn hint_tick(&mut self) {
        if self.now_ms < self.replica.next_hint_replay_ms || self.options.unsafe_skip_hint_replay {
            return;
        }
        self.replica.next_hint_replay_ms = self.now_ms + self.options.hint_replay_ms;
        // Replays still in flight from the last round are forgotten; the
        // hints stay until a `Stored` for a newer round removes them.
        self.replica.hint_sends.clear();
        let Ok(hints) = self.engine.scan(
            &ScanRange::prefix(Space::System, &[keys::HINT]),
            Direction::Forward,
            HINT_REPLAY_BATCH_MAX,
        ) else {
            return;
        };
        for (hint_key, record) in hints {
            let Some((target, data_key)) = keys::hint_target(&hint_key) else {
                continue;
            };
            let target_id = NodeId(target);
            if self.view.is_down(target_id) {
                continue;
            }
            let Some(Ok(hinted)) = record.value.map(|v| codec::decode::<Versioned>(&v)) else {
                continue;
            };
            let Some(policy) = self.hint_policy(&hint_key, data_key) else {
                continue;
            };
            let req = self.next_req();
            self.replica
                .hint_sends
                .insert(req, (hint_key.clone(), hinted.version));
            self.send(
                target_id,
                Message::Store {
                    req,
                    key: data_key.to_vec(),
                    record: hinted,
                    hint_for: None,
                    policy: Some(policy),
                },
            );
        }
    }

    /// The policy version a hint is replayed with, or `None` when its
    /// namespace is strong now: a write hinted while it was eventual would
    /// land without a lock in a namespace whose writes go through
    /// transactions only, so the hint is dropped.
    fn hint_policy(&mut self, hint_key: &[u8], data_key: &[u8]) -> Option<u64> {
        let view = &self.view;
        let (namespace, consistency) = view.consistency_of_storage_key(data_key)?;
        if consistency == Consistency::Eventual {
            return Some(view.policies.version_of(&namespace));
        }
        tracing::warn!(%namespace, "dropping a hint of a namespace that is strong now");
        let mut batch = WriteBatch::new();
        batch.remove(Space::System, hint_key.to_vec());
        if let Err(e) = self.engine.write(batch) {
            tracing::warn!(error = %e, "could not drop a hint; will retry");
        }
        None
    }

    /// Whether this replica takes an eventual write (or a hint, or a
    /// hint's replay) of `key` sent under policy version `policy`: only if
    /// its own catalog holds the key's namespace eventual under the same
    /// version. Otherwise the refusal tells the sender to refresh.
    fn check_eventual_store(&self, key: &[u8], policy: u64) -> Result<(), Refusal> {
        let view = &self.view;
        let Some((namespace, consistency)) = view.consistency_of_storage_key(key) else {
            return Err(Refusal::NotOwner);
        };
        if consistency != Consistency::Eventual || view.policies.version_of(&namespace) != policy {
            return Err(Refusal::WrongEpoch {
                replica: view.namespace_epoch(&namespace),
            });
        }
        Ok(())
    }

    /// A hint was delivered: drop it, unless a newer one replaced it
    /// meanwhile. Returns whether `req` was a hint.
    pub(crate) fn on_hint_stored(&mut self, req: ReqId) -> bool {
        let Some((hint_key, version)) = self.replica.hint_sends.remove(&req) else {
            return false;
        };
        let current = self
            .engine
            .get(Space::System, &hint_key)
            .ok()
            .flatten()
            .and_then(|r| r.value)
            .and_then(|v| codec::decode::<Versioned>(&v).ok());
        if current.is_none_or(|c| c.version != version) {
            return true;
        }
        let mut batch = WriteBatch::new();
        batch.remove(Space::System, hint_key);
        if let Err(e) = self.engine.write(batch) {
            tracing::warn!(error = %e, "could not drop a delivered hint; it will be replayed");
        }
        true
    }

    /// Number of hints this node keeps for others.
    pub fn hints_pending(&mut self) -> usize {
        self.engine
            .scan(
                &ScanRange::prefix(Space::System, &[keys::HINT]),
                Direction::Forward,
                usize::MAX,
            )
            .map(|h| h.len())
            .unwrap_or(0)
    }
}
