//! Prepared zeroql statements: [`ClientRequest::Prepare`] parses a text
//! once and keeps its syntax tree in this node's [`PreparedCache`];
//! [`ClientRequest::Execute`] runs the kept tree with new parameters
//! through the same loop as a query ([`crate::query::run_parsed`]).
//!
//! What is kept is the parse only. Names (tables, fields, indexes) are
//! resolved and the plan chosen on every execution, inside its
//! transaction: the catalog is read in the transaction, so its reads are
//! checked at commit like any other, and a `DEFINE INDEX` or `REMOVE TABLE`
//! made after the prepare is seen by the next execution.
//!
//! The handle is the xxh3-64 hash of the text ([`statement_handle`]), so
//! every node gives a text the same handle and a client can send an
//! `Execute` to any node. A node that does not hold the handle (prepared
//! on another node, evicted as least recently used, or the node restarted)
//! answers [`QueryErrorKind::UnknownStatement`] and runs nothing; the
//! client keeps the text and prepares it again.
//!
//! Who may: anyone, as for a query. Preparing reads no data; an execution
//! reads and commits as the caller, so the catalog gate judges each of its
//! reads and its commit exactly as for [`ClientRequest::Query`].
//!
//! [`ClientRequest::Prepare`]: crate::api::ClientRequest::Prepare
//! [`ClientRequest::Execute`]: crate::api::ClientRequest::Execute
//! [`ClientRequest::Query`]: crate::api::ClientRequest::Query

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use zerodb_query::ast::Query;
use zerodb_query::exec;
use zerodb_transport::Responder;

use super::query::LocalCore;
use crate::api::{
    ClientResponse, ExecuteRequest, PrepareRequest, PreparedStatement, QueryAnswer, QueryError,
    QueryErrorKind,
};
use crate::query::{run_parsed, CoreCalls, Start};

/// Most prepared texts one node keeps; the least recently prepared or
/// executed is dropped to make room.
pub const PREPARED_STATEMENTS_MAX: usize = 1_024;
/// Most bytes of text the kept statements hold together. A text may be up
/// to 1 MiB (the parser's limit) and its tree grows with it, so the count
/// alone would let a few clients pin a gigabyte; this bounds the memory.
pub const PREPARED_TEXT_BYTES_MAX: usize = 16 << 20;

