//! Strong transactions at the coordinator (DESIGN.md 6.1): fetch-and-lock
//! at a quorum of every partition, execute, decide at the home replicas with
//! ballot `(0, coordinator)`, apply. Retries are new attempts that keep the
//! transaction id (its age) after a jittered backoff.

use std::collections::{BTreeMap, BTreeSet};

use zerodb_storage::Engine;

use super::execute::execute;
use super::{key_of, QueryOwner};
use crate::error::{ClientError, Refusal};
use crate::membership::NodeId;
use crate::message::{LockKey, LockRead, Message, RegisterStatus};
use crate::node::TxnNode;
use crate::request::{ClientId, Op, OpResult, Response};
use crate::types::{
    Attempt, Ballot, Decision, Epoch, LockMode, PartitionId, TxnId, Ver, Versioned, Write,
};

/// How the answer is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyKind {
    /// `Response::Committed` (a `Txn` request).
    Txn,
    /// `Response::Written` (a strong `Put`/`Delete`).
    Written,
}

/// Grants so far: node -> `(storage key, record)` it read under lock.
type Grants = BTreeMap<NodeId, Vec<(Vec<u8>, Option<Versioned>)>>;

/// Where an attempt stands.
#[derive(Clone, Debug)]
enum Phase {
    /// LockReads sent; grants and failures so far.
    Locking {
        granted: Grants,
        failed: BTreeSet<NodeId>,
    },
    /// Waiting to retry as a new attempt.
    Backoff { until_ms: u64 },
    /// `Decide` sent with ballot `(0, me)`; acceptors so far. From here on
    /// the attempt is never aborted by the coordinator.
    Deciding {
        value: Decision,
        results: Vec<OpResult>,
        accepted: BTreeSet<NodeId>,
    },
    /// The accept round failed or timed out: asking the home replicas for
    /// the outcome.
    Learning {
        value: Decision,
        results: Vec<OpResult>,
        accepted: BTreeSet<NodeId>,
        next_query_ms: u64,
    },
}

/// One transaction in flight.
#[derive(Clone, Debug)]
pub(crate) struct TxnRun {
    client: ClientId,
    kind: ReplyKind,
    ops: Vec<Op>,
    txn: TxnId,
    attempt: Attempt,
    epoch: Epoch,
    home: PartitionId,
    /// Partition -> replica ring.
    partitions: BTreeMap<PartitionId, Vec<NodeId>>,
    /// Storage key -> partition.
    key_partition: BTreeMap<Vec<u8>, PartitionId>,
    /// Nodes sent a LockRead this attempt.
    nodes: BTreeSet<NodeId>,
    phase: Phase,
    phase_started_ms: u64,
    deadline_ms: u64,
    last_busy: Option<(Vec<u8>, TxnId)>,
}

