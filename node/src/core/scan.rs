//! Scans: the coordinator asks every other member for the records of the
//! range it holds ([`ClientRequest::LocalScan`], one [`Output::Ask`] each)
//! and merges them with its own by version ([`merge_scans`]).
//!
//! A scan is complete when enough nodes answered that every partition has
//! at least one member of each write quorum among them: all members but
//! `rf - quorum` ([`scan_quorum`]). The scan ends when every node asked has
//! answered (or failed), when enough did and only nodes held down when it
//! started are still missing (so one node down within the quorum does not
//! hold every scan until its timer), or when its [`Timer::Ask`] fires
//! ([`SCAN_TIMEOUT_MS`]); with fewer answers than needed the client gets
//! [`ServiceError::ScanIncomplete`]. Not linearizable: a transaction
//! committed but not yet applied everywhere may be missed.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use zerodb_ring::{NodeId, PartitionLevel, RecordKey};
use zerodb_storage::{Direction, Engine, ScanRange, Space};
use zerodb_txn::{ClientId, Versioned};

use super::forward::Asked;
use super::metadata::Caller;
use super::{AskId, NodeCore, Output, Timer};
use crate::api::{ClientRequest, ClientResponse, ScanEntry, ScanQuery, ServiceError};

/// How long a scan waits for the other nodes' local scans. A local scan is
/// one bounded read of a node's engine: a node that has not answered by
/// then is treated as one that cannot.
pub const SCAN_TIMEOUT_MS: u64 = 5_000;

/// Most records (live and deleted) one local scan reads.
pub const LOCAL_SCAN_RECORDS_MAX: usize = 4 * crate::api::SCAN_LIMIT_MAX as usize;

/// How many of `members` nodes must answer a scan of a namespace with
/// replication factor `rf` for it to be complete: every node but those a
/// write quorum may leave out (`rf - (rf / 2 + 1)`, with `rf` capped at
/// the member count), so that each partition keeps at least one member of
/// every write quorum among the answers.
pub fn scan_quorum(members: usize, rf: usize) -> usize {
    let rf = rf.min(members);
    let tolerated = rf.saturating_sub(rf / 2 + 1);
    members - tolerated
}

/// A scan waiting for the other nodes' answers.
#[derive(Debug)]
pub struct ScanState {
    /// The client waiting for the merged answer.
    client: ClientId,
    /// Most records returned.
    limit: usize,
    /// Answers so far (this node's own first, when its read succeeded).
    answers: Vec<Vec<ScanEntry>>,
    /// Nodes asked that have not answered.
    waiting: BTreeSet<NodeId>,
    /// Nodes held down (by gossip or a failed send) when the scan started:
    /// asked, but not waited for once the scan has enough answers.
    held_down: BTreeSet<NodeId>,
    /// Answers needed for a complete scan ([`scan_quorum`]).
    needed: usize,
    /// Members of the cluster.
    members: usize,
    /// In an eventual namespace, the gathering node's clock when the scan
    /// started: records whose TTL ran out by then are left out.
    hide_expired_at: Option<u64>,
}

impl ScanState {
    /// Takes `from`'s answer; returns whether the scan is now done
    /// ([`ScanState::done`]). An answer from a node not asked, or a second
    /// one, is ignored.
    pub(super) fn answered(&mut self, from: NodeId, answer: Option<ClientResponse>) -> bool {
        if !self.waiting.remove(&from) {
            return self.done();
        }
        match answer {
            Some(ClientResponse::Scan(entries)) => self.answers.push(entries),
            Some(other) => tracing::warn!(peer = %from, ?other, "unexpected local scan answer"),
            None => tracing::debug!(peer = %from, "a node did not answer a scan"),
        }
        self.done()
    }

    /// Whether waiting longer cannot help: every node asked answered, or
    /// the answers are enough and only nodes held down are missing.
    fn done(&self) -> bool {
        self.waiting.is_empty()
            || (self.answers.len() >= self.needed && self.waiting.is_subset(&self.held_down))
    }

    /// The client's answer from what came.
    fn verdict(self) -> ClientResponse {
        if self.answers.len() < self.needed {
            return ClientResponse::Error(ServiceError::ScanIncomplete {
                answered: self.answers.len() as u32,
                needed: self.needed as u32,
                members: self.members as u32,
            });
        }
        let mut merged = merge_scans(self.answers, usize::MAX);
        if let Some(now_ms) = self.hide_expired_at {
            merged.retain(|entry| !entry.value.expired_at(now_ms));
        }
        merged.truncate(self.limit);
        ClientResponse::Scan(merged)
    }
}

