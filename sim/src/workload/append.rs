//! List-append transactions, checked Elle-style for strict serializability
//! and, after healing, for durability of every acknowledged append.
//!
//! The transaction layer has no append operation, so an append is a
//! guarded read-modify-write: the client first reads the lists it will
//! append to (a read-only transaction, itself recorded), then sends one
//! transaction that asserts each list is unchanged and writes it extended.
//! A failed assert aborts the whole transaction, which writes nothing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::RngExt;
use zerodb_txn::{Condition, Op, OpResult, Request, Response};

use super::{
    decode_list, encode_list, failure_outcome, key_of, Answer, Verdict, Workload,
    FINAL_READ_TRIES_MAX,
};
use crate::check::durability::check_append_durability;
use crate::check::elle::check_list_append;
use crate::history::{Micro, Micros, Operation, Outcome, ProcessId, TxnOperation};

const TABLE: &str = "list";

/// Steps per transaction, at most.
pub const STEPS_PER_TXN_MAX: u64 = 4;

/// What a process is waiting for.
enum Stage {
    /// The read of the lists it will append to, before `planned`.
    PreRead {
        invoke_us: Micros,
        reads: Vec<Micro>,
        planned: Vec<Micro>,
    },
    /// The transaction itself.
    Main {
        invoke_us: Micros,
        steps: Vec<Micro>,
    },
}

/// List-append workload state.
pub struct AppendWorkload {
    keys: u64,
    next_value: u64,
    pending: BTreeMap<ProcessId, Stage>,
    history: Vec<TxnOperation>,
    final_phase: bool,
    final_queue: VecDeque<u64>,
    final_tries: BTreeMap<u64, u32>,
    final_lists: BTreeMap<u64, Vec<u64>>,
    final_failures: Vec<String>,
    protocol_errors: Vec<String>,
}

impl AppendWorkload {
    /// List-append over `keys` keys of the strong namespace.
    pub fn new(keys: u64) -> AppendWorkload {
        AppendWorkload {
            keys: keys.max(1),
            next_value: 1,
            pending: BTreeMap::new(),
            history: Vec::new(),
            final_phase: false,
            final_queue: VecDeque::new(),
            final_tries: BTreeMap::new(),
            final_lists: BTreeMap::new(),
            final_failures: Vec::new(),
            protocol_errors: Vec::new(),
        }
    }

    /// The recorded history.
    pub fn history(&self) -> &[TxnOperation] {
        &self.history
    }

    fn plan(&mut self, rng: &mut StdRng) -> Vec<Micro> {
        (0..rng.random_range(1..=STEPS_PER_TXN_MAX))
            .map(|_| {
                let key = rng.random_range(0..self.keys);
                if rng.random_bool(0.5) {
                    Micro::Read { key, values: None }
                } else {
                    self.next_value += 1;
                    Micro::Append {
                        key,
                        value: self.next_value,
                    }
                }
            })
            .collect()
    }

    /// The transaction for `steps`, given the lists read before.
    fn main_request(steps: &[Micro], before: &BTreeMap<u64, Vec<u64>>) -> Request {
        let mut current: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut ops = Vec::new();
        for step in steps {
            let key = key_of(super::STRONG_NAMESPACE, TABLE, step.key());
            match step {
                Micro::Read { .. } => ops.push(Op::Get(key)),
                Micro::Append { key: k, value } => {
                    let list = current.entry(*k).or_insert_with(|| {
                        let seen = before.get(k).cloned().unwrap_or_default();
                        let condition = if seen.is_empty() {
                            Condition::NotExists
                        } else {
                            Condition::ValueEquals(encode_list(&seen))
                        };
                        ops.push(Op::Assert(key.clone(), condition));
                        seen
                    });
                    list.push(*value);
                    ops.push(Op::Put(key, encode_list(list)));
                }
            }
        }
        Request::Txn { ops }
    }

    /// Fills the reads of `steps` from a committed transaction's results
    /// (one result per op: reads are `Get`s, appends `Assert`+`Put` or `Put`).
    fn fill_reads(&mut self, steps: &[Micro], results: &[OpResult]) -> Option<Vec<Micro>> {
        let mut results = results.iter();
        let mut asserted = BTreeSet::new();
        let mut filled = Vec::new();
        for step in steps {
            match step {
                Micro::Read { key, .. } => {
                    let OpResult::Value(found) = results.next()? else {
                        return None;
                    };
                    let bytes = found
                        .as_ref()
                        .and_then(|v| v.value.clone())
                        .unwrap_or_default();
                    let values = decode_list(&bytes).unwrap_or_else(|| vec![u64::MAX]);
                    filled.push(Micro::Read {
                        key: *key,
                        values: Some(values),
                    });
                }
                Micro::Append { key, .. } => {
                    if asserted.insert(*key) {
                        results.next()?;
                    }
                    results.next()?;
                    filled.push(step.clone());
                }
            }
        }
        Some(filled)
    }