impl<E: Engine> TxnNode<E> {
    pub(crate) fn start_txn(
        &mut self,
        client: ClientId,
        kind: ReplyKind,
        ops: Vec<Op>,
    ) -> Result<(), ClientError> {
        let txn = self.fresh_txn_id();
        let home = self
            .view
            .as_ref()
            .map(|v| v.partition_of(ops[0].key()))
            .expect("route_request checked the view");
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
            nodes: BTreeSet::new(),
            phase: Phase::Backoff { until_ms: 0 },
            phase_started_ms: self.now_ms,
            deadline_ms: self.now_ms + self.options.request_timeout_ms,
            last_busy: None,
        };
        self.begin_attempt(&mut run)?;
        self.coord.txns.insert(txn, run);
        Ok(())
    }

    /// Plans a new attempt on the current view and sends its LockReads.
    fn begin_attempt(&mut self, run: &mut TxnRun) -> Result<(), ClientError> {
        let view = self.view.as_ref().expect("requests start only with a view");
        run.attempt += 1;
        run.epoch = view.epoch();
        run.partitions.clear();
        run.key_partition.clear();
        run.nodes.clear();
        let mut modes: BTreeMap<Vec<u8>, LockMode> = BTreeMap::new();
        for op in &run.ops {
            let skey = op.key().storage_key();
            let partition = view.partition_of(op.key());
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
            if let std::collections::btree_map::Entry::Vacant(slot) =
                run.partitions.entry(partition.clone())
            {
                let replicas = view.replicas(&partition);
                let q = view.quorum_of(&partition);
                let down: Vec<u32> = replicas
                    .iter()
                    .filter(|n| view.is_down(**n))
                    .map(|n| n.0)
                    .collect();
                if replicas.is_empty() || replicas.len() - down.len() < q {
                    return Err(ClientError::Unavailable {
                        replicas: replicas.len(),
                        partition,
                        missing: down,
                        needed: q,
                    });
                }
                slot.insert(replicas);
            }
        }
        let mut per_node: BTreeMap<NodeId, Vec<LockKey>> = BTreeMap::new();
        for (skey, partition) in &run.key_partition {
            for node in &run.partitions[partition] {
                if view.is_down(*node) {
                    continue;
                }
                per_node.entry(*node).or_default().push(LockKey {
                    key: skey.clone(),
                    partition: partition.clone(),
                    mode: modes[skey],
                });
            }
        }
        run.phase = Phase::Locking {
            granted: BTreeMap::new(),
            failed: BTreeSet::new(),
        };
        run.phase_started_ms = self.now_ms;
        for (node, keys) in per_node {
            run.nodes.insert(node);
            let msg = Message::LockRead(LockRead {
                txn: run.txn,
                attempt: run.attempt,
                home: run.home.clone(),
                epoch: run.epoch,
                lease_ms: self.options.lease_ms,
                keys,
            });
            self.send(node, msg);
        }
        Ok(())
    }

    /// Runs `f` on the transaction if it is in flight at `attempt`, then
    /// puts it back unless `f` finished it (returned `false`).
    fn with_run(
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
        values: Vec<(Vec<u8>, Option<Versioned>)>,
    ) {
        self.with_run(txn, Some(attempt), |node, run| {
            let Phase::Locking { granted, .. } = &mut run.phase else {
                return true;
            };
            granted.insert(from, values);
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
    ) {
        self.with_run(txn, Some(attempt), |node, run| {
            let Phase::Locking { failed, granted } = &mut run.phase else {
                return true;
            };
            if !granted.contains_key(&from) {
                failed.insert(from);
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
    ) {
        self.with_run(txn, Some(attempt), |node, run| {
            let Phase::Locking { failed, .. } = &mut run.phase else {
                return true;
            };
            if let Refusal::WrongEpoch { replica } = reason {
                node.abort_attempt(run);
                let error = ClientError::WrongEpoch {
                    coordinator: run.epoch,
                    replica,
                };
                node.reply(run.client, Response::Error(error));
                return false;
            }
            failed.insert(from);
            node.lock_progress(run)
        });
    }

    /// Decides what the grants and failures so far allow. Returns whether
    /// the run stays in flight.
    fn lock_progress(&mut self, run: &mut TxnRun) -> bool {
        let Phase::Locking { granted, failed } = &run.phase else {
            return true;
        };
        let view = self.view.as_ref().expect("view");
        let mut all_quorate = true;
        for (partition, replicas) in &run.partitions {
            let q = view.quorum_of(partition);
            let ok = replicas.iter().filter(|n| granted.contains_key(n)).count();
            let bad = replicas.iter().filter(|n| failed.contains(n)).count();
            if replicas.len() - bad < q {
                self.abort_attempt(run);
                return self.retry_later(run);
            }
            all_quorate &= ok >= q;
        }
        if all_quorate {
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
        for (skey, partition) in &run.key_partition {
            let replicas = &run.partitions[partition];
            let mut best: Option<Versioned> = None;
            for node in replicas {
                let Some(values) = granted.get(node) else {
                    continue;
                };
                for (k, v) in values {
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
                self.hlc.observe(b.version.0);
            }
            reads.insert(skey.clone(), best);
        }
        let version = Ver(self.fresh_timestamp());
        match execute(&run.ops, &reads, version) {
            Err(error) => {
                self.abort_attempt(run);
                self.reply(run.client, Response::Error(error));
                false
            }
            Ok(done) => {
                let writes = done
                    .writes
                    .into_iter()
                    .map(|(key, value)| Write {
                        partition: run.key_partition[&key].clone(),
                        key,
                        value,
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
                    accepted: BTreeSet::new(),
                };
                run.phase_started_ms = self.now_ms;
                true
            }
        }
    }

    fn own_ballot(&self) -> Ballot {
        Ballot {
            round: 0,
            node: self.id.0,
        }
    }

    fn send_decide(&mut self, run: &TxnRun, value: &Decision) {
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
                },
            );
        }
    }

    /// Releases an attempt that never proposed a commit. Only `Aborted` can
    /// ever be decided for it (no value was proposed with the coordinator's
    /// ballot, so a recovery can only propose `Aborted`), which is why the
    /// coordinator may announce it without a Paxos round.
    fn abort_attempt(&mut self, run: &TxnRun) {
        debug_assert!(matches!(run.phase, Phase::Locking { .. }));
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

    /// Schedules a new attempt, or gives up after `attempts_max`.
    fn retry_later(&mut self, run: &mut TxnRun) -> bool {
        if run.attempt >= self.options.attempts_max || self.now_ms >= run.deadline_ms {
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
        let granted: BTreeSet<NodeId> = match &run.phase {
            Phase::Locking { granted, .. } => granted.keys().copied().collect(),
            _ => BTreeSet::new(),
        };
        let view = self.view.as_ref().expect("view");
        for (partition, replicas) in &run.partitions {
            let q = view.quorum_of(partition);
            let missing: Vec<u32> = replicas
                .iter()
                .filter(|n| !granted.contains(n))
                .map(|n| n.0)
                .collect();
            if replicas.len() - missing.len() < q {
                return ClientError::Unavailable {
                    partition: partition.clone(),
                    missing,
                    needed: q,
                    replicas: replicas.len(),
                };
            }
        }
        ClientError::Timeout {
            outcome_unknown: false,
        }
    }

    pub(crate) fn on_accepted(
        &mut self,
        from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        ballot: Ballot,
    ) {
        if ballot != self.own_ballot() {
            return;
        }
        self.with_run(txn, Some(attempt), |node, run| {
            let (Phase::Deciding {
                accepted, value, ..
            }
            | Phase::Learning {
                accepted, value, ..
            }) = &mut run.phase
            else {
                return true;
            };
            accepted.insert(from);
            let q = node.view.as_ref().expect("view").quorum_of(&run.home);
            if accepted.len() < q {
                return true;
            }
            let value = value.clone();
            node.decided(run, value)
        });
    }

    pub(crate) fn on_paxos_nack(
        &mut self,
        _from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        ballot: Ballot,
        status: &RegisterStatus,
    ) {
        if ballot != self.own_ballot() {
            return;
        }
        self.with_run(txn, Some(attempt), |node, run| {
            if let Some(decided) = status.decided.clone() {
                return node.decided(run, decided);
            }
            let Phase::Deciding {
                value,
                results,
                accepted,
            } = run.phase.clone()
            else {
                return true;
            };
            run.phase = Phase::Learning {
                value,
                results,
                accepted,
                next_query_ms: node.now_ms,
            };
            true
        });
    }

    pub(crate) fn on_paxos_refused(
        &mut self,
        _from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        reason: Refusal,
    ) {
        self.recovery_on_refused(txn, attempt, &reason);
        // A refused accept counts as missing; the decide timeout moves the
        // run to learning the outcome.
    }

    /// The attempt's decision is known. Commit: apply everywhere and
    /// answer. Abort (a recovery won): release and retry.
    fn decided(&mut self, run: &mut TxnRun, decision: Decision) -> bool {
        let targets: BTreeSet<NodeId> = run.partitions.values().flatten().copied().collect();
        for to in targets {
            self.send(
                to,
                Message::Apply {
                    txn: run.txn,
                    attempt: run.attempt,
                    home: run.home.clone(),
                    decision: decision.clone(),
                },
            );
        }
        let results = match &run.phase {
            Phase::Deciding { results, .. } | Phase::Learning { results, .. } => results.clone(),
            _ => Vec::new(),
        };
        match decision {
            Decision::Committed { version, .. } => {
                let response = match run.kind {
                    ReplyKind::Txn => Response::Committed { version, results },
                    ReplyKind::Written => Response::Written { version },
                };
                self.reply(run.client, response);
                false
            }
            Decision::Aborted => {
                run.phase = Phase::Locking {
                    granted: BTreeMap::new(),
                    failed: BTreeSet::new(),
                };
                self.retry_later(run)
            }
        }
    }

    pub(crate) fn txn_on_decision_status(
        &mut self,
        txn: TxnId,
        attempt: Attempt,
        status: Option<RegisterStatus>,
    ) {
        let Some(decided) = status.and_then(|s| s.decided) else {
            return;
        };
        // The status is about `attempt`'s register only.
        self.with_run(txn, Some(attempt), |node, run| {
            if !matches!(run.phase, Phase::Learning { .. }) {
                return true;
            }
            node.decided(run, decided)
        });
    }

    pub(crate) fn txn_tick(&mut self) {
        let txns: Vec<TxnId> = self.coord.txns.keys().copied().collect();
        for txn in txns {
            self.with_run(txn, None, |node, run| node.txn_step(run));
        }
        // Forget queries of finished transactions.
        let live = &self.coord.txns;
        let reads = &self.coord.reads;
        self.coord.queries.retain(|_, owner| match owner {
            QueryOwner::Txn(t, _) => live.contains_key(t),
            QueryOwner::Read(r) => reads.contains_key(r),
        });
    }

    fn txn_step(&mut self, run: &mut TxnRun) -> bool {
        let now = self.now_ms;
        let expired = now >= run.deadline_ms;
        match run.phase.clone() {
            Phase::Locking { .. } if expired => {
                self.abort_attempt(run);
                self.reply(
                    run.client,
                    Response::Error(ClientError::Timeout {
                        outcome_unknown: false,
                    }),
                );
                false
            }
            Phase::Locking { .. } if run.phase_started_ms + self.options.lock_timeout_ms <= now => {
                self.abort_attempt(run);
                self.retry_later(run)
            }
            Phase::Backoff { .. } if expired => {
                self.reply(
                    run.client,
                    Response::Error(ClientError::Timeout {
                        outcome_unknown: false,
                    }),
                );
                false
            }
            Phase::Backoff { until_ms } if until_ms <= now => match self.begin_attempt(run) {
                Ok(()) => true,
                Err(error) => {
                    self.reply(run.client, Response::Error(error));
                    false
                }
            },
            Phase::Deciding { .. } | Phase::Learning { .. } if expired => {
                self.reply(
                    run.client,
                    Response::Error(ClientError::Timeout {
                        outcome_unknown: true,
                    }),
                );
                false
            }
            Phase::Deciding {
                value,
                results,
                accepted,
            } if run.phase_started_ms + self.options.decide_timeout_ms <= now => {
                run.phase = Phase::Learning {
                    value,
                    results,
                    accepted,
                    next_query_ms: now,
                };
                self.txn_step(run)
            }
            Phase::Learning {
                value,
                results,
                accepted,
                next_query_ms,
            } if next_query_ms <= now => {
                let req = self.next_req();
                self.coord
                    .queries
                    .insert(req, QueryOwner::Txn(run.txn, run.attempt));
                for to in run.partitions[&run.home].clone() {
                    self.send(
                        to,
                        Message::QueryDecision {
                            req,
                            txn: run.txn,
                            attempt: run.attempt,
                        },
                    );
                }
                // Re-send the accept too: acceptors that missed it may still
                // take it, which is how a lost `Decide` gets decided.
                self.send_decide(run, &value);
                run.phase = Phase::Learning {
                    value,
                    results,
                    accepted,
                    next_query_ms: now + self.options.decide_timeout_ms,
                };
                true
            }
            _ => true,
        }
    }
}
