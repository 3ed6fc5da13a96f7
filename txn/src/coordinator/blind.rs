//! Blind transactions at the coordinator (protocol v2, DESIGN.md 6.1 steps
//! 1 to 4): a transaction with no get, incr or assert, all of whose keys
//! lie in one partition (its home), sends its writes and commit version
//! with its prepares.
//!
//! - **Fast path.** Every replica of the partition prepared it by itself:
//!   it is committed with exactly those writes and that version. The
//!   client is answered and every replica gets `Apply`; no register is
//!   written.
//! - **Classic path.** A quorum prepared, and the rest did not within
//!   `fast_path_wait_ms` (or one refused): `Decide` the prepared commit at
//!   ballot 0 at the home replicas, as v1 does.
//! - **Abort.** Once more than `RF - Q` replicas refused the attempt
//!   durably (a replica that refused never prepares it), no quorum can
//!   ever prepare it, so nothing can commit it: it is released with
//!   `Apply(Aborted)`, and the next attempt starts. **Deviation from
//!   DESIGN.md 6.1 step 4**, which aborts a blind attempt only through the
//!   register: the register is needed only while the attempt could still
//!   commit, and then the coordinator does not abort it (it waits, and the
//!   replicas' termination decides with the refusals as evidence).
//!
//! The coordinator never drops a blind attempt without a decision: at its
//! deadline the client learns the outcome is unknown, and the replicas'
//! leases end the attempt by termination (`crate::recovery`).
//!
//! Transactions that span partitions keep protocol v1 for now: their
//! termination would have to ask every participant ring for its prepares,
//! which the home register's promises (the only termination built) do not
//! cover.

use std::collections::BTreeSet;

use zerodb_storage::Engine;

use super::execute::{execute, RangeReads, ReadClocks};
use super::txn::{is_blind, Phase, TxnRun};
use crate::error::{ClientError, Refusal};
use crate::membership::NodeId;
use crate::message::{BlindWrites, Message};
use crate::node::TxnNode;
use crate::quorum::{Nay, PaxosVotes};
use crate::request::{OpResult, Response};
use crate::types::{ver, version, Decision, Write};

/// The smallest replica ring that runs blind transactions on protocol
/// v2. In a ring of two every quorum is both replicas, so after one loses
/// its disk (and holds only copies of its old prepares, which are never
/// votes) termination could neither commit a prepared attempt (it needs
/// both self-granted prepares) nor abort it (the lost replica may have
/// prepared it: then it committed on the fast path), and the lock, the
/// released watermark and the lost replica's fence would wait forever
/// (`--nodes 3 --rf 2` sweeps). Such rings keep v1, whose register
/// counts a fenced vote there (`crate::quorum`).
pub(crate) const BLIND_RING_MIN: usize = 3;

/// What a blind attempt prepares, and what its client gets if it commits.
#[derive(Clone, Debug)]
pub(crate) struct BlindPlan {
    /// Writes and commit version, sent with every prepare.
    pub(crate) writes: BlindWrites,
    /// The per-operation results of the commit.
    pub(crate) results: Vec<OpResult>,
}

impl<E: Engine> TxnNode<E> {
    /// The plan of a new attempt, if the transaction is blind and all its
    /// keys lie in its home partition. The commit version is a fresh HLC
    /// timestamp: above every version this node has seen (replicas refuse
    /// it, `StaleVersion`, if they store a newer one).
    pub(super) fn plan_blind(&mut self, run: &TxnRun) -> Option<BlindPlan> {
        let one_partition = run.partitions.len() == 1 && run.partitions.contains_key(&run.home);
        let ring = run.partitions.get(&run.home).map_or(0, Vec::len);
        if !is_blind(&run.ops) || !one_partition || !run.ranges.is_empty() || ring < BLIND_RING_MIN
        {
            return None;
        }
        let commit = ver(self.timestamp());
        let nothing_read = run
            .key_partition
            .keys()
            .map(|k| (k.clone(), None))
            .collect();
        let done = execute(
            &run.ops,
            &nothing_read,
            &ReadClocks::new(),
            &RangeReads::new(),
            commit,
        )
        .expect("puts and deletes cannot fail");
        let writes = done
            .writes
            .into_iter()
            .map(|(key, staged)| Write {
                partition: run.home.clone(),
                key,
                value: staged.value,
                expires_at_ms: staged.expires_at_ms,
            })
            .collect();
        Some(BlindPlan {
            writes: BlindWrites {
                version: commit,
                writes,
            },
            results: done.results,
        })
    }

