//! Strong transactions at the coordinator (DESIGN.md 6.1): fetch-and-lock
//! at a quorum of every partition, execute, decide at the home replicas with
//! ballot `(0, coordinator)`, apply. Retries are new attempts that keep the
//! transaction id (its age) after a jittered backoff.

use crate::types::ver;
use crate::types::version;
use crate::types::KeyExt;
use std::collections::{BTreeMap, BTreeSet};

use zerodb_storage::Engine;

use super::execute::{execute, RangeReads, ReadClocks};
use super::key_of;
use crate::error::{ClientError, Refusal};
use crate::membership::NodeId;
use crate::message::{LockKey, LockRange, LockRead, Message, RangeEntry};
use crate::node::TxnNode;
use crate::quorum::{Nay, PaxosVotes, Votes};
use crate::request::{ClientId, Op, OpResult, Response};
use crate::types::{
    Attempt, Ballot, Decision, Epoch, LockMode, PartitionId, TxnId, Versioned, Write,
};

/// How the answer is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyKind {
    /// `Response::Committed` (a `Txn` request).
    Txn,
    /// `Response::Written` (a strong `Put`/`Delete`).
    Written,
}

/// What one replica read under the locks it granted.
#[derive(Clone, Debug, Default)]
pub(crate) struct Granted {
    /// `(storage key, record)` per key; `None`: never written.
    pub(crate) values: Vec<(Vec<u8>, Option<Versioned>)>,
    /// Per range of the request, every record in it (tombstones included).
    pub(crate) ranges: Vec<Vec<RangeEntry>>,
    /// The replica granted the locks itself (not from a copy).
    pub(crate) self_granted: bool,
    /// The replica's clock when it read the values.
    pub(crate) clock_ms: u64,
}

/// Grants so far, by replica.
pub(super) type Grants = BTreeMap<NodeId, Granted>;

impl TxnRun {
    /// Whether `decision` can be this attempt's outcome: an abort, or a
    /// commit of the writes and version it proposed (any commit while it
    /// has proposed nothing yet: a blind attempt's prepares carry them).
    pub(super) fn proposed(&self, decision: &Decision) -> bool {
        let (Phase::Deciding { value, .. } | Phase::Learning { value, .. }) = &self.phase else {
            return true;
        };
        match (value, decision) {
            (
                Decision::Committed {
                    version, writes, ..
                },
                Decision::Committed {
                    version: decided_version,
                    writes: decided_writes,
                    ..
                },
            ) => version == decided_version && writes == decided_writes,
            _ => true,
        }
    }
}

impl Phase {
    /// Locking with no answer yet, at the replica rings of `partitions`.
    pub(super) fn locking(partitions: &BTreeMap<PartitionId, Vec<NodeId>>) -> Phase {
        Phase::Locking {
            granted: Grants::new(),
            votes: no_votes(partitions),
        }
    }
}

/// Empty votes at the replica ring of each partition.
fn no_votes(partitions: &BTreeMap<PartitionId, Vec<NodeId>>) -> BTreeMap<PartitionId, Votes<bool>> {
    partitions
        .iter()
        .map(|(p, ring)| (p.clone(), Votes::new(ring.clone())))
        .collect()
}

/// A range of the attempt: the operation that asserts it and its lock.
#[derive(Clone, Debug)]
pub(super) struct AttemptRange {
    /// Index of the `AssertRange` operation.
    pub(super) op: usize,
    pub(super) lock: LockRange,
}

/// Where an attempt stands.
#[derive(Clone, Debug)]
pub(super) enum Phase {
    /// LockReads sent; grants and failures so far, and the replicas that
    /// refused the attempt durably (blind attempts: evidence for `Aborted`).
    Locking {
        /// What each replica granted (read values, range records).
        granted: Grants,
        /// Per partition, its replicas' answers; a yes carries whether the
        /// replica prepared by itself (the fast path's evidence).
        votes: BTreeMap<PartitionId, Votes<bool>>,
    },
    /// Waiting to retry as a new attempt.
    Backoff { until_ms: u64 },
    /// `Decide` sent with ballot `(0, me)`; acceptors so far. From here on
    /// the attempt is never aborted by the coordinator.
    Deciding {
        value: Decision,
        results: Vec<OpResult>,
        accepted: PaxosVotes,
    },
    /// The accept round failed or timed out: asking the home replicas for
    /// the outcome.
    Learning {
        value: Decision,
        results: Vec<OpResult>,
        accepted: PaxosVotes,
        next_query_ms: u64,
    },
}

