//! Turning what the transport delivers into the core's inputs, the two
//! requests the runtime answers itself once the core allows them: its
//! figures (`Info`) and its engine's validation (`Validate`), and zeroql
//! queries and prepared statements, which run in a task of their own
//! ([`crate::query`], [`super::prepared`]) whose requests come back here as
//! inputs of the core.

use std::time::Instant;

use zerodb_ring::NodeId;
use zerodb_txn::ClientId;

use std::collections::BTreeSet;

use zerodb_config::Consistency;

use super::event_loop::{EventLoop, Pending, Replier};
use super::query::{LocalCall, LocalCore};
use super::NodeProtocol;
use crate::api::{
    ClientRequest, ClientResponse, InfoReport, NodeMessage, ServiceError, ValidateReport,
};
use crate::core::metadata::Caller;
use crate::core::Input;
use zerodb_transport::{Incoming, PeerIdentity, Responder};

impl EventLoop {
    /// Adds what `event` means for the core to `inputs`.
    pub(super) fn incoming(&mut self, event: Incoming<NodeProtocol>, inputs: &mut Vec<Input>) {
        match event {
            Incoming::Message {
                from: PeerIdentity::Node(from),
                message,
            } => {
                let from = NodeId(from.0);
                if let NodeMessage::Hello { boot } = message {
                    self.peer_booted(from, boot);
                }
                inputs.push(Input::Message { from, msg: message });
            }
            Incoming::Message { from, .. } => {
                tracing::warn!(peer = %from, "ignoring a protocol message from a client");
            }
            Incoming::Request {
                from,
                request,
                responder,
            } => self.request(from, request, responder, inputs),
            Incoming::Datagram {
                from: PeerIdentity::Node(from),
                payload,
            } => inputs.push(Input::Datagram {
                from: NodeId(from.0),
                bytes: payload,
            }),
            Incoming::Datagram { from, .. } => {
                tracing::warn!(peer = %from, "ignoring a gossip datagram from a client");
            }
        }
    }

    fn request(
        &mut self,
        from: PeerIdentity,
        request: ClientRequest,
        responder: Responder<ClientResponse>,
        inputs: &mut Vec<Input>,
    ) {
        let caller = match &from {
            PeerIdentity::Node(_) => Caller::Node,
            PeerIdentity::Client(user) => Caller::User(user.clone()),
        };
        match request {
            ClientRequest::Info | ClientRequest::Validate => {
                let response = match self.core.authorize(&caller, &request) {
                    Err(error) => ClientResponse::Error(error),
                    Ok(()) if request == ClientRequest::Info => ClientResponse::Info(self.info()),
                    Ok(()) => self.validate(),
                };
                self.direct.push((responder, response));
            }
            ClientRequest::Query(query) => {
                let core = self.local_core(caller);
                let eventual = self.eventual_namespaces();
                tokio::spawn(super::query::serve(core, query, eventual, responder));
            }
            // Parsing takes time with the text's size: not in the loop.
            ClientRequest::Prepare(request) => {
                let cache = self.prepared.clone();
                tokio::spawn(super::prepared::serve_prepare(cache, request, responder));
            }
            ClientRequest::Execute(request) => {
                let core = self.local_core(caller);
                let (cache, eventual) = (self.prepared.clone(), self.eventual_namespaces());
                let serve =
                    super::prepared::serve_execute(core, cache, request, eventual, responder);
                tokio::spawn(serve);
            }
            request => self.hand_to_core(caller, request, Replier::Remote(responder), inputs),
        }
    }

    /// A request of one of this node's query tasks.
    pub(super) fn local_call(&mut self, call: LocalCall, inputs: &mut Vec<Input>) {
        match call.request {
            // A query never sends these; refuse rather than loop.
            ClientRequest::Query(_)
            | ClientRequest::Prepare(_)
            | ClientRequest::Execute(_)
            | ClientRequest::Info
            | ClientRequest::Validate => {
                let response = ClientResponse::Error(ServiceError::Refused {
                    reason: "a query's own requests are data requests and scans".into(),
                });
                let _ = call.reply.send(response);
            }
            request => self.hand_to_core(call.caller, request, Replier::Local(call.reply), inputs),
        }
    }

