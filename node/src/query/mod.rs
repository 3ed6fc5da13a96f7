//! zeroql on the node: a [`ClientRequest::Query`] runs on the node that
//! received it, as a client of its own core, reached through [`CoreCalls`]
//! (the runtime's event loop, `crate::runtime::query`; the simulator's
//! network, polled without tokio). The loop is sans-IO: it reads no clock
//! and starts no task; time, pauses and turns come through [`CoreCalls`].
//!
//! For each transaction of the query (one statement, or one
//! `BEGIN ... COMMIT` block) it runs an optimistic loop:
//!
//! 1. Run the query crate's executor over a [`FetchedStore`]: the values
//!    fetched so far. A key or range not fetched yet reads as absent or
//!    empty and is noted as missing; that run's outcome is thrown away.
//! 2. Fetch everything missing with the core's ordinary requests: strong
//!    single-key `Get`s (linearizable) and `Scan`s, as the caller, so the
//!    catalog gate judges every read. Go to 1 until a run needs nothing new
//!    (at most [`READ_ROUNDS_MAX`] rounds). The executor is deterministic
//!    given the store's answers, the time and the id source, all fixed for
//!    one attempt.
//! 3. Commit with ONE `Request::Txn`: `AssertRange` for every range
//!    scanned, `Assert(key, VersionEquals(v))` for every other key read
//!    (`Ver::ZERO` for a key read as absent: the transaction layer reads a
//!    never-written key and a deleted one alike as version zero), then
//!    every write. A read-only statement that read something commits the
//!    asserts alone, so its reads are checked at one point, unless its reads
//!    are single keys that reading again checks (`validate.rs`).
//! 4. When an assert fails or a lock stays held
//!    ([`ClientError::ConditionFailed`], [`ClientError::RangeChanged`],
//!    [`ClientError::Conflict`]) the whole statement runs again from 1, at
//!    most [`STATEMENT_ATTEMPTS_MAX`] times, then the query stops with a
//!    conflict error.
//!
//! **Phantoms:** every range a statement scanned (a table, an index range,
//! the value range a unique index checks) is committed as an
//! `Op::AssertRange` with the live records the scan returned. The
//! transaction layer share-locks the range at a quorum of its replicas and
//! checks it holds exactly those records; while the lock is held no key can
//! be written into the range, so a concurrent insert either lands before
//! (and the assert fails, the statement runs again) or after the commit.
//! A range read needs the table's records on one replica ring: namespaces
//! with partition level `record` refuse range reads with that reason.
//!
//! **Eventual namespaces** run the same statements without multi-key
//! guarantees: the same reads (eventual ones there), then each write on its
//! own instead of step 3's transaction, and no retries ([`eventual`]).
//! `BEGIN ... COMMIT` blocks and uniqueness rules are refused there. The
//! `system` namespace is refused: its records are the cluster's metadata.
//!
//! Keys: a query crate [`StoreKey`] `(namespace, database, table, id)` is
//! the ZeroDB [`Key`] with the same four parts ([`store_key_to_key`]);
//! reserved tables start with `#`.

use std::collections::BTreeSet;
use std::future::Future;

use zerodb_query::ast::Query;
use zerodb_query::exec::{self, Environment, ExecError, Session};
use zerodb_query::keys::{is_schema_key, KeyRange, StoreKey};
use zerodb_query::value::{codec, Value};

use crate::api::{
    ClientRequest, ClientResponse, QueryAnswer, QueryError, QueryErrorKind, QueryRequest,
    ScanQuery, ServiceError, QUERY_PARAMS_MAX,
};
use zerodb_txn::{ClientError, Key, Request, Response, Ver, TXN_OPS_MAX};

/// Most times one statement runs when its commit finds that what it read
/// changed (or a lock stays held); then the query stops with a conflict.
pub const STATEMENT_ATTEMPTS_MAX: u32 = 8;
/// Most rounds of fetches one attempt of a statement may need before it
/// reads nothing new. Each round fetches every key the previous run asked
/// for, so this bounds the depth of reads that depend on earlier reads.
pub const READ_ROUNDS_MAX: u32 = 64;
/// Pause before the second attempt of a statement, doubled for each later
/// one, so that contending statements spread out.
const RETRY_PAUSE_MS: u64 = 2;
/// Most reads of one round sent to the core at once.
pub const FETCH_BATCH_KEYS_MAX: usize = 128;