/// One transaction in flight.
#[derive(Clone, Debug)]
pub(crate) struct TxnRun {
    pub(super) client: ClientId,
    pub(super) kind: ReplyKind,
    pub(super) ops: Vec<Op>,
    pub(super) txn: TxnId,
    pub(super) attempt: Attempt,
    pub(super) epoch: Epoch,
    pub(super) home: PartitionId,
    /// Partition -> replica ring.
    pub(super) partitions: BTreeMap<PartitionId, Vec<NodeId>>,
    /// Storage key -> partition.
    pub(super) key_partition: BTreeMap<Vec<u8>, PartitionId>,
    /// The share-locked ranges.
    pub(super) ranges: Vec<AttemptRange>,
    /// Per node, the positions in `ranges` of the ranges it was asked to
    /// lock, in the order it answers them.
    pub(super) range_sends: BTreeMap<NodeId, Vec<usize>>,
    /// Nodes sent a LockRead this attempt.
    pub(super) nodes: BTreeSet<NodeId>,
    /// A blind attempt's LockReads by node, to send again when lost.
    pub(super) lock_reads: BTreeMap<NodeId, LockRead>,
    pub(super) phase: Phase,
    pub(super) phase_started_ms: u64,
    pub(super) deadline_ms: u64,
    pub(super) last_busy: Option<(Vec<u8>, TxnId)>,
    /// The attempt's blind plan (protocol v2), if it is blind.
    pub(super) blind: Option<super::blind::BlindPlan>,
    /// When the attempt first held a quorum of prepares (blind only).
    pub(super) quorum_since_ms: Option<u64>,
    /// A replica refused the id as below its low: the next attempt starts
    /// over under a fresh id.
    pub(super) fresh_id: bool,
    /// A replica refused the attempt for another epoch (its epoch).
    pub(super) wrong_epoch: Option<Epoch>,
}

impl<E: Engine> TxnNode<E> {
    pub(crate) fn start_txn(
        &mut self,
        client: ClientId,
        kind: ReplyKind,
        ops: Vec<Op>,
    ) -> Result<(), ClientError> {
        let txn = self.fresh_txn_id();
        let home = self.view.partition_of(ops[0].key());
        let mut run = TxnRun {
            client,
            kind,
            ops,
            txn,
            attempt: 0,
            epoch: Epoch::default(),
            home,
            partitions: BTreeMap::new(),
            key_partition: BTreeMap::new(),
            ranges: Vec::new(),
            range_sends: BTreeMap::new(),
            nodes: BTreeSet::new(),
            lock_reads: BTreeMap::new(),
            phase: Phase::Backoff { until_ms: 0 },
            phase_started_ms: self.now_ms,
            deadline_ms: self.now_ms + self.options.request_timeout_ms,
            last_busy: None,
            blind: None,
            quorum_since_ms: None,
            fresh_id: false,
            wrong_epoch: None,
        };
        self.begin_attempt(&mut run)?;
        self.coord.txns.insert(txn, run);
        Ok(())
    }

