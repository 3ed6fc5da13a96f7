//! Strong single-key reads (DESIGN.md 6.2): ask the whole replica ring, wait
//! for a quorum, resolve any write lock a reply shows by learning the
//! holder's decision, and write the highest version back until a quorum
//! holds it before answering, so no later read can go backwards.

use crate::types::version;
use crate::types::KeyExt;
use std::collections::{BTreeMap, BTreeSet};

use zerodb_storage::Engine;

use super::QueryOwner;
use crate::error::{ClientError, Refusal};
use crate::membership::NodeId;
use crate::message::{LockInfo, Message, PrepareState, RegisterStatus, ReqId};
use crate::node::TxnNode;
use crate::quorum::{Nay, Votes};
use crate::request::{ClientId, Response};
use crate::types::{Attempt, Decision, Epoch, Key, PartitionId, TxnId, Versioned};

#[derive(Clone, Debug)]
enum Phase {
    /// Reads sent; waiting for a quorum of replies.
    Collect,
    /// Learning the decision of a lock holder from its home replicas.
    Resolving {
        lock: LockInfo,
        query: ReqId,
        /// The holder's home replicas' register statuses.
        statuses: Votes<RegisterStatus>,
    },
    /// A holder's decision is not known yet: read again at `until_ms`.
    Waiting { until_ms: u64 },
    /// Writing `best` back; `holders` have it.
    Repairing {
        best: Versioned,
        holders: Votes,
        store_req: ReqId,
    },
}

/// One strong read in flight.
#[derive(Clone, Debug)]
pub(crate) struct StrongRead {
    client: ClientId,
    skey: Vec<u8>,
    partition: PartitionId,
    replicas: Vec<NodeId>,
    epoch: Epoch,
    /// This round's answers: a reply carries the replica's record.
    replies: Votes<Option<Versioned>>,
    /// Write locks the replies showed (a replica may show several).
    locks: BTreeMap<NodeId, Vec<LockInfo>>,
    /// Holders whose decision is known not to hide a newer committed value.
    resolved: BTreeSet<(TxnId, Attempt)>,
    /// Committed writes learned from holders' decisions.
    learned: Option<Versioned>,
    phase: Phase,
    phase_started_ms: u64,
    deadline_ms: u64,
    rounds: u32,
}

impl<E: Engine> TxnNode<E> {
    pub(crate) fn start_strong_read(
        &mut self,
        client: ClientId,
        key: Key,
    ) -> Result<(), ClientError> {
        let view = &self.view;
        let partition = view.partition_of(&key);
        let replicas = super::reachable_ring(view, &partition)?;
        let read = StrongRead {
            client,
            skey: key.storage_key(),
            partition,
            replies: Votes::new(replicas.clone()),
            replicas,
            epoch: view.epoch(),
            locks: BTreeMap::new(),
            resolved: BTreeSet::new(),
            learned: None,
            phase: Phase::Collect,
            phase_started_ms: self.now_ms,
            deadline_ms: self.now_ms + self.options.request_timeout_ms,
            rounds: 0,
        };
        self.send_read_round(read);
        Ok(())
    }

    /// Sends a round of reads under a fresh request id.
    fn send_read_round(&mut self, mut read: StrongRead) {
        let req = self.next_req();
        read.replies = Votes::new(read.replicas.clone());
        read.locks.clear();
        read.phase = Phase::Collect;
        read.phase_started_ms = self.now_ms;
        read.rounds += 1;
        let view = &self.view;
        let targets: Vec<NodeId> = read
            .replicas
            .iter()
            .copied()
            .filter(|n| !view.is_down(*n))
            .collect();
        for to in targets {
            self.send(
                to,
                Message::Read {
                    req,
                    key: read.skey.clone(),
                    epoch: read.epoch,
                },
            );
        }
        self.coord.reads.insert(req, read);
    }

    fn with_read(&mut self, req: ReqId, f: impl FnOnce(&mut Self, &mut StrongRead, ReqId) -> bool) {
        let Some(mut read) = self.coord.reads.remove(&req) else {
            return;
        };
        if f(self, &mut read, req) {
            self.coord.reads.insert(req, read);
        }
    }

    pub(crate) fn read_on_reply(
        &mut self,
        from: NodeId,
        req: ReqId,
        value: Option<Versioned>,
        locks: Vec<LockInfo>,
    ) {
        self.with_read(req, |node, read, req| {
            if !matches!(read.phase, Phase::Collect) || !read.replicas.contains(&from) {
                return true;
            }
            if let Some(v) = &value {
                node.hlc.observe(version(v.version));
            }
            read.replies.add(from, value);
            if !locks.is_empty() {
                read.locks.insert(from, locks);
            }
            if read.replies.reached() {
                return node.read_proceed(read, req);
            }
            true
        });
    }

