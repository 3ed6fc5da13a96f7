//! The model's coordinators: protocol v1 as its messages allow, with every
//! choice left open. A coordinator may start or abandon an attempt at any
//! moment (that covers its timeouts, `LockBusy` and refusals), decides
//! `Committed` at ballot 0 once it holds a quorum of grants in every
//! participant, and answers its client once a quorum of home replicas
//! accepted. The replicas it talks to are real [`TxnNode`]s; only this
//! side is abstract, so the checker covers every coordinator behaviour v1
//! permits, not just the ones the real coordinator's timers produce.
//!
//! [`TxnNode`]: crate::TxnNode

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use crate::membership::{NodeId, View};
use crate::message::{BlindWrites, LockKey, LockRange, LockRead, Message};
use crate::quorum::{Nay, PaxosVotes, Votes};
use crate::types::{
    ver, Attempt, Ballot, Decision, Key, KeyExt, LockMode, PartitionId, TxnId, Ver, Versioned,
    Write,
};
use zerodb_storage::Version;

/// Replicas of the model's one ring.
const REPLICAS_TOTAL: usize = super::world::REPLICAS as usize;

/// Node ids of model coordinators start here (replicas are `1..=3`).
pub(crate) const COORDINATOR_ID_BASE: u32 = 10;

/// The values a replica answered a `LockRead` with.
pub(crate) type Values = Vec<(Vec<u8>, Option<Versioned>)>;

/// Where a coordinator's current attempt is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No attempt running (before the first one or after an abort).
    Idle,
    /// `LockRead` sent; the values of every replica that granted it.
    Locking(BTreeMap<NodeId, Values>),
    /// `Decide` sent at ballot 0 with this value; home replicas that
    /// accepted it; replicas that had granted the attempt's locks.
    Deciding(Decision, PaxosVotes, BTreeSet<NodeId>),
    /// A quorum of home replicas accepted: the client was answered.
    Committed,
    /// The last allowed attempt was abandoned.
    GaveUp,
}

/// One model coordinator running one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Coordinator {
    pub(crate) node: NodeId,
    pub(crate) txn: TxnId,
    pub(crate) keys: Vec<Key>,
    /// Key ranges `[start, end)` it reads under shared range locks.
    pub(crate) ranges: Vec<(Key, Key)>,
    pub(crate) attempts_max: Attempt,
    pub(crate) attempt: Attempt,
    pub(crate) phase: Phase,
    /// Whether it may abandon a running attempt (a timeout, `LockBusy`);
    /// when false it waits for a quorum of grants.
    pub(crate) may_abandon: bool,
    /// A blind transaction (protocol v2): its prepares carry its writes
    /// and version; it commits on the fast path when every replica
    /// prepared by itself, and never drops an attempt that could commit.
    pub(crate) blind: bool,
    /// Replicas that prepared the running attempt by themselves.
    pub(crate) self_granted: BTreeSet<NodeId>,
    /// Replicas that refused the running attempt durably.
    pub(crate) refused: BTreeSet<NodeId>,
}

/// Messages a coordinator step sends.
pub(crate) type Outbox = Vec<(NodeId, Message)>;

impl Coordinator {
    /// Coordinator `index` (0-based) of a transaction that writes `keys`,
    /// with timestamp `age` (smaller is older: wait-die favours it).
    pub(crate) fn new(
        index: usize,
        age: u64,
        keys: Vec<Key>,
        attempts_max: Attempt,
        may_abandon: bool,
    ) -> Self {
        let node = COORDINATOR_ID_BASE + index as u32;
        let txn = TxnId {
            timestamp: ver(Version {
                physical_ms: age,
                logical: 0,
                node,
            }),
            coordinator: node,
        };
        Coordinator {
            node: NodeId(node),
            txn,
            keys,
            ranges: Vec::new(),
            attempts_max,
            attempt: 0,
            phase: Phase::Idle,
            may_abandon,
            blind: false,
            self_granted: BTreeSet::new(),
            refused: BTreeSet::new(),
        }
    }

