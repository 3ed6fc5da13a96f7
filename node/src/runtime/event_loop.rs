//! The event loop of one node: gather a batch of inputs, hand it to the
//! core, sync the engine once, then carry out the batch's outputs.

use super::NodeProtocol;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use tokio::runtime::RuntimeFlavor;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zerodb_ring::NodeId;
use zerodb_storage::Engine;
use zerodb_txn::ClientId;

use super::clock::Clock;
use super::latency::Latency;
use super::peers::Peers;
use super::prepared::SharedCache;
use super::query::{LargeScans, LocalCall};
use super::{Control, NodeEngine, BATCH_INPUTS_MAX};
use crate::api::{ClientResponse, InfoReport, NodeMessage, ServiceError};
use crate::core::gossip::Datagram;
use crate::core::{before_sync, AskId, Input, NodeCore, Output, Timer};
use crate::query::SchemaCache;
use zerodb_transport::{Incoming, Responder, Transport};

/// How long shutdown waits for the last replies to leave.
const SHUTDOWN_REPLY_WAIT: Duration = Duration::from_secs(2);

/// What came of one of the core's asks, reported by the task that carried
/// it out.
pub(super) type AskAnswer = (AskId, NodeId, Option<ClientResponse>);

/// One input of a batch, before it reaches the core (short-lived, mostly
/// `Net`: no point boxing it).
#[allow(clippy::large_enum_variant)]
enum Event {
    Net(Incoming<NodeProtocol>),
    SendFailed(NodeId),
    Answer(AskAnswer),
    Control(Control),
    Local(LocalCall),
}

/// Where the answer to a request goes.
pub(super) enum Replier {
    /// A client or peer, over the transport.
    Remote(Responder<ClientResponse>),
    /// A query task of this node.
    Local(oneshot::Sender<ClientResponse>),
}

/// A client request the core is working on.
pub(super) struct Pending {
    pub(super) responder: Replier,
    pub(super) started: Instant,
}

