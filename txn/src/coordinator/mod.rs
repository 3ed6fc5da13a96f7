//! The coordinator role: strong transactions (`txn.rs`), strong single-key
//! reads with read-time repair (`read.rs`), eventual reads and writes
//! (`eventual.rs`). Requests are routed here by namespace policy.

mod blind;
mod combine;
mod decide;
mod eventual;
mod execute;
mod read;
mod txn;

use std::collections::BTreeMap;

use zerodb_storage::Engine;

use crate::error::{ClientError, Refusal};
use crate::membership::{Consistency, NodeId, PartitionLevel};
use crate::message::{RegisterStatus, ReqId};
use crate::node::TxnNode;
use crate::quorum::{Nay, Votes};
use crate::request::{check_ttl, ClientId, Op, RangeAssert, Request, Response};
use crate::types::{Key, PartitionId, TxnId};
use crate::RANGE_ASSERT_RECORDS_MAX;

pub(crate) use eventual::EventualOp;
pub(crate) use read::StrongRead;
pub(crate) use txn::{Granted, ReplyKind, TxnRun};

/// Operations in one transaction, at most.
pub const TXN_OPS_MAX: usize = 1_024;

/// Who asked a `QueryDecision`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum QueryOwner {
    /// A transaction learning the outcome of this attempt.
    Txn(TxnId, crate::types::Attempt),
    /// A strong read resolving a lock it met.
    Read(ReqId),
}

/// Requests in flight at this coordinator.
#[derive(Clone, Debug, Default)]
pub(crate) struct CoordinatorState {
    pub(crate) txns: BTreeMap<TxnId, TxnRun>,
    pub(crate) reads: BTreeMap<ReqId, StrongRead>,
    pub(crate) eventual: BTreeMap<ReqId, EventualOp>,
    pub(crate) queries: BTreeMap<ReqId, QueryOwner>,
    pub(crate) combiner: combine::Combiner,
    /// Commits of blind transactions, by path (protocol v2).
    pub(crate) paths: CommitPaths,
}

/// How many blind transactions this coordinator committed on each path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitPaths {
    /// Every replica prepared: one round trip, no register.
    pub fast: u64,
    /// A quorum prepared: `Decide` at the home replicas.
    pub classic: u64,
}

impl CoordinatorState {
    pub(crate) fn in_flight(&self) -> usize {
        self.txns.len()
            + self.combiner.followers()
            + self.reads.len()
            + self.eventual.values().filter(|e| !e.answered()).count()
    }
}

/// The replica ring of `partition` (exactly RF members), or `Unavailable`
/// when the ring cannot place it or the members gossip reports down leave
/// less than a quorum of it.
pub(super) fn reachable_ring(
    view: &crate::membership::View,
    partition: &PartitionId,
) -> Result<Vec<NodeId>, ClientError> {
    let replicas = view.replicas(partition);
    let mut reachable: Votes = Votes::new(replicas.clone());
    for member in &replicas {
        if view.is_down(*member) {
            reachable.refuse(*member, Nay::Retryable);
        }
    }
    if reachable.lost() {
        return Err(ClientError::Unavailable {
            replicas: replicas.len(),
            partition: partition.clone(),
            missing: replicas
                .iter()
                .filter(|n| view.is_down(**n))
                .map(|n| n.0)
                .collect(),
            needed: view.quorum_of(partition),
        });
    }
    Ok(replicas)
}

impl<E: Engine> TxnNode<E> {
    pub(crate) fn start_request(&mut self, client: ClientId, req: Request) {
        if let Err(e) = self.route_request(client, req) {
            self.reply(client, Response::Error(e));
        }
    }

    fn route_request(&mut self, client: ClientId, req: Request) -> Result<(), ClientError> {
        let first = match &req {
            Request::Get { key, .. } | Request::Put { key, .. } | Request::Delete { key, .. } => {
                key.clone()
            }
            Request::Txn { ops } => ops
                .first()
                .map(|op| op.key().clone())
                .ok_or_else(|| bad("a transaction needs at least one operation"))?,
        };
        if let Request::Put {
            ttl_ms: Some(ttl), ..
        } = &req
        {
            check_ttl(*ttl).map_err(|reason| bad(&reason))?;
        }
        let view = &self.view;
        let consistency = view.policies.get(&first.namespace).consistency;
        match (consistency, req) {
            (Consistency::Strong, Request::Get { key, .. }) => self.start_strong_read(client, key),
            (
                Consistency::Strong,
                Request::Put {
                    key, value, ttl_ms, ..
                },
            ) => {
                let op = match ttl_ms {
                    Some(ttl) => Op::PutTtl(key, value, ttl),
                    None => Op::Put(key, value),
                };
                self.start_single_write(client, op)
            }
            (Consistency::Strong, Request::Delete { key, .. }) => {
                self.start_single_write(client, Op::Delete(key))
            }
            (Consistency::Strong, Request::Txn { ops }) => {
                self.check_txn_ops(&ops)?;
                self.start_txn(client, ReplyKind::Txn, ops)
            }
            (Consistency::Eventual, Request::Get { key, level }) => {
                self.start_eventual_read(client, key, level)
            }
            (
                Consistency::Eventual,
                Request::Put {
                    key,
                    value,
                    level,
                    ttl_ms,
                },
            ) => self.start_eventual_write(client, key, Some(value), ttl_ms, level),
            (Consistency::Eventual, Request::Delete { key, level }) => {
                self.start_eventual_write(client, key, None, None, level)
            }
            (Consistency::Eventual, Request::Txn { .. }) => Err(bad(&format!(
                "namespace {} is eventual: transactions need a strong namespace",
                first.namespace
            ))),
        }
    }

