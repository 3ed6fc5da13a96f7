//! The decision register's acceptor (DESIGN.md 6.1 step 3): single-decree
//! Paxos per `(txn, attempt)` at the home replicas. Accepting never applies
//! writes; only learning does (`Apply`, or a recovery that decided).

use zerodb_storage::Engine;

use crate::error::Refusal;
use crate::membership::NodeId;
use crate::message::{Message, PrepareState, RegisterStatus, ReqId};
use crate::node::TxnNode;
use crate::replica::RegisterState;
use crate::types::{Attempt, Ballot, Decision, Epoch, PartitionId, TxnId};

/// What an acceptor does with an accept request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcceptOutcome {
    /// Accepted; the state changed and must be stored.
    Accepted,
    /// Refused: a higher ballot was promised or the register is decided.
    Nack,
}

/// What an acceptor does with a prepare.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PrepareOutcome {
    /// Promised; the state changed and must be stored.
    Promised,
    /// Refused.
    Nack,
}

impl RegisterState {
    /// Phase 2 at the acceptor. A decided register accepts nothing more;
    /// otherwise a ballot at least as high as the promise is accepted.
    pub(crate) fn accept(&mut self, ballot: Ballot, value: Decision) -> AcceptOutcome {
        if self.decided.is_some() || ballot < self.promised {
            return AcceptOutcome::Nack;
        }
        if let Some((b, v)) = &self.accepted {
            // A ballot carries one value; a repeat is a duplicate.
            if *b == ballot && *v != value {
                return AcceptOutcome::Nack;
            }
        }
        self.promised = ballot;
        self.accepted = Some((ballot, value));
        AcceptOutcome::Accepted
    }

    /// Phase 1 at the acceptor.
    pub(crate) fn prepare(&mut self, ballot: Ballot) -> PrepareOutcome {
        if self.decided.is_some() || ballot < self.promised {
            return PrepareOutcome::Nack;
        }
        self.promised = ballot;
        PrepareOutcome::Promised
    }

    /// The state as reported to proposers and readers.
    pub(crate) fn status(&self) -> RegisterStatus {
        RegisterStatus {
            promised: self.promised,
            accepted: self.accepted.clone(),
            decided: self.decided.clone(),
            prepare: PrepareState::Unknown,
        }
    }

    /// Merges a peer's copy into this (lost-state recovery): the highest
    /// promise, the highest-ballot accepted value, any decision.
    pub(crate) fn merge(&mut self, other: RegisterState) {
        self.promised = self.promised.max(other.promised);
        if let Some((b, v)) = other.accepted {
            if self.accepted.as_ref().is_none_or(|(mine, _)| *mine < b) {
                self.accepted = Some((b, v));
            }
        }
        if self.decided.is_none() {
            self.decided = other.decided;
        }
    }
}

/// What a `Prepare` or `Decide` is about: the register of `(txn,
/// attempt)` at the replicas of `home`, the ballot and the sender's epoch.
pub(crate) struct PaxosAddress {
    pub(crate) txn: TxnId,
    pub(crate) attempt: Attempt,
    pub(crate) ballot: Ballot,
    pub(crate) epoch: Epoch,
    pub(crate) home: PartitionId,
}

impl<E: Engine> TxnNode<E> {
    fn check_paxos(&self, txn: TxnId, epoch: Epoch, home: &PartitionId) -> Result<(), Refusal> {
        if !self.votes_on_register(home) {
            return Err(Refusal::Recovering);
        }
        let view = &self.view;
        if epoch != view.epoch() {
            return Err(Refusal::WrongEpoch {
                replica: view.epoch(),
            });
        }
        // Below the watermark the register may be deleted: voting on an
        // empty one would re-create it and could decide a second value.
        if let Some(forgotten) = self.forgotten(txn) {
            return Err(forgotten);
        }
        Ok(())
    }

    /// Guard of `Prepare` and `Decide`: refuses (and tells the sender)
    /// what this replica must not vote on.
    fn admit_paxos(&mut self, from: NodeId, to: &PaxosAddress) -> bool {
        let Err(reason) = self.check_paxos(to.txn, to.epoch, &to.home) else {
            return true;
        };
        self.send(
            from,
            Message::PaxosRefused {
                txn: to.txn,
                attempt: to.attempt,
                reason,
            },
        );
        false
    }

    pub(crate) fn handle_decide(&mut self, from: NodeId, to: PaxosAddress, value: Decision) {
        if !self.admit_paxos(from, &to) {
            return;
        }
        let PaxosAddress {
            txn,
            attempt,
            ballot,
            ..
        } = to;
        let result = self.load_register(txn, attempt).and_then(|mut state| {
            let outcome = state.accept(ballot, value);
            if outcome == AcceptOutcome::Accepted {
                self.store_register(txn, attempt, &state)?;
            }
            Ok((outcome, state))
        });
        match result {
            Ok((AcceptOutcome::Accepted, _)) => self.send(
                from,
                Message::Accepted {
                    txn,
                    attempt,
                    ballot,
                    voter: self.voter(),
                },
            ),
            Ok((AcceptOutcome::Nack, state)) => self.send(
                from,
                Message::PaxosNack {
                    txn,
                    attempt,
                    ballot,
                    status: state.status(),
                },
            ),
            Err(e) => self.send(
                from,
                Message::PaxosRefused {
                    txn,
                    attempt,
                    reason: Refusal::Storage(e.to_string()),
                },
            ),
        }
    }

