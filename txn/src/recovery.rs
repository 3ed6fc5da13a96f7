//! Termination (DESIGN.md 6.1 step 6): when a lock's lease (measured from
//! the local grant, re-armed after a restart) has expired, the replica
//! holding it runs Paxos on the attempt's decision register at the home
//! replicas with a fresh, higher ballot. A prepare reply that carries a
//! decision ends it at once (that is "asking the home replicas"); otherwise
//! it adopts the highest accepted value among a quorum of promises. With
//! nothing accepted, a v1 attempt is aborted; a blind attempt (protocol
//! v2; its home ring is its only participant ring) is decided by the
//! prepares the promises report, each promising replica having refused the
//! attempt durably if it did not hold it:
//! - one resolved it `Committed`, or a quorum prepared it by itself:
//!   `Committed` with the prepared writes and version;
//! - one refused it: `Aborted` (the fast path needs every replica);
//! - otherwise: wait for more promises, and ask again.
//!
//! Then it applies the decision and releases. A lock is never dropped
//! without a decision.

use std::collections::BTreeSet;

use rand::RngExt;
use zerodb_storage::Engine;

use crate::error::Refusal;
use crate::membership::NodeId;
use crate::message::{BlindWrites, Message, PrepareState, RegisterStatus};
use crate::node::TxnNode;
use crate::quorum::{PaxosVotes, Voter};
use crate::types::{Attempt, Ballot, Decision, PartitionId, TxnId};

/// The Paxos phase of one recovery.
#[derive(Clone, Debug)]
enum Phase {
    /// Waiting for `next_try_ms`.
    Idle,
    /// Prepare sent; promises so far.
    Preparing(PaxosVotes<RegisterStatus>),
    /// Accept sent with this value; acceptors so far.
    Accepting(Decision, PaxosVotes),
}

/// One recovery of an expired lock's attempt.
#[derive(Clone, Debug)]
pub(crate) struct Recovery {
    home: PartitionId,
    /// The prepared writes of a blind attempt.
    blind: Option<BlindWrites>,
    ballot: Ballot,
    max_round_seen: u64,
    phase: Phase,
    phase_started_ms: u64,
    next_try_ms: u64,
    tries: u32,
}

impl<E: Engine> TxnNode<E> {
    pub(crate) fn recovery_tick(&mut self) {
        // A fenced replica (copy done, votes withheld) proposes too: the
        // locks it copied hold its low, and so the watermark its fence
        // waits for, until they are resolved; proposing casts no vote.
        let proposes = self.votes() || self.replica.fence.is_some();
        if !proposes {
            return;
        }
        let now = self.now_ms;
        // Forget recoveries whose lock is gone (applied meanwhile).
        let held = &self.replica.held;
        self.replica.recoveries.retain(|(txn, attempt), _| {
            held.get(txn).is_some_and(|h| h.record.attempt == *attempt)
        });
        let expired: Vec<_> = self
            .replica
            .held
            .values()
            .filter(|h| h.lease_until_ms <= now)
            .map(|h| {
                let r = &h.record;
                (r.txn, r.attempt, r.home.clone(), r.blind.clone())
            })
            .collect();
        for (txn, attempt, home, blind) in expired {
            if self.options.unsafe_drop_expired_prepares {
                // The broken replica forgets the prepare without an outcome.
                let mut batch = zerodb_storage::WriteBatch::new();
                batch.remove(
                    zerodb_storage::Space::System,
                    crate::replica::keys::lock(txn),
                );
                if self.engine.write(batch).is_ok() {
                    self.remove_held(txn);
                }
                continue;
            }
            if !self.replica.recoveries.contains_key(&(txn, attempt)) {
                // Jitter the first try so not every holder recovers at once.
                let jitter = self.rng.random_range(0..=self.options.backoff_base_ms);
                self.replica.recoveries.insert(
                    (txn, attempt),
                    Recovery {
                        home,
                        blind,
                        ballot: Ballot::default(),
                        max_round_seen: 0,
                        phase: Phase::Idle,
                        phase_started_ms: now,
                        next_try_ms: now + jitter,
                        tries: 0,
                    },
                );
            }
        }
        let keys: Vec<(TxnId, Attempt)> = self.replica.recoveries.keys().copied().collect();
        for key in keys {
            self.recovery_step(key);
        }
    }

    fn recovery_step(&mut self, key: (TxnId, Attempt)) {
        let now = self.now_ms;
        let timeout = self.options.recovery_timeout_ms;
        let Some(rec) = self.replica.recoveries.get(&key) else {
            return;
        };
        match rec.phase {
            Phase::Idle if rec.next_try_ms <= now => self.start_prepare(key),
            Phase::Preparing(_) | Phase::Accepting(..) if rec.phase_started_ms + timeout <= now => {
                self.recovery_back_off(key)
            }
            _ => {}
        }
    }

    fn recovery_back_off(&mut self, key: (TxnId, Attempt)) {
        let tries = self.replica.recoveries.get(&key).map_or(0, |r| r.tries);
        let wait = self.backoff_ms(tries);
        if let Some(rec) = self.replica.recoveries.get_mut(&key) {
            rec.phase = Phase::Idle;
            rec.tries += 1;
            rec.next_try_ms = self.now_ms + wait;
        }
    }

