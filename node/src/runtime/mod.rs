//! The tokio driver of one node: it owns the [`NodeCore`] and its engine
//! in one event-loop task and connects it to the world.
//!
//! - Inputs: the transport's [`Incoming`](zerodb_transport::Incoming)
//!   channel (node messages, client requests with their responder, gossip
//!   datagrams), the core's timers (a `BTreeSet` of deadlines and one
//!   `sleep_until`), failed sends and the answers to the core's asks.
//! - Batching: the loop drains what is ready (at most [`BATCH_INPUTS_MAX`]
//!   inputs), hands them to [`NodeCore::handle_batch`] (which also handles
//!   the messages the node sends itself), calls the engine's `sync` ONCE,
//!   and only then carries out the batch's outputs: messages (one stream
//!   per peer), replies, datagrams, asks and timers. Many concurrent
//!   clients share one fsync (DESIGN.md section 1, durability rule). A
//!   batch that wrote nothing is not synced; the sync runs under
//!   `block_in_place` so the runtime keeps receiving the next batch
//!   meanwhile.
//! - zeroql queries ([`query`]) run in a task of their own, which sends
//!   its reads and its commit to the core through the loop, as the client
//!   that sent the query; so do executions of prepared statements, whose
//!   parses the node keeps in a bounded cache ([`prepared`]).
//! - The runtime decides nothing about the protocol: it moves bytes, syncs
//!   and keeps time; the core decides (see [`crate::core::output`]).
//! - Shutdown ([`NodeHandle::shutdown`], or SIGINT/SIGTERM in the binary):
//!   stop reading, answer every request in flight with a clear
//!   "shutting down" error, sync, close the engine and the endpoint.

mod clock;
pub mod console;
pub mod engine;
mod event_loop;
mod latency;
pub mod metrics;
mod peers;
pub mod prepared;
pub mod query;
mod requests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zerodb_config::{NamespacePolicy, StorageEngineKind};
use zerodb_ring::NodeId;
use zerodb_txn::TxnOptions;

use crate::api::{ClientRequest, ClientResponse, InfoReport, NodeMessage};
use crate::core::membership::ClusterSpec;
use crate::core::{CoreError, NodeCore};
pub use engine::NodeEngine;
use zerodb_transport::tls::TlsIdentity;
use zerodb_transport::{Transport, TransportConfig, TransportError};

/// The node's wire protocol for the transport.
#[derive(Debug)]
pub struct NodeProtocol;

impl zerodb_transport::Protocol for NodeProtocol {
    type Message = NodeMessage;
    type Request = ClientRequest;
    type Response = ClientResponse;
}

pub use crate::core::batch::BATCH_INPUTS_MAX;

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    /// This node's id (its certificate must name it).
    pub id: u32,
    /// The initial cluster.
    pub cluster: ClusterSpec,
    /// Address to bind; `None` uses this member's address in `cluster`.
    pub listen: Option<SocketAddr>,
    /// Policy of every namespace.
    pub default_policy: NamespacePolicy,
    /// Which engine.
    pub engine: StorageEngineKind,
    /// The engine's directory.
    pub data_dir: PathBuf,
    /// Page cache budget.
    pub cache_bytes: u64,
    /// The node's certificate, key and the cluster CA.
    pub tls: TlsIdentity,
    /// Transaction layer tunables.
    pub txn: TxnOptions,
    /// Gossip probe period (`timeouts.gossip_interval_ms`); the other
    /// gossip timers scale with it.
    pub gossip_interval_ms: u64,
    /// Where to serve Prometheus metrics and the console, if anywhere.
    pub metrics: Option<SocketAddr>,
    /// The user whose roles the console's statements run with (`None`:
    /// the bootstrap admin, [`console::BOOTSTRAP_ADMIN`]).
    pub console_user: Option<String>,
    /// The store lost its state (new disk for an existing member): come up
    /// recovering instead of treating an empty store as the truth.
    pub recover: bool,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The storage engine failed to open.
    #[error("cannot open the {engine} storage engine in {dir}: {source}")]
    Engine {
        /// Engine name.
        engine: String,
        /// Its directory.
        dir: String,
        /// Why.
        source: zerodb_storage::StorageError,
    },
    /// The node core refused the configuration.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The endpoint could not be bound.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The metrics and console endpoint could not be bound.
    #[error(
        "cannot serve metrics and the console on {addr}: {source}; pick another metrics.address"
    )]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Requests to the event loop from the rest of the process.
