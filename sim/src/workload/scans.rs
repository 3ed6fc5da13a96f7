//! Scans of the register table, run beside the registers under the same
//! faults: during the workload one request in [`SCAN_ONE_IN`] is a scan of
//! a random id range with a random limit, and after the final reads one
//! scan of the whole table. [`crate::check::scan`] judges them.
//!
//! A scan gathers every node's local records (DESIGN.md section 12) and is
//! not linearizable: a committed write not yet applied at enough replicas
//! may be missed. What it must never do is return a record out of its
//! range or order, more than its limit, a value no client wrote (or one
//! whose write definitely failed), or, once the cluster has healed and
//! every key has been read, anything but what the final reads returned.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::RngExt;
use zerodb_node::api::{ScanEntry, ScanQuery, SCAN_LIMIT_MAX};

use super::{Answer, FINAL_READ_TRIES_MAX};
use crate::history::{Micros, ProcessId};

/// One request in this many of the register workload is a scan.
pub const SCAN_ONE_IN: u32 = 16;

/// How a scan answered with something other than records or a service
/// error starts its failure text (the checker reports it).
pub const WRONG_ANSWER: &str = "wrong answer to a scan: ";

/// The id of register `key` (see [`super::key_of`]).
pub fn register_id(key: u64) -> Vec<u8> {
    format!("k{key}").into_bytes()
}

/// What a scan asked: ids in `[start, end)`, at most `limit` records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanBounds {
    /// First id (inclusive).
    pub start: Vec<u8>,
    /// End id (exclusive), `None` for the end of the table.
    pub end: Option<Vec<u8>>,
    /// Most records.
    pub limit: u32,
}

/// A finished scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanRecord {
    /// The client process.
    pub process: ProcessId,
    /// When it was sent.
    pub invoke_us: Micros,
    /// When the answer came (or the client gave up).
    pub complete_us: Micros,
    /// What it asked.
    pub bounds: ScanBounds,
    /// The records, or why there are none.
    pub result: Result<Vec<ScanEntry>, String>,
    /// The scan after the final reads.
    pub is_final: bool,
}

/// The scans of one register table.
pub struct Scans {
    namespace: &'static str,
    table: &'static str,
    keys: u64,
    pending: BTreeMap<ProcessId, (Micros, ScanBounds, bool)>,
    log: Vec<ScanRecord>,
    final_tries: u32,
    final_done: bool,
}

impl Scans {
    /// Scans of `table` in `namespace`, whose ids are `k0` to `k{keys-1}`.
    pub fn new(namespace: &'static str, table: &'static str, keys: u64) -> Scans {
        Scans {
            namespace,
            table,
            keys,
            pending: BTreeMap::new(),
            log: Vec::new(),
            final_tries: 0,
            final_done: false,
        }
    }

    /// The finished scans.
    pub fn log(&self) -> &[ScanRecord] {
        &self.log
    }

    /// True while `process` waits for a scan.
    pub fn is_pending(&self, process: ProcessId) -> bool {
        self.pending.contains_key(&process)
    }

    /// A scan for `process` now and then during the workload.
    pub fn maybe_invoke(
        &mut self,
        process: ProcessId,
        now_us: Micros,
        rng: &mut StdRng,
    ) -> Option<ScanQuery> {
        if rng.random_range(0..SCAN_ONE_IN) != 0 {
            return None;
        }
        let from = rng.random_range(0..=self.keys);
        let to = rng.random_range(from..=self.keys + 1);
        let bounds = ScanBounds {
            start: if from == 0 {
                Vec::new()
            } else {
                register_id(from)
            },
            end: (to <= self.keys).then(|| register_id(to)),
            limit: rng.random_range(1..=self.keys as u32 + 1),
        };
        Some(self.start(process, now_us, bounds, false))
    }

    /// The whole-table scan after the final reads, until it succeeds (or
    /// has failed [`FINAL_READ_TRIES_MAX`] times).
    pub fn final_invoke(&mut self, process: ProcessId, now_us: Micros) -> Option<ScanQuery> {
        let in_flight = self.pending.values().any(|(_, _, is_final)| *is_final);
        if self.final_done || in_flight {
            return None;
        }
        let bounds = ScanBounds {
            start: Vec::new(),
            end: None,
            limit: SCAN_LIMIT_MAX,
        };
        Some(self.start(process, now_us, bounds, true))
    }

    /// True once the final scan succeeded or gave up.
    pub fn final_done(&self) -> bool {
        self.final_done
    }

    /// Failures of the final scan, if it gave up.
    pub fn final_failure(&self) -> Option<String> {
        (self.final_tries >= FINAL_READ_TRIES_MAX && !self.final_done_ok())
            .then(|| format!("the final scan failed {} times", self.final_tries))
    }

    fn final_done_ok(&self) -> bool {
        self.log.iter().any(|s| s.is_final && s.result.is_ok())
    }

    fn start(
        &mut self,
        process: ProcessId,
        now_us: Micros,
        bounds: ScanBounds,
        is_final: bool,
    ) -> ScanQuery {
        let query = ScanQuery {
            namespace: self.namespace.to_string(),
            database: "sim".to_string(),
            table: self.table.to_string(),
            start: bounds.start.clone(),
            end: bounds.end.clone(),
            limit: bounds.limit,
        };
        self.pending.insert(process, (now_us, bounds, is_final));
        query
    }

    /// The answer to `process`'s scan.
    pub fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) {
        let Some((invoke_us, bounds, is_final)) = self.pending.remove(&process) else {
            return;
        };
        let result = match answer {
            Answer::Scanned(result) => result,
            Answer::Timeout => Err("client timeout".to_string()),
            Answer::Response(response) => Err(format!("{WRONG_ANSWER}{response:?}")),
        };
        if is_final {
            self.final_tries += 1;
            self.final_done = result.is_ok() || self.final_tries >= FINAL_READ_TRIES_MAX;
        }
        self.log.push(ScanRecord {
            process,
            invoke_us,
            complete_us: now_us,
            bounds,
            result,
            is_final,
        });
    }
}