    pub(crate) fn read_on_refused(&mut self, from: NodeId, req: ReqId, reason: Refusal) {
        self.with_read(req, |node, read, _| {
            if let Refusal::WrongEpoch { replica } = reason {
                let error = ClientError::WrongEpoch {
                    coordinator: read.epoch,
                    replica,
                };
                node.reply(read.client, Response::Error(error));
                return false;
            }
            read.replies.refuse(from, Nay::Retryable);
            if read.replies.lost() {
                let missing = read.replies.missing().map(|n| n.0).collect();
                let error = ClientError::Unavailable {
                    partition: read.partition.clone(),
                    missing,
                    needed: read.replies.needed(),
                    replicas: read.replicas.len(),
                };
                node.reply(read.client, Response::Error(error));
                return false;
            }
            true
        });
    }

    /// With a quorum of replies: resolve the next unresolved lock, or
    /// finish.
    fn read_proceed(&mut self, read: &mut StrongRead, req: ReqId) -> bool {
        if !self.options.unsafe_ignore_read_locks {
            let next = read
                .locks
                .values()
                .flatten()
                .find(|l| !read.resolved.contains(&(l.txn, l.attempt)))
                .cloned();
            if let Some(lock) = next {
                let query = self.next_req();
                self.coord.queries.insert(query, QueryOwner::Read(req));
                self.send_query(&lock, query);
                let home = self.view.replicas(&lock.home);
                read.phase = Phase::Resolving {
                    lock,
                    query,
                    statuses: Votes::new(home),
                };
                read.phase_started_ms = self.now_ms;
                return true;
            }
        }
        self.read_finish(read, req)
    }

    fn send_query(&mut self, lock: &LockInfo, query: ReqId) {
        let home = self.view.replicas(&lock.home);
        for to in home {
            self.send(
                to,
                Message::QueryDecision {
                    req: query,
                    txn: lock.txn,
                    attempt: lock.attempt,
                },
            );
        }
    }

    pub(crate) fn read_on_decision_status(
        &mut self,
        req: ReqId,
        query_req: ReqId,
        from: NodeId,
        status: Option<RegisterStatus>,
    ) {
        let Some(status) = status else { return };
        self.with_read(req, |node, read, req| {
            let Phase::Resolving {
                lock,
                statuses,
                query,
            } = &mut read.phase
            else {
                return true;
            };
            // A late answer about an earlier lock must not be taken as an
            // answer about this one.
            if *query != query_req {
                return true;
            }
            let lock = lock.clone();
            if let Some(decision) = status.decided.clone() {
                node.read_learned(read, &lock, decision);
                return node.read_proceed(read, req);
            }
            statuses.add(from, status);
            if !statuses.reached() {
                return true;
            }
            // No quorum member accepted anything: it has not committed
            // through the register, and cannot before this read's answer.
            // A blind prepare may have committed on the fast path with an
            // empty register, unless a replica refused it for good (I7).
            let unaccepted = statuses.carried().all(|s| s.accepted.is_none());
            let no_fast_path = !lock.blind
                || node.options.unsafe_read_skips_blind_prepare
                || statuses
                    .carried()
                    .any(|s| s.prepare == PrepareState::Refused);
            if unaccepted && no_fast_path {
                read.resolved.insert((lock.txn, lock.attempt));
                return node.read_proceed(read, req);
            }
            // Accepted somewhere but undecided, or a blind prepare nobody
            // refused: wait while the lease runs, then read again (the
            // holder's coordinator or its replicas' termination ends it).
            let wait = node.backoff_ms(read.rounds);
            read.phase = Phase::Waiting {
                until_ms: node.now_ms + wait,
            };
            true
        });
    }

    /// The holder's home forgot it: it is below the released watermark, so
    /// it is applied or released at every replica and no replica grants
    /// its lock again. The replies that showed its lock may predate its
    /// apply (the value from before a commit), so they are dropped and the
    /// key is read again (issue 14 case 3).
    pub(crate) fn read_on_forgotten(&mut self, req: ReqId, query_req: ReqId) {
        let Some(read) = self.coord.reads.get(&req) else {
            return;
        };
        if !matches!(&read.phase, Phase::Resolving { query, .. } if *query == query_req) {
            return;
        }
        let mut read = self.coord.reads.remove(&req).expect("present");
        read.resolved.clear();
        read.learned = None;
        self.send_read_round(read);
    }

