//! zeroql in eventual namespaces: the same statements, without multi-key
//! guarantees.
//!
//! A statement runs through the same executor and the same reads as in a
//! strong namespace: single-key `Get`s (eventual reads there, waiting for
//! [`LEVEL`] replicas) and `Scan`s. Its writes are then sent as `Put` and
//! `Delete` requests, each record and each index entry on its own: no
//! asserts of what was read, no transaction, no retry after a conflict
//! (only a write refused for a stale epoch, which was not applied, is sent
//! again). So a
//! statement is not atomic (a failure midway leaves the writes before it,
//! and says how many), concurrent statements may interleave (the last
//! write of a key wins), a reader may see a record before its index entry,
//! and `CREATE` may overwrite a record created concurrently. That is what
//! an eventual namespace promises for single keys, applied to each key of
//! a statement.
//!
//! Refused, because they cannot be honest there: `BEGIN ... COMMIT` blocks
//! (all or nothing) and uniqueness rules (`DEFINE INDEX ... UNIQUE`, a
//! `UNIQUE` field: two writers would both find the value free). The
//! `system` namespace is refused as before: its records are the cluster's
//! metadata.

use std::collections::BTreeSet;
use std::future::Future;

use zerodb_query::ast::{DefineStatement, Statement, StatementKind};
use zerodb_query::exec::{self, Session};
use zerodb_txn::{ClientError, Level, Request, Response, Ver};

use super::{failure, store_key_to_key, CoreCalls, Stop, FETCH_BATCH_KEYS_MAX};
use crate::api::{ClientRequest, ClientResponse, QueryErrorKind};
use crate::core::catalog::SYSTEM_NAMESPACE;

/// How many replicas a zeroql read or write in an eventual namespace waits
/// for: a majority, so that without failures a read overlaps the last
/// write (R + W > RF) and a statement sees the one before it.
pub const LEVEL: Level = Level::Quorum;
/// Most times one write is sent when the replicas refuse it for a stale
/// ring or policy epoch (it was not applied; the coordinator refreshes
/// meanwhile, as after a namespace was just created or changed).
pub const WRITE_ATTEMPTS_MAX: u32 = 6;
/// Pause before the second send of such a write, doubled for each later
/// one (50, 100, ... 800 ms: about what gossip takes to spread a policy).
const WRONG_EPOCH_PAUSE_MS: u64 = 50;

/// The level of a read of `namespace`: [`LEVEL`] in an eventual namespace,
/// the default elsewhere (strong namespaces refuse any other, and one not
/// known to be eventual yet is read at the default, which both take).
pub fn level(namespace: &str, eventual: &BTreeSet<String>) -> Level {
    if eventual.contains(namespace) {
        LEVEL
    } else {
        Level::default()
    }
}

/// How a statement's writes reach the store.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Apply {
    /// One transaction asserting every read ([`super::commit_ops`]).
    Transaction,
    /// Each write on its own ([`write_each`]).
    EachKey,
}

/// How `unit`, which started in `session`'s namespace and read and wrote
/// what `commit` lists, is applied; refused in the system namespace, and
/// for what an eventual namespace cannot honour (see the module docs).
pub(super) fn apply_mode(
    unit: &exec::Transaction<'_>,
    session: &Session,
    commit: &exec::Commit<Ver>,
    eventual: &BTreeSet<String>,
) -> Result<Apply, Stop> {
    let touched: BTreeSet<&str> = commit
        .reads
        .iter()
        .map(|(key, _)| key.namespace.as_str())
        .chain(commit.writes.iter().map(|(key, _)| key.namespace.as_str()))
        .collect();
    if touched.contains(SYSTEM_NAMESPACE) {
        return Err(refused(format!(
            "namespace {SYSTEM_NAMESPACE:?} holds the cluster's metadata: zeroql does not run there; use `zerodb ns`, `user`, `grant`"
        )));
    }
    let is_eventual = |namespace: &&str| eventual.contains(*namespace);
    let touched_eventual = touched.iter().copied().find(is_eventual);
    // A block or a rule is judged where it runs, even if it touched no key.
    let started = session.namespace.as_deref().filter(is_eventual);
    let Some(namespace) = touched_eventual.or(started) else {
        return Ok(Apply::Transaction);
    };
    if unit.block {
        return Err(refused(without_guarantees(
            namespace,
            "a BEGIN ... COMMIT block, which promises all or nothing, cannot run",
        )));
    }
    if unit.statements.iter().any(defines_uniqueness) {
        return Err(refused(without_guarantees(
            namespace,
            "a UNIQUE index or field cannot be enforced (two writers would both find the value free)",
        )));
    }
    if touched_eventual.is_none() {
        return Ok(Apply::Transaction);
    }
    if commit
        .writes
        .iter()
        .any(|(key, _)| writes_edges(&key.table))
    {
        return Err(refused(without_guarantees(
            namespace,
            "an edge (RELATE, or a delete that takes a record's edges with it) cannot be written together with its adjacency entries",
        )));
    }
    if let Some(strong) = touched.iter().find(|touched| !is_eventual(touched)) {
        return Err(refused(without_guarantees(
            namespace,
            &format!("a statement cannot also touch the strong namespace {strong:?}"),
        )));
    }
    Ok(Apply::EachKey)
}