/// How the query loop reaches the node core: one request as the caller,
/// one answer. The runtime sends them through the event loop; tests use a
/// store in memory.
pub trait CoreCalls {
    /// Sends `request` and waits for the core's answer.
    fn call(&self, request: ClientRequest) -> impl Future<Output = ClientResponse> + Send;

    /// The eventual namespaces as the core knows them now, if it can say
    /// (otherwise those the query started with are used). Asked after a
    /// statement's reads: a namespace created a moment ago is unknown to
    /// the node until a catalog refresh, which its reads wait for.
    fn eventual_namespaces(&self) -> Option<BTreeSet<String>> {
        None
    }

    /// The node's cache of table schemas, if it keeps one (see
    /// `fetch.rs`: guesses).
    fn schema_cache(&self) -> Option<SchemaCache> {
        None
    }

    /// Waits for one of the node's turns for large scans (see `fetch.rs`);
    /// the turn is held until the returned value is dropped. `None`: the
    /// node does not limit them.
    fn large_scan_turn(&self) -> impl Future<Output = Option<ScanTurn>> + Send {
        std::future::ready(None)
    }

    /// Waits `ms` milliseconds (between attempts of a statement). The
    /// runtime sleeps; the simulator, which polls this loop without tokio,
    /// answers at once.
    fn pause(&self, ms: u64) -> impl Future<Output = ()> + Send;

    /// The time of a statement (`time::now()`, and the seed of the record
    /// ids it generates), in nanoseconds since the epoch: the wall clock in
    /// the runtime, simulated time in the simulator (this loop never reads
    /// a clock itself).
    fn now_ns(&self) -> i64;

    /// How long one transaction of a query may run before the node stops
    /// it, if it limits that (see [`STATEMENT_TIMEOUTS`]).
    fn statement_time_max_ms(&self) -> Option<u64> {
        None
    }

    /// Test-only and unsafe: statements delete records without their edges
    /// ([`Session::unsafe_skip_edge_cascade`]). Only the simulator turns it
    /// on, to show that its graph checker catches the dangling edges.
    fn unsafe_skip_edge_cascade(&self) -> bool {
        false
    }
}

/// A statement may run for this many of the node's request timeouts
/// (`timeouts.request_timeout_ms`, 5 s by default: so 10 s, the client's
/// default wait) before the node stops it, if it has not sent its commit
/// yet. Its client has given up by then; without a limit an abandoned
/// statement (a table scan of 100,000 records beside fifteen others) kept
/// reading and retrying, and slowed every other statement of the cluster.
pub const STATEMENT_TIMEOUTS: u64 = 2;

/// The ZeroDB key a query crate key is stored under: the same four parts.
pub fn store_key_to_key(key: &StoreKey) -> Key {
    Key::new(&key.namespace, &key.database, &key.table, key.id.clone())
}

/// The query crate key of a ZeroDB key (the inverse of [`store_key_to_key`]).
pub fn key_to_store_key(key: &Key) -> StoreKey {
    StoreKey {
        namespace: key.namespace.clone(),
        database: key.database.clone(),
        table: key.table.clone(),
        id: key.id.clone(),
    }
}

/// The scan that reads `range` (ids `start..end` of one table), at most
/// `limit` records.
pub fn range_to_scan(range: &KeyRange, limit: u32) -> ScanQuery {
    ScanQuery {
        namespace: range.namespace.clone(),
        database: range.database.clone(),
        table: range.table.clone(),
        start: range.start.clone(),
        end: Some(range.end.clone()),
        limit,
    }
}

/// Why a statement stopped, before it becomes a [`QueryError`].
#[derive(Debug)]
enum Stop {
    /// The executor refused the statement (rendered against the text).
    Exec(ExecError),
    /// Anything else, already worded.
    Other(QueryErrorKind, String),
}

/// Runs a query: every transaction of it in order, each committed before
/// the next. `eventual` names the namespaces that are eventual.
pub async fn run_query<C: CoreCalls>(
    core: &C,
    request: QueryRequest,
    eventual: &BTreeSet<String>,
) -> QueryAnswer {
    let query = match zerodb_query::parse(&request.text) {
        Ok(query) => query,
        Err(error) => {
            return QueryAnswer {
                results: Vec::new(),
                error: Some(QueryError {
                    kind: QueryErrorKind::Invalid,
                    message: error.render(&request.text),
                }),
            }
        }
    };
    let start = Start {
        namespace: &request.namespace,
        database: &request.database,
        params: &request.params,
    };
    run_parsed(core, &request.text, &query, start, eventual).await
}

