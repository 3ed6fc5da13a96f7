//! Bank transfers: a transfer asserts the source balance covers the amount
//! and moves it with two increments; reads fetch every account in one
//! transaction. Every committed read must sum to the initial total with no
//! negative balance, the final read after healing included.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::RngExt;
use zerodb_txn::request::{decode_int, encode_int};
use zerodb_txn::{CompareOp, Condition, Op, OpResult, Request, Response};

use super::{
    failure_outcome, key_of, Answer, Verdict, Workload, FINAL_READ_TRIES_MAX, STRONG_NAMESPACE,
};
use crate::check::bank::check_bank;
use crate::history::{BankOp, BankOperation, BankResult, Micros, Operation, Outcome, ProcessId};

const TABLE: &str = "bank";

/// Initial balance of every account.
pub const INITIAL_BALANCE: i64 = 100;

/// Largest amount moved by one transfer.
pub const TRANSFER_MAX: i64 = 30;

/// Bank workload state.
pub struct BankWorkload {
    accounts: u64,
    /// Whether the accounts' initial balances are known written.
    funded: bool,
    funding_in_flight: bool,
    pending: BTreeMap<ProcessId, (Micros, Option<BankOp>)>,
    history: Vec<BankOperation>,
    final_phase: bool,
    final_read_ok: bool,
    final_tries: u32,
    final_in_flight: bool,
    protocol_errors: Vec<String>,
}

impl BankWorkload {
    /// A bank of `accounts` accounts.
    pub fn new(accounts: u64) -> BankWorkload {
        BankWorkload {
            accounts: accounts.max(2),
            funded: false,
            funding_in_flight: false,
            pending: BTreeMap::new(),
            history: Vec::new(),
            final_phase: false,
            final_read_ok: false,
            final_tries: 0,
            final_in_flight: false,
            protocol_errors: Vec::new(),
        }
    }

    /// The recorded history.
    pub fn history(&self) -> &[BankOperation] {
        &self.history
    }

    fn account(&self, account: u64) -> zerodb_txn::Key {
        key_of(STRONG_NAMESPACE, TABLE, account)
    }

    fn request(&self, op: &BankOp) -> Request {
        match op {
            BankOp::ReadAll => Request::Txn {
                ops: (0..self.accounts)
                    .map(|a| Op::Get(self.account(a)))
                    .collect(),
            },
            BankOp::Transfer { from, to, amount } => Request::Txn {
                ops: vec![
                    Op::Assert(
                        self.account(*from),
                        Condition::IntCompare {
                            op: CompareOp::Ge,
                            value: *amount,
                        },
                    ),
                    Op::Incr(self.account(*from), -amount),
                    Op::Incr(self.account(*to), *amount),
                ],
            },
        }
    }

    fn funding_request(&self) -> Request {
        Request::Txn {
            ops: (0..self.accounts)
                .map(|a| Op::Put(self.account(a), encode_int(INITIAL_BALANCE)))
                .collect(),
        }
    }

    fn outcome(&mut self, op: &BankOp, answer: &Answer) -> Outcome<BankResult> {
        if let Some(outcome) = failure_outcome(answer) {
            return outcome;
        }
        match (op, answer) {
            (BankOp::Transfer { .. }, Answer::Response(Response::Committed { .. })) => {
                Outcome::Ok(BankResult::Transferred)
            }
            (BankOp::ReadAll, Answer::Response(Response::Committed { results, .. }))
                if results.len() == self.accounts as usize =>
            {
                let mut balances = BTreeMap::new();
                for (account, result) in results.iter().enumerate() {
                    let balance = match result {
                        OpResult::Value(Some(found)) => found
                            .value
                            .as_deref()
                            .and_then(decode_int)
                            .unwrap_or(i64::MIN),
                        OpResult::Value(None) => 0,
                        _ => i64::MIN,
                    };
                    balances.insert(account as u64, balance);
                }
                Outcome::Ok(BankResult::Balances(balances))
            }
            (op, answer) => super::unexpected(&mut self.protocol_errors, op, answer),
        }
    }
}

impl Workload for BankWorkload {
    fn invoke(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Request> {
        if !self.funded {
            // One process funds the accounts; the others wait for it.
            if self.funding_in_flight {
                return None;
            }
            self.funding_in_flight = true;
            self.pending.insert(process, (now_us, None));
            return Some(self.funding_request());
        }
        let op = if self.final_phase {
            if self.final_read_ok || self.final_in_flight {
                return None;
            }
            self.final_in_flight = true;
            BankOp::ReadAll
        } else if rng.random_bool(0.3) {
            BankOp::ReadAll
        } else {
            let from = rng.random_range(0..self.accounts);
            let to = (from + rng.random_range(1..self.accounts)) % self.accounts;
            BankOp::Transfer {
                from,
                to,
                amount: rng.random_range(1..=TRANSFER_MAX),
            }
        };
        let request = self.request(&op);
        self.pending.insert(process, (now_us, Some(op)));
        Some(request)
    }

    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request> {
        let (invoke_us, op) = self.pending.remove(&process)?;
        let Some(op) = op else {
            // The funding transaction: retried until it commits. Nothing
            // else has run yet, so a retry after an unknown outcome only
            // writes the same balances again.
            self.funding_in_flight = false;
            self.funded = matches!(answer, Answer::Response(Response::Committed { .. }));
            return None;
        };
        let outcome = self.outcome(&op, &answer);
        if self.final_phase && op == BankOp::ReadAll {
            self.final_in_flight = false;
            self.final_tries += 1;
            self.final_read_ok = outcome.is_ok();
            if !self.final_read_ok && self.final_tries >= FINAL_READ_TRIES_MAX {
                self.protocol_errors
                    .push(format!("final bank read failed {} times", self.final_tries));
                self.final_read_ok = true;
            }
        }
        self.history.push(Operation {
            process,
            invoke_us,
            complete_us: now_us,
            op,
            outcome,
        });
        None
    }

    fn recorded(&self) -> usize {
        self.history.len()
    }

    fn begin_final(&mut self) {
        self.final_phase = true;
    }

    fn final_done(&self) -> bool {
        self.final_phase && self.final_read_ok && self.pending.is_empty()
    }

    fn check(&self) -> Verdict {
        let mut verdict = Verdict::default();
        verdict
            .anomalies
            .extend(self.protocol_errors.iter().cloned());
        let accounts: Vec<u64> = (0..self.accounts).collect();
        match check_bank(
            &self.history,
            &accounts,
            INITIAL_BALANCE * self.accounts as i64,
        ) {
            Ok(violations) => verdict
                .anomalies
                .extend(violations.iter().map(|v| format!("bank: {v}"))),
            Err(error) => verdict.anomalies.push(format!("checker error: {error}")),
        }
        verdict
    }

    fn outcomes(&self) -> super::OutcomeCounts {
        super::OutcomeCounts::of(&self.history)
    }

    fn history_text(&self) -> String {
        super::render(&self.history)
    }
}