/// The handle of `text`: its xxh3-64 hash, the same on every node.
pub fn statement_handle(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// A prepared text with its syntax tree.
#[derive(Debug)]
pub struct Prepared {
    /// The text, against which errors are rendered.
    pub text: String,
    /// Its parse.
    pub query: Query,
}

/// The prepared statements of one node, by handle, at most
/// [`PREPARED_STATEMENTS_MAX`] of them and [`PREPARED_TEXT_BYTES_MAX`]
/// bytes of text, least recently used evicted.
#[derive(Debug, Default)]
pub struct PreparedCache {
    /// Handle -> statement and the tick of its last use.
    entries: BTreeMap<u64, (Arc<Prepared>, u64)>,
    /// Tick of last use -> handle: the first is the least recently used.
    by_use: BTreeMap<u64, u64>,
    /// Counts uses; each use takes the next tick.
    tick: u64,
    /// Bytes of the texts kept.
    text_bytes: usize,
}

impl PreparedCache {
    /// How many statements are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps `prepared` (or marks it used if it is kept already) and
    /// returns its handle. Refused when another text holds the handle (a
    /// hash collision: that text would run in its place).
    pub fn insert(&mut self, prepared: Prepared) -> Result<u64, String> {
        let handle = statement_handle(&prepared.text);
        if let Some((kept, _)) = self.entries.get(&handle) {
            if kept.text != prepared.text {
                return Err(format!(
                    "another prepared text has the handle {handle:#018x}; run this one as a query"
                ));
            }
            self.touch(handle);
            return Ok(handle);
        }
        let bytes = prepared.text.len();
        while self.entries.len() >= PREPARED_STATEMENTS_MAX
            || self.text_bytes + bytes > PREPARED_TEXT_BYTES_MAX
        {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((evicted, _)) = self.entries.remove(&oldest) {
                self.text_bytes -= evicted.text.len();
            }
        }
        self.tick += 1;
        self.text_bytes += bytes;
        self.entries.insert(handle, (Arc::new(prepared), self.tick));
        self.by_use.insert(self.tick, handle);
        assert_eq!(
            self.entries.len(),
            self.by_use.len(),
            "every prepared statement has exactly one last use"
        );
        Ok(handle)
    }

    /// The statement of `handle`, marked used.
    pub fn get(&mut self, handle: u64) -> Option<Arc<Prepared>> {
        self.touch(handle);
        self.entries
            .get(&handle)
            .map(|(prepared, _)| prepared.clone())
    }

    fn touch(&mut self, handle: u64) {
        let Some((_, last_use)) = self.entries.get_mut(&handle) else {
            return;
        };
        self.by_use.remove(last_use);
        self.tick += 1;
        *last_use = self.tick;
        self.by_use.insert(self.tick, handle);
    }
}

/// This node's cache, shared by its query tasks.
pub type SharedCache = Arc<Mutex<PreparedCache>>;

fn failed(kind: QueryErrorKind, message: String) -> QueryAnswer {
    QueryAnswer {
        results: Vec::new(),
        error: Some(QueryError { kind, message }),
    }
}

/// Parses `request.text`, checks that its `BEGIN`s and `COMMIT`s pair up,
/// and keeps it: [`ClientResponse::Prepared`], or a failed
/// [`ClientResponse::Query`] with the rendered error.
pub fn prepare(cache: &Mutex<PreparedCache>, request: PrepareRequest) -> ClientResponse {
    let text = request.text;
    let query = match zerodb_query::parse(&text) {
        Ok(query) => query,
        Err(error) => {
            let message = error.render(&text);
            return ClientResponse::Query(failed(QueryErrorKind::Invalid, message));
        }
    };
    if let Err(error) = exec::transactions(&query) {
        let message = error.render(&text);
        return ClientResponse::Query(failed(QueryErrorKind::Invalid, message));
    }
    let statements = u32::try_from(query.statements.len()).unwrap_or(u32::MAX);
    let prepared = Prepared { text, query };
    let kept = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(prepared);
    match kept {
        Ok(handle) => ClientResponse::Prepared(PreparedStatement { handle, statements }),
        Err(message) => ClientResponse::Query(failed(QueryErrorKind::Refused, message)),
    }
}

/// Runs the statement `request.handle` names with `request.params`;
/// [`QueryErrorKind::UnknownStatement`] when this node does not hold it.
pub async fn execute<C: CoreCalls>(
    core: &C,
    cache: &Mutex<PreparedCache>,
    request: ExecuteRequest,
    eventual: &BTreeSet<String>,
) -> QueryAnswer {
    let found = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(request.handle);
    let Some(prepared) = found else {
        let message = format!(
            "statement {:#018x} is not prepared on this node (prepared on another node, dropped from the {PREPARED_STATEMENTS_MAX} kept, or the node restarted): prepare its text again",
            request.handle
        );
        return failed(QueryErrorKind::UnknownStatement, message);
    };
    let start = Start {
        namespace: &request.namespace,
        database: &request.database,
        params: &request.params,
    };
    run_parsed(core, &prepared.text, &prepared.query, start, eventual).await
}

/// Prepares `request` and sends the answer.
pub(crate) async fn serve_prepare(
    cache: SharedCache,
    request: PrepareRequest,
    responder: Responder<ClientResponse>,
) {
    let response = prepare(&cache, request);
    if let Err(error) = responder.respond(response).await {
        tracing::debug!(%error, "could not deliver a prepare's answer");
    }
}

/// Runs `request` for the caller of `core` and sends the answer.
pub(crate) async fn serve_execute(
    core: LocalCore,
    cache: SharedCache,
    request: ExecuteRequest,
    eventual: BTreeSet<String>,
    responder: Responder<ClientResponse>,
) {
    let answer = execute(&core, &cache, request, &eventual).await;
    if let Err(error) = responder.respond(ClientResponse::Query(answer)).await {
        tracing::debug!(%error, "could not deliver an execution's answer");
    }
}

#[cfg(test)]
#[path = "prepared_tests.rs"]
mod tests;