    /// Plans a new attempt on the current view and sends its LockReads.
    pub(super) fn begin_attempt(&mut self, run: &mut TxnRun) -> Result<(), ClientError> {
        let view = &self.view;
        run.attempt += 1;
        run.epoch = view.epoch();
        run.partitions.clear();
        run.key_partition.clear();
        run.nodes.clear();
        run.lock_reads.clear();
        run.ranges.clear();
        run.range_sends.clear();
        let mut modes: BTreeMap<Vec<u8>, LockMode> = BTreeMap::new();
        for (index, op) in run.ops.iter().enumerate() {
            let partition = view.partition_of(op.key());
            if let Op::AssertRange(range) = op {
                run.ranges.push(AttemptRange {
                    op: index,
                    lock: LockRange {
                        start: range.start.storage_key(),
                        end: range.end_key().storage_key(),
                        partition: partition.clone(),
                    },
                });
            } else {
                let skey = op.key().storage_key();
                let mode = if op.writes() {
                    LockMode::Exclusive
                } else {
                    LockMode::Shared
                };
                let entry = modes.entry(skey.clone()).or_insert(mode);
                if mode == LockMode::Exclusive {
                    *entry = mode;
                }
                run.key_partition.insert(skey, partition.clone());
            }
            if let std::collections::btree_map::Entry::Vacant(slot) =
                run.partitions.entry(partition.clone())
            {
                slot.insert(super::reachable_ring(view, &partition)?);
            }
        }
        let mut per_node: BTreeMap<NodeId, (Vec<LockKey>, Vec<LockRange>)> = BTreeMap::new();
        for (skey, partition) in &run.key_partition {
            for node in &run.partitions[partition] {
                if view.is_down(*node) {
                    continue;
                }
                per_node.entry(*node).or_default().0.push(LockKey {
                    key: skey.clone(),
                    partition: partition.clone(),
                    mode: modes[skey],
                });
            }
        }
        for (position, range) in run.ranges.iter().enumerate() {
            for node in &run.partitions[&range.lock.partition] {
                if !view.is_down(*node) {
                    per_node
                        .entry(*node)
                        .or_default()
                        .1
                        .push(range.lock.clone());
                    run.range_sends.entry(*node).or_default().push(position);
                }
            }
        }
        run.phase = Phase::locking(&run.partitions);
        run.phase_started_ms = self.now_ms;
        run.quorum_since_ms = None;
        run.blind = self.plan_blind(run);
        let blind = run.blind.as_ref().map(|plan| plan.writes.clone());
        for (node, (keys, ranges)) in per_node {
            run.nodes.insert(node);
            let req = LockRead {
                txn: run.txn,
                attempt: run.attempt,
                home: run.home.clone(),
                epoch: run.epoch,
                lease_ms: self.options.lease_ms,
                keys,
                ranges,
                blind: blind.clone(),
            };
            if blind.is_some() {
                run.lock_reads.insert(node, req.clone());
            }
            self.send(node, Message::LockRead(req));
        }
        Ok(())
    }

    /// Sends a blind attempt's LockReads to `nodes` again.
    pub(super) fn resend_lock_reads(&mut self, run: &TxnRun, nodes: &BTreeSet<NodeId>) {
        for node in nodes {
            if let Some(req) = run.lock_reads.get(node) {
                self.send(*node, Message::LockRead(req.clone()));
            }
        }
    }

    /// Runs `f` on the transaction if it is in flight at `attempt`, then
    /// puts it back unless `f` finished it (returned `false`).
    pub(super) fn with_run(
        &mut self,
        txn: TxnId,
        attempt: Option<Attempt>,
        f: impl FnOnce(&mut Self, &mut TxnRun) -> bool,
    ) {
        let Some(mut run) = self.coord.txns.remove(&txn) else {
            return;
        };
        if attempt.is_some_and(|a| a != run.attempt) {
            self.coord.txns.insert(txn, run);
            return;
        }
        if f(self, &mut run) {
            self.coord.txns.insert(txn, run);
        }
    }

    pub(crate) fn on_lock_granted(
        &mut self,
        from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        answer: Granted,
    ) {
        self.with_run(txn, Some(attempt), |node, run| {
            let Phase::Locking { granted, votes } = &mut run.phase else {
                return true;
            };
            let mut member = false;
            for partition in votes.values_mut() {
                member |= partition.add(from, answer.self_granted);
            }
            if member {
                granted.insert(from, answer);
            }
            node.lock_progress(run)
        });
    }

    pub(crate) fn on_lock_busy(
        &mut self,
        from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        key: Vec<u8>,
        holder: TxnId,
        durable: bool,
    ) {
        self.with_run(txn, Some(attempt), |node, run| {
            let Phase::Locking { votes, .. } = &mut run.phase else {
                return true;
            };
            let nay = if durable {
                Nay::Durable
            } else {
                Nay::Retryable
            };
            for partition in votes.values_mut() {
                partition.refuse(from, nay);
            }
            if holder != run.txn {
                run.last_busy = Some((key, holder));
            }
            node.lock_progress(run)
        });
    }

