//! A copied blind prepare made this replica's own vote when termination
//! asks for it (sim/FAILING.md section 16): the grant a late request of the
//! attempt would get, after the same checks.

use zerodb_storage::{Engine, Space, WriteBatch};

use super::{keys, system_record, LockRecord};
use crate::codec;
use crate::message::{BlindWrites, LockRead};
use crate::node::TxnNode;
use crate::types::{Attempt, LockMode, TxnId};

impl<E: Engine> TxnNode<E> {
    /// Makes this replica's copied prepare of a blind `(txn, attempt)` its
    /// own vote, as termination asks for its prepare (DESIGN.md 6.1 steps
    /// 6 and 7). Returns whether the prepare is now self-granted.
    ///
    /// Register seed 1293 (sim/FAILING.md 16): a blind attempt was
    /// self-prepared at one replica and only copied at the other two (one
    /// of them fenced behind its watermark, which the attempt's locks
    /// held). Termination commits on a quorum of self-granted prepares and
    /// aborts on a durable refusal; a copy is neither, so nothing was ever
    /// decided and the fence never lifted.
    ///
    /// Why it is safe: the coordinator sent this replica the attempt's
    /// `LockRead` with exactly the keys, writes and version of the copy
    /// (a blind attempt has one partition, and every replica of it gets
    /// the same request), and a late or duplicated `LockRead` may arrive at
    /// any time. This grants the copy exactly as that request would be
    /// granted now, by a voting replica, after the same checks: the
    /// attempt not finished or refused here, not below the lock floor, no
    /// other holder in conflict (I1), and every stored version of its keys
    /// below its commit version (I8). The state reached is one the
    /// protocol reaches without this, only with the keys locked since the
    /// copy instead of since now. An old incarnation's votes are covered
    /// as they are for any late request: by the vote fence.
    pub(crate) fn self_grant_copied_prepare(&mut self, txn: TxnId, attempt: Attempt) -> bool {
        if !self.votes() {
            return false;
        }
        let Some(record) = self.replica.held.get(&txn).map(|h| h.record.clone()) else {
            return false;
        };
        if record.attempt != attempt || !record.copied {
            return false;
        }
        let Some(blind) = &record.blind else {
            return false;
        };
        let request = LockRead {
            txn,
            attempt,
            home: record.home.clone(),
            epoch: self.view.epoch(),
            lease_ms: record.lease_ms,
            keys: record.keys.clone(),
            ranges: record.ranges.clone(),
            blind: Some(blind.clone()),
        };
        if !self.copy_writes_are_locked(&record, blind) || self.check_lock_read(&request).is_err() {
            return false;
        }
        if !self.conflicts(&request).is_empty() {
            return false;
        }
        if !matches!(self.stored_version_above(&request), Ok(None)) {
            return false;
        }
        let own = LockRecord {
            copied: false,
            ..record
        };
        let mut batch = WriteBatch::new();
        batch.put(
            Space::System,
            keys::lock(txn),
            system_record(codec::encode_stored(&own)),
        );
        if self.engine.write(batch).is_err() {
            return false;
        }
        // Same keys and ranges: only the flag changes, and the lease runs on.
        if let Some(held) = self.replica.held.get_mut(&txn) {
            held.record.copied = false;
        }
        true
    }

    /// Whether a copied lock covers, exclusively, every write of the blind
    /// attempt in this replica's partitions: only then is it the lock the
    /// attempt's own request would take here.
    fn copy_writes_are_locked(&self, record: &LockRecord, blind: &BlindWrites) -> bool {
        blind
            .writes
            .iter()
            .filter(|w| self.is_replica_of(&w.partition))
            .all(|w| {
                record
                    .keys
                    .iter()
                    .any(|k| k.key == w.key && k.mode == LockMode::Exclusive)
            })
    }
}

#[cfg(test)]
#[path = "copied_tests.rs"]
mod tests;