    fn start_prepare(&mut self, key: (TxnId, Attempt)) {
        let life_id = self.life_id();
        let view = &self.view;
        let epoch = view.epoch();
        let Some(rec) = self.replica.recoveries.get_mut(&key) else {
            return;
        };
        let ring = view.replicas(&rec.home);
        rec.ballot = Ballot {
            round: rec.max_round_seen + 1,
            node: self.id.0,
            life: life_id,
        };
        rec.max_round_seen = rec.ballot.round;
        rec.phase = Phase::Preparing(PaxosVotes::new(ring.clone()));
        rec.phase_started_ms = self.now_ms;
        let ballot = rec.ballot;
        let home = rec.home.clone();
        for to in ring {
            self.send(
                to,
                Message::Prepare {
                    txn: key.0,
                    attempt: key.1,
                    ballot,
                    epoch,
                    home: home.clone(),
                },
            );
        }
    }

    pub(crate) fn recovery_on_promise(
        &mut self,
        from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        ballot: Ballot,
        status: RegisterStatus,
        voter: Voter,
    ) {
        if let Some(decided) = status.decided.clone() {
            self.recovery_learned(txn, attempt, decided);
            return;
        }
        let view = &self.view;
        let Some(rec) = self.replica.recoveries.get_mut(&(txn, attempt)) else {
            return;
        };
        if rec.ballot != ballot {
            return;
        }
        let Phase::Preparing(promises) = &mut rec.phase else {
            return;
        };
        promises.add(from, voter, status);
        if !promises.reached() {
            return;
        }
        // Adopt the value of the highest accepted ballot, else decide by
        // the prepares (blind) or abort (v1).
        let adopted = promises
            .carried()
            .filter_map(|s| s.accepted.clone())
            .max_by_key(|(b, _)| *b)
            .map(|(_, v)| v);
        let value = match (adopted, &rec.blind) {
            (Some(value), _) => value,
            (None, None) => Decision::Aborted,
            (None, Some(blind)) => {
                match blind_outcome(promises, &rec.home, blind) {
                    Some(value) => value,
                    // Neither yet: wait for more promises; the round's
                    // timeout asks again.
                    None => return,
                }
            }
        };
        let ring = view.replicas(&rec.home);
        rec.phase = Phase::Accepting(value.clone(), PaxosVotes::new(ring.clone()));
        rec.phase_started_ms = self.now_ms;
        let epoch = view.epoch();
        let home = rec.home.clone();
        for to in ring {
            self.send(
                to,
                Message::Decide {
                    txn,
                    attempt,
                    ballot,
                    value: value.clone(),
                    epoch,
                    home: home.clone(),
                },
            );
        }
    }

    pub(crate) fn recovery_on_accepted(
        &mut self,
        from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        ballot: Ballot,
        voter: Voter,
    ) {
        let Some(rec) = self.replica.recoveries.get_mut(&(txn, attempt)) else {
            return;
        };
        if rec.ballot != ballot {
            return;
        }
        let Phase::Accepting(value, accepted) = &mut rec.phase else {
            return;
        };
        accepted.add(from, voter, ());
        if accepted.reached() {
            let value = value.clone();
            self.recovery_learned(txn, attempt, value);
        }
    }

    pub(crate) fn recovery_on_nack(
        &mut self,
        _from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        ballot: Ballot,
        status: RegisterStatus,
    ) {
        if let Some(decided) = status.decided {
            if self.replica.recoveries.contains_key(&(txn, attempt)) {
                self.recovery_learned(txn, attempt, decided);
            }
            return;
        }
        let Some(rec) = self.replica.recoveries.get_mut(&(txn, attempt)) else {
            return;
        };
        if rec.ballot != ballot {
            return;
        }
        rec.max_round_seen = rec.max_round_seen.max(status.promised.round);
        self.recovery_back_off((txn, attempt));
    }

    /// A Paxos message of a recovery was refused (recovering acceptor,
    /// epoch change): the timeout retries later.
    pub(crate) fn recovery_on_refused(
        &mut self,
        _txn: TxnId,
        _attempt: Attempt,
        _reason: &Refusal,
    ) {
    }

    /// The decision is known: tell the home replicas (and, for a commit,
    /// every participant replica), then apply and release here.
    fn recovery_learned(&mut self, txn: TxnId, attempt: Attempt, decision: Decision) {
        let Some(rec) = self.replica.recoveries.remove(&(txn, attempt)) else {
            return;
        };
        let view = &self.view;
        let mut targets: BTreeSet<NodeId> = view.replicas(&rec.home).into_iter().collect();
        if let Decision::Committed { participants, .. } = &decision {
            for p in participants {
                targets.extend(view.replicas(p));
            }
        }
        targets.remove(&self.id);
        for to in targets {
            self.send(
                to,
                Message::Apply {
                    txn,
                    attempt,
                    home: rec.home.clone(),
                    decision: decision.clone(),
                },
            );
        }
        self.learn(txn, attempt, &rec.home, &decision);
    }
}

/// What termination decides for a blind attempt whose register accepted
/// nothing, from the prepares a quorum (or more) of its ring reported.
fn blind_outcome(
    promises: &PaxosVotes<RegisterStatus>,
    home: &PartitionId,
    blind: &BlindWrites,
) -> Option<Decision> {
    let committed = Decision::Committed {
        version: blind.version,
        writes: blind.writes.clone(),
        participants: vec![home.clone()],
    };
    let reported = |state: PrepareState| promises.carried().any(|s| s.prepare == state);
    let own_quorum =
        promises.quorum_carried(|s| s.prepare == PrepareState::Prepared { self_granted: true });
    if reported(PrepareState::Committed) || own_quorum {
        return Some(committed);
    }
    if reported(PrepareState::Refused) {
        return Some(Decision::Aborted);
    }
    None
}