/// Where a query starts: namespace, database and encoded parameters.
#[derive(Clone, Copy)]
pub struct Start<'a> {
    /// Namespace the statements start in.
    pub namespace: &'a str,
    /// Database the statements start in.
    pub database: &'a str,
    /// `$name` -> value in the value codec.
    pub params: &'a [(String, Vec<u8>)],
}

/// Runs `query`, parsed from `text` (against which errors are rendered):
/// [`run_query`] after parsing, and the execution of a prepared statement.
pub async fn run_parsed<C: CoreCalls>(
    core: &C,
    text: &str,
    query: &Query,
    start: Start<'_>,
    eventual: &BTreeSet<String>,
) -> QueryAnswer {
    let mut answer = QueryAnswer {
        results: Vec::new(),
        error: None,
    };
    let fail = |kind, message: String| QueryError { kind, message };
    let mut session = Session::new(start.namespace, start.database);
    session.unsafe_skip_edge_cascade = core.unsafe_skip_edge_cascade();
    if start.params.len() > QUERY_PARAMS_MAX {
        let message = format!(
            "{} parameters: at most {QUERY_PARAMS_MAX} allowed",
            start.params.len()
        );
        answer.error = Some(fail(QueryErrorKind::Invalid, message));
        return answer;
    }
    for (name, bytes) in start.params {
        match codec::decode(bytes) {
            Ok(value) => {
                session.params.insert(name.clone(), value);
            }
            Err(error) => {
                let message = format!("parameter ${name} does not decode: {error}");
                answer.error = Some(fail(QueryErrorKind::Invalid, message));
                return answer;
            }
        }
    }
    let units = match exec::transactions(query) {
        Ok(units) => units,
        Err(error) => {
            answer.error = Some(fail(QueryErrorKind::Invalid, error.render(text)));
            return answer;
        }
    };
    for unit in &units {
        match run_unit(core, unit, &mut session, eventual).await {
            Ok(results) => {
                for value in results {
                    match codec::encode(&value) {
                        Ok(bytes) => answer.results.push(bytes),
                        Err(error) => {
                            let message = format!("a result does not encode: {error}");
                            answer.error = Some(fail(QueryErrorKind::Internal, message));
                            return answer;
                        }
                    }
                }
            }
            Err(Stop::Exec(error)) => {
                let kind = match error {
                    ExecError::Corrupt { .. } => QueryErrorKind::Internal,
                    ExecError::RecordExists { .. }
                    | ExecError::UniqueViolation { .. }
                    | ExecError::FieldType { .. }
                    | ExecError::FieldRule { .. }
                    | ExecError::UndefinedField { .. } => QueryErrorKind::Violation,
                    _ => QueryErrorKind::Invalid,
                };
                answer.error = Some(fail(kind, error.render(text)));
                return answer;
            }
            Err(Stop::Other(kind, message)) => {
                answer.error = Some(fail(kind, message));
                return answer;
            }
        }
    }
    answer
}

/// Runs one transaction of a query until it commits, fails, or conflicts
/// [`STATEMENT_ATTEMPTS_MAX`] times.
async fn run_unit<C: CoreCalls>(
    core: &C,
    unit: &exec::Transaction<'_>,
    session: &mut Session,
    eventual: &BTreeSet<String>,
) -> Result<Vec<Value>, Stop> {
    let mut last_conflict = String::new();
    let mut guess = true;
    let mut attempt = 0;
    let deadline = Deadline::of(core);
    while attempt < STATEMENT_ATTEMPTS_MAX {
        deadline.check(core)?;
        match run_attempt(core, unit, session, eventual, guess, deadline).await? {
            Attempted::Done(results, next_session) => {
                *session = next_session;
                return Ok(results);
            }
            Attempted::Guessed => guess = false,
            Attempted::Conflict(message) => {
                tracing::debug!(%message, attempt, "zeroql statement conflicted; running it again");
                last_conflict = message;
                guess = false;
                attempt += 1;
                if attempt < STATEMENT_ATTEMPTS_MAX {
                    let pause = RETRY_PAUSE_MS << attempt.min(6);
                    core.pause(pause).await;
                }
            }
        }
    }
    Err(Stop::Other(
        QueryErrorKind::Conflict,
        format!(
            "the statement conflicted with concurrent transactions {STATEMENT_ATTEMPTS_MAX} times (last: {last_conflict}); nothing of it was written, retry later"
        ),
    ))
}

