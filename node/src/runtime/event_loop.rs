//! The event loop of one node: gather a batch of inputs, hand each to the
//! core, sync the engine once, then release the batch's sends and replies.

use super::NodeProtocol;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::runtime::RuntimeFlavor;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zerodb_ring::NodeId;
use zerodb_storage::Engine;
use zerodb_txn::{Action, ClientId, Message, Timer};

use super::clock::Clock;
use super::peers::Peers;
use super::{Control, NodeEngine, BATCH_INPUTS_MAX};
use crate::api::{
    ClientRequest, ClientResponse, InfoReport, NodeMessage, ServiceError, ValidateReport,
};
use crate::core::metadata::Caller;
use crate::core::NodeCore;
use zerodb_transport::{Incoming, PeerIdentity, Responder, Transport};

/// How long shutdown waits for the last replies to leave.
const SHUTDOWN_REPLY_WAIT: Duration = Duration::from_secs(2);
/// Largest request latency recorded, microseconds (an hour).
const LATENCY_MAX_US: u64 = 3_600_000_000;
/// Rounds of messages to itself a node handles inside one batch; what is
/// left waits for the next batch (bounds a batch that keeps talking to
/// itself).
const LOCAL_ROUNDS_MAX: usize = 8;

/// Removes the sends addressed to `me` from `actions`, keeping the order of
/// the rest.
fn take_sends_to(me: NodeId, actions: &mut Vec<Action>) -> Vec<Message> {
    let mut mine = Vec::new();
    let mut rest = Vec::with_capacity(actions.len());
    for action in actions.drain(..) {
        match action {
            Action::Send { to, msg } if to == me => mine.push(msg),
            other => rest.push(other),
        }
    }
    *actions = rest;
    mine
}

/// One input of a batch (short-lived, mostly `Net`: no point boxing it).
#[allow(clippy::large_enum_variant)]
enum Input {
    Net(Incoming<NodeProtocol>),
    SendFailed(NodeId),
    Control(Control),
}

/// A client request the core is working on.
struct Pending {
    responder: Responder<ClientResponse>,
    started: Instant,
}

pub(crate) struct EventLoop {
    core: NodeCore<NodeEngine>,
    peers: Peers,
    failures: mpsc::UnboundedReceiver<NodeId>,
    clock: Clock,
    boot: u64,
    started: Instant,
    timers: BTreeSet<(u64, Timer)>,
    pending: BTreeMap<ClientId, Pending>,
    next_client: u64,
    /// Messages the node sent to itself, handled in the next batch.
    local: VecDeque<Message>,
    /// Replies that do not go through the core, released after the sync.
    direct: Vec<(Responder<ClientResponse>, ClientResponse)>,
    /// Last boot id heard from each peer.
    boots: BTreeMap<NodeId, u64>,
    latency: Histogram<u64>,
    inputs: u64,
    /// Reply tasks still running (awaited at shutdown).
    replies: Vec<JoinHandle<()>>,
}

