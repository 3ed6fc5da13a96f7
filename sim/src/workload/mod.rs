//! Client workloads: what simulated clients ask, how answers become history
//! entries, and which checker judges the history.

pub mod append;
pub mod bank;
pub mod catalog;
pub mod catalog_churn;
pub mod documents;
pub mod graph;
pub mod mixed_ns;
pub mod query_client;
pub mod query_core;
pub mod ranges;
pub mod register;
pub mod scans;
pub mod ttl;

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use zerodb_node::api::{ScanEntry, ScanQuery};
use zerodb_node::core::metadata::Caller;
use zerodb_txn::{ClientError, Key, Request, Response};

use crate::history::{Micros, Outcome, ProcessId};

/// Namespace of strong workloads.
pub const STRONG_NAMESPACE: &str = "strong";
/// Namespace of the eventual register workload.
pub const EVENTUAL_NAMESPACE: &str = "eventual";
/// The cluster admin every new cluster has; workloads act as this user
/// unless they say otherwise.
pub const ADMIN: &str = zerodb_node::core::catalog::BOOTSTRAP_ADMIN;
/// Final reads of one key tried at most this many times before the run
/// reports that the healed cluster does not answer.
pub const FINAL_READ_TRIES_MAX: u32 = 50;

/// What a client got back for a request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// The coordinator answered.
    Response(Response),
    /// The client gave up waiting.
    Timeout,
    /// A scan's records, or the service error it got.
    Scanned(Result<Vec<ScanEntry>, String>),
}

/// A request a simulated client sends.
#[derive(Clone, Debug)]
pub enum Call {
    /// A data operation or transaction.
    Data(Request),
    /// A scan of one table.
    Scan(ScanQuery),
}

/// Which workload a run uses (`--workload`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum WorkloadKind {
    /// Single-key registers: get / put / cas, checked for linearizability.
    #[default]
    Register,
    /// List-append transactions, checked for strict serializability.
    Append,
    /// Bank transfers, checked for conservation and no overdraft.
    Bank,
    /// Registers on a strong and an eventual namespace side by side: the
    /// strong ones checked for linearizability, the eventual ones for
    /// convergence after healing; meanwhile catalog processes create and
    /// drop namespaces and grant and revoke a role, the catalog checked as
    /// a strong register.
    MixedNs,
    /// Inserts that count their group of records under a range lock, and
    /// range reads, checked for strict serializability (no phantoms).
    Ranges,
    /// zeroql statements on a table with a unique index and another index,
    /// run by the nodes' query loop, checked for uniqueness, indexes that
    /// agree with their records, and acknowledged writes.
    Documents,
    /// zeroql graphs: vertices and edges related and deleted (deleting a
    /// vertex deletes its edges) and traversed, run by the nodes' query
    /// loop, checked for edges with both ends and both adjacency entries
    /// and traversals that agree with acknowledged writes.
    Graph,
    /// Strong writes with short TTLs, each read until the expiry sweep
    /// deleted it, checked against the nodes' clocks (a record is never
    /// deleted before a quorum of clocks passed its expiry).
    Ttl,
}

impl WorkloadKind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::Append => "append",
            WorkloadKind::Bank => "bank",
            WorkloadKind::MixedNs => "mixed-ns",
            WorkloadKind::Ranges => "ranges",
            WorkloadKind::Documents => "documents",
            WorkloadKind::Graph => "graph",
            WorkloadKind::Ttl => "ttl",
        }
    }
}

impl std::str::FromStr for WorkloadKind {
    type Err = String;

    fn from_str(text: &str) -> Result<WorkloadKind, String> {
        match text {
            "register" => Ok(WorkloadKind::Register),
            "append" => Ok(WorkloadKind::Append),
            "bank" => Ok(WorkloadKind::Bank),
            "mixed-ns" => Ok(WorkloadKind::MixedNs),
            "ranges" => Ok(WorkloadKind::Ranges),
            "documents" => Ok(WorkloadKind::Documents),
            "graph" => Ok(WorkloadKind::Graph),
            "ttl" => Ok(WorkloadKind::Ttl),
            other => Err(format!(
                "unknown workload {other:?}; use register, append, bank, mixed-ns, ranges, documents, graph or ttl"
            )),
        }
    }
}

/// The verdict of a workload's checkers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Anomalies: each one a broken invariant.
    pub anomalies: Vec<String>,
    /// Checks that could not decide (search budget exceeded).
    pub unknown: Vec<String>,
}

