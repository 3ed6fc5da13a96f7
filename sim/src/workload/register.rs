//! Registers: single-key get / put / cas, checked for linearizability and,
//! after healing, for durability of the newest acknowledged write.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::RngExt;
use zerodb_txn::request::{decode_int, encode_int};
use zerodb_txn::{ClientError, Condition, Key, Level, Op, Request, Response};

use super::scans::Scans;
use super::{failure_outcome, key_of, Answer, Call, Verdict, Workload, FINAL_READ_TRIES_MAX};
use crate::check::durability::check_register_durability;
use crate::check::register::check_registers;
use crate::check::scan::check_scans;
use crate::history::{
    Micros, Operation, Outcome, ProcessId, RegisterOp, RegisterOperation, RegisterResult,
};

const TABLE: &str = "reg";

/// Register workload state.
pub struct RegisterWorkload {
    namespace: &'static str,
    keys: u64,
    allow_cas: bool,
    next_value: u64,
    /// Last value seen per key (a plausible cas expectation).
    last_seen: BTreeMap<u64, Option<u64>>,
    pending: BTreeMap<ProcessId, (Micros, RegisterOp)>,
    history: Vec<RegisterOperation>,
    final_phase: bool,
    final_queue: VecDeque<u64>,
    final_tries: BTreeMap<u64, u32>,
    final_values: BTreeMap<u64, Option<u64>>,
    final_failures: Vec<String>,
    protocol_errors: Vec<String>,
    /// Scans of the register table (strong namespaces only: an eventual
    /// one has no final state to compare a scan with while replicas
    /// converge).
    scans: Option<Scans>,
}

impl RegisterWorkload {
    /// Registers on `keys` keys of `namespace`; `allow_cas` is false for
    /// eventual namespaces, which have no transactions.
    pub fn new(namespace: &'static str, keys: u64, allow_cas: bool) -> RegisterWorkload {
        RegisterWorkload {
            namespace,
            keys: keys.max(1),
            allow_cas,
            next_value: 1,
            last_seen: BTreeMap::new(),
            pending: BTreeMap::new(),
            history: Vec::new(),
            final_phase: false,
            final_queue: VecDeque::new(),
            final_tries: BTreeMap::new(),
            final_values: BTreeMap::new(),
            final_failures: Vec::new(),
            protocol_errors: Vec::new(),
            scans: allow_cas.then(|| Scans::new(namespace, TABLE, keys.max(1))),
        }
    }

    /// Ends the workload with no final reads: no further operations are
    /// handed out.
    pub fn stop(&mut self) {
        self.final_phase = true;
        self.final_queue.clear();
    }

    /// The recorded history.
    pub fn history(&self) -> &[RegisterOperation] {
        &self.history
    }

    /// The storage key of register `key`.
    pub fn key(&self, key: u64) -> Key {
        key_of(self.namespace, TABLE, key)
    }

    /// The number of registers.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// True while `process` waits for an answer from this workload.
    pub fn is_pending(&self, process: ProcessId) -> bool {
        self.pending.contains_key(&process)
            || self.scans.as_ref().is_some_and(|s| s.is_pending(process))
    }

    /// Every value a client tried to write, per register, whatever the
    /// outcome (an indeterminate or failed write may still have landed on
    /// one replica of an eventual namespace).
    pub fn attempted_writes(&self) -> BTreeMap<u64, BTreeSet<Option<u64>>> {
        let mut written: BTreeMap<u64, BTreeSet<Option<u64>>> = BTreeMap::new();
        for op in &self.history {
            let (key, value) = match op.op {
                RegisterOp::Put { key, value }
                | RegisterOp::Cas {
                    key, new: value, ..
                } => (key, Some(value)),
                RegisterOp::Delete { key } => (key, None),
                RegisterOp::Get { .. } => continue,
            };
            written.entry(key).or_default().insert(value);
        }
        written
    }