    pub(crate) fn handle_prepare(&mut self, from: NodeId, to: PaxosAddress) {
        if !self.admit_paxos(from, &to) {
            return;
        }
        let PaxosAddress {
            txn,
            attempt,
            ballot,
            ..
        } = to;
        let result = self.load_register(txn, attempt).and_then(|mut state| {
            let outcome = state.prepare(ballot);
            if outcome == PrepareOutcome::Promised {
                self.store_register(txn, attempt, &state)?;
            }
            Ok((outcome, state))
        });
        match result {
            Ok((PrepareOutcome::Promised, state)) => {
                // Termination asks for this replica's prepare with the
                // promise; one it does not hold is refused durably now
                // (DESIGN.md 6.1 step 6), and the promise's sync covers it.
                // With nothing accepted, termination decides a blind
                // attempt by the prepares, where a copy counts for nothing:
                // a copy this replica could grant itself becomes its vote
                // first (sim/FAILING.md 16). With a value accepted,
                // termination adopts it and needs no vote.
                if state.accepted.is_none() {
                    self.self_grant_copied_prepare(txn, attempt);
                }
                let mut status = state.status();
                status.prepare = self.prepare_state(txn, attempt, true);
                self.send(
                    from,
                    Message::Promise {
                        txn,
                        attempt,
                        ballot,
                        status,
                        voter: self.voter(),
                    },
                )
            }
            Ok((PrepareOutcome::Nack, state)) => self.send(
                from,
                Message::PaxosNack {
                    txn,
                    attempt,
                    ballot,
                    status: state.status(),
                },
            ),
            Err(e) => self.send(
                from,
                Message::PaxosRefused {
                    txn,
                    attempt,
                    reason: Refusal::Storage(e.to_string()),
                },
            ),
        }
    }

    /// This replica's prepare of `(txn, attempt)`. With `refuse`, one it
    /// neither holds nor resolved is refused durably (termination);
    /// without, it is only reported (reads).
    fn prepare_state(&mut self, txn: TxnId, attempt: Attempt, refuse: bool) -> PrepareState {
        if let Some(held) = self.replica.held.get(&txn) {
            if held.record.attempt == attempt {
                return PrepareState::Prepared {
                    self_granted: !held.record.copied,
                };
            }
        }
        let Ok(finished) = self.load_finished(txn) else {
            return PrepareState::Unknown;
        };
        if finished.committed == Some(attempt) {
            return PrepareState::Committed;
        }
        let refused = if refuse && self.options.unsafe_abort_blind_without_refusal {
            // The broken rule: "not prepared here" taken as a refusal
            // without making it durable, so the prepare may still come.
            true
        } else if refuse {
            self.refuse_durably(txn, attempt)
        } else {
            self.votes() && finished.refuses(attempt)
        };
        if refused {
            PrepareState::Refused
        } else {
            PrepareState::Unknown
        }
    }

    /// Reports a register without voting (strong reads that met a lock).
    /// Below the watermark the answer is "forgotten", never the empty
    /// register a deleted record would read as (issue 14 case 3).
    pub(crate) fn handle_query_decision(
        &mut self,
        from: NodeId,
        req: ReqId,
        txn: TxnId,
        attempt: Attempt,
    ) {
        if let Some(reason) = self.votes().then(|| self.forgotten(txn)).flatten() {
            self.send(from, Message::Refused { req, reason });
            return;
        }
        let status = if self.votes() {
            self.load_register(txn, attempt).ok().map(|s| {
                let mut status = s.status();
                status.prepare = self.prepare_state(txn, attempt, false);
                status
            })
        } else {
            None
        };
        self.send(from, Message::DecisionStatus { req, status });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Ver;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot {
            round,
            node,
            life: 1,
        }
    }

    fn commit() -> Decision {
        Decision::Committed {
            version: Ver::ZERO,
            writes: vec![],
            participants: vec![],
        }
    }

    #[test]
    fn a_promise_blocks_lower_accepts() {
        let mut s = RegisterState::default();
        assert_eq!(s.prepare(b(3, 2)), PrepareOutcome::Promised);
        assert_eq!(s.accept(b(0, 1), commit()), AcceptOutcome::Nack);
        assert_eq!(
            s.accept(b(3, 2), Decision::Aborted),
            AcceptOutcome::Accepted
        );
        assert_eq!(s.prepare(b(2, 9)), PrepareOutcome::Nack);
    }

    #[test]
    fn one_ballot_carries_one_value() {
        let mut s = RegisterState::default();
        assert_eq!(s.accept(b(0, 1), commit()), AcceptOutcome::Accepted);
        assert_eq!(s.accept(b(0, 1), commit()), AcceptOutcome::Accepted);
        assert_eq!(s.accept(b(0, 1), Decision::Aborted), AcceptOutcome::Nack);
    }

    #[test]
    fn a_decided_register_accepts_nothing() {
        let mut s = RegisterState {
            decided: Some(Decision::Aborted),
            ..RegisterState::default()
        };
        assert_eq!(s.accept(b(9, 1), commit()), AcceptOutcome::Nack);
        assert_eq!(s.prepare(b(9, 1)), PrepareOutcome::Nack);
    }

    #[test]
    fn merge_keeps_the_highest_accepted_ballot() {
        let mut s = RegisterState {
            promised: b(1, 1),
            accepted: Some((b(1, 1), Decision::Aborted)),
            decided: None,
        };
        s.merge(RegisterState {
            promised: b(4, 2),
            accepted: Some((b(2, 2), commit())),
            decided: None,
        });
        assert_eq!(s.promised, b(4, 2));
        assert_eq!(s.accepted, Some((b(2, 2), commit())));
    }
}