impl<E: Engine> NodeCore<E> {
    /// A client's scan: checks that `caller` may read the namespace, reads
    /// this node's records and asks every other member for theirs.
    pub(super) fn start_scan(
        &mut self,
        now_ms: u64,
        client: ClientId,
        caller: &Caller,
        query: ScanQuery,
    ) {
        if let Err(reason) = self.check_read(caller, &query.namespace) {
            let response = ClientResponse::Error(ServiceError::Refused { reason });
            self.outbox.push(Output::Reply { client, response });
            return;
        }
        let members = self.cluster.members.len();
        let needed = scan_quorum(members, self.replication_factor_of(&query.namespace));
        let mut answers = Vec::new();
        match self.local_scan(&query) {
            Ok(entries) => answers.push(entries),
            Err(error) => tracing::warn!(node = %self.id, %error, "local scan failed"),
        }
        let waiting: BTreeSet<NodeId> = self
            .cluster
            .members
            .iter()
            .map(|member| NodeId(member.id))
            .filter(|node| *node != self.id)
            .collect();
        let held_down = waiting
            .iter()
            .copied()
            .filter(|node| self.is_down(now_ms, *node))
            .collect();
        let scan = ScanState {
            client,
            limit: query.limit.min(crate::api::SCAN_LIMIT_MAX) as usize,
            answers,
            waiting,
            held_down,
            needed,
            members,
            hide_expired_at: (self.policies.get(&query.namespace).consistency
                == zerodb_txn::membership::Consistency::Eventual)
                .then_some(now_ms),
        };
        if scan.done() {
            let response = scan.verdict();
            self.outbox.push(Output::Reply { client, response });
            return;
        }
        let id = self.ask_id();
        for &to in &scan.waiting {
            self.outbox.push(Output::Ask {
                to,
                id,
                request: ClientRequest::LocalScan(query.clone()),
            });
        }
        self.outbox.push(Output::SetTimer {
            at_ms: now_ms + SCAN_TIMEOUT_MS,
            timer: Timer::Ask(id),
        });
        self.asks.insert(id, Asked::Scan(scan));
    }

    /// Answers the client of scan `id` with what came.
    pub(super) fn finish_scan(&mut self, id: AskId) {
        if let Some(Asked::Scan(scan)) = self.asks.remove(&id) {
            let client = scan.client;
            let response = scan.verdict();
            self.outbox.push(Output::Reply { client, response });
        }
    }

    /// The records of a table this node holds, tombstones included (a scan
    /// merges every node's answer by version).
    pub fn local_scan(&mut self, query: &ScanQuery) -> Result<Vec<ScanEntry>, ServiceError> {
        let table = RecordKey::new(&query.namespace, &query.database, &query.table, Vec::new());
        let prefix = table.partition_key(PartitionLevel::Table);
        let start = RecordKey::new(
            &query.namespace,
            &query.database,
            &query.table,
            query.start.clone(),
        )
        .encode();
        let mut range = ScanRange::prefix(Space::Data, &prefix);
        range.start = Bound::Included(start);
        if let Some(end) = &query.end {
            let end = RecordKey::new(&query.namespace, &query.database, &query.table, end.clone());
            range.end = Bound::Excluded(end.encode());
        }
        let limit = query.limit.min(crate::api::SCAN_LIMIT_MAX) as usize;
        // Up to `limit` live records, with the tombstones met on the way
        // (the merge needs them to drop stale live copies of other nodes),
        // at most LOCAL_SCAN_RECORDS_MAX records in all.
        let mut entries = Vec::new();
        let mut live = 0;
        while live < limit && entries.len() < LOCAL_SCAN_RECORDS_MAX {
            let page = (limit - live).min(LOCAL_SCAN_RECORDS_MAX - entries.len());
            let records = self
                .txn
                .engine_mut()
                .scan(&range, Direction::Forward, page)
                .map_err(|error| ServiceError::Storage(error.to_string()))?;
            let last_page = records.len() < page;
            if let Some((last, _)) = records.last() {
                range.start = Bound::Excluded(last.clone());
            }
            for (key, record) in records {
                let Ok(key) = RecordKey::decode(&key) else {
                    continue;
                };
                live += usize::from(record.value.is_some());
                entries.push(ScanEntry {
                    id: key.id,
                    value: zerodb_txn::versioned(record),
                });
            }
            if last_page {
                break;
            }
        }
        Ok(entries)
    }
}

/// Merges the local scans of several nodes: per id the highest version
/// wins; tombstones are dropped; at most `limit` records in id order.
pub fn merge_scans(answers: Vec<Vec<ScanEntry>>, limit: usize) -> Vec<ScanEntry> {
    let mut best: BTreeMap<Vec<u8>, Versioned> = BTreeMap::new();
    for entry in answers.into_iter().flatten() {
        match best.get(&entry.id) {
            Some(current) if current.version >= entry.value.version => {}
            _ => {
                best.insert(entry.id, entry.value);
            }
        }
    }
    best.into_iter()
        .filter(|(_, value)| value.value.is_some())
        .take(limit)
        .map(|(id, value)| ScanEntry { id, value })
        .collect()
}
