//! Simulated processes that run whole zeroql queries through the nodes'
//! own query loop ([`run_query`], what a node runs for `zerodb sql`), one
//! query per process at a time: what the documents and graph workloads
//! share.
//!
//! A query's future is polled without tokio ([`SimCore`]) each time its
//! process may go on; each request it makes (strong gets, scans, the
//! commit's transaction) becomes the process's next call, so every fault of
//! the run reaches the statements. A finished query is handed back to the
//! workload with what it was started for.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use zerodb_node::api::{ClientRequest, QueryAnswer, QueryRequest};
use zerodb_node::query::run_query;
use zerodb_query::value::{codec, Value};
use zerodb_txn::Request;

use super::query_core::{call_of, response_of, SimCore};
use super::{Answer, Call};
use crate::history::{Micros, ProcessId};

/// A query in progress at one process.
struct Running<P> {
    purpose: P,
    invoke_us: Micros,
    core: SimCore,
    future: Pin<Box<dyn Future<Output = QueryAnswer>>>,
}

/// A query that finished: what it was for, when it was started, and the
/// node's answer.
pub(super) struct Finished<P> {
    pub(super) purpose: P,
    pub(super) invoke_us: Micros,
    pub(super) answer: QueryAnswer,
}

/// What a process does next.
pub(super) enum Next<P> {
    /// Send this request.
    Call(Call),
    /// Its query finished.
    Finished(Finished<P>),
    /// Nothing: no query runs there (or it broke, see
    /// [`QueryClients::protocol_errors`]).
    Nothing,
}

/// What a process does after an answer.
pub(super) enum FollowUp<P> {
    /// Send this data request at once.
    Send(Request),
    /// Its query finished.
    Finished(Finished<P>),
    /// Wait to be called (its next request is a scan, or nothing runs).
    Wait,
}

/// The query-running processes of one workload, in one namespace and
/// database. `P` says what each query is for.
pub(super) struct QueryClients<P> {
    namespace: &'static str,
    database: &'static str,
    unsafe_skip_edge_cascade: bool,
    running: BTreeMap<ProcessId, Running<P>>,
    /// Each process's core (and schema cache), kept across its queries.
    cores: BTreeMap<ProcessId, SimCore>,
    /// The query loop did what no client expects (made a request of an
    /// unknown kind, waited on nothing).
    pub(super) protocol_errors: Vec<String>,
}

impl<P> QueryClients<P> {
    /// Processes whose queries start in `namespace` and `database`.
    pub(super) fn new(namespace: &'static str, database: &'static str) -> QueryClients<P> {
        QueryClients {
            namespace,
            database,
            unsafe_skip_edge_cascade: false,
            running: BTreeMap::new(),
            cores: BTreeMap::new(),
            protocol_errors: Vec::new(),
        }
    }

    /// Test-only and unsafe: the queries delete records without their
    /// edges (`Session::unsafe_skip_edge_cascade`).
    pub(super) fn with_unsafe_skip_edge_cascade(mut self, on: bool) -> QueryClients<P> {
        self.unsafe_skip_edge_cascade = on;
        self
    }

    /// Whether `process` runs a query.
    pub(super) fn is_running(&self, process: ProcessId) -> bool {
        self.running.contains_key(&process)
    }

    /// Whether no process runs a query.
    pub(super) fn idle(&self) -> bool {
        self.running.is_empty()
    }

    /// Starts `text` with `params` at `process`.
    pub(super) fn start(
        &mut self,
        process: ProcessId,
        now_us: Micros,
        purpose: P,
        text: String,
        params: Vec<(&str, Value)>,
    ) {
        let skip_cascade = self.unsafe_skip_edge_cascade;
        let core = self
            .cores
            .entry(process)
            .or_insert_with(|| SimCore::with_unsafe_skip_edge_cascade(skip_cascade))
            .clone();
        core.set_now(now_us);
        let params = params
            .into_iter()
            .map(|(name, value)| {
                let bytes = codec::encode(&value).expect("workload parameters encode");
                (name.to_string(), bytes)
            })
            .collect();
        let request = QueryRequest {
            namespace: self.namespace.to_string(),
            database: self.database.to_string(),
            text,
            params,
        };
        let looped = core.clone();
        let future = Box::pin(async move {
            let eventual = BTreeSet::new();
            run_query(&looped, request, &eventual).await
        });
        self.running.insert(
            process,
            Running {
                purpose,
                invoke_us: now_us,
                core,
                future,
            },
        );
    }

    /// Runs `process`'s query on to its next request, or to its end.
    pub(super) fn next(&mut self, process: ProcessId, now_us: Micros) -> Next<P> {
        let Some(running) = self.running.get_mut(&process) else {
            return Next::Nothing;
        };
        running.core.set_now(now_us);
        let mut context = Context::from_waker(Waker::noop());
        let request = match running.future.as_mut().poll(&mut context) {
            Poll::Ready(answer) => {
                let running = self.running.remove(&process).expect("running");
                return Next::Finished(Finished {
                    purpose: running.purpose,
                    invoke_us: running.invoke_us,
                    answer,
                });
            }
            Poll::Pending => running.core.next_request(),
        };
        let call = match request {
            Some(request) => call_of(request),
            None => Err(format!(
                "process {process}: the query loop waits for nothing"
            )),
        };
        match call {
            Ok(call) => Next::Call(call),
            Err(error) => {
                self.protocol_errors.push(error);
                self.running.remove(&process);
                Next::Nothing
            }
        }
    }

    /// Hands `answer` to `process`'s query and runs it on.
    pub(super) fn complete(
        &mut self,
        process: ProcessId,
        now_us: Micros,
        answer: Answer,
    ) -> FollowUp<P> {
        let Some(running) = self.running.get(&process) else {
            return FollowUp::Wait;
        };
        running.core.answer(response_of(answer));
        match self.next(process, now_us) {
            Next::Call(Call::Data(request)) => FollowUp::Send(request),
            Next::Call(Call::Scan(scan)) => {
                // A scan cannot be a follow-up: put it back for the next call.
                let running = self.running.get(&process).expect("running");
                let mut state = running.core.lock();
                let id = state.sent.take().expect("just sent");
                state.queue.push_front((id, ClientRequest::Scan(scan)));
                FollowUp::Wait
            }
            Next::Finished(finished) => FollowUp::Finished(finished),
            Next::Nothing => FollowUp::Wait,
        }
    }
}
