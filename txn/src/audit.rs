//! What one node holds at rest, for the end-of-run invariants of DESIGN.md
//! 6.4 (read by the simulator and the model tests once a run has healed):
//! lock sets, waiting requests, recoveries, hints, decided registers and
//! the committed attempts that finished markers name.

use zerodb_storage::{Direction, Engine, ScanRange, Space, StorageError};

use crate::codec;
use crate::node::TxnNode;
use crate::replica::{keys, Finished, RegisterState};
use crate::types::{Attempt, Decision, TxnId};

/// A system-space key and its value bytes.
type KeyValue = (Vec<u8>, Vec<u8>);

/// A node's durable and in-memory transaction state, as lists.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    /// Lock sets held: transaction and attempt.
    pub locks: Vec<(TxnId, Attempt)>,
    /// Lock requests queued behind a holder.
    pub waiting: usize,
    /// Recoveries of expired locks under way.
    pub recoveries: usize,
    /// Hinted records kept: target node and the data key.
    pub hints: Vec<(u32, Vec<u8>)>,
    /// Registers that learned a decision.
    pub decided: Vec<(TxnId, Attempt, Decision)>,
    /// Attempts a finished marker records as the transaction's commit.
    pub committed: Vec<(TxnId, Attempt)>,
    /// System records whose key or value does not decode.
    pub malformed: Vec<Vec<u8>>,
}

impl<E: Engine> TxnNode<E> {
    /// Lists what this node holds (see [`Audit`]).
    pub fn audit(&mut self) -> Result<Audit, StorageError> {
        let mut audit = Audit {
            locks: self
                .replica
                .held
                .values()
                .map(|h| (h.record.txn, h.record.attempt))
                .collect(),
            waiting: self.replica.waiting.len(),
            recoveries: self.replica.recoveries.len(),
            ..Audit::default()
        };
        for (key, _) in self.system_values(keys::HINT)? {
            match keys::hint_target(&key) {
                Some((node, data_key)) => audit.hints.push((node, data_key.to_vec())),
                None => audit.malformed.push(key),
            }
        }
        for (key, bytes) in self.system_values(keys::REGISTER)? {
            let parsed = register_id(&key).zip(codec::decode::<RegisterState>(&bytes).ok());
            match parsed {
                Some(((txn, attempt), state)) => {
                    if let Some(decision) = state.decided {
                        audit.decided.push((txn, attempt, decision));
                    }
                }
                None => audit.malformed.push(key),
            }
        }
        for (key, bytes) in self.system_values(keys::FINISHED)? {
            let txn = key.get(1..).and_then(TxnId::from_bytes);
            match txn.zip(codec::decode::<Finished>(&bytes).ok()) {
                Some((txn, finished)) => {
                    if let Some(attempt) = finished.committed {
                        audit.committed.push((txn, attempt));
                    }
                }
                None => audit.malformed.push(key),
            }
        }
        Ok(audit)
    }

    /// Every system record under one key prefix, with its value bytes.
    fn system_values(&mut self, prefix: u8) -> Result<Vec<KeyValue>, StorageError> {
        let records = self.engine.scan(
            &ScanRange::prefix(Space::System, &[prefix]),
            Direction::Forward,
            usize::MAX,
        )?;
        Ok(records
            .into_iter()
            .map(|(key, record)| (key, record.value.unwrap_or_default()))
            .collect())
    }
}

/// The transaction and attempt of a register key (`D txn attempt`).
fn register_id(key: &[u8]) -> Option<(TxnId, Attempt)> {
    let rest = key.strip_prefix(&[keys::REGISTER])?;
    let (txn, attempt) = rest.split_at_checked(TxnId::ENCODED_LEN)?;
    Some((
        TxnId::from_bytes(txn)?,
        Attempt::from_be_bytes(attempt.try_into().ok()?),
    ))
}
