//! Learning a decision at a replica: record it in the register when home,
//! apply a commit's writes (version rule), mark the attempt finished and
//! release its locks, in one batch. Never drops a lock without a decision.

use zerodb_storage::{Engine, Space, StorageError, WriteBatch};

use super::{keys, system_record, Finished};
use crate::codec;
use crate::error::Refusal;
use crate::message::Message;
use crate::node::TxnNode;
use crate::types::{Attempt, Decision, PartitionId, TxnId};

impl<E: Engine> TxnNode<E> {
    /// Learns the decision of `(txn, attempt)`: records it in the register
    /// when this node is a home replica, applies committed writes of the
    /// partitions it replicates, marks the attempt finished and releases its
    /// locks, all in one batch. Then wakes waiting requests.
    pub(crate) fn learn(
        &mut self,
        txn: TxnId,
        attempt: Attempt,
        home: &PartitionId,
        decision: &Decision,
    ) {
        if let Err(e) = self.try_learn(txn, attempt, Some(home), decision) {
            // The engine refused the batch: keep the locks (never drop a
            // lock without recording the decision); recovery will retry.
            tracing::warn!(%txn, attempt, error = %e, "could not apply decision");
            return;
        }
        self.replica
            .recoveries
            .retain(|(t, a), _| !(*t == txn && *a <= attempt));
        self.wake_waiting();
    }

    pub(crate) fn try_learn(
        &mut self,
        txn: TxnId,
        attempt: Attempt,
        home: Option<&PartitionId>,
        decision: &Decision,
    ) -> Result<(), StorageError> {
        if let Decision::Committed { version, .. } = decision {
            self.hlc.observe(crate::types::version(*version));
        }
        // Below the watermark every record of the transaction may be
        // deleted already: a late `Apply` still applies its writes and
        // releases, but writes no register or marker that would outlive
        // the collection (DESIGN.md I6).
        let forgotten = self.forgotten(txn).is_some();
        if !forgotten && home.is_some_and(|home| self.is_replica_of(home)) {
            let mut state = self.load_register(txn, attempt)?;
            if state.decided.is_none() {
                state.decided = Some(decision.clone());
                self.store_register(txn, attempt, &state)?;
            }
        }
        let mut batch = WriteBatch::new();
        if let Decision::Committed {
            version, writes, ..
        } = decision
        {
            for w in writes {
                if self.is_replica_of(&w.partition) {
                    let record = w.at(*version);
                    self.put_if_newer(&mut batch, &w.key, &record)?;
                }
            }
        }
        let mut finished = self.load_finished(txn)?;
        finished.merge(Finished {
            through: attempt,
            committed: decision.is_committed().then_some(attempt),
        });
        if !forgotten {
            batch.put(
                Space::System,
                keys::finished(txn),
                system_record(codec::encode_stored(&finished)),
            );
        }
        let releases = self
            .replica
            .held
            .get(&txn)
            .is_some_and(|h| h.record.attempt <= attempt);
        if releases {
            batch.remove(Space::System, keys::lock(txn));
        }
        self.engine.write(batch)?;
        if releases {
            self.remove_held(txn);
        }
        // Late requests of this or older attempts waiting here are refused.
        let votes = self.votes();
        let refused: Vec<_> = self
            .replica
            .waiting
            .iter()
            .filter(|w| w.req.txn == txn && finished.refuses(w.req.attempt))
            .map(|w| {
                let durable = votes && finished.committed != Some(w.req.attempt);
                (w.from, w.req.attempt, durable && w.req.blind.is_some())
            })
            .collect();
        self.replica
            .waiting
            .retain(|w| !(w.req.txn == txn && finished.refuses(w.req.attempt)));
        for (from, attempt, refused) in refused {
            self.send(
                from,
                Message::LockRefused {
                    txn,
                    attempt,
                    reason: Refusal::Finished,
                    refused,
                },
            );
        }
        Ok(())
    }
}