    /// The home partition: that of the first key.
    pub(crate) fn home(&self, view: &View) -> PartitionId {
        view.partition_of(&self.keys[0])
    }

    fn participants(&self, view: &View) -> Vec<PartitionId> {
        let mut parts: Vec<PartitionId> = self
            .keys
            .iter()
            .chain(self.ranges.iter().map(|(start, _)| start))
            .map(|k| view.partition_of(k))
            .collect();
        parts.sort_by(|a, b| (&a.namespace, a.token).cmp(&(&b.namespace, b.token)));
        parts.dedup();
        parts
    }

    /// Every replica of every participant.
    pub(crate) fn replicas(&self, view: &View) -> BTreeSet<NodeId> {
        self.participants(view)
            .iter()
            .flat_map(|p| view.replicas(p))
            .collect()
    }

    /// Whether a new attempt may start (abandoning a running one).
    pub(crate) fn can_begin(&self) -> bool {
        // A blind attempt is over only once it is aborted (`abort` with a
        // refusal from all but fewer than a quorum): then it is `Idle`.
        self.attempt < self.attempts_max
            && (self.phase == Phase::Idle || (self.can_abort() && !self.blind))
    }

    /// Whether so many replicas refused the running blind attempt durably
    /// that no quorum can prepare it: only `Aborted` is possible for it.
    fn cannot_commit(&self, view: &View) -> bool {
        let mut votes: Votes = Votes::new(view.replicas(&self.home(view)));
        for replica in &self.refused {
            votes.refuse(*replica, Nay::Durable);
        }
        votes.lost_for_good()
    }

    /// Whether every replica prepared the running blind attempt by
    /// itself: it is committed (the fast path).
    pub(crate) fn can_fast_commit(&self) -> bool {
        self.blind && self.running() && self.self_granted.len() == REPLICAS_TOTAL
    }

    /// Takes the fast path: answers the client and sends `Apply`.
    pub(crate) fn fast_commit(&mut self, view: &View) -> (Outbox, Option<Decision>) {
        if !self.can_fast_commit() {
            return (Vec::new(), None);
        }
        let value = self.blind_commit(view);
        self.phase = Phase::Committed;
        (self.apply_to_all(view, value.clone()), Some(value))
    }

    /// A blind attempt's commit: the writes and version of its prepares.
    fn blind_commit(&self, view: &View) -> Decision {
        let version = Ver {
            physical_ms: self.txn.timestamp.physical_ms * 10 + u64::from(self.attempt),
            logical: 0,
            node: self.node.0,
        };
        Decision::Committed {
            version,
            writes: self.writes(view),
            participants: self.participants(view),
        }
    }

    fn writes(&self, view: &View) -> Vec<Write> {
        self.keys
            .iter()
            .map(|k| Write {
                partition: view.partition_of(k),
                key: k.storage_key(),
                value: Some(format!("{}.{}", self.node.0, self.attempt).into_bytes()),
                expires_at_ms: None,
            })
            .collect()
    }

    /// Whether the running attempt may be abandoned (v1: without Paxos,
    /// only before `Decide`).
    pub(crate) fn can_abort(&self) -> bool {
        self.may_abandon && self.running()
    }

    /// Whether an attempt is taking locks (before `Decide`).
    pub(crate) fn running(&self) -> bool {
        matches!(self.phase, Phase::Locking(_))
    }

    /// Whether every participant granted at a quorum of its replicas.
    pub(crate) fn can_decide(&self, view: &View) -> bool {
        let Phase::Locking(grants) = &self.phase else {
            return false;
        };
        self.participants(view).iter().all(|p| {
            let mut votes: Votes = Votes::new(view.replicas(p));
            for replica in grants.keys() {
                votes.add(*replica, ());
            }
            votes.reached()
        })
    }