/// The answer to `request` (already sent: `first`), sending it again
/// while the replicas refuse it for a stale epoch, which means it was not
/// applied. Not a retry after a conflict: an eventual write has none.
async fn send_again_on_wrong_epoch<C: CoreCalls>(
    core: &C,
    request: ClientRequest,
    first: impl Future<Output = ClientResponse>,
) -> ClientResponse {
    let mut answer = first.await;
    for attempt in 1..WRITE_ATTEMPTS_MAX {
        let stale = matches!(
            answer,
            ClientResponse::Data(Response::Error(ClientError::WrongEpoch { .. }))
        );
        if !stale {
            break;
        }
        let pause = WRONG_EPOCH_PAUSE_MS << (attempt - 1);
        core.pause(pause).await;
        answer = core.call(request.clone()).await;
    }
    answer
}

/// Whether a write to `table` is part of an edge: the adjacency entries
/// that must change with the edge record.
fn writes_edges(table: &str) -> bool {
    table == zerodb_query::keys::OUT_EDGES || table == zerodb_query::keys::IN_EDGES
}

/// "namespace X is eventual: ... without multi-key guarantees; ..."
fn without_guarantees(namespace: &str, what: &str) -> String {
    format!(
        "namespace {namespace:?} is eventual: zeroql runs each statement there without multi-key guarantees, so {what}; use a strong namespace"
    )
}

fn refused(message: String) -> Stop {
    Stop::Other(QueryErrorKind::Refused, message)
}

/// Whether `statement` defines a uniqueness rule.
fn defines_uniqueness(statement: &Statement) -> bool {
    let StatementKind::Define(define) = &statement.kind else {
        return false;
    };
    match define {
        DefineStatement::Index { unique, .. } => *unique,
        DefineStatement::Field { field, .. } => field.unique,
        DefineStatement::Table { fields, .. } => fields.iter().any(|field| field.unique),
        DefineStatement::Namespace { .. } | DefineStatement::Database { .. } => false,
    }
}

/// Sends every write of `commit` as its own `Put` or `Delete`, at most
/// [`FETCH_BATCH_KEYS_MAX`] at once. When one fails after others were
/// applied, the error says how many were (kind `OutcomeUnknown`: the
/// statement is partly written).
pub(super) async fn write_each<C: CoreCalls>(
    core: &C,
    commit: &exec::Commit<Ver>,
) -> Result<(), Stop> {
    let total = commit.writes.len();
    let mut applied = 0;
    for chunk in commit.writes.chunks(FETCH_BATCH_KEYS_MAX) {
        // Sent before any is awaited, as the reads are.
        let calls: Vec<_> = chunk
            .iter()
            .map(|(key, value)| {
                let key = store_key_to_key(key);
                let request = ClientRequest::Data(match value {
                    Some(value) => Request::Put {
                        key,
                        value: value.clone(),
                        level: LEVEL,
                        ttl_ms: None,
                    },
                    None => Request::Delete { key, level: LEVEL },
                });
                let first = core.call(request.clone());
                send_again_on_wrong_epoch(core, request, first)
            })
            .collect();
        let mut first_failure = None;
        let mut unsure = false;
        for call in calls {
            match call.await {
                ClientResponse::Data(Response::Written { .. }) => applied += 1,
                other => {
                    let (kind, message) = match failure(other, "writing a key of the statement") {
                        Stop::Other(kind, message) => (kind, message),
                        Stop::Exec(error) => (QueryErrorKind::Internal, error.to_string()),
                    };
                    unsure |= kind == QueryErrorKind::OutcomeUnknown;
                    first_failure.get_or_insert((kind, message));
                }
            }
        }
        let Some((kind, message)) = first_failure else {
            continue;
        };
        if applied == 0 && !unsure {
            // Nothing of the statement was written.
            return Err(Stop::Other(kind, message));
        }
        return Err(Stop::Other(
            QueryErrorKind::OutcomeUnknown,
            format!(
                "{message}; {applied} of the statement's {total} writes were applied, maybe more (an eventual namespace writes each record and index entry on its own): read before retrying"
            ),
        ));
    }
    Ok(())
}

#[cfg(all(test, feature = "runtime"))]
#[path = "eventual_tests.rs"]
mod tests;