impl EventLoop {
    pub(crate) fn new(
        core: NodeCore<NodeEngine>,
        transport: Transport<NodeProtocol>,
        clock: Clock,
        boot: u64,
    ) -> EventLoop {
        let (failures_tx, failures) = mpsc::unbounded_channel();
        EventLoop {
            core,
            peers: Peers::new(transport, failures_tx),
            failures,
            clock,
            boot,
            started: Instant::now(),
            timers: BTreeSet::new(),
            pending: BTreeMap::new(),
            next_client: 1,
            local: VecDeque::new(),
            direct: Vec::new(),
            boots: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, LATENCY_MAX_US, 2)
                .expect("static histogram bounds are valid"),
            inputs: 0,
            replies: Vec::new(),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut incoming: mpsc::Receiver<Incoming<NodeProtocol>>,
        mut control: mpsc::Receiver<Control>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let actions = self.core.start(self.clock.now_ms());
        // Opening may have written (a new store's marker): durable first.
        if let Err(error) = self.sync() {
            tracing::error!(node = %self.core.id(), %error, "storage sync failed; stopping the node");
            self.shut_down(incoming).await;
            return;
        }
        self.release(actions);
        self.greet_peers();
        loop {
            let mut batch = Vec::new();
            if self.local.is_empty() {
                let next_ms = self.timers.first().map(|(at_ms, _)| *at_ms);
                let next_ms = [next_ms, self.core.gossip_deadline()]
                    .into_iter()
                    .flatten()
                    .min();
                let deadline = next_ms.map_or_else(
                    || tokio::time::Instant::now() + Duration::from_secs(3600),
                    |at_ms| self.clock.deadline(at_ms),
                );
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => break,
                    Some(event) = incoming.recv() => batch.push(Input::Net(event)),
                    Some(node) = self.failures.recv() => batch.push(Input::SendFailed(node)),
                    Some(request) = control.recv() => batch.push(Input::Control(request)),
                    _ = tokio::time::sleep_until(deadline) => {}
                }
            }
            while batch.len() < BATCH_INPUTS_MAX {
                match incoming.try_recv() {
                    Ok(event) => batch.push(Input::Net(event)),
                    Err(_) => break,
                }
            }
            while let Ok(node) = self.failures.try_recv() {
                batch.push(Input::SendFailed(node));
            }
            while let Ok(request) = control.try_recv() {
                batch.push(Input::Control(request));
            }
            if let Err(error) = self.handle_batch(batch) {
                tracing::error!(node = %self.core.id(), %error, "storage sync failed; stopping the node");
                break;
            }
        }
        self.shut_down(incoming).await;
    }

    /// Handles one batch, syncs once, releases its actions.
    fn handle_batch(&mut self, batch: Vec<Input>) -> Result<(), zerodb_storage::StorageError> {
        let now = self.clock.now_ms();
        let mut actions = Vec::new();
        let local: Vec<Message> = self.local.drain(..).collect();
        self.inputs += batch.len() as u64;
        self.handle_local(now, local, &mut actions);
        for input in batch {
            match input {
                Input::Net(event) => self.handle_incoming(now, event, &mut actions),
                Input::SendFailed(node) => self.core.peer_unreachable(now, node),
                Input::Control(Control::Info(reply)) => {
                    let _ = reply.send(self.info());
                }
            }
        }
        while let Some(&(at_ms, timer)) = self.timers.first() {
            if at_ms > now {
                break;
            }
            self.timers.pop_first();
            actions.extend(self.core.handle_timer(now, timer));
        }
        self.core.handle_gossip_timers(now);
        // Messages this node sends to itself never leave it: handle them in
        // this batch, so that their writes share its sync (a crash before
        // the sync loses the sender's and the receiver's state together, as
        // if the message had never been sent).
        for _ in 0..LOCAL_ROUNDS_MAX {
            let mine = take_sends_to(self.core.id(), &mut actions);
            if mine.is_empty() {
                break;
            }
            self.handle_local(now, mine, &mut actions);
        }
        // Durability rule: nothing that depends on this batch's writes
        // leaves before they are durable.
        self.sync()?;
        self.release(actions);
        for forward in self.core.take_forwards() {
            self.forward(forward);
        }
        Ok(())
    }

    fn handle_local(&mut self, now: u64, messages: Vec<Message>, actions: &mut Vec<Action>) {
        let me = self.core.id();
        self.inputs += messages.len() as u64;
        for msg in messages {
            actions.extend(self.core.handle_message(now, me, NodeMessage::Txn(msg)));
        }
    }

    /// Makes the batch's writes durable. A batch that wrote nothing costs
    /// nothing. The sync blocks this task only: on a multi-threaded runtime
    /// the worker hands its other tasks (the transport, the other nodes of
    /// `zerodb dev`) to another thread meanwhile, so inputs keep arriving
    /// and wait in the channel for the next batch.
    fn sync(&mut self) -> Result<(), zerodb_storage::StorageError> {
        if !self.core.engine_mut().needs_sync() {
            return Ok(());
        }
        let threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|handle| handle.runtime_flavor() == RuntimeFlavor::MultiThread);
        if threaded {
            tokio::task::block_in_place(|| self.core.sync())
        } else {
            self.core.sync()
        }
    }

    fn handle_incoming(
        &mut self,
        now: u64,
        event: Incoming<NodeProtocol>,
        actions: &mut Vec<Action>,
    ) {
        match event {
            Incoming::Message {
                from: PeerIdentity::Node(from),
                message,
            } => {
                let from = NodeId(from.0);
                if let NodeMessage::Hello { boot } = message {
                    self.peer_booted(from, boot);
                }
                actions.extend(self.core.handle_message(now, from, message));
            }
            Incoming::Message { from, .. } => {
                tracing::warn!(peer = %from, "ignoring a protocol message from a client");
            }
            Incoming::Request {
                from,
                request,
                responder,
            } => self.handle_request(now, from, request, responder, actions),
            Incoming::Datagram {
                from: PeerIdentity::Node(from),
                payload,
            } => self.core.handle_datagram(now, NodeId(from.0), &payload),
            Incoming::Datagram { from, .. } => {
                tracing::warn!(peer = %from, "ignoring a gossip datagram from a client");
            }
        }
    }

    fn handle_request(
        &mut self,
        now: u64,
        from: PeerIdentity,
        request: ClientRequest,
        responder: Responder<ClientResponse>,
        actions: &mut Vec<Action>,
    ) {
        let response = match request {
            ClientRequest::Data(request) => {
                let client = ClientId(self.next_client);
                self.next_client += 1;
                self.pending.insert(
                    client,
                    Pending {
                        responder,
                        started: Instant::now(),
                    },
                );
                let caller = match from {
                    PeerIdentity::Node(_) => Caller::Node,
                    PeerIdentity::Client(user) => Caller::User(user),
                };
                actions.extend(
                    self.core
                        .handle_client_request(now, client, caller, request),
                );
                return;
            }
            ClientRequest::Scan(query) => {
                let caller = match &from {
                    PeerIdentity::Node(_) => Caller::Node,
                    PeerIdentity::Client(user) => Caller::User(user.clone()),
                };
                if let Err(reason) = self.core.check_read(&caller, &query.namespace) {
                    let error = ClientResponse::Error(ServiceError::Refused { reason });
                    self.direct.push((responder, error));
                    return;
                }
                let local = self.core.local_scan(&query);
                super::scan::spawn_scan(
                    self.peers.transport().clone(),
                    self.core.cluster().clone(),
                    self.core.id(),
                    self.core.replication_factor_of(&query.namespace),
                    query,
                    local,
                    responder,
                );
                return;
            }
            ClientRequest::LocalScan(query) => match (from, self.core.local_scan(&query)) {
                (PeerIdentity::Node(_), Ok(entries)) => ClientResponse::Scan(entries),
                (PeerIdentity::Node(_), Err(error)) => ClientResponse::Error(error),
                (PeerIdentity::Client(_), _) => ClientResponse::Error(ServiceError::Refused {
                    reason: "local scans are for nodes; use a scan".into(),
                }),
            },
            ClientRequest::Status => ClientResponse::Status(self.core.status(now)),
            ClientRequest::NamespaceStatus(namespace) => {
                match self.core.namespace_status(now, &namespace) {
                    Ok(status) => ClientResponse::Status(status),
                    Err(reason) => ClientResponse::Error(ServiceError::Refused { reason }),
                }
            }
            ClientRequest::Info => ClientResponse::Info(self.info()),
            ClientRequest::Checkpoint => match self.core.engine_mut().checkpoint() {
                Ok(()) => ClientResponse::Done,
                Err(error) => ClientResponse::Error(ServiceError::Storage(error.to_string())),
            },
            ClientRequest::Validate => match self.core.engine_mut().validate() {
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
            },
        };
        self.direct.push((responder, response));
    }

    /// Hands a client request to an in-region node and relays its answer
    /// (region pinning, see `core::forward`).
    fn forward(&mut self, forward: crate::core::forward::Forward) {
        let Some(pending) = self.pending.remove(&forward.client) else {
            return;
        };
        let transport = self.peers.transport().clone();
        let writes = match &forward.request {
            zerodb_txn::Request::Get { .. } => false,
            zerodb_txn::Request::Txn { ops } => ops.iter().any(zerodb_txn::Op::writes),
            _ => true,
        };
        let request = ClientRequest::Data(forward.request);
        let to = forward.to;
        self.replies.push(tokio::spawn(async move {
            let response = match transport
                .request(zerodb_transport::tls::NodeId(to.0), &request)
                .await
            {
                Ok(response) => response,
                Err(error) => {
                    tracing::debug!(%error, peer = %to, "forwarding a request failed");
                    ClientResponse::Data(zerodb_txn::Response::Error(
                        zerodb_txn::ClientError::Timeout {
                            outcome_unknown: writes,
                        },
                    ))
                }
            };
            if let Err(error) = pending.responder.respond(response).await {
                tracing::debug!(%error, "could not deliver a forwarded answer");
            }
        }));
    }

    /// A peer announced a new process: forget the connection to its
    /// previous one.
    fn peer_booted(&mut self, node: NodeId, boot: u64) {
        if self.boots.insert(node, boot) == Some(boot) {
            return;
        }
        if let Some(member) = self.core.cluster().member(node.0) {
            tracing::info!(node = %self.core.id(), peer = %node, "peer (re)started; reconnecting");
            self.peers.reconnect(node, member.address);
        }
    }

    /// Tells every peer this process started.
    fn greet_peers(&mut self) {
        let me = self.core.id();
        let peers: Vec<NodeId> = self
            .core
            .cluster()
            .members
            .iter()
            .map(|member| NodeId(member.id))
            .filter(|node| *node != me)
            .collect();
        for node in peers {
            self.peers
                .send(node, NodeMessage::Hello { boot: self.boot });
        }
    }

    /// Carries out actions after the batch's sync.
    fn release(&mut self, actions: Vec<Action>) {
        let me = self.core.id();
        // A batch's messages to one peer go out together, on one stream.
        let mut outgoing: BTreeMap<NodeId, Vec<NodeMessage>> = BTreeMap::new();
        for action in actions {
            match action {
                Action::Send { to, msg } if to == me => self.local.push_back(msg),
                Action::Send { to, msg } => {
                    outgoing.entry(to).or_default().push(NodeMessage::Txn(msg))
                }
                Action::Reply { client, response } => {
                    let Some(pending) = self.pending.remove(&client) else {
                        continue;
                    };
                    let micros = pending.started.elapsed().as_micros() as u64;
                    let _ = self.latency.record(micros.clamp(1, LATENCY_MAX_US));
                    self.respond(pending.responder, ClientResponse::Data(response));
                }
                Action::SetTimer { at_ms, timer } => {
                    self.timers.insert((at_ms, timer));
                }
            }
        }
        for (to, messages) in outgoing {
            self.peers.send_all(to, messages);
        }
        for (responder, response) in std::mem::take(&mut self.direct) {
            self.respond(responder, response);
        }
        for datagram in self.core.take_datagrams() {
            self.peers.send_datagram(datagram);
        }
        self.replies.retain(|task| !task.is_finished());
    }

    fn respond(&mut self, responder: Responder<ClientResponse>, response: ClientResponse) {
        self.replies.push(tokio::spawn(async move {
            if let Err(error) = responder.respond(response).await {
                tracing::debug!(%error, "could not deliver a reply");
            }
        }));
    }

    /// This node's figures.
    fn info(&mut self) -> InfoReport {
        let now = self.clock.now_ms();
        let stats = self.core.engine_stats();
        let tally = self.core.tally();
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
            latency_p50_us: self.latency.value_at_quantile(0.5),
            latency_p99_us: self.latency.value_at_quantile(0.99),
            latency_p999_us: self.latency.value_at_quantile(0.999),
            committed: tally.committed,
            aborted: tally.aborted,
            in_flight: self.core.requests_in_flight() as u64,
            locks_held: self.core.locks_held() as u64,
            batches_synced: self.core.engine_mut().syncs(),
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
        }
    }

    /// Graceful stop: refuse what was not started, fail what is in flight
    /// (its outcome is unknown), sync, close the engine and the endpoint.
    async fn shut_down(mut self, mut incoming: mpsc::Receiver<Incoming<NodeProtocol>>) {
        let id = self.core.id();
        tracing::info!(node = %id, in_flight = self.pending.len(), "node shutting down");
        incoming.close();
        while let Ok(event) = incoming.try_recv() {
            if let Incoming::Request { responder, .. } = event {
                let error = ServiceError::ShuttingDown {
                    outcome_unknown: false,
                };
                self.respond(responder, ClientResponse::Error(error));
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for (_, pending) in pending {
            let error = ServiceError::ShuttingDown {
                outcome_unknown: true,
            };
            self.respond(pending.responder, ClientResponse::Error(error));
        }
        self.core.leave(self.clock.now_ms());
        self.peers.flush_datagrams(self.core.take_datagrams()).await;
        let engine = self.core.engine_mut();
        if let Err(error) = engine.sync().and_then(|()| engine.close()) {
            tracing::error!(node = %id, %error, "closing the storage engine failed");
        }
        let replies = std::mem::take(&mut self.replies);
        let _ = tokio::time::timeout(SHUTDOWN_REPLY_WAIT, async {
            for task in replies {
                let _ = task.await;
            }
        })
        .await;
        self.peers.transport().close().await;
        tracing::info!(node = %id, "node stopped");
    }
}

/// Used by the metrics endpoint: asks the loop for its figures.
pub(crate) async fn ask_info(control: &mpsc::Sender<Control>) -> Option<InfoReport> {
    let (reply, answer) = oneshot::channel();
    control.send(Control::Info(reply)).await.ok()?;
    answer.await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(req: u128) -> Message {
        Message::Stored { req }
    }

    #[test]
    fn sends_to_self_are_taken_out_and_the_rest_keep_their_order() {
        let me = NodeId(1);
        let mut actions = vec![
            Action::Send {
                to: NodeId(2),
                msg: stored(1),
            },
            Action::Send {
                to: me,
                msg: stored(2),
            },
            Action::SetTimer {
                at_ms: 10,
                timer: Timer::Tick,
            },
            Action::Send {
                to: me,
                msg: stored(3),
            },
            Action::Send {
                to: NodeId(3),
                msg: stored(4),
            },
        ];
        let mine = take_sends_to(me, &mut actions);
        assert_eq!(mine, vec![stored(2), stored(3)]);
        assert_eq!(
            actions,
            vec![
                Action::Send {
                    to: NodeId(2),
                    msg: stored(1),
                },
                Action::SetTimer {
                    at_ms: 10,
                    timer: Timer::Tick,
                },
                Action::Send {
                    to: NodeId(3),
                    msg: stored(4),
                },
            ]
        );
        assert!(take_sends_to(me, &mut actions).is_empty());
        assert_eq!(actions.len(), 3);
    }
}