    /// Abandons the running attempt, if any, and starts the next one.
    pub(crate) fn begin(&mut self, view: &View, lease_ms: u64) -> Outbox {
        let mut out = self.abort(view);
        if self.attempt >= self.attempts_max {
            return out;
        }
        self.attempt += 1;
        self.phase = Phase::Locking(BTreeMap::new());
        self.self_granted.clear();
        self.refused.clear();
        let blind = self.blind.then(|| match self.blind_commit(view) {
            Decision::Committed {
                version, writes, ..
            } => BlindWrites { version, writes },
            Decision::Aborted => unreachable!("a commit"),
        });
        let home = self.home(view);
        for to in self.replicas(view) {
            let keys = self
                .keys
                .iter()
                .filter(|k| view.replicates(to, &view.partition_of(k)))
                .map(|k| LockKey {
                    key: k.storage_key(),
                    partition: view.partition_of(k),
                    mode: LockMode::Exclusive,
                })
                .collect();
            let ranges = self
                .ranges
                .iter()
                .filter(|(start, _)| view.replicates(to, &view.partition_of(start)))
                .map(|(start, end)| LockRange {
                    start: start.storage_key(),
                    end: end.storage_key(),
                    partition: view.partition_of(start),
                })
                .collect();
            let req = LockRead {
                txn: self.txn,
                attempt: self.attempt,
                home: home.clone(),
                epoch: view.epoch(),
                lease_ms,
                keys,
                ranges,
                blind: blind.clone(),
            };
            out.push((to, Message::LockRead(req)));
        }
        out
    }

    /// Abandons the running attempt: `Apply(Aborted)` to its replicas. A
    /// blind attempt that could still commit is not aborted: its
    /// coordinator walks away (gives up) and termination decides it.
    pub(crate) fn abort(&mut self, view: &View) -> Outbox {
        if !self.running() {
            return Vec::new();
        }
        if self.blind && !self.cannot_commit(view) {
            self.phase = Phase::GaveUp;
            return Vec::new();
        }
        self.phase = if self.attempt >= self.attempts_max {
            Phase::GaveUp
        } else {
            Phase::Idle
        };
        self.apply_to_all(view, Decision::Aborted)
    }

    /// Proposes `Committed` at ballot 0 to the home replicas.
    pub(crate) fn decide(&mut self, view: &View) -> Outbox {
        if !self.can_decide(view) {
            return Vec::new();
        }
        let Phase::Locking(grants) = &self.phase else {
            return Vec::new();
        };
        if self.blind {
            let value = self.blind_commit(view);
            let granted = grants.keys().copied().collect();
            return self.propose(view, value, granted);
        }
        // The commit version is above every version read and above the
        // transaction's own timestamp.
        let read_ms = grants
            .values()
            .flatten()
            .filter_map(|(_, v)| v.as_ref().map(|v| v.version.physical_ms))
            .max()
            .unwrap_or(0);
        let version = Ver {
            physical_ms: read_ms.max(self.txn.timestamp.physical_ms) + 1,
            logical: 0,
            node: self.node.0,
        };
        let value = Decision::Committed {
            version,
            writes: self.writes(view),
            participants: self.participants(view),
        };
        let granted = grants.keys().copied().collect();
        self.propose(view, value, granted)
    }

    /// Sends `Decide(value)` at ballot 0 to the home replicas.
    fn propose(&mut self, view: &View, value: Decision, granted: BTreeSet<NodeId>) -> Outbox {
        let home = view.replicas(&self.home(view));
        self.phase = Phase::Deciding(value.clone(), PaxosVotes::new(home), granted);
        let ballot = Ballot {
            round: 0,
            node: self.node.0,
            life: 0,
        };
        view.replicas(&self.home(view))
            .into_iter()
            .map(|to| {
                let msg = Message::Decide {
                    txn: self.txn,
                    attempt: self.attempt,
                    ballot,
                    value: value.clone(),
                    epoch: view.epoch(),
                    home: self.home(view),
                };
                (to, msg)
            })
            .collect()
    }