/// A client workload.
pub trait Workload {
    /// The next data request of `process`, or `None` when it has nothing
    /// to do now (it will be woken again later).
    fn invoke(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Request>;

    /// The next request of `process`, a scan or a data request (what the
    /// run loop asks for): [`Workload::invoke`] for workloads that do not
    /// scan.
    fn call(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Call> {
        self.invoke(process, now_us, rng).map(Call::Data)
    }

    /// The answer to `process`'s outstanding request. Returns a follow-up
    /// request to send at once (the next step of a multi-step operation).
    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request>;

    /// Every node's highest clock reading so far, handed over just before
    /// each [`Workload::complete`] (for checkers that judge expiry times).
    fn observe_clocks(&mut self, _clock_highs: &[u64]) {}

    /// Operations recorded so far (the run stops issuing at its target).
    fn recorded(&self) -> usize;

    /// Whether the workload's own setup (tables, indexes) is done; until it
    /// is, the run injects no faults. Most workloads need none.
    fn set_up(&self) -> bool {
        true
    }

    /// Switches to the final phase: from now on `invoke` hands out the final
    /// reads of every key, after faults have healed.
    fn begin_final(&mut self);

    /// True once every final read has succeeded (or given up).
    fn final_done(&self) -> bool;

    /// Runs the checkers over the history.
    fn check(&self) -> Verdict;

    /// Operations by outcome.
    fn outcomes(&self) -> OutcomeCounts;

    /// A stable rendering of the history, for the determinism hash.
    fn history_text(&self) -> String;

    /// The user `process` acts as (its client certificate's name).
    fn caller(&self, _process: ProcessId) -> Caller {
        Caller::User(ADMIN.to_string())
    }

    /// Users (not admins) the run's catalog setup creates for this
    /// workload.
    fn users(&self) -> Vec<String> {
        Vec::new()
    }

    /// The newest catalog version a client of this workload was told its
    /// change committed (0 when it changes no catalog): after healing,
    /// every node must hold at least this one.
    fn acknowledged_catalog_version(&self) -> u64 {
        0
    }

    /// Registers of an eventual namespace whose replicas must agree once
    /// faults have healed: `(register, key, every value clients tried to
    /// write to it, `None` for a delete)`. Empty for workloads with no
    /// eventual part.
    fn converging_keys(&self) -> Vec<(u64, Key, BTreeSet<Option<u64>>)> {
        Vec::new()
    }

    /// Registers of [`Workload::converging_keys`] with a write a client was
    /// told succeeded: they must not be absent once replicas converge.
    fn acknowledged_registers(&self) -> BTreeSet<u64> {
        BTreeSet::new()
    }
}

/// Operations of a history by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    /// Took effect.
    pub ok: usize,
    /// Definitely did not take effect.
    pub fail: usize,
    /// Outcome unknown.
    pub info: usize,
}

impl OutcomeCounts {
    /// Counts the outcomes of `history`.
    pub fn of<O, R>(history: &[crate::history::Operation<O, R>]) -> OutcomeCounts {
        let mut counts = OutcomeCounts::default();
        for op in history {
            match op.outcome {
                Outcome::Ok(_) => counts.ok += 1,
                Outcome::Fail(_) => counts.fail += 1,
                Outcome::Info(_) => counts.info += 1,
            }
        }
        counts
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: OutcomeCounts) {
        self.ok += other.ok;
        self.fail += other.fail;
        self.info += other.info;
    }
}

impl std::fmt::Display for OutcomeCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ok, {} failed, {} indeterminate",
            self.ok, self.fail, self.info
        )
    }
}

/// The outcome of an error answer: definite failures have no effect;
/// timeouts with a possible commit are indeterminate.
pub fn error_outcome<R>(error: &ClientError) -> Outcome<R> {
    match error {
        ClientError::Timeout {
            outcome_unknown: true,
        } => Outcome::Info(error.to_string()),
        _ => Outcome::Fail(error.to_string()),
    }
}

/// The outcome of a timeout or an error; `None` for a successful response.
pub fn failure_outcome<R>(answer: &Answer) -> Option<Outcome<R>> {
    match answer {
        Answer::Timeout => Some(Outcome::Info("client timeout".to_string())),
        Answer::Response(Response::Error(error)) => Some(error_outcome(error)),
        Answer::Response(_) => None,
        Answer::Scanned(_) => Some(Outcome::Info(
            "a scan's answer to a data request".to_string(),
        )),
    }
}

/// The outcome of an answer that does not fit its request: a protocol
/// error, recorded in `errors`, and an indeterminate outcome.
pub fn unexpected<R>(
    errors: &mut Vec<String>,
    op: &impl std::fmt::Debug,
    answer: &impl std::fmt::Debug,
) -> Outcome<R> {
    errors.push(format!("{op:?} answered by {answer:?}"));
    Outcome::Info("unexpected response".to_string())
}

/// One operation per line, numbered by history index.
pub fn render<T: std::fmt::Debug>(history: &[T]) -> String {
    let mut text = String::new();
    for (index, op) in history.iter().enumerate() {
        text.push_str(&format!("{index} {op:?}\n"));
    }
    text
}

/// The key of workload key number `key` in `namespace`/`table`.
pub fn key_of(namespace: &str, table: &str, key: u64) -> Key {
    Key::new(namespace, "sim", table, format!("k{key}").into_bytes())
}

/// Encodes a list of integers (8 bytes each, big-endian).
pub fn encode_list(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// Decodes [`encode_list`]; `None` when the length is not a multiple of 8.
pub fn decode_list(bytes: &[u8]) -> Option<Vec<u64>> {
    if bytes.len() % 8 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_reject_torn_bytes() {
        let list = vec![1, 2, u64::MAX];
        assert_eq!(decode_list(&encode_list(&list)), Some(list));
        assert_eq!(decode_list(&[1, 2, 3]), None);
        assert_eq!(decode_list(&[]), Some(vec![]));
    }
}
