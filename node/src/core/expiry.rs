//! The expiry sweep: records whose TTL ran out become deletes.
//!
//! A write with a TTL stores `expires_at_ms` with its record (the commit
//! version's physical time plus the TTL). Every node walks its own data
//! space in the background, [`EXPIRY_STEP_RECORDS`] records per node tick,
//! one pass at most every [`EXPIRY_PASS_INTERVAL_MS`], and acts on each
//! live record whose expiry its clock has passed:
//!
//! - **Eventual namespace** (DESIGN.md 7): reads already treat the record
//!   as absent by the reading coordinator's clock; the sweep replaces it,
//!   on this replica only, with a tombstone of the same version that keeps
//!   the expiry. Versions are unique per write, so the tombstone and the
//!   record still held by a replica that has not swept yet are one write:
//!   anti-entropy hashes them the same and no replica takes one over the
//!   other. A write the record's version already outranks stays refused.
//! - **Strong namespace** (DESIGN.md 6.3): no replica's clock decides
//!   alone. The first replica of the partition that this node sees up
//!   issues a transaction `assert version == v; assert expired; delete`.
//!   The `expired` condition holds only when every replica whose locked
//!   read the coordinator used (a quorum) reported a clock at or past the
//!   expiry, so with at most `Q-1` clocks ahead of true time a record is
//!   never deleted before it expires. Reads see the record until that
//!   transaction commits; a failed condition (a clock behind, a newer
//!   write) leaves it for the next pass.
//!
//! There is no expiry index yet: a pass reads the whole data space, so a
//! node with a million records spends about 20 s of ticks per pass.

use std::collections::BTreeMap;
use std::ops::Bound;

use zerodb_ring::RecordKey;
use zerodb_storage::{Direction, Engine, Record, ScanRange, Space, WriteBatch};
use zerodb_txn::membership::Consistency;
use zerodb_txn::{Action, ClientId, Condition, Key, Op, Request, Response};

use super::catalog::SYSTEM_NAMESPACE;
use super::NodeCore;

/// Records read per step of the sweep (one step per node tick).
pub const EXPIRY_STEP_RECORDS: usize = 512;

/// Least time from the end of one pass to the start of the next.
pub const EXPIRY_PASS_INTERVAL_MS: u64 = 1_000;

/// Most expiring deletes of strong records in flight from one node.
pub const EXPIRY_IN_FLIGHT_MAX: usize = 64;

/// Client ids of the sweep's transactions: `[1 << 62, 1 << 63)`, below the
/// catalog's internal ids and far above any driver's.
pub const EXPIRY_CLIENT_BASE: u64 = 1 << 62;

/// What the sweep did so far (shown by `admin info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpiryTally {
    /// Passes over the whole data space finished.
    pub passes: u64,
    /// Eventual records this node turned into tombstones.
    pub tombstoned: u64,
    /// Expiring deletes of strong records this node issued.
    pub deletes_issued: u64,
    /// Of those, committed.
    pub deletes_committed: u64,
}

/// The sweep's position and its transactions in flight.
#[derive(Debug, Default)]
pub struct Sweeper {
    /// The last key of the previous step of the pass under way.
    after: Option<Vec<u8>>,
    /// A pass is under way (`after` may still be `None` at its start).
    in_pass: bool,
    /// When the next pass may start.
    next_pass_ms: u64,
    /// Expiring deletes in flight: client id -> storage key.
    in_flight: BTreeMap<ClientId, Vec<u8>>,
    next_client: u64,
    tally: ExpiryTally,
}

impl Sweeper {
    /// Whether `client` is one of the sweep's transactions.
    pub fn owns(client: ClientId) -> bool {
        (EXPIRY_CLIENT_BASE..EXPIRY_CLIENT_BASE << 1).contains(&client.0)
    }

    fn next_id(&mut self) -> ClientId {
        let id = ClientId(EXPIRY_CLIENT_BASE + self.next_client % EXPIRY_CLIENT_BASE);
        self.next_client += 1;
        id
    }

    /// The answer to one of the sweep's transactions.
    fn answered(&mut self, client: ClientId, response: &Response) {
        if self.in_flight.remove(&client).is_some() {
            if let Response::Committed { .. } = response {
                self.tally.deletes_committed += 1;
            }
        }
    }

    /// What the sweep did so far.
    pub fn tally(&self) -> ExpiryTally {
        self.tally
    }
}