    /// Hands `request` to the core; its answer goes to `responder`.
    fn hand_to_core(
        &mut self,
        caller: Caller,
        request: ClientRequest,
        responder: Replier,
        inputs: &mut Vec<Input>,
    ) {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        self.pending.insert(
            client,
            Pending {
                responder,
                started: Instant::now(),
            },
        );
        inputs.push(Input::Request {
            client,
            caller,
            request,
        });
    }

    /// The node's core as a query task of `caller` reaches it.
    pub(crate) fn local_core(&self, caller: Caller) -> LocalCore {
        LocalCore {
            caller,
            calls: self.local_calls_tx.clone(),
            eventual: self.eventual.subscribe(),
            schemas: self.schemas.clone(),
            large_scans: self.large_scans.clone(),
            statement_time_max_ms: self
                .core
                .request_timeout_ms()
                .saturating_mul(crate::query::STATEMENT_TIMEOUTS),
        }
    }

    /// The namespaces the cached catalog shows as eventual (zeroql runs
    /// there without multi-key guarantees).
    pub(crate) fn eventual_namespaces(&self) -> BTreeSet<String> {
        self.core
            .catalog()
            .map(|catalog| {
                catalog
                    .namespaces
                    .iter()
                    .filter(|(_, policy)| policy.consistency == Consistency::Eventual)
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks this node's engine (the ZeroDB engine only).
    fn validate(&mut self) -> ClientResponse {
        match self.core.engine_mut().validate() {
            Some(report) => ClientResponse::Validate(ValidateReport {
                pages_checked: report.pages_checked,
                records: report.records,
                problems: report.problems,
            }),
            None => ClientResponse::Error(ServiceError::Refused {
                reason: format!(
                    "the {} engine has no validation; only the zerodb engine does",
                    self.core.engine_mut().name()
                ),
            }),
        }
    }

    /// This node's figures.
    pub(crate) fn info(&mut self) -> InfoReport {
        let now = self.clock.now_ms();
        let stats = self.core.engine_stats();
        let tally = self.core.tally();
        let expiry = self.core.expiry_tally();
        let status = self.core.status(now);
        let up = status.members.iter().filter(|member| member.up).count() as u32;
        InfoReport {
            node: self.core.id().0,
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol_version: zerodb_transport::PROTOCOL_VERSION,
            engine: self.core.engine_mut().name().to_string(),
            uptime_seconds: self.started.elapsed().as_secs(),
            requests: tally.replies,
            request_errors: tally.errors,
            latency_p50_us: self.latency.since_start(0.5),
            latency_p99_us: self.latency.since_start(0.99),
            latency_p999_us: self.latency.since_start(0.999),
            committed: tally.committed,
            aborted: tally.aborted,
            in_flight: self.core.requests_in_flight() as u64,
            locks_held: self.core.locks_held() as u64,
            batches_synced: self.core.engine_mut().syncs(),
            fast_path_commits: self.core.commit_paths().fast,
            classic_path_commits: self.core.commit_paths().classic,
            inputs_handled: self.inputs,
            records: stats.records,
            disk_bytes: stats.disk_bytes,
            wal_bytes: stats.wal_bytes,
            wal_position: stats.wal_position,
            checkpoints: stats.checkpoints,
            cache_bytes: stats.cache_bytes,
            cache_hits: stats.cache_hits,
            cache_misses: stats.cache_misses,
            members_up: up,
            members_down: status.members.len() as u32 - up,
            file_bytes: stats.file_bytes,
            live_bytes: stats.live_bytes,
            garbage_bytes: stats.garbage_bytes,
            recent_latency_p50_us: self.latency.recent(0.5, Instant::now()),
            recent_latency_p99_us: self.latency.recent(0.99, Instant::now()),
            expiry_passes: expiry.passes,
            expired_tombstoned: expiry.tombstoned,
            expiring_deletes_committed: expiry.deletes_committed,
        }
    }
}