    fn record(
        &mut self,
        process: ProcessId,
        invoke_us: Micros,
        now_us: Micros,
        steps: Vec<Micro>,
        outcome: Outcome<Vec<Micro>>,
    ) {
        let op = steps
            .into_iter()
            .map(|m| match m {
                Micro::Read { key, .. } => Micro::Read { key, values: None },
                append => append,
            })
            .collect();
        self.history.push(Operation {
            process,
            invoke_us,
            complete_us: now_us,
            op,
            outcome,
        });
    }

    fn outcome(&mut self, steps: &[Micro], answer: &Answer) -> Outcome<Vec<Micro>> {
        if let Some(outcome) = failure_outcome(answer) {
            return outcome;
        }
        match answer {
            Answer::Response(Response::Committed { results, .. }) => {
                match self.fill_reads(steps, results) {
                    Some(filled) => Outcome::Ok(filled),
                    None => {
                        self.protocol_errors
                            .push(format!("results {results:?} do not answer {steps:?}"));
                        Outcome::Info("unexpected results".to_string())
                    }
                }
            }
            other => {
                self.protocol_errors
                    .push(format!("transaction answered by {other:?}"));
                Outcome::Info("unexpected response".to_string())
            }
        }
    }

    fn start(&mut self, process: ProcessId, now_us: Micros, planned: Vec<Micro>) -> Request {
        let appended: BTreeSet<u64> = planned
            .iter()
            .filter(|m| matches!(m, Micro::Append { .. }))
            .map(Micro::key)
            .collect();
        if appended.is_empty() {
            let request = Self::main_request(&planned, &BTreeMap::new());
            self.pending.insert(
                process,
                Stage::Main {
                    invoke_us: now_us,
                    steps: planned,
                },
            );
            return request;
        }
        let reads: Vec<Micro> = appended
            .iter()
            .map(|&key| Micro::Read { key, values: None })
            .collect();
        let request = Self::main_request(&reads, &BTreeMap::new());
        self.pending.insert(
            process,
            Stage::PreRead {
                invoke_us: now_us,
                reads,
                planned,
            },
        );
        request
    }
}

impl Workload for AppendWorkload {
    fn invoke(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Request> {
        let planned = if self.final_phase {
            vec![Micro::Read {
                key: self.final_queue.pop_front()?,
                values: None,
            }]
        } else {
            self.plan(rng)
        };
        Some(self.start(process, now_us, planned))
    }

    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request> {
        match self.pending.remove(&process)? {
            Stage::PreRead {
                invoke_us,
                reads,
                planned,
            } => {
                let outcome = self.outcome(&reads, &answer);
                let before: Option<BTreeMap<u64, Vec<u64>>> = outcome.ok().map(|filled| {
                    filled
                        .iter()
                        .filter_map(|m| match m {
                            Micro::Read { key, values } => {
                                Some((*key, values.clone().unwrap_or_default()))
                            }
                            Micro::Append { .. } => None,
                        })
                        .collect()
                });
                self.record(process, invoke_us, now_us, reads, outcome);
                let before = before?;
                let request = Self::main_request(&planned, &before);
                self.pending.insert(
                    process,
                    Stage::Main {
                        invoke_us: now_us,
                        steps: planned,
                    },
                );
                Some(request)
            }
            Stage::Main { invoke_us, steps } => {
                let outcome = self.outcome(&steps, &answer);
                if self.final_phase {
                    let key = steps[0].key();
                    match outcome.ok() {
                        Some(filled) => {
                            if let Some(Micro::Read {
                                values: Some(values),
                                ..
                            }) = filled.first()
                            {
                                self.final_lists.insert(key, values.clone());
                            }
                        }
                        None => {
                            let tries = self.final_tries.entry(key).or_insert(0);
                            *tries += 1;
                            if *tries < FINAL_READ_TRIES_MAX {
                                self.final_queue.push_back(key);
                            } else {
                                self.final_failures
                                    .push(format!("final read of list {key} failed {tries} times"));
                            }
                        }
                    }
                }
                self.record(process, invoke_us, now_us, steps, outcome);
                None
            }
        }
    }

    fn recorded(&self) -> usize {
        self.history.len()
    }

    fn begin_final(&mut self) {
        self.final_phase = true;
        self.final_queue = (0..self.keys).collect();
    }

    fn final_done(&self) -> bool {
        self.final_phase && self.final_queue.is_empty() && self.pending.is_empty()
    }

    fn check(&self) -> Verdict {
        let mut verdict = Verdict::default();
        verdict
            .anomalies
            .extend(self.protocol_errors.iter().cloned());
        verdict
            .anomalies
            .extend(self.final_failures.iter().cloned());
        match check_list_append(&self.history) {
            Ok(report) => verdict
                .anomalies
                .extend(report.anomalies.iter().map(|a| format!("list-append: {a}"))),
            Err(error) => verdict.anomalies.push(format!("checker error: {error}")),
        }
        let lost = check_append_durability(&self.history, &self.final_lists);
        verdict
            .anomalies
            .extend(lost.iter().map(|l| format!("durability: {l}")));
        verdict
    }

    fn outcomes(&self) -> super::OutcomeCounts {
        super::OutcomeCounts::of(&self.history)
    }

    fn history_text(&self) -> String {
        super::render(&self.history)
    }
}