pub(crate) enum Control {
    /// The node's figures (metrics endpoint).
    Info(oneshot::Sender<InfoReport>),
    /// A question of the console ([`console`]).
    Console(console::ask::Ask),
}

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    id: u32,
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Transport settings for node-to-node links: dead peers are noticed in
/// seconds rather than the client default of thirty.
pub fn node_transport_config() -> TransportConfig {
    TransportConfig {
        connect_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(6),
        keep_alive_interval: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
        ..TransportConfig::default()
    }
}

/// Starts a node: opens its engine, binds its endpoint and spawns its event
/// loop (and metrics endpoint). Must run inside a tokio runtime.
pub async fn start(settings: NodeSettings) -> Result<NodeHandle, StartError> {
    let clock = clock::Clock::new();
    let entropy = clock.entropy() ^ u64::from(settings.id).rotate_left(40);
    let (engine, report) = NodeEngine::open(
        settings.engine,
        &settings.data_dir,
        settings.cache_bytes,
        entropy,
    )
    .map_err(|source| StartError::Engine {
        engine: format!("{:?}", settings.engine).to_lowercase(),
        dir: settings.data_dir.display().to_string(),
        source,
    })?;
    let bootstrap = report.created && !settings.recover;
    tracing::info!(
        node = settings.id,
        engine = engine.name(),
        created = report.created,
        replayed = report.wal_records_replayed,
        dropped = report.wal_records_dropped,
        bootstrap,
        "storage engine open"
    );
    let core = NodeCore::open(
        NodeId(settings.id),
        settings.cluster.clone(),
        settings.default_policy.clone(),
        engine,
        entropy,
        crate::core::CoreOptions {
            txn: settings.txn.clone(),
            gossip: crate::core::gossip::GossipMembership::node_config(settings.gossip_interval_ms),
            token_seed: crate::core::membership::TOKEN_SEED,
        },
        bootstrap,
    )?;
    let listen = match settings.listen {
        Some(addr) => addr,
        None => settings
            .cluster
            .member(settings.id)
            .map(|member| member.address)
            .ok_or(CoreError::Cluster(
                crate::core::membership::ClusterError::NotAMember(settings.id),
            ))?,
    };
    let (transport, incoming) =
        Transport::<NodeProtocol>::bind(listen, &settings.tls, node_transport_config())?;
    for member in &settings.cluster.members {
        if member.id != settings.id {
            transport.add_peer(zerodb_transport::tls::NodeId(member.id), member.address);
        }
    }
    let addr = transport.local_addr();
    let (control_tx, control_rx) = mpsc::channel(64);
    let metrics_addr = match settings.metrics {
        Some(addr) => Some(
            console::serve(addr, settings.console_user.clone(), control_tx.clone())
                .await
                .map_err(|source| StartError::Metrics { addr, source })?,
        ),
        None => None,
    };
    let (shutdown, shutdown_rx) = watch::channel(false);
    let event_loop = event_loop::EventLoop::new(core, transport, clock, entropy);
    let task = tokio::spawn(event_loop.run(incoming, control_rx, shutdown_rx));
    tracing::info!(node = settings.id, %addr, "node started");
    Ok(NodeHandle {
        id: settings.id,
        addr,
        metrics_addr,
        shutdown,
        task,
    })
}

impl NodeHandle {
    /// The node's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The bound QUIC address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound metrics and console address, if serving.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops the node gracefully and waits until its engine is closed.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Kills the node's task at once, like a crash of its process (what
    /// was not synced is what a crash would lose).
    pub fn abort(self) {
        self.task.abort();
    }

    /// Whether the event loop has ended (after a fatal storage error).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}