    pub(crate) fn on_lock_refused(
        &mut self,
        from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        reason: Refusal,
        durable: bool,
    ) {
        self.with_run(txn, Some(attempt), |node, run| {
            if run.blind.is_some() {
                return node.blind_on_refused(run, from, reason, durable);
            }
            let Phase::Locking { votes, .. } = &mut run.phase else {
                return true;
            };
            if let Refusal::TooOld { low } = reason {
                // The id is below a replica's reported low (this
                // coordinator's clock lags, or it lost its disk): start over
                // under a fresh id above it.
                node.hlc.observe(version(low));
                node.abort_attempt(run);
                if let Err(e) = node.start_txn(run.client, run.kind, run.ops.clone()) {
                    node.reply(run.client, Response::Error(e));
                }
                return false;
            }
            if let Refusal::RangeTooLarge { records_max } = reason {
                node.abort_attempt(run);
                let error = super::bad(&format!(
                    "a range the transaction reads holds more than {records_max} records (deleted ones included): read a narrower range"
                ));
                node.reply(run.client, Response::Error(error));
                return false;
            }
            if let Refusal::WrongEpoch { replica } = reason {
                node.abort_attempt(run);
                let error = ClientError::WrongEpoch {
                    coordinator: run.epoch,
                    replica,
                };
                node.reply(run.client, Response::Error(error));
                return false;
            }
            let nay = if durable { Nay::Durable } else { Nay::Retryable };
            for partition in votes.values_mut() {
                partition.refuse(from, nay);
            }
            node.lock_progress(run)
        });
    }

    /// Decides what the grants and failures so far allow. Returns whether
    /// the run stays in flight.
    pub(super) fn lock_progress(&mut self, run: &mut TxnRun) -> bool {
        if run.blind.is_some() {
            return self.blind_progress(run);
        }
        let Phase::Locking { votes, .. } = &run.phase else {
            return true;
        };
        if votes.values().any(Votes::lost) {
            self.abort_attempt(run);
            return self.retry_later(run);
        }
        if votes.values().all(Votes::reached) {
            return self.execute_and_decide(run);
        }
        true
    }

    fn execute_and_decide(&mut self, run: &mut TxnRun) -> bool {
        let Phase::Locking { granted, .. } = &run.phase else {
            return true;
        };
        // The latest value of a key is the highest version among the grants
        // of its partition's replicas (lock quorums intersect).
        let mut reads: BTreeMap<Vec<u8>, Option<Versioned>> = BTreeMap::new();
        let mut clocks = ReadClocks::new();
        for (skey, partition) in &run.key_partition {
            let replicas = &run.partitions[partition];
            let mut best: Option<Versioned> = None;
            let mut clock = u64::MAX;
            for node in replicas {
                let Some(answer) = granted.get(node) else {
                    continue;
                };
                clock = clock.min(answer.clock_ms);
                for (k, v) in &answer.values {
                    if k == skey {
                        if let Some(v) = v {
                            if best.as_ref().is_none_or(|b| b.version < v.version) {
                                best = Some(v.clone());
                            }
                        }
                    }
                }
            }
            if let Some(b) = &best {
                self.hlc.observe(version(b.version));
            }
            reads.insert(skey.clone(), best);
            if self.options.unsafe_expire_on_coordinator_clock {
                clock = self.now_ms;
            }
            clocks.insert(skey.clone(), clock);
        }
        let ranges = merge_ranges(run, granted);
        for records in ranges.values() {
            for (seen, _) in records.values() {
                self.hlc.observe(version(*seen));
            }
        }
        let version = ver(self.timestamp());
        match execute(&run.ops, &reads, &clocks, &ranges, version) {
            Err(error) => {
                self.abort_attempt(run);
                self.reply(run.client, Response::Error(error));
                false
            }
            Ok(done) => {
                let writes = done
                    .writes
                    .into_iter()
                    .map(|(key, staged)| Write {
                        partition: run.key_partition[&key].clone(),
                        key,
                        value: staged.value,
                        expires_at_ms: staged.expires_at_ms,
                    })
                    .collect();
                let value = Decision::Committed {
                    version,
                    writes,
                    participants: run.partitions.keys().cloned().collect(),
                };
                self.send_decide(run, &value);
                run.phase = Phase::Deciding {
                    value,
                    results: done.results,
                    accepted: PaxosVotes::new(run.partitions[&run.home].clone()),
                };
                run.phase_started_ms = self.now_ms;
                true
            }
        }
    }

    pub(super) fn own_ballot(&self) -> Ballot {
        Ballot {
            round: 0,
            node: self.id.0,
            life: 0,
        }
    }