    /// Decides what the prepares and refusals so far allow. Returns whether
    /// the run stays in flight.
    pub(super) fn blind_progress(&mut self, run: &mut TxnRun) -> bool {
        let Phase::Locking { votes, .. } = &run.phase else {
            return true;
        };
        // A yes carries whether the replica prepared by itself.
        let home = &votes[&run.home];
        let fast = if self.options.unsafe_fast_path_on_quorum {
            home.reached_where(|own| *own)
        } else {
            home.all_where(|own| *own)
        };
        if fast {
            return self.blind_fast_commit(run);
        }
        if home.reached() {
            let since = *run.quorum_since_ms.get_or_insert(self.now_ms);
            let waited = since + self.options.fast_path_wait_ms <= self.now_ms;
            if home.any_durable_no() || home.all_answered() || waited {
                return self.blind_classic_commit(run);
            }
            return true;
        }
        if home.lost_for_good() {
            return self.blind_cannot_commit(run);
        }
        true
    }

    fn blind_commit_value(&self, run: &TxnRun) -> Decision {
        let plan = run.blind.as_ref().expect("a blind run");
        Decision::Committed {
            version: plan.writes.version,
            writes: plan.writes.writes.clone(),
            participants: vec![run.home.clone()],
        }
    }

    /// Every replica prepared the attempt itself: it is committed.
    fn blind_fast_commit(&mut self, run: &mut TxnRun) -> bool {
        self.coord.paths.fast += 1;
        let value = self.blind_commit_value(run);
        let results = run.blind.as_ref().expect("a blind run").results.clone();
        run.phase = Phase::Deciding {
            value: value.clone(),
            results,
            accepted: PaxosVotes::new(Vec::new()),
        };
        self.decided(run, value)
    }

    /// `Decide` at ballot 0 with the prepared commit (the classic path).
    fn blind_classic_commit(&mut self, run: &mut TxnRun) -> bool {
        self.coord.paths.classic += 1;
        let value = self.blind_commit_value(run);
        let results = run.blind.as_ref().expect("a blind run").results.clone();
        self.send_decide(run, &value);
        run.phase = Phase::Deciding {
            value,
            results,
            accepted: PaxosVotes::new(run.partitions[&run.home].clone()),
        };
        run.phase_started_ms = self.now_ms;
        true
    }

    /// More than `RF - Q` replicas refused the attempt for good, so no
    /// quorum can ever prepare it: neither path can commit it, nor can
    /// termination (it needs a quorum of prepares), and an accepted value
    /// could only be this coordinator's ballot-0 commit, never proposed.
    /// `Aborted` is its only possible outcome, so it is released without
    /// a register round, as v1 releases an attempt that proposed nothing.
    fn blind_cannot_commit(&mut self, run: &mut TxnRun) -> bool {
        let Some(replica) = run.wrong_epoch else {
            return self.decided(run, Decision::Aborted);
        };
        for to in run.nodes.clone() {
            let apply = Message::Apply {
                txn: run.txn,
                attempt: run.attempt,
                home: run.home.clone(),
                decision: Decision::Aborted,
            };
            self.send(to, apply);
        }
        let error = ClientError::WrongEpoch {
            coordinator: run.epoch,
            replica,
        };
        self.reply(run.client, Response::Error(error));
        false
    }

    /// A replica refused the attempt's prepare.
    pub(super) fn blind_on_refused(
        &mut self,
        run: &mut TxnRun,
        from: NodeId,
        reason: Refusal,
        durable: bool,
    ) -> bool {
        let Phase::Locking { votes, .. } = &mut run.phase else {
            return true;
        };
        match reason {
            Refusal::TooOld { low } => {
                self.hlc.observe(version(low));
                run.fresh_id = true;
            }
            Refusal::StaleVersion { stored } => self.hlc.observe(version(stored)),
            Refusal::WrongEpoch { replica } => run.wrong_epoch = Some(replica),
            _ => {}
        }
        let nay = if durable {
            Nay::Durable
        } else {
            Nay::Retryable
        };
        if let Some(home) = votes.get_mut(&run.home) {
            home.refuse(from, nay);
        }
        self.blind_progress(run)
    }

    /// The tick of a blind attempt that is locking: the fast-path wait,
    /// lost prepares sent again, and the deadline.
    pub(super) fn blind_step(&mut self, run: &mut TxnRun, expired: bool) -> bool {
        if expired {
            // Replicas may hold its prepares; their leases end it.
            self.reply(
                run.client,
                Response::Error(ClientError::Timeout {
                    outcome_unknown: true,
                }),
            );
            return false;
        }
        if !self.blind_progress(run) {
            return false;
        }
        let stalled = run.phase_started_ms + self.options.lock_timeout_ms <= self.now_ms;
        let Phase::Locking { votes, .. } = &mut run.phase else {
            return true;
        };
        if !stalled {
            return true;
        }
        // Ask again whoever has not prepared or refused for good: a lost
        // request or answer, or a replica that was busy, recovering or
        // down. Its answer to a duplicate is its answer to the first.
        let again: BTreeSet<NodeId> = votes
            .get_mut(&run.home)
            .map(|home| home.retry().into_iter().collect())
            .unwrap_or_default();
        run.phase_started_ms = self.now_ms;
        self.resend_lock_reads(run, &again);
        true
    }
}
