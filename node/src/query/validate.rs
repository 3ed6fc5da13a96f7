//! Read-only statements without a transaction: reading their keys again
//! instead of committing asserts.
//!
//! A read-only statement is strictly serializable if there is one instant,
//! inside the statement, at which every key it read held what it read. A
//! statement whose reads are all single keys (strong gets, or schema keys
//! from the node's cache) can show that instant without a transaction:
//!
//! - each strong get took effect at an instant `t_k` inside its call, and
//!   a cached schema at the instant of the get that filled the cache,
//!   before the statement looked it up;
//! - once every read has answered, each key is read again, at an instant
//!   `t'_k` after every `t_j`;
//! - when the second read finds the version of the first, no write to the
//!   key took effect between `t_k` and `t'_k`: versions are unique and
//!   only grow, so a present key cannot come back to a version it left.
//!   A record read as absent could have been created and deleted in
//!   between (a strong get does not show a tombstone's version), so a
//!   statement that read a record as absent commits instead; schema keys
//!   are never deleted (`REMOVE TABLE` writes an empty schema), so for
//!   them absent means never written;
//! - so every key held what was read at `T`, the later of the statement's
//!   start and the last `t_k`, which is before every `t'_k`.
//!
//! The key fetched last, alone in its round with nothing read after it
//! ([`FetchedStore::last_alone`]), is not read again: `T` is its `t_m`,
//! inside the statement, and every other key's first read came before it.
//! So `SELECT * FROM t:1` with its table's schema cached is one get of the
//! record, then one get of the schema key.
//!
//! Anything else (a write, a range scanned, a record read as absent, more
//! than [`VALIDATED_READS_MAX`] keys) commits its asserts as one
//! transaction. When a second read finds another version, the statement
//! runs again like after a conflicting commit.

use std::collections::BTreeSet;

use zerodb_query::exec::Commit;
use zerodb_query::keys::{is_schema_key, StoreKey};
use zerodb_txn::{ClientError, Level, Request, Response, Ver};

use super::fetch::{read_answer, SchemaCache};
use super::{commit_ops, failure, store_key_to_key, CoreCalls, FetchedStore, Stop};
use crate::api::{ClientRequest, ClientResponse};

/// Most keys a read-only statement reads again instead of committing its
/// asserts; beyond this a transaction is cheaper than the reads.
pub const VALIDATED_READS_MAX: usize = 16;

/// The reads of `commit` to read again instead of committing it, with the
/// versions read; `None` when it must commit (see the module docs).
pub(super) fn reads_to_check(
    store: &FetchedStore,
    commit: &Commit<Ver>,
) -> Option<Vec<(StoreKey, Option<Ver>)>> {
    if !commit.writes.is_empty() || commit.ranges.iter().any(|range| !range.is_empty()) {
        return None;
    }
    let mut again = Vec::new();
    for (key, version) in &commit.reads {
        if store.last_alone.as_ref() == Some(key) {
            continue;
        }
        let single = store.by_get.contains(key);
        let comparable = version.is_some() || is_schema_key(key);
        if !single || !comparable {
            return None;
        }
        again.push((key.clone(), *version));
    }
    (again.len() <= VALIDATED_READS_MAX).then_some(again)
}

/// Reads `reads` again, all at once, with strong gets; whether every key
/// still has the version read. Schema keys read refresh the cache.
pub(super) async fn still_current<C: CoreCalls>(
    core: &C,
    cache: Option<&SchemaCache>,
    reads: &[(StoreKey, Option<Ver>)],
) -> Result<bool, Stop> {
    let calls: Vec<_> = reads
        .iter()
        .map(|(key, _)| {
            core.call(ClientRequest::Data(Request::Get {
                key: store_key_to_key(key),
                level: Level::default(),
            }))
        })
        .collect();
    let mut current = true;
    for ((key, version), call) in reads.iter().zip(calls) {
        let found = read_answer(call.await)?;
        if is_schema_key(key) {
            if let Some(cache) = cache {
                cache.put(key, &found);
            }
        }
        current &= found.map(|stored| stored.version) == *version;
    }
    Ok(current)
}

/// Whether everything `store` read held at one point: checked by reading
/// again or by committing the reads' asserts (as a read-only statement
/// is). Eventual namespaces promise nothing of the kind: there it holds.
pub(super) async fn reads_held<C: CoreCalls>(
    core: &C,
    store: &FetchedStore,
    cache: Option<&SchemaCache>,
    eventual: &BTreeSet<String>,
) -> Result<bool, Stop> {
    let commit = store.reads_commit();
    let touches_eventual = commit
        .reads
        .iter()
        .map(|(key, _)| &key.namespace)
        .chain(commit.ranges.iter().map(|range| &range.namespace))
        .any(|namespace| eventual.contains(namespace));
    if touches_eventual || (commit.reads.is_empty() && commit.ranges.is_empty()) {
        return Ok(true);
    }
    if let Some(again) = reads_to_check(store, &commit) {
        return still_current(core, cache, &again).await;
    }
    let Ok(ops) = commit_ops(&commit) else {
        // Too many reads to check in one transaction (the statement's own
        // error is then about its size): reported as it is.
        return Ok(true);
    };
    match core.call(ClientRequest::Data(Request::Txn { ops })).await {
        ClientResponse::Data(Response::Committed { .. }) => Ok(true),
        ClientResponse::Data(Response::Error(
            ClientError::ConditionFailed { .. }
            | ClientError::RangeChanged { .. }
            | ClientError::Conflict { .. },
        )) => Ok(false),
        other => Err(failure(other, "checking the statement's reads")),
    }
}