    /// A holder's decision is known: apply it everywhere (which releases its
    /// locks); a commit's write of this key counts as a reply.
    fn read_learned(&mut self, read: &mut StrongRead, lock: &LockInfo, decision: Decision) {
        read.resolved.insert((lock.txn, lock.attempt));
        if self.options.unsafe_skip_read_repair {
            // The broken reader treats the holder as resolved but neither
            // counts nor applies its committed write.
            return;
        }
        let view = &self.view;
        let mut targets: BTreeSet<NodeId> = view.replicas(&lock.home).into_iter().collect();
        targets.extend(read.replicas.iter().copied());
        if let Decision::Committed {
            version,
            writes,
            participants,
        } = &decision
        {
            for p in participants {
                targets.extend(view.replicas(p));
            }
            if let Some(w) = writes.iter().find(|w| w.key == read.skey) {
                let v = w.at(*version);
                if read.learned.as_ref().is_none_or(|l| l.version < v.version) {
                    read.learned = Some(v);
                }
            }
        }
        for to in targets {
            self.send(
                to,
                Message::Apply {
                    txn: lock.txn,
                    attempt: lock.attempt,
                    home: lock.home.clone(),
                    decision: decision.clone(),
                },
            );
        }
    }

    /// Picks the highest version; repairs until a quorum holds it.
    fn read_finish(&mut self, read: &mut StrongRead, _req: ReqId) -> bool {
        let best = read
            .replies
            .carried()
            .flatten()
            .chain(read.learned.iter())
            .max_by_key(|v| v.version)
            .cloned();
        let Some(best) = best else {
            self.reply(read.client, Response::Value(None));
            return false;
        };
        let mut holders = Votes::new(read.replicas.clone());
        for (node, value) in read.replies.yeses() {
            if value.as_ref().is_some_and(|v| v.version == best.version) {
                holders.add(node, ());
            }
        }
        if holders.reached() || self.options.unsafe_skip_read_repair {
            self.answer_read(read, &best);
            return false;
        }
        let store_req = self.next_req();
        read.phase = Phase::Repairing {
            best,
            holders,
            store_req,
        };
        read.phase_started_ms = self.now_ms;
        self.send_repairs(read);
        // Stores are answered under `store_req`; route them to this read.
        let moved = read.clone();
        self.coord.reads.insert(store_req, moved);
        false
    }

    fn send_repairs(&mut self, read: &StrongRead) {
        let Phase::Repairing {
            best,
            holders,
            store_req,
        } = &read.phase
        else {
            return;
        };
        let view = &self.view;
        let stale: Vec<NodeId> = holders.missing().filter(|n| !view.is_down(*n)).collect();
        for to in stale {
            self.send(
                to,
                Message::Store {
                    req: *store_req,
                    key: read.skey.clone(),
                    record: best.clone(),
                    hint_for: None,
                    policy: None,
                },
            );
        }
    }

    pub(crate) fn read_on_stored(&mut self, from: NodeId, req: ReqId) {
        self.with_read(req, |node, read, _| {
            let Phase::Repairing { best, holders, .. } = &mut read.phase else {
                return true;
            };
            holders.add(from, ());
            if holders.reached() {
                let best = best.clone();
                node.answer_read(read, &best);
                return false;
            }
            true
        });
    }

    fn answer_read(&mut self, read: &StrongRead, best: &Versioned) {
        let value = Some(best.clone()).filter(|v| v.value.is_some());
        self.reply(read.client, Response::Value(value));
    }

    pub(crate) fn read_tick(&mut self) {
        let reqs: Vec<ReqId> = self.coord.reads.keys().copied().collect();
        for req in reqs {
            let Some(read) = self.coord.reads.remove(&req) else {
                continue;
            };
            self.read_step(read, req);
        }
    }

    fn read_step(&mut self, mut read: StrongRead, req: ReqId) {
        let now = self.now_ms;
        if now >= read.deadline_ms {
            self.reply(
                read.client,
                Response::Error(ClientError::Timeout {
                    outcome_unknown: false,
                }),
            );
            return;
        }
        let stalled = read.phase_started_ms + self.options.lock_timeout_ms <= now;
        match &read.phase {
            Phase::Waiting { until_ms } if *until_ms <= now => {
                read.resolved.clear();
                read.learned = None;
                self.send_read_round(read);
                return;
            }
            Phase::Collect if stalled => {
                self.send_read_round(read);
                return;
            }
            Phase::Resolving { lock, query, .. } if stalled => {
                let (lock, query) = (lock.clone(), *query);
                self.send_query(&lock, query);
                read.phase_started_ms = now;
            }
            Phase::Repairing { .. } if stalled => {
                self.send_repairs(&read);
                read.phase_started_ms = now;
            }
            _ => {}
        }
        self.coord.reads.insert(req, read);
    }
}
