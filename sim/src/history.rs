//! Recorded client histories: what each simulated client asked for, when, and
//! what it was told.
//!
//! Times are simulated microseconds since the start of a run (true time, not
//! any node's skewed clock). An operation `a` precedes `b` in real time only
//! when `a` completed strictly before `b` was invoked; equal times count as
//! concurrent, which can only make a checker more lenient, never wrong.

use std::fmt;

/// Simulated time in microseconds since the start of a run.
pub type Micros = u64;

/// Identifies a simulated client process (one outstanding operation at a time).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub u32);

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// What the client learned about an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<R> {
    /// The operation took effect and returned this result.
    Ok(R),
    /// The operation definitely did not take effect (for example an abort
    /// the coordinator reported before deciding). The string says why.
    Fail(String),
    /// Outcome unknown: the operation may or may not have taken effect, at
    /// any time after its invocation (for example a client timeout).
    Info(String),
}

impl<R> Outcome<R> {
    /// True for `Ok`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }

    /// True for `Info` (indeterminate).
    pub fn is_info(&self) -> bool {
        matches!(self, Outcome::Info(_))
    }

    /// The result of an `Ok` outcome.
    pub fn ok(&self) -> Option<&R> {
        match self {
            Outcome::Ok(result) => Some(result),
            _ => None,
        }
    }
}

/// One client operation: its invocation, its completion and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<O, R> {
    /// The client process that issued it.
    pub process: ProcessId,
    /// When the client sent it.
    pub invoke_us: Micros,
    /// When the client got its answer (or gave up, for `Info`). Checkers treat
    /// an `Info` operation as completing at infinity.
    pub complete_us: Micros,
    /// What was asked.
    pub op: O,
    /// What the client was told.
    pub outcome: Outcome<R>,
}

impl<O, R> Operation<O, R> {
    /// True when `self` completed (with a known outcome) strictly before
    /// `other` was invoked, so every correct system orders `self` first.
    pub fn precedes(&self, other: &Operation<O, R>) -> bool {
        !self.outcome.is_info() && self.complete_us < other.invoke_us
    }
}

/// Register operations on integer keys holding integer values (absent = `None`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// Read the key.
    Get {
        /// The key.
        key: u64,
    },
    /// Write a value.
    Put {
        /// The key.
        key: u64,
        /// The value written.
        value: u64,
    },
    /// Delete the key (a tombstone); answered like a `Put`.
    Delete {
        /// The key.
        key: u64,
    },
    /// Write `new` only if the current value equals `expected`.
    Cas {
        /// The key.
        key: u64,
        /// The value the key must hold (absent = `None`).
        expected: Option<u64>,
        /// The value written when it does.
        new: u64,
    },
}

impl RegisterOp {
    /// The key the operation touches.
    pub fn key(&self) -> u64 {
        match self {
            RegisterOp::Get { key }
            | RegisterOp::Put { key, .. }
            | RegisterOp::Delete { key }
            | RegisterOp::Cas { key, .. } => *key,
        }
    }
}

/// Results of register operations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterResult {
    /// A `Get` returned this value.
    Value(Option<u64>),
    /// A `Put` or `Delete` was applied.
    Written,
    /// A `Cas` found `expected` and wrote (`true`), or found another value
    /// and wrote nothing (`false`, the transaction's assert failed).
    Swapped(bool),
}

/// A recorded register operation.
pub type RegisterOperation = Operation<RegisterOp, RegisterResult>;

/// One step of a list-append transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Micro {
    /// Append a value (unique per key over the whole run) to a key's list.
    Append {
        /// The key.
        key: u64,
        /// The appended value.
        value: u64,
    },
    /// Read a key's whole list: `None` in a request, `Some` in a result
    /// (an absent key reads as the empty list).
    Read {
        /// The key.
        key: u64,
        /// The list read.
        values: Option<Vec<u64>>,
    },
}

impl Micro {
    /// The key the step touches.
    pub fn key(&self) -> u64 {
        match self {
            Micro::Append { key, .. } | Micro::Read { key, .. } => *key,
        }
    }
}

/// A list-append transaction: its request is the list of steps, its `Ok`
/// result the same steps with every read filled in.
pub type TxnOperation = Operation<Vec<Micro>, Vec<Micro>>;

/// Bank operations over a fixed set of accounts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BankOp {
    /// Move `amount` from one account to another, asserting that `from`
    /// holds at least `amount`.
    Transfer {
        /// Source account.
        from: u64,
        /// Destination account.
        to: u64,
        /// Amount moved (positive).
        amount: i64,
    },
    /// Read every account in one transaction.
    ReadAll,
}

/// Results of bank operations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BankResult {
    /// The transfer committed.
    Transferred,
    /// The balances read, by account.
    Balances(std::collections::BTreeMap<u64, i64>),
}

/// A recorded bank operation.
pub type BankOperation = Operation<BankOp, BankResult>;