    /// Registers with a write (put, delete or swap) a client was told
    /// succeeded.
    pub fn acknowledged_writes(&self) -> BTreeSet<u64> {
        self.history
            .iter()
            .filter(|op| match (&op.op, &op.outcome) {
                (RegisterOp::Put { .. } | RegisterOp::Delete { .. }, Outcome::Ok(_)) => true,
                (RegisterOp::Cas { .. }, Outcome::Ok(r)) => *r == RegisterResult::Swapped(true),
                _ => false,
            })
            .map(|op| op.op.key())
            .collect()
    }

    /// The checks that hold on any namespace: every answer had the expected
    /// shape and every final read succeeded.
    pub fn check_answers(&self) -> Verdict {
        let mut verdict = Verdict::default();
        verdict
            .anomalies
            .extend(self.protocol_errors.iter().cloned());
        verdict
            .anomalies
            .extend(self.final_failures.iter().cloned());
        verdict
    }

    fn request(&self, op: &RegisterOp) -> Request {
        let key = key_of(self.namespace, TABLE, op.key());
        match op {
            RegisterOp::Get { .. } => Request::Get {
                key,
                level: Level::One,
            },
            RegisterOp::Put { value, .. } => Request::Put {
                key,
                value: encode_int(*value as i64),
                level: Level::One,
                ttl_ms: None,
            },
            RegisterOp::Delete { .. } => Request::Delete {
                key,
                level: Level::One,
            },
            RegisterOp::Cas { expected, new, .. } => {
                let condition = match expected {
                    None => Condition::NotExists,
                    Some(value) => Condition::ValueEquals(encode_int(*value as i64)),
                };
                Request::Txn {
                    ops: vec![
                        Op::Assert(key.clone(), condition),
                        Op::Put(key, encode_int(*new as i64)),
                    ],
                }
            }
        }
    }

    fn result(&mut self, op: &RegisterOp, answer: &Answer) -> Outcome<RegisterResult> {
        if let (
            RegisterOp::Cas { .. },
            Answer::Response(Response::Error(ClientError::ConditionFailed { .. })),
        ) = (op, answer)
        {
            return Outcome::Ok(RegisterResult::Swapped(false));
        }
        if let Some(outcome) = failure_outcome(answer) {
            return outcome;
        }
        let Answer::Response(response) = answer else {
            unreachable!("timeouts handled above")
        };
        match (op, response) {
            (RegisterOp::Get { .. }, Response::Value(found)) => {
                let value = found.as_ref().and_then(|v| v.value.as_deref());
                Outcome::Ok(RegisterResult::Value(
                    value.map(|bytes| decode_int(bytes).map_or(u64::MAX, |v| v as u64)),
                ))
            }
            (RegisterOp::Put { .. } | RegisterOp::Delete { .. }, Response::Written { .. }) => {
                Outcome::Ok(RegisterResult::Written)
            }
            (RegisterOp::Cas { .. }, Response::Committed { .. }) => {
                Outcome::Ok(RegisterResult::Swapped(true))
            }
            (op, response) => super::unexpected(&mut self.protocol_errors, op, response),
        }
    }
}