/// The transaction that deletes a strong record of version `version` once
/// a quorum's clocks passed its expiry.
pub fn expiring_delete(key: Key, version: zerodb_txn::Ver) -> Request {
    Request::Txn {
        ops: vec![
            Op::Assert(key.clone(), Condition::VersionEquals(version)),
            Op::Assert(key.clone(), Condition::Expired),
            Op::Delete(key),
        ],
    }
}

impl<E: Engine> NodeCore<E> {
    /// One step of the sweep (called on every node tick): see the module
    /// documentation. A storage failure is logged and the step retried at
    /// the next tick.
    pub(super) fn sweep_expired(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        let sweeper = &mut self.sweeper;
        if !sweeper.in_pass {
            if now_ms < sweeper.next_pass_ms {
                return;
            }
            sweeper.in_pass = true;
            sweeper.after = None;
        }
        let mut range = ScanRange::all(Space::Data);
        if let Some(after) = &sweeper.after {
            range.start = Bound::Excluded(after.clone());
        }
        let records = match self.txn.engine_mut().scan(
            &range,
            Direction::Forward,
            EXPIRY_STEP_RECORDS,
        ) {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(node = %self.id, %error, "the expiry sweep could not read the data space; will retry");
                return;
            }
        };
        if records.len() < EXPIRY_STEP_RECORDS {
            self.sweeper.in_pass = false;
            self.sweeper.next_pass_ms = now_ms + EXPIRY_PASS_INTERVAL_MS;
            self.sweeper.tally.passes += 1;
        }
        self.sweeper.after = records.last().map(|(key, _)| key.clone());
        let mut batch = WriteBatch::new();
        for (skey, record) in records {
            let expired =
                record.value.is_some() && record.expires_at_ms.is_some_and(|at| at <= now_ms);
            if !expired {
                continue;
            }
            let Ok(rk) = RecordKey::decode(&skey) else {
                continue;
            };
            // The system namespace's records carry no TTL; a namespace
            // the catalog does not hold (dropped: the purge removes it)
            // is left alone.
            let known = self
                .metadata
                .catalog()
                .is_some_and(|catalog| catalog.policy(&rk.namespace).is_some());
            if rk.namespace == SYSTEM_NAMESPACE || !known {
                continue;
            }
            match self.policies.get(&rk.namespace).consistency {
                Consistency::Eventual => {
                    let tombstone = Record {
                        version: record.version,
                        value: None,
                        expires_at_ms: record.expires_at_ms,
                    };
                    batch.put(Space::Data, skey, tombstone);
                    self.sweeper.tally.tombstoned += 1;
                }
                Consistency::Strong => self.expire_strong(now_ms, skey, rk, &record, actions),
            }
        }
        if batch.is_empty() {
            return;
        }
        if let Err(error) = self.txn.engine_mut().write(batch) {
            tracing::error!(node = %self.id, %error, "the expiry sweep could not write its tombstones; will retry");
        }
    }

    /// Issues the expiring delete of a strong record if this node is the
    /// first replica of its partition it sees up and has room in flight.
    fn expire_strong(
        &mut self,
        now_ms: u64,
        skey: Vec<u8>,
        rk: RecordKey,
        record: &Record,
        actions: &mut Vec<Action>,
    ) {
        let view = self.txn.view();
        let Some(partition) = view.partition_of_storage_key(&skey) else {
            return;
        };
        let first_up = view
            .replicas(&partition)
            .into_iter()
            .find(|node| !view.is_down(*node));
        let sweeper = &mut self.sweeper;
        if first_up != Some(self.id)
            || sweeper.in_flight.len() >= EXPIRY_IN_FLIGHT_MAX
            || sweeper.in_flight.values().any(|k| *k == skey)
        {
            return;
        }
        let key = Key {
            namespace: rk.namespace,
            database: rk.database,
            table: rk.table,
            id: rk.id,
        };
        let client = sweeper.next_id();
        sweeper.in_flight.insert(client, skey);
        sweeper.tally.deletes_issued += 1;
        let request = expiring_delete(key, zerodb_txn::ver(record.version));
        actions.extend(self.txn.handle_request(now_ms, client, request));
    }

    /// Takes the answer to one of the sweep's transactions.
    pub(super) fn expiry_answered(&mut self, client: ClientId, response: &Response) {
        self.sweeper.answered(client, response);
    }

    /// What the expiry sweep did so far.
    pub fn expiry_tally(&self) -> ExpiryTally {
        self.sweeper.tally()
    }
}
