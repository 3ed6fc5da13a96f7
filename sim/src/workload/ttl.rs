//! TTLs in a strong namespace: each process writes a fresh key with a
//! short TTL, then reads it every few tens of milliseconds until it is
//! gone (the expiry sweep deleted it) or it gave up, and a few times more
//! once gone (a strong delete stays). The checker
//! ([`check_ttl`]) judges every absent read against the nodes' clocks.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::RngExt;
use zerodb_txn::{Key, Level, Request, Response};

use super::{failure_outcome, key_of, render, Answer, OutcomeCounts, Verdict, Workload};
use crate::check::ttl::{check_ttl, TtlOp, TtlOperation, TtlResult};
use crate::history::{Micros, Operation, Outcome, ProcessId};

const TABLE: &str = "ttl";

/// Shortest TTL a put carries.
pub const TTL_MS_MIN: u64 = 100;
/// Longest TTL a put carries.
pub const TTL_MS_MAX: u64 = 1_500;
/// Least time between two reads of one key by its process.
pub const READ_INTERVAL_US: Micros = 20_000;
/// Reads of one key before its process moves on (the key outlived its TTL
/// by seconds: a liveness problem of the sweep, not checked here).
pub const READS_PER_KEY_MAX: u32 = 200;
/// Reads of a key after one found it gone (a delete must stay).
pub const READS_AFTER_GONE: u32 = 3;

/// What one process is doing.
#[derive(Clone, Debug)]
enum State {
    /// Writes a fresh key next.
    Fresh,
    /// Reads `key` until it is gone, then [`READS_AFTER_GONE`] times more.
    Polling {
        key: u64,
        next_read_us: Micros,
        reads: u32,
        gone_reads: u32,
    },
}

/// The TTL workload.
pub struct TtlWorkload {
    namespace: String,
    quorum: usize,
    states: BTreeMap<ProcessId, State>,
    pending: BTreeMap<ProcessId, (Micros, TtlOp)>,
    next_key: u64,
    clock_highs: Vec<u64>,
    history: Vec<TtlOperation>,
    protocol_errors: Vec<String>,
}

impl TtlWorkload {
    /// Keys of `namespace` (strong), whose replica rings need `quorum`.
    pub fn new(namespace: &str, quorum: usize) -> TtlWorkload {
        TtlWorkload {
            namespace: namespace.to_string(),
            quorum,
            states: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_key: 0,
            clock_highs: Vec::new(),
            history: Vec::new(),
            protocol_errors: Vec::new(),
        }
    }

    fn key(&self, key: u64) -> Key {
        key_of(&self.namespace, TABLE, key)
    }

    fn outcome(&mut self, op: &TtlOp, answer: &Answer) -> Outcome<TtlResult> {
        if let Some(outcome) = failure_outcome(answer) {
            return outcome;
        }
        match (op, answer) {
            (TtlOp::Put { ttl_ms, .. }, Answer::Response(Response::Written { version })) => {
                Outcome::Ok(TtlResult::Written {
                    expires_at_ms: version.physical_ms + ttl_ms,
                })
            }
            (TtlOp::Read { .. }, Answer::Response(Response::Value(found))) => {
                Outcome::Ok(TtlResult::Read {
                    present: found.as_ref().is_some_and(|v| v.value.is_some()),
                    clock_highs: self.clock_highs.clone(),
                })
            }
            (op, answer) => super::unexpected(&mut self.protocol_errors, op, answer),
        }
    }
}

impl Workload for TtlWorkload {
    fn invoke(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Request> {
        let state = self.states.entry(process).or_insert(State::Fresh).clone();
        let (op, request) = match state {
            State::Polling {
                key, next_read_us, ..
            } => {
                if now_us < next_read_us {
                    return None;
                }
                let request = Request::Get {
                    key: self.key(key),
                    level: Level::One,
                };
                (TtlOp::Read { key }, request)
            }
            State::Fresh => {
                let key = self.next_key;
                self.next_key += 1;
                let ttl_ms = rng.random_range(TTL_MS_MIN..=TTL_MS_MAX);
                let request = Request::Put {
                    key: self.key(key),
                    value: key.to_be_bytes().to_vec(),
                    level: Level::One,
                    ttl_ms: Some(ttl_ms),
                };
                (TtlOp::Put { key, ttl_ms }, request)
            }
        };
        self.pending.insert(process, (now_us, op));
        Some(request)
    }

    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request> {
        let (invoke_us, op) = self.pending.remove(&process)?;
        let outcome = self.outcome(&op, &answer);
        let next_read_us = now_us + READ_INTERVAL_US;
        let next = match (&op, &outcome, self.states.get(&process)) {
            (TtlOp::Put { key, .. }, Outcome::Ok(_), _) => State::Polling {
                key: *key,
                next_read_us,
                reads: 0,
                gone_reads: 0,
            },
            (TtlOp::Put { .. }, _, _) => State::Fresh,
            (
                TtlOp::Read { key },
                Outcome::Ok(TtlResult::Read { present: false, .. }),
                Some(State::Polling {
                    reads, gone_reads, ..
                }),
            ) => {
                if *gone_reads >= READS_AFTER_GONE {
                    State::Fresh
                } else {
                    State::Polling {
                        key: *key,
                        next_read_us,
                        reads: *reads,
                        gone_reads: gone_reads + 1,
                    }
                }
            }
            (
                TtlOp::Read { key },
                _,
                Some(State::Polling {
                    reads, gone_reads, ..
                }),
            ) => {
                if *reads + 1 >= READS_PER_KEY_MAX {
                    State::Fresh
                } else {
                    State::Polling {
                        key: *key,
                        next_read_us,
                        reads: reads + 1,
                        gone_reads: *gone_reads,
                    }
                }
            }
            (TtlOp::Read { .. }, _, _) => State::Fresh,
        };
        self.states.insert(process, next);
        self.history.push(Operation {
            process,
            invoke_us,
            complete_us: now_us,
            op,
            outcome,
        });
        None
    }

    fn observe_clocks(&mut self, clock_highs: &[u64]) {
        self.clock_highs = clock_highs.to_vec();
    }

    fn recorded(&self) -> usize {
        self.history.len()
    }

    fn begin_final(&mut self) {}

    fn final_done(&self) -> bool {
        true
    }

    fn check(&self) -> Verdict {
        let mut anomalies = check_ttl(&self.history, self.quorum);
        anomalies.extend(self.protocol_errors.iter().cloned());
        Verdict {
            anomalies,
            unknown: Vec::new(),
        }
    }

    fn outcomes(&self) -> OutcomeCounts {
        OutcomeCounts::of(&self.history)
    }

    fn history_text(&self) -> String {
        render(&self.history)
    }
}