    fn check_txn_ops(&self, ops: &[Op]) -> Result<(), ClientError> {
        if ops.len() > TXN_OPS_MAX {
            return Err(bad(&format!(
                "transaction has {} operations: at most {TXN_OPS_MAX} allowed",
                ops.len()
            )));
        }
        let view = &self.view;
        for op in ops {
            let ns = &op.key().namespace;
            if view.policies.get(ns).consistency != Consistency::Strong {
                return Err(bad(&format!(
                    "key {} is in eventual namespace {ns}: a transaction may not span strong and eventual namespaces",
                    op.key()
                )));
            }
            if let Op::PutTtl(_, _, ttl) = op {
                check_ttl(*ttl).map_err(|reason| bad(&reason))?;
            }
            if let Op::AssertRange(range) = op {
                check_range_assert(range, view.policies.get(ns).partition_level)?;
            }
        }
        Ok(())
    }

    pub(crate) fn coordinator_tick(&mut self) {
        self.txn_tick();
        self.read_tick();
        self.eventual_tick();
    }

    pub(crate) fn on_decision_status(
        &mut self,
        from: NodeId,
        req: ReqId,
        status: Option<RegisterStatus>,
    ) {
        match self.coord.queries.get(&req).copied() {
            Some(QueryOwner::Txn(txn, attempt)) => {
                self.txn_on_decision_status(txn, attempt, status)
            }
            Some(QueryOwner::Read(read)) => self.read_on_decision_status(read, req, from, status),
            None => {}
        }
    }

    pub(crate) fn on_read_reply(
        &mut self,
        from: NodeId,
        req: ReqId,
        value: Option<crate::types::Versioned>,
        locks: Vec<crate::message::LockInfo>,
    ) {
        if self.coord.reads.contains_key(&req) {
            self.read_on_reply(from, req, value, locks);
        } else if self.coord.eventual.contains_key(&req) {
            self.eventual_on_read_reply(from, req, value);
        }
    }

    pub(crate) fn on_stored(&mut self, from: NodeId, req: ReqId) {
        if self.on_hint_stored(req) {
            return;
        }
        if self.coord.reads.contains_key(&req) {
            self.read_on_stored(from, req);
        } else if self.coord.eventual.contains_key(&req) {
            self.eventual_on_stored(from, req);
        }
    }

    pub(crate) fn on_refused(&mut self, from: NodeId, req: ReqId, reason: Refusal) {
        if let Some(owner) = self.coord.queries.get(&req).copied() {
            // A `QueryDecision` refused: only "forgotten" says something
            // (the holder is over everywhere); a transaction learning its
            // own outcome is never below the watermark (it holds it back).
            if let (QueryOwner::Read(read), Refusal::Forgotten { .. }) = (owner, &reason) {
                self.read_on_forgotten(read, req);
            }
            return;
        }
        if self.coord.reads.contains_key(&req) {
            self.read_on_refused(from, req, reason);
        } else if self.coord.eventual.contains_key(&req) {
            self.eventual_on_refused(from, req, reason);
        }
    }
}

/// A `BadRequest` with this reason.
/// Refuses a range a replica ring cannot lock as one: one whose table is
/// spread over the cluster, one that expects too many records, or
/// expected records out of order or outside the range.
fn check_range_assert(range: &RangeAssert, level: PartitionLevel) -> Result<(), ClientError> {
    let table = format!(
        "{}/{}/{}",
        range.start.namespace, range.start.database, range.start.table
    );
    if level == PartitionLevel::Record {
        return Err(bad(&format!(
            "range of {table}: namespace {} has partition level record, so a table's records are spread over the cluster and a range read cannot be locked; range reads (scans, index lookups) need partition level database or table",
            range.start.namespace
        )));
    }
    if range.expect.len() > RANGE_ASSERT_RECORDS_MAX {
        return Err(bad(&format!(
            "range of {table} expects {} records: at most {RANGE_ASSERT_RECORDS_MAX} allowed",
            range.expect.len()
        )));
    }
    let in_order = range.expect.windows(2).all(|w| w[0].0 < w[1].0);
    if !in_order || !range.expect.iter().all(|(id, _)| range.contains_id(id)) {
        return Err(bad(&format!(
            "range of {table}: the expected records must lie in the range, ids strictly increasing"
        )));
    }
    Ok(())
}

pub(crate) fn bad(reason: &str) -> ClientError {
    ClientError::BadRequest {
        reason: reason.to_string(),
    }
}

/// The client-visible key for an error, when only the storage key is known.
pub(crate) fn key_of(storage_key: &[u8]) -> Key {
    match crate::membership::RecordKey::decode(storage_key) {
        Ok(rk) => Key {
            namespace: rk.namespace,
            database: rk.database,
            table: rk.table,
            id: rk.id,
        },
        Err(_) => Key::new("", "", "", storage_key.to_vec()),
    }
}
