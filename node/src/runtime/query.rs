//! zeroql on a running node: a query task reaches the node's own core
//! through the event loop (`LocalCore`), and runs the query loop of
//! [`crate::query`] over it.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use zerodb_transport::Responder;

use crate::api::{ClientRequest, ClientResponse, QueryRequest, ServiceError};
use crate::core::metadata::Caller;
use crate::query::{run_query, CoreCalls, ScanTurn, SchemaCache};

/// Most statements of one node reading a range larger than one page at
/// once (see [`crate::query`]'s fetch module: large scans take turns).
pub const LARGE_SCANS_MAX: usize = 1;

/// A node's turns for large scans ([`LARGE_SCANS_MAX`]).
#[derive(Clone)]
pub struct LargeScans(pub(crate) Arc<Semaphore>);

impl Default for LargeScans {
    fn default() -> Self {
        LargeScans(Arc::new(Semaphore::new(LARGE_SCANS_MAX)))
    }
}

impl LargeScans {
    /// Waits for a turn, held until the value is dropped.
    pub async fn turn(&self) -> Option<ScanTurn> {
        let permit = self.0.clone().acquire_owned().await;
        Some(Box::new(
            permit.expect("the large-scan semaphore is never closed"),
        ))
    }
}

/// One request of a query to the node's own core, with where its answer
/// goes.
pub(crate) struct LocalCall {
    /// Who sent the query: every read and commit runs as them.
    pub(crate) caller: Caller,
    /// The request.
    pub(crate) request: ClientRequest,
    /// The answer.
    pub(crate) reply: oneshot::Sender<ClientResponse>,
}

/// The node's own core, reached through its event loop.
pub(crate) struct LocalCore {
    pub(crate) caller: Caller,
    pub(crate) calls: mpsc::UnboundedSender<LocalCall>,
    /// The eventual namespaces, as the event loop last published them.
    pub(crate) eventual: watch::Receiver<BTreeSet<String>>,
    /// The node's cache of table schemas.
    pub(crate) schemas: SchemaCache,
    /// The node's turns for large scans.
    pub(crate) large_scans: LargeScans,
    /// See [`crate::query::STATEMENT_TIMEOUTS`].
    pub(crate) statement_time_max_ms: u64,
}

impl CoreCalls for LocalCore {
    fn call(&self, request: ClientRequest) -> impl Future<Output = ClientResponse> + Send {
        let (reply, answer) = oneshot::channel();
        let call = LocalCall {
            caller: self.caller.clone(),
            request,
            reply,
        };
        let sent = self.calls.send(call).is_ok();
        async move {
            let stopped = ClientResponse::Error(ServiceError::ShuttingDown {
                outcome_unknown: sent,
            });
            if !sent {
                return stopped;
            }
            answer.await.unwrap_or(stopped)
        }
    }

    fn eventual_namespaces(&self) -> Option<BTreeSet<String>> {
        Some(self.eventual.borrow().clone())
    }

    fn schema_cache(&self) -> Option<SchemaCache> {
        Some(self.schemas.clone())
    }

    fn large_scan_turn(&self) -> impl Future<Output = Option<ScanTurn>> + Send {
        let turns = self.large_scans.clone();
        async move { turns.turn().await }
    }

    fn pause(&self, ms: u64) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(Duration::from_millis(ms))
    }

    fn now_ns(&self) -> i64 {
        wall_clock_ns()
    }

    fn statement_time_max_ms(&self) -> Option<u64> {
        Some(self.statement_time_max_ms)
    }
}

/// Runs `request` for `caller` and sends the answer.
pub(crate) async fn serve(
    core: LocalCore,
    request: QueryRequest,
    eventual: BTreeSet<String>,
    responder: Responder<ClientResponse>,
) {
    let answer = run_query(&core, request, &eventual).await;
    if let Err(error) = responder.respond(ClientResponse::Query(answer)).await {
        tracing::debug!(%error, "could not deliver a query's answer");
    }
}

/// Wall-clock time in nanoseconds since the epoch (`time::now()`).
pub fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
        })
}
