//! The executor: runs one statement, or one `BEGIN ... COMMIT` block, as
//! one transaction against a [`TxnStore`], and returns its results with
//! the [`Commit`] the caller must apply atomically.
//!
//! Sans-IO: the caller passes the time ([`Environment::now`]) and the
//! source of generated record ids ([`IdGenerator`]). The store is only
//! read; every write is buffered, seen by later reads of the same
//! transaction, and returned in the commit.
//!
//! ```
//! use zerodb_query::exec::{run_in_memory, Environment, MemoryStore, SequentialIds, Session};
//! let mut store = MemoryStore::new();
//! let mut session = Session::new("test", "test");
//! let mut ids = SequentialIds::default();
//! let mut environment = Environment { now: 0, ids: &mut ids };
//! let results = run_in_memory(
//!     &mut store,
//!     &mut session,
//!     &mut environment,
//!     "CREATE person:tobie SET age = 40; SELECT age FROM person WHERE age > 30",
//! )
//! .unwrap();
//! assert_eq!(results[1].to_string(), "[{ age: 40 }]");
//! ```

use std::collections::BTreeMap;

use crate::ast::{Query, Statement, StatementKind};
use crate::value::Value;

mod adjacency;
mod define;
mod describe;
mod error;
mod eval;
mod functions;
mod graph;
mod memory;
mod nearest;
mod read;
mod relate;
mod runner;
mod store;
mod vectors;
mod write;

pub use error::ExecError;
pub use graph::TRAVERSAL_VISITS_MAX;
pub use memory::MemoryStore;
pub use store::{Commit, Scanned, Stored, TxnStore, SCAN_KEYS_MAX, WRITE_KEYS_MAX};

/// What persists between transactions of one connection: the current
/// namespace and database, and the parameters set with `LET` or passed in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Session {
    /// `USE NS`
    pub namespace: Option<String>,
    /// `USE DB`
    pub database: Option<String>,
    /// `$name` values.
    pub params: BTreeMap<String, Value>,
    /// Refuse tables, namespaces and databases that are not defined
    /// (otherwise an undefined table is schemaless and empty).
    pub strict: bool,
    /// Test-only and unsafe: deleting a record that is not an edge leaves
    /// its edges and their adjacency entries behind (no cascade). The
    /// simulator's graph checker must catch it (`zerodb-sim --workload
    /// graph --unsafe-skip-edge-cascade`); nothing else sets it.
    pub unsafe_skip_edge_cascade: bool,
}

impl Session {
    /// A session using `namespace` and `database`.
    pub fn new(namespace: &str, database: &str) -> Session {
        Session {
            namespace: Some(namespace.to_string()),
            database: Some(database.to_string()),
            ..Session::default()
        }
    }
}

/// Where generated record ids come from (`CREATE person SET ...`).
pub trait IdGenerator {
    /// A new key for a record of `table`.
    fn generate(&mut self, table: &str) -> Value;
}

/// Ids `"00000000000000000001"`, `"...2"`, ...: deterministic, for tests.
#[derive(Debug, Default, Clone)]
pub struct SequentialIds {
    last: u64,
}

impl IdGenerator for SequentialIds {
    fn generate(&mut self, _table: &str) -> Value {
        self.last += 1;
        Value::Str(format!("{:020}", self.last))
    }
}

/// Ids of 20 lowercase letters and digits from a random source the caller
/// provides (such as a seeded RNG), like SurrealQL's.
pub struct RandomIds<F: FnMut() -> u64>(pub F);

impl<F: FnMut() -> u64> IdGenerator for RandomIds<F> {
    fn generate(&mut self, _table: &str) -> Value {
        const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut bits = u128::from((self.0)()) << 64 | u128::from((self.0)());
        let mut id = String::with_capacity(20);
        for _ in 0..20 {
            id.push(char::from(ALPHABET[(bits % 36) as usize]));
            bits /= 36;
        }
        Value::Str(id)
    }
}