impl Workload for RegisterWorkload {
    fn invoke(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Request> {
        let op = if self.final_phase {
            RegisterOp::Get {
                key: self.final_queue.pop_front()?,
            }
        } else {
            let key = rng.random_range(0..self.keys);
            let roll = rng.random_range(0..10);
            let value = self.next_value;
            if roll < 4 {
                RegisterOp::Get { key }
            } else if roll == 7 {
                // On an eventual namespace too: the convergence check then
                // wants the same tombstone on every replica.
                RegisterOp::Delete { key }
            } else if roll < 8 || !self.allow_cas {
                self.next_value += 1;
                RegisterOp::Put { key, value }
            } else {
                self.next_value += 1;
                let expected = self.last_seen.get(&key).copied().flatten();
                RegisterOp::Cas {
                    key,
                    expected,
                    new: value,
                }
            }
        };
        let request = self.request(&op);
        self.pending.insert(process, (now_us, op));
        Some(request)
    }

    fn call(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Call> {
        if let Some(scans) = self.scans.as_mut() {
            let scan = if !self.final_phase {
                scans.maybe_invoke(process, now_us, rng)
            } else if self.final_queue.is_empty() && self.pending.is_empty() {
                scans.final_invoke(process, now_us)
            } else {
                None
            };
            if let Some(query) = scan {
                return Some(Call::Scan(query));
            }
        }
        self.invoke(process, now_us, rng).map(Call::Data)
    }

    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request> {
        if let Some(scans) = self.scans.as_mut().filter(|s| s.is_pending(process)) {
            scans.complete(process, now_us, answer);
            return None;
        }
        let (invoke_us, op) = self.pending.remove(&process)?;
        let outcome = self.result(&op, &answer);
        match (&op, &outcome) {
            (RegisterOp::Get { key }, Outcome::Ok(RegisterResult::Value(value))) => {
                self.last_seen.insert(*key, *value);
                if self.final_phase {
                    self.final_values.insert(*key, *value);
                }
            }
            (
                RegisterOp::Put { key, value }
                | RegisterOp::Cas {
                    key, new: value, ..
                },
                Outcome::Ok(r),
            ) if *r != RegisterResult::Swapped(false) => {
                self.last_seen.insert(*key, Some(*value));
            }
            (RegisterOp::Delete { key }, Outcome::Ok(_)) => {
                self.last_seen.insert(*key, None);
            }
            (RegisterOp::Get { key }, _) if self.final_phase => {
                let tries = self.final_tries.entry(*key).or_insert(0);
                *tries += 1;
                if *tries < FINAL_READ_TRIES_MAX {
                    self.final_queue.push_back(*key);
                } else {
                    self.final_failures
                        .push(format!("final read of register {key} failed {tries} times"));
                }
            }
            _ => {}
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
        self.history.len() + self.scans.as_ref().map_or(0, |s| s.log().len())
    }

    fn begin_final(&mut self) {
        self.final_phase = true;
        self.final_queue = (0..self.keys).collect();
    }

    fn final_done(&self) -> bool {
        self.final_phase
            && self.final_queue.is_empty()
            && self.pending.is_empty()
            && self.scans.as_ref().is_none_or(Scans::final_done)
    }

    fn check(&self) -> Verdict {
        let mut verdict = self.check_answers();
        match check_registers(&self.history) {
            Ok(report) => {
                verdict.anomalies.extend(
                    report
                        .violations
                        .iter()
                        .map(|v| format!("linearizability: {v}")),
                );
                verdict.unknown.extend(
                    report
                        .unknown
                        .iter()
                        .map(|k| format!("register {k}: search budget exceeded")),
                );
            }
            Err(error) => verdict.anomalies.push(format!("checker error: {error}")),
        }
        let lost = check_register_durability(&self.history, &self.final_values);
        verdict
            .anomalies
            .extend(lost.iter().map(|l| format!("durability: {l}")));
        if let Some(scans) = &self.scans {
            verdict.anomalies.extend(scans.final_failure());
            let found = check_scans(scans.log(), &self.history, &self.final_values);
            verdict
                .anomalies
                .extend(found.into_iter().map(|a| format!("scan: {a}")));
        }
        verdict
    }

    fn outcomes(&self) -> super::OutcomeCounts {
        let mut counts = super::OutcomeCounts::of(&self.history);
        for scan in self.scans.iter().flat_map(|s| s.log()) {
            match scan.result {
                Ok(_) => counts.ok += 1,
                Err(_) => counts.fail += 1,
            }
        }
        counts
    }

    fn history_text(&self) -> String {
        let mut text = super::render(&self.history);
        if let Some(scans) = &self.scans {
            text.push_str(&super::render(scans.log()));
        }
        text
    }
}
