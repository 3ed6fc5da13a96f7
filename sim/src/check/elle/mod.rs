//! Elle-style checking of list-append transactions for strict serializability.
//!
//! Appends to a key are unique values and lists only grow, so every read of
//! a key reveals a prefix of that key's version order: the longest read is
//! the order, and every other read must be a prefix of it. From the orders
//! come write-write, write-read and read-write (anti-dependency) edges
//! between transactions; completion-before-invocation gives real-time edges.
//! A cycle is an anomaly, classified by the edges it needs (Adya's G0, G1c,
//! G-single, G2, and their real-time variants, which only strict
//! serializability forbids). Reads that see aborted or intermediate state
//! (G1a, G1b) and internally inconsistent transactions are found directly.

mod cycles;
mod graph;
mod infer;

use std::fmt;

use super::CheckError;
use crate::history::TxnOperation;

/// The kinds of anomaly the list-append checker reports.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ElleKind {
    /// Write cycle: only write-write edges.
    G0,
    /// Aborted read: a committed transaction read a value written by a
    /// transaction that failed.
    G1a,
    /// Intermediate read: a transaction read a value its writer later
    /// overwrote within the same transaction.
    G1b,
    /// Circular information flow: write-write and write-read edges only.
    G1c,
    /// A cycle with exactly one read-write anti-dependency (read skew, lost
    /// update, non-repeatable read).
    GSingle,
    /// A cycle with two or more anti-dependencies (write skew).
    G2,
    /// G0 that needs a real-time edge: a strict serializability violation.
    G0Realtime,
    /// G1c that needs a real-time edge.
    G1cRealtime,
    /// G-single that needs a real-time edge (for example a stale read).
    GSingleRealtime,
    /// G2 that needs a real-time edge.
    G2Realtime,
    /// Two reads of a key that are not prefixes of one another.
    IncompatibleOrder,
    /// A transaction whose reads disagree with its own earlier reads and
    /// appends.
    Internal,
    /// A read of a value no transaction appended, or of a value twice.
    GarbageRead,
}

impl fmt::Display for ElleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ElleKind::G0 => "G0",
            ElleKind::G1a => "G1a",
            ElleKind::G1b => "G1b",
            ElleKind::G1c => "G1c",
            ElleKind::GSingle => "G-single",
            ElleKind::G2 => "G2",
            ElleKind::G0Realtime => "G0-realtime",
            ElleKind::G1cRealtime => "G1c-realtime",
            ElleKind::GSingleRealtime => "G-single-realtime",
            ElleKind::G2Realtime => "G2-realtime",
            ElleKind::IncompatibleOrder => "incompatible-order",
            ElleKind::Internal => "internal",
            ElleKind::GarbageRead => "garbage-read",
        };
        f.write_str(name)
    }
}

/// One anomaly, naming the transactions (history indices) involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElleAnomaly {
    /// What kind.
    pub kind: ElleKind,
    /// History indices of the transactions involved (for a cycle, in cycle
    /// order).
    pub txns: Vec<usize>,
    /// Human-readable explanation, e.g. `T3 -ww(k1)-> T5 -rw(k2)-> T3`.
    pub explanation: String,
}

impl fmt::Display for ElleAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.explanation)
    }
}

/// The verdict over a list-append history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElleReport {
    /// Transactions in the history.
    pub txns: usize,
    /// Committed (`Ok`) transactions.
    pub committed: usize,
    /// Dependency edges inferred (distinct ordered pairs).
    pub edges: usize,
    /// Anomalies found.
    pub anomalies: Vec<ElleAnomaly>,
}

impl ElleReport {
    /// True when no anomaly was found.
    pub fn is_valid(&self) -> bool {
        self.anomalies.is_empty()
    }

    /// True when an anomaly of `kind` was found.
    pub fn has(&self, kind: ElleKind) -> bool {
        self.anomalies.iter().any(|a| a.kind == kind)
    }
}

/// Checks a list-append history for strict serializability.
pub fn check_list_append(history: &[TxnOperation]) -> Result<ElleReport, CheckError> {
    let inference = infer::infer(history)?;
    let mut anomalies = inference.anomalies.clone();
    let graph = graph::DependencyGraph::build(history, &inference);
    anomalies.extend(cycles::find_cycles(&graph));
    Ok(ElleReport {
        txns: history.len(),
        committed: history.iter().filter(|t| t.outcome.is_ok()).count(),
        edges: graph.edge_count(),
        anomalies,
    })
}

#[cfg(test)]
mod tests;