/// What the caller supplies for one transaction.
pub struct Environment<'a> {
    /// The transaction's time (`time::now()`), nanoseconds since the epoch.
    pub now: i64,
    /// Source of generated record ids.
    pub ids: &'a mut dyn IdGenerator,
}

/// One unit the caller runs as one transaction: a single statement, or the
/// statements between `BEGIN` and `COMMIT`/`CANCEL`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction<'q> {
    /// The statements, without `BEGIN` and `COMMIT`.
    pub statements: &'q [Statement],
    /// Ended by `CANCEL`: run for its results, but nothing is written.
    pub cancelled: bool,
    /// Written as `BEGIN ... COMMIT|CANCEL` (possibly around one statement
    /// or none): the caller promised all or nothing. A store that cannot
    /// keep that promise (an eventual namespace) refuses blocks.
    pub block: bool,
}

/// Splits a query into its transactions, checking that `BEGIN`, `COMMIT`
/// and `CANCEL` pair up.
pub fn transactions(query: &Query) -> Result<Vec<Transaction<'_>>, ExecError> {
    let statements = &query.statements;
    let mut units = Vec::new();
    let mut open: Option<usize> = None;
    for (at, statement) in statements.iter().enumerate() {
        let misplaced = |message: &str| ExecError::Transaction {
            message: message.to_string(),
            span: statement.span,
        };
        match (&statement.kind, open) {
            (StatementKind::Begin, Some(_)) => {
                return Err(misplaced(
                    "BEGIN inside a transaction: transactions do not nest",
                ))
            }
            (StatementKind::Begin, None) => open = Some(at + 1),
            (StatementKind::Commit | StatementKind::Cancel, None) => {
                return Err(misplaced("COMMIT or CANCEL without BEGIN"))
            }
            (StatementKind::Commit | StatementKind::Cancel, Some(first)) => {
                units.push(Transaction {
                    statements: &statements[first..at],
                    cancelled: statement.kind == StatementKind::Cancel,
                    block: true,
                });
                open = None;
            }
            (_, Some(_)) => {}
            (_, None) => units.push(Transaction {
                statements: std::slice::from_ref(statement),
                cancelled: false,
                block: false,
            }),
        }
    }
    if let Some(first) = open {
        return Err(ExecError::Transaction {
            message: "BEGIN without COMMIT or CANCEL".into(),
            span: statements[first - 1].span,
        });
    }
    Ok(units)
}

/// What one transaction produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<V> {
    /// One value per statement.
    pub results: Vec<Value>,
    /// What to commit atomically; empty writes when cancelled.
    pub commit: Commit<V>,
}

/// Runs one transaction. On success the session holds the block's `USE`
/// and `LET` changes; on error it is unchanged and nothing is to be
/// committed.
pub fn execute<S: TxnStore>(
    transaction: &Transaction<'_>,
    session: &mut Session,
    store: &mut S,
    environment: &mut Environment<'_>,
) -> Result<Outcome<S::Version>, ExecError> {
    let mut working = session.clone();
    let mut runner = runner::Runner::new(store, &mut working, environment);
    let mut results = Vec::with_capacity(transaction.statements.len());
    for statement in transaction.statements {
        results.push(runner.run_statement(statement)?);
    }
    let mut commit = runner.into_commit();
    if transaction.cancelled {
        commit.writes.clear();
    } else {
        *session = working;
    }
    Ok(Outcome { results, commit })
}

/// Parses and runs `text` on a [`MemoryStore`], committing each
/// transaction before the next; returns the values of every statement run
/// (none for `BEGIN`/`COMMIT`). For tests and examples.
pub fn run_in_memory(
    store: &mut MemoryStore,
    session: &mut Session,
    environment: &mut Environment<'_>,
    text: &str,
) -> Result<Vec<Value>, ExecError> {
    let query = crate::parse(text)?;
    let mut results = Vec::new();
    for transaction in transactions(&query)? {
        let outcome = execute(&transaction, session, store, environment)?;
        store.apply(&outcome.commit).map_err(ExecError::Store)?;
        results.extend(outcome.results);
    }
    Ok(results)
}