/// How one attempt of a statement ended, short of a failure.
enum Attempted {
    /// Committed (or checked): the results and the session after it.
    Done(Vec<Value>, Session),
    /// It guessed and cannot tell whether the guess was right (it failed on
    /// its own, or must run in an eventual namespace): run it again
    /// without guessing.
    Guessed,
    /// What it read changed before its commit: run it again.
    Conflict(String),
}

/// One attempt: read until the executor needs nothing new, then commit
/// (or, read-only, check the reads by reading them again).
async fn run_attempt<C: CoreCalls>(
    core: &C,
    unit: &exec::Transaction<'_>,
    session: &Session,
    eventual: &BTreeSet<String>,
    guess: bool,
    deadline: Deadline,
) -> Result<Attempted, Stop> {
    let cache = core.schema_cache();
    let mut store = FetchedStore::new(cache.clone(), guess, eventual);
    store.deadline = deadline;
    let (results, commit, next_session) =
        match read_until_complete(core, unit, session, eventual, &mut store).await {
            Err(Stop::Exec(_)) if store.guessed() => return Ok(Attempted::Guessed),
            Err(Stop::Exec(error)) => {
                // The statement's own error, found over reads made at
                // different moments: reported only if they all held at one
                // point, otherwise the statement runs again.
                return match reads_held(core, &store, cache.as_ref(), eventual).await? {
                    true => Err(Stop::Exec(error)),
                    false => Ok(Attempted::Conflict(
                        "what the statement read changed while it ran".into(),
                    )),
                };
            }
            other => other?,
        };
    let latest = core.eventual_namespaces();
    let eventual = latest.as_ref().unwrap_or(eventual);
    if eventual::apply_mode(unit, session, &commit, eventual)? == eventual::Apply::EachKey {
        if store.guessed() {
            return Ok(Attempted::Guessed);
        }
        eventual::write_each(core, &commit).await?;
        return Ok(Attempted::Done(results, next_session));
    }
    if let Some(again) = validate::reads_to_check(&store, &commit) {
        if validate::still_current(core, cache.as_ref(), &again).await? {
            return Ok(Attempted::Done(results, next_session));
        }
        return Ok(Attempted::Conflict(
            "a key the statement read changed while it ran".into(),
        ));
    }
    let ops =
        commit_ops(&commit).map_err(|message| Stop::Other(QueryErrorKind::Invalid, message))?;
    if ops.is_empty() {
        return Ok(Attempted::Done(results, next_session));
    }
    deadline.check(core)?;
    let answer = core.call(ClientRequest::Data(Request::Txn { ops })).await;
    if let Some(cache) = &cache {
        // A schema this statement wrote, or guessed wrong, is read afresh
        // by the next statement that needs it.
        let written = commit.writes.iter().map(|(key, _)| key);
        cache.forget(written.filter(|key| is_schema_key(key)));
        if !matches!(answer, ClientResponse::Data(Response::Committed { .. })) {
            cache.forget(store.guessed.iter().filter(|key| is_schema_key(key)));
        }
    }
    match answer {
        ClientResponse::Data(Response::Committed { .. }) => {
            Ok(Attempted::Done(results, next_session))
        }
        ClientResponse::Data(Response::Error(
            error @ (ClientError::ConditionFailed { .. }
            | ClientError::RangeChanged { .. }
            | ClientError::Conflict { .. }),
        )) => Ok(Attempted::Conflict(error.to_string())),
        other => Err(failure(other, "committing the statement")),
    }
}

type Executed = (Vec<Value>, exec::Commit<Ver>, Session);