pub(crate) struct EventLoop {
    pub(crate) core: NodeCore<NodeEngine>,
    pub(crate) peers: Peers,
    failures: mpsc::UnboundedReceiver<NodeId>,
    answers_tx: mpsc::UnboundedSender<AskAnswer>,
    answers: mpsc::UnboundedReceiver<AskAnswer>,
    /// Requests of this node's query tasks to its core.
    pub(super) local_calls_tx: mpsc::UnboundedSender<LocalCall>,
    /// This node's prepared zeroql statements.
    pub(super) prepared: SharedCache,
    /// The table schemas this node's zeroql statements read lately.
    pub(super) schemas: SchemaCache,
    /// The turns of this node's zeroql statements for large scans.
    pub(super) large_scans: LargeScans,
    /// The eventual namespaces of the cached catalog, for query tasks, and
    /// the catalog version they were taken from.
    pub(super) eventual: watch::Sender<BTreeSet<String>>,
    eventual_version: Option<u64>,
    local_calls: mpsc::UnboundedReceiver<LocalCall>,
    pub(crate) clock: Clock,
    boot: u64,
    pub(crate) started: Instant,
    timers: BTreeSet<(u64, Timer)>,
    pub(super) pending: BTreeMap<ClientId, Pending>,
    pub(super) next_client: u64,
    /// Messages the node sent to itself that its last batch left over,
    /// handled first in the next batch.
    local: VecDeque<NodeMessage>,
    /// Replies that do not go through the core, released after the sync.
    pub(super) direct: Vec<(Responder<ClientResponse>, ClientResponse)>,
    /// Last boot id heard from each peer.
    boots: BTreeMap<NodeId, u64>,
    pub(super) latency: Latency,
    pub(super) inputs: u64,
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
        let (answers_tx, answers) = mpsc::unbounded_channel();
        let (local_calls_tx, local_calls) = mpsc::unbounded_channel();
        EventLoop {
            local_calls_tx,
            local_calls,
            prepared: SharedCache::default(),
            schemas: SchemaCache::default(),
            large_scans: LargeScans::default(),
            eventual: watch::Sender::new(BTreeSet::new()),
            eventual_version: None,
            core,
            peers: Peers::new(transport, failures_tx),
            failures,
            answers_tx,
            answers,
            clock,
            boot,
            started: Instant::now(),
            timers: BTreeSet::new(),
            pending: BTreeMap::new(),
            next_client: 1,
            local: VecDeque::new(),
            direct: Vec::new(),
            boots: BTreeMap::new(),
            latency: Latency::new(Instant::now()),
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
        let outputs = self.core.start(self.clock.now_ms());
        // Opening may have written (a new store's marker): durable first.
        if let Err(error) = self.sync() {
            tracing::error!(node = %self.core.id(), %error, "storage sync failed; stopping the node");
            self.shut_down(incoming).await;
            return;
        }
        self.release(outputs);
        self.greet_peers();
        loop {
            let mut batch = Vec::new();
            if self.local.is_empty() {
                let deadline = self.timers.first().map_or_else(
                    || tokio::time::Instant::now() + Duration::from_secs(3600),
                    |(at_ms, _)| self.clock.deadline(*at_ms),
                );
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => break,
                    Some(event) = incoming.recv() => batch.push(Event::Net(event)),
                    Some(node) = self.failures.recv() => batch.push(Event::SendFailed(node)),
                    Some(answer) = self.answers.recv() => batch.push(Event::Answer(answer)),
                    Some(call) = self.local_calls.recv() => batch.push(Event::Local(call)),
                    Some(request) = control.recv() => batch.push(Event::Control(request)),
                    _ = tokio::time::sleep_until(deadline) => {}
                }
            }
            while batch.len() < BATCH_INPUTS_MAX {
                match incoming.try_recv() {
                    Ok(event) => batch.push(Event::Net(event)),
                    Err(_) => break,
                }
            }
            while let Ok(node) = self.failures.try_recv() {
                batch.push(Event::SendFailed(node));
            }
            while let Ok(answer) = self.answers.try_recv() {
                batch.push(Event::Answer(answer));
            }
            while let Ok(call) = self.local_calls.try_recv() {
                batch.push(Event::Local(call));
            }
            while let Ok(request) = control.try_recv() {
                batch.push(Event::Control(request));
            }
            if let Err(error) = self.handle_batch(batch) {
                tracing::error!(node = %self.core.id(), %error, "storage sync failed; stopping the node");
                break;
            }
        }
        self.shut_down(incoming).await;
    }

    /// Hands one batch to the core, syncs once, carries out its outputs.
    fn handle_batch(&mut self, batch: Vec<Event>) -> Result<(), zerodb_storage::StorageError> {
        let now = self.clock.now_ms();
        let me = self.core.id();
        let mut inputs: Vec<Input> = self
            .local
            .drain(..)
            .map(|msg| Input::Message { from: me, msg })
            .collect();
        for event in batch {
            match event {
                Event::Net(event) => self.incoming(event, &mut inputs),
                Event::SendFailed(node) => inputs.push(Input::Unreachable(node)),
                Event::Answer((id, from, answer)) => {
                    inputs.push(Input::Answer { id, from, answer })
                }
                Event::Control(Control::Info(reply)) => {
                    let _ = reply.send(self.info());
                }
                Event::Control(Control::Console(ask)) => self.console(ask),
                Event::Local(call) => self.local_call(call, &mut inputs),
            }
        }
        while let Some(&(at_ms, timer)) = self.timers.first() {
            if at_ms > now {
                break;
            }
            self.timers.pop_first();
            inputs.push(Input::Timer(timer));
        }
        self.inputs += inputs.len() as u64;
        let outputs = self.core.handle_batch(now, inputs);
        self.publish_eventual();
        // Durability rule: nothing that depends on this batch's writes
        // leaves before they are durable. Requests go first, so peers
        // write while this node syncs; a batch with nothing else leaves
        // its writes to the next sync (DESIGN.md 6.1, group commit and
        // step 5).
        // A batch that raised the HLC floor holds everything until its
        // sync: its requests may carry timestamps above the durable floor.
        let hold = self.core.take_floor_raised();
        let (early, late): (Vec<Output>, Vec<Output>) = outputs
            .into_iter()
            .partition(|output| !hold && before_sync(output));
        self.release(early);
        if !late.is_empty() || !self.direct.is_empty() {
            self.sync()?;
        }
        self.release(late);
        for (responder, response) in std::mem::take(&mut self.direct) {
            self.respond(Replier::Remote(responder), response);
        }
        Ok(())
    }

    /// Tells query tasks the eventual namespaces when the cached catalog
    /// changed, before this batch's replies leave: a query that waited for
    /// a catalog refresh to read a new namespace knows its consistency when
    /// the read comes back.
    fn publish_eventual(&mut self) {
        let version = self.core.catalog().map(|catalog| catalog.version);
        if version == self.eventual_version {
            return;
        }
        self.eventual_version = version;
        self.eventual.send_replace(self.eventual_namespaces());
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

    /// A peer announced a new process: forget the connection to its
    /// previous one.
    pub(super) fn peer_booted(&mut self, node: NodeId, boot: u64) {
        if self.boots.insert(node, boot) == Some(boot) {
            return;
        }
        if let Some(member) = self.core.cluster().member(node.0) {
            tracing::info!(node = %self.core.id(), peer = %node, "peer (re)started; reconnecting");
            self.peers.reconnect(node, member.address);
        }
    }

    /// The other members of the cluster.
    pub(super) fn other_members(&self) -> Vec<NodeId> {
        let me = self.core.id();
        self.core
            .cluster()
            .members
            .iter()
            .map(|member| NodeId(member.id))
            .filter(|node| *node != me)
            .collect()
    }

    /// Tells every peer this process started.
    fn greet_peers(&mut self) {
        for node in self.other_members() {
            self.peers
                .send(node, NodeMessage::Hello { boot: self.boot });
        }
    }

    /// Carries out outputs of a batch (those that wait for its sync, after
    /// it).
    fn release(&mut self, outputs: Vec<Output>) {
        let me = self.core.id();
        // A batch's messages to one peer go out together, on one stream.
        let mut outgoing: BTreeMap<NodeId, Vec<NodeMessage>> = BTreeMap::new();
        for output in outputs {
            match output {
                Output::Send { to, msg } if to == me => self.local.push_back(msg),
                Output::Send { to, msg } => outgoing.entry(to).or_default().push(msg),
                Output::Reply { client, response } => {
                    let Some(pending) = self.pending.remove(&client) else {
                        continue;
                    };
                    let now = Instant::now();
                    let micros = now.saturating_duration_since(pending.started).as_micros() as u64;
                    self.latency.record(micros, now);
                    self.respond(pending.responder, response);
                }
                Output::Datagram { to, addr, bytes } => {
                    self.peers.send_datagram(Datagram { to, addr, bytes })
                }
                Output::Ask { to, id, request } => self.ask(to, id, request),
                Output::SetTimer { at_ms, timer } => {
                    self.timers.insert((at_ms, timer));
                }
            }
        }
        for (to, messages) in outgoing {
            self.peers.send_all(to, messages);
        }
        self.replies.retain(|task| !task.is_finished());
    }

    /// Sends one of the core's requests to a peer from a task and reports
    /// what came of it (the core's own timer decides how long to wait).
    fn ask(&mut self, to: NodeId, id: AskId, request: crate::api::ClientRequest) {
        let transport = self.peers.transport().clone();
        let answers = self.answers_tx.clone();
        tokio::spawn(async move {
            let answer = match transport
                .request(zerodb_transport::tls::NodeId(to.0), &request)
                .await
            {
                Ok(response) => Some(response),
                Err(error) => {
                    tracing::debug!(%error, peer = %to, "a request to a peer failed");
                    None
                }
            };
            let _ = answers.send((id, to, answer));
        });
    }

    pub(super) fn respond(&mut self, responder: Replier, response: ClientResponse) {
        let responder = match responder {
            Replier::Remote(responder) => responder,
            Replier::Local(reply) => {
                let _ = reply.send(response);
                return;
            }
        };
        self.replies.push(tokio::spawn(async move {
            if let Err(error) = responder.respond(response).await {
                tracing::debug!(%error, "could not deliver a reply");
            }
        }));
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
                self.respond(Replier::Remote(responder), ClientResponse::Error(error));
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for (_, pending) in pending {
            let error = ServiceError::ShuttingDown {
                outcome_unknown: true,
            };
            self.respond(pending.responder, ClientResponse::Error(error));
        }
        let datagrams = self
            .core
            .leave(self.clock.now_ms())
            .into_iter()
            .filter_map(|output| match output {
                Output::Datagram { to, addr, bytes } => Some(Datagram { to, addr, bytes }),
                _ => None,
            })
            .collect();
        self.peers.flush_datagrams(datagrams).await;
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