    pub(super) fn send_decide(&mut self, run: &TxnRun, value: &Decision) {
        let ballot = self.own_ballot();
        for to in run.partitions[&run.home].clone() {
            self.send(
                to,
                Message::Decide {
                    txn: run.txn,
                    attempt: run.attempt,
                    ballot,
                    value: value.clone(),
                    epoch: run.epoch,
                    home: run.home.clone(),
                },
            );
        }
    }

    /// Releases an attempt that never proposed a commit. Only `Aborted` can
    /// ever be decided for it (no value was proposed with the coordinator's
    /// ballot, so a recovery can only propose `Aborted`), which is why the
    /// coordinator may announce it without a Paxos round.
    pub(super) fn abort_attempt(&mut self, run: &TxnRun) {
        debug_assert!(matches!(run.phase, Phase::Locking { .. }));
        // A blind attempt ends only through its register (DESIGN.md 6.1
        // step 4): it may have committed on the fast path.
        assert!(
            run.blind.is_none(),
            "txn {} attempt {}: a blind attempt aborted without the register",
            run.txn,
            run.attempt
        );
        for to in run.nodes.clone() {
            self.send(
                to,
                Message::Apply {
                    txn: run.txn,
                    attempt: run.attempt,
                    home: run.home.clone(),
                    decision: Decision::Aborted,
                },
            );
        }
    }

    /// Schedules a new attempt, or gives up after `attempts_max` (a blind
    /// transaction that lost a lock conflict: at its deadline only).
    ///
    /// A blind transaction (puts and deletes only) keeps retrying until its
    /// deadline: every attempt keeps the
    /// transaction's id, so wait-die makes it the oldest contender of its
    /// keys in time, and an older requester waits instead of dying. A
    /// conflict would tell its client nothing it could act on but to send
    /// the same writes again (issue 15: no aborts a client sees on blind
    /// writes of hot keys).
    pub(super) fn retry_later(&mut self, run: &mut TxnRun) -> bool {
        let blind_conflict = is_blind(&run.ops);
        let attempts_spent = run.attempt >= self.options.attempts_max && !blind_conflict;
        if attempts_spent || self.now_ms >= run.deadline_ms {
            let error = match &run.last_busy {
                Some((key, holder)) => ClientError::Conflict {
                    key: key_of(key),
                    holder: *holder,
                },
                None => self.unavailable_error(run),
            };
            self.reply(run.client, Response::Error(error));
            return false;
        }
        let wait = self.backoff_ms(run.attempt);
        run.phase = Phase::Backoff {
            until_ms: self.now_ms + wait,
        };
        run.phase_started_ms = self.now_ms;
        true
    }

    fn unavailable_error(&self, run: &TxnRun) -> ClientError {
        let unanswered;
        let votes = match &run.phase {
            Phase::Locking { votes, .. } => votes,
            _ => {
                unanswered = no_votes(&run.partitions);
                &unanswered
            }
        };
        for (partition, votes) in votes {
            if !votes.reached() {
                return ClientError::Unavailable {
                    partition: partition.clone(),
                    missing: votes.missing().map(|n| n.0).collect(),
                    needed: votes.needed(),
                    replicas: votes.ring().len(),
                };
            }
        }
        ClientError::Timeout {
            outcome_unknown: false,
        }
    }
}

/// The records of each range of the attempt, by operation index: per
/// storage key the highest version among the grants of the range's
/// replicas (lock quorums intersect, as for keys), tombstones included.
fn merge_ranges(run: &TxnRun, granted: &Grants) -> RangeReads {
    let mut merged = RangeReads::new();
    for range in &run.ranges {
        merged.entry(range.op).or_default();
    }
    for (node, answer) in granted {
        let Some(positions) = run.range_sends.get(node) else {
            continue;
        };
        for (position, records) in positions.iter().zip(&answer.ranges) {
            let best = merged.entry(run.ranges[*position].op).or_default();
            for entry in records {
                let newer = best
                    .get(&entry.key)
                    .is_none_or(|(version, _)| *version < entry.version);
                if newer {
                    best.insert(entry.key.clone(), (entry.version, entry.live));
                }
            }
        }
    }
    merged
}

/// Whether the transaction only writes: no get, incr or assert, so its
/// writes are known before anything is read (DESIGN.md 6.1).
pub(super) fn is_blind(ops: &[Op]) -> bool {
    ops.iter()
        .all(|op| matches!(op, Op::Put(..) | Op::PutTtl(..) | Op::Delete(_)))
}
