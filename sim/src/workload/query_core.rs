//! The nodes' zeroql query loop ([`zerodb_node::query::run_query`])
//! as a simulated client runs it: without tokio, its future polled with a
//! waker that does nothing each time an answer arrives, its requests sent
//! one at a time through the simulated network.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use zerodb_node::api::{ClientRequest, ClientResponse, ServiceError};
use zerodb_node::query::{CoreCalls, SchemaCache};
use zerodb_txn::{ClientError, Response};

use super::{Answer, Call};
use crate::history::Micros;

/// The cores as one client's query loop reaches them: each request is
/// queued, sent by the workload when the loop waits for it, and answered
/// when the simulated network delivers the answer.
#[derive(Clone, Default)]
pub struct SimCore {
    state: Arc<Mutex<CoreState>>,
    schemas: SchemaCache,
    unsafe_skip_edge_cascade: bool,
}

#[derive(Default)]
pub(super) struct CoreState {
    /// Requests made and not sent yet, in the order they were made.
    pub(super) queue: VecDeque<(u64, ClientRequest)>,
    /// Answers not taken yet, by request.
    answers: BTreeMap<u64, ClientResponse>,
    /// The request sent and not answered yet.
    pub(super) sent: Option<u64>,
    next: u64,
    now_ns: i64,
}

impl SimCore {
    /// A core whose queries delete records without their edges (test-only
    /// and unsafe: what the graph checker must catch) when `on`.
    pub fn with_unsafe_skip_edge_cascade(on: bool) -> SimCore {
        SimCore {
            unsafe_skip_edge_cascade: on,
            ..SimCore::default()
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, CoreState> {
        self.state.lock().expect("sim core")
    }

    /// The next request to send, which is then the one in flight.
    pub(super) fn next_request(&self) -> Option<ClientRequest> {
        let mut state = self.lock();
        let (id, request) = state.queue.pop_front()?;
        state.sent = Some(id);
        Some(request)
    }

    /// The answer to the request in flight.
    pub(super) fn answer(&self, response: ClientResponse) {
        let mut state = self.lock();
        let id = state.sent.take().expect("an answer without a request");
        state.answers.insert(id, response);
    }

    pub(super) fn set_now(&self, now_us: Micros) {
        // Simulated time starts at 0: count from 2026 for `time::now()`.
        self.lock().now_ns = 1_767_225_600_000_000_000 + now_us as i64 * 1_000;
    }
}

impl CoreCalls for SimCore {
    fn call(&self, request: ClientRequest) -> impl Future<Output = ClientResponse> + Send {
        let id = {
            let mut state = self.lock();
            state.next += 1;
            let id = state.next;
            state.queue.push_back((id, request));
            id
        };
        let state = self.state.clone();
        std::future::poll_fn(
            move |_| match state.lock().expect("sim core").answers.remove(&id) {
                Some(answer) => Poll::Ready(answer),
                None => Poll::Pending,
            },
        )
    }

    fn schema_cache(&self) -> Option<SchemaCache> {
        Some(self.schemas.clone())
    }

    fn pause(&self, _ms: u64) -> impl Future<Output = ()> + Send {
        // Retries go out at once; the network spreads them.
        std::future::ready(())
    }

    fn now_ns(&self) -> i64 {
        self.lock().now_ns
    }

    fn unsafe_skip_edge_cascade(&self) -> bool {
        self.unsafe_skip_edge_cascade
    }
}

/// The sim's call for a query loop's request.
pub(super) fn call_of(request: ClientRequest) -> Result<Call, String> {
    match request {
        ClientRequest::Data(request) => Ok(Call::Data(request)),
        ClientRequest::Scan(scan) => Ok(Call::Scan(scan)),
        other => Err(format!("the query loop sent {other:?}")),
    }
}

/// The query loop's view of what the client got.
pub(super) fn response_of(answer: Answer) -> ClientResponse {
    match answer {
        Answer::Response(response) => ClientResponse::Data(response),
        Answer::Timeout => ClientResponse::Data(Response::Error(ClientError::Timeout {
            outcome_unknown: true,
        })),
        Answer::Scanned(Ok(entries)) => ClientResponse::Scan(entries),
        Answer::Scanned(Err(_)) => ClientResponse::Error(ServiceError::ScanIncomplete {
            answered: 0,
            needed: 1,
            members: 0,
        }),
    }
}
