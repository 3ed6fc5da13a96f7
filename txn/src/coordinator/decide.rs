//! Deciding and learning a transaction's outcome at the coordinator
//! (DESIGN.md 6.1 steps 3-4): count accepts of ballot `(0, coordinator)`,
//! fall back to asking the home replicas, apply the decision everywhere and
//! answer; plus the per-tick timeouts of every phase.

use std::collections::BTreeSet;

use zerodb_storage::Engine;

use super::txn::{Phase, ReplyKind, TxnRun};
use super::QueryOwner;
use crate::error::{ClientError, Refusal};
use crate::membership::NodeId;
use crate::message::{Message, RegisterStatus};
use crate::node::TxnNode;
use crate::quorum::Voter;
use crate::request::Response;
use crate::types::{Attempt, Ballot, Decision, TxnId};

impl<E: Engine> TxnNode<E> {
    pub(crate) fn on_accepted(
        &mut self,
        from: NodeId,
        txn: TxnId,
        attempt: Attempt,
        ballot: Ballot,
        voter: Voter,
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
            accepted.add(from, voter, ());
            if !accepted.reached() {
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
    /// answer. Abort (a recovery won, or a blind attempt was refused):
    /// release and retry.
    pub(super) fn decided(&mut self, run: &mut TxnRun, decision: Decision) -> bool {
        // Guard: a commit of other writes than this attempt proposed is
        // another transaction's outcome under a reissued id (sim/FAILING.md
        // section 17). Applying or answering it would acknowledge writes
        // that were never made; the outcome of this attempt is unknown.
        if !run.proposed(&decision) {
            tracing::error!(
                txn = %run.txn,
                attempt = run.attempt,
                "a commit of other writes answered this attempt: transaction id reissued"
            );
            self.reply(
                run.client,
                Response::Error(ClientError::Timeout {
                    outcome_unknown: true,
                }),
            );
            return false;
        }
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
            Decision::Aborted if run.fresh_id => {
                // A replica refused the id as below its low: start over
                // under a fresh id above it.
                if let Err(e) = self.start_txn(run.client, run.kind, run.ops.clone()) {
                    self.reply(run.client, Response::Error(e));
                }
                false
            }
            Decision::Aborted => {
                run.phase = Phase::locking(&run.partitions);
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
            Phase::Locking { .. } if run.blind.is_some() => self.blind_step(run, expired),
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