    /// A reply from a replica. Returns the messages it causes and, when it
    /// completes a quorum of accepts, the decision the client was told.
    pub(crate) fn on_reply(
        &mut self,
        view: &View,
        from: NodeId,
        msg: &Message,
    ) -> (Outbox, Option<Decision>) {
        match (msg, &mut self.phase) {
            (
                Message::LockGranted {
                    txn,
                    attempt,
                    values,
                    self_granted,
                    ..
                },
                Phase::Locking(grants),
            ) if *txn == self.txn && *attempt == self.attempt => {
                grants.insert(from, values.clone());
                if *self_granted {
                    self.self_granted.insert(from);
                }
                (Vec::new(), None)
            }
            (
                Message::LockBusy {
                    txn,
                    attempt,
                    refused: true,
                    ..
                }
                | Message::LockRefused {
                    txn,
                    attempt,
                    refused: true,
                    ..
                },
                Phase::Locking(_),
            ) if *txn == self.txn && *attempt == self.attempt => {
                self.refused.insert(from);
                (Vec::new(), None)
            }
            (
                Message::Accepted {
                    txn,
                    attempt,
                    ballot,
                    voter,
                },
                Phase::Deciding(value, accepted, _),
            ) if *txn == self.txn && *attempt == self.attempt && ballot.round == 0 => {
                accepted.add(from, voter.clone(), ());
                if !accepted.reached() {
                    return (Vec::new(), None);
                }
                let value = value.clone();
                self.phase = Phase::Committed;
                (self.apply_to_all(view, value.clone()), Some(value))
            }
            // Busy, refusals, nacks and stale replies: the coordinator's
            // reaction (abandon, retry, wait) is one of its free choices.
            _ => (Vec::new(), None),
        }
    }

    fn apply_to_all(&self, view: &View, decision: Decision) -> Outbox {
        let home = self.home(view);
        self.replicas(view)
            .into_iter()
            .map(|to| {
                let msg = Message::Apply {
                    txn: self.txn,
                    attempt: self.attempt,
                    home: home.clone(),
                    decision: decision.clone(),
                };
                (to, msg)
            })
            .collect()
    }

    /// The running attempt and the replicas it believes granted it every
    /// key (exclusively), until its outcome is known.
    pub(crate) fn believed_locks(&self) -> Option<(Attempt, BTreeSet<NodeId>)> {
        match &self.phase {
            Phase::Locking(grants) => Some((self.attempt, grants.keys().copied().collect())),
            Phase::Deciding(_, _, granted) => Some((self.attempt, granted.clone())),
            _ => None,
        }
    }

    /// Whether this transaction's locks conflict with `other`'s: a key
    /// both write, or a key one writes inside a range the other reads.
    pub(crate) fn conflicts_with(&self, other: &Coordinator) -> bool {
        let inside = |key: &Key, ranges: &[(Key, Key)]| {
            let key = key.storage_key();
            ranges
                .iter()
                .any(|(start, end)| start.storage_key() <= key && key < end.storage_key())
        };
        self.keys
            .iter()
            .any(|k| other.keys.contains(k) || inside(k, &other.ranges))
            || other.keys.iter().any(|k| inside(k, &self.ranges))
    }

    /// Feeds everything that decides this coordinator's future to `h`.
    pub(crate) fn fingerprint(&self, h: &mut impl Hasher) {
        (self.attempt, self.may_abandon, self.blind).hash(h);
        let own: Vec<u32> = self.self_granted.iter().map(|n| n.0).collect();
        let refused: Vec<u32> = self.refused.iter().map(|n| n.0).collect();
        (own, refused).hash(h);
        match &self.phase {
            Phase::Idle => 0u8.hash(h),
            Phase::Locking(grants) => {
                1u8.hash(h);
                for (node, values) in grants {
                    (node.0, crate::codec::encode_stored(values)).hash(h);
                }
            }
            Phase::Deciding(value, accepted, granted) => {
                2u8.hash(h);
                crate::codec::encode_stored(value).hash(h);
                let accepted: Vec<u32> = accepted.voters().map(|n| n.0).collect();
                let granted: Vec<u32> = granted.iter().map(|n| n.0).collect();
                (accepted, granted).hash(h);
            }
            Phase::Committed => 3u8.hash(h),
            Phase::GaveUp => 4u8.hash(h),
        }
    }
}