/// One attempt of a statement: runs the executor over `store`, fetching
/// what it asks for, until a run needs nothing new.
async fn read_until_complete<C: CoreCalls>(
    core: &C,
    unit: &exec::Transaction<'_>,
    session: &Session,
    eventual: &BTreeSet<String>,
    store: &mut FetchedStore,
) -> Result<Executed, Stop> {
    let now = core.now_ns();
    let seed = now as u64 ^ 0x9e37_79b9_7f4a_7c15;
    for _ in 0..READ_ROUNDS_MAX {
        store.start_run();
        let mut working = session.clone();
        let outcome = {
            // The same seed each run: a re-run generates the same record ids.
            let mut state = seed;
            let mut ids = exec::RandomIds(move || split_mix(&mut state));
            let mut environment = Environment { now, ids: &mut ids };
            exec::execute(unit, &mut working, store, &mut environment)
        };
        if !store.needs_more() {
            let outcome = outcome.map_err(Stop::Exec)?;
            return Ok((outcome.results, outcome.commit, working));
        }
        store.deadline.check(core)?;
        let ranges = store.strong_ranges(eventual);
        if ranges > TXN_OPS_MAX {
            // Refused before fetching them: the commit would be refused.
            return Err(Stop::Other(
                QueryErrorKind::Invalid,
                format!(
                    "the statement reads {ranges} ranges (adjacency lists of a traversal, index ranges, tables): one transaction takes at most {TXN_OPS_MAX} operations (start from fewer records, traverse fewer hops, or add a LIMIT)"
                ),
            ));
        }
        fetch_missing(core, store, eventual).await?;
    }
    Err(Stop::Other(
        QueryErrorKind::Internal,
        format!("the statement still needed new reads after {READ_ROUNDS_MAX} rounds of fetches"),
    ))
}

/// The query error of an answer that is not the one expected.
fn failure(response: ClientResponse, doing: &str) -> Stop {
    let (kind, message) = match response {
        ClientResponse::Data(Response::Error(error)) => {
            let kind = match &error {
                ClientError::Conflict { .. }
                | ClientError::ConditionFailed { .. }
                | ClientError::RangeChanged { .. } => QueryErrorKind::Conflict,
                ClientError::Unavailable { .. }
                | ClientError::WrongEpoch { .. }
                | ClientError::Timeout {
                    outcome_unknown: false,
                } => QueryErrorKind::Unavailable,
                ClientError::Timeout {
                    outcome_unknown: true,
                } => QueryErrorKind::OutcomeUnknown,
                ClientError::BadRequest { .. } => QueryErrorKind::Refused,
            };
            (kind, error.to_string())
        }
        ClientResponse::Error(error) => {
            let kind = match &error {
                ServiceError::ShuttingDown {
                    outcome_unknown: true,
                } => QueryErrorKind::OutcomeUnknown,
                ServiceError::ShuttingDown { .. } | ServiceError::ScanIncomplete { .. } => {
                    QueryErrorKind::Unavailable
                }
                ServiceError::Refused { .. } => QueryErrorKind::Refused,
                ServiceError::Storage(_) => QueryErrorKind::Internal,
            };
            (kind, error.to_string())
        }
        other => (
            QueryErrorKind::Internal,
            format!("unexpected answer: {other:?}"),
        ),
    };
    Stop::Other(kind, format!("{doing} failed: {message}"))
}

/// When the node stops a statement that has not committed yet
/// ([`STATEMENT_TIMEOUTS`]); `None`: never.
#[derive(Clone, Copy, Debug, Default)]
pub struct Deadline(Option<(i64, u64)>);

impl Deadline {
    /// The deadline of a statement starting now.
    fn of<C: CoreCalls>(core: &C) -> Deadline {
        Deadline(core.statement_time_max_ms().map(|ms| {
            let limit_ns = i64::try_from(ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
            (core.now_ns().saturating_add(limit_ns), ms)
        }))
    }

    /// An error once the deadline has passed.
    fn check<C: CoreCalls>(self, core: &C) -> Result<(), Stop> {
        match self.0 {
            Some((at_ns, ms)) if core.now_ns() > at_ns => Err(Stop::Other(
                QueryErrorKind::Unavailable,
                format!(
                    "the statement ran for more than {ms} ms without committing ({STATEMENT_TIMEOUTS} x timeouts.request_timeout_ms); the node stopped it and nothing of it was written, retry later"
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// SplitMix64: a small, well-mixed sequence from a seed, for record ids.
fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

mod fetch;
use fetch::fetch_missing;
pub use fetch::{FetchedStore, ScanTurn, SchemaCache, SCHEMA_CACHE_ENTRIES_MAX};

mod validate;
use validate::reads_held;

mod commit;
pub use commit::commit_ops;
pub use validate::VALIDATED_READS_MAX;

pub mod eventual;

#[cfg(all(test, feature = "runtime"))]
pub(crate) mod tests;

#[cfg(all(test, feature = "runtime"))]
mod guess_tests;
