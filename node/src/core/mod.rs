//! The node state machine (sans-IO): the transaction layer ([`TxnNode`])
//! composed with membership (the initial cluster and its ring, see
//! [`membership`]), gossip (SWIM failure detection and metadata, see
//! [`gossip`]) and liveness (see [`liveness`]): the down set coordinators
//! use is what gossip declared down plus peers a send just failed to reach.
//!
//! Like the cores below it, [`NodeCore`] never reads a clock, touches a
//! socket or spawns a task: a driver (the runtime or the simulator) passes
//! `now_ms` into every call and carries out the [`Output`]s that come back,
//! timers included (see [`output`]). Durability rule for its drivers:
//! handle a batch of inputs ([`NodeCore::handle_batch`]), call
//! [`NodeCore::sync`] once, then release the batch's outputs.

pub mod batch;
pub mod catalog;
mod catalog_change;
pub mod expiry;
pub mod forward;
mod gate;
pub mod gossip;
pub mod liveness;
pub mod membership;
pub mod metadata;
pub mod output;
pub mod purge;
mod request_shape;
pub mod scan;
mod service;

use std::collections::{BTreeMap, BTreeSet};

use zerodb_config::NamespacePolicy;
use zerodb_ring::{NodeId, Ownership, Ring};
use zerodb_storage::{Engine, EngineStats, StorageError};
use zerodb_txn::{
    Action, ClientError, ClientId, Policies, ReplicaStatus, Request, Response, TxnNode, TxnOptions,
};

use crate::api::{MemberStatus, NodeMessage, StatusReport};
pub use batch::Input;
use gossip::{GossipMembership, GossipStep};
use liveness::Liveness;
use membership::{ClusterError, ClusterSpec};
use metadata::{Caller, Metadata};
pub use output::{before_sync, must_sync_before, AskId, Output, Timer};
pub use scan::merge_scans;
pub use service::{KeyPlacement, PlacementError};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The cluster description is unusable.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The storage engine failed while the transaction layer loaded its state.
    #[error("opening the transaction layer failed: {0}")]
    Storage(#[from] StorageError),
    /// The gossip settings are unusable.
    #[error("starting gossip failed: {0}")]
    Gossip(#[from] zerodb_gossip::GossipError),
}

/// Salt mixed into the node's seed for gossip's RNG, so it does not replay
/// the transaction layer's random choices.
const GOSSIP_SEED_SALT: u64 = 0x676f_7373_6970_0001;

/// Tunables of a node core: the transaction layer's and gossip's.
#[derive(Clone, Debug)]
pub struct CoreOptions {
    /// Transaction layer.
    pub txn: TxnOptions,
    /// Gossip (see [`GossipMembership::node_config`]).
    pub gossip: zerodb_gossip::GossipConfig,
    /// Seed of the ring's token allocator; every node of a cluster must
    /// use the same ([`membership::TOKEN_SEED`] unless a simulator varies
    /// the ring per run).
    pub token_seed: u64,
}

impl Default for CoreOptions {
    fn default() -> CoreOptions {
        CoreOptions {
            txn: TxnOptions::default(),
            gossip: GossipMembership::node_config(
                zerodb_gossip::GossipConfig::default().probe_period_ms,
            ),
            token_seed: membership::TOKEN_SEED,
        }
    }
}

/// Outcome counters of the requests this node coordinated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Replies sent.
    pub replies: u64,
    /// Replies that were errors.
    pub errors: u64,
    /// Writes and transactions committed.
    pub committed: u64,
    /// Transactions aborted by a conflict or a failed condition.
    pub aborted: u64,
}

/// One node: transaction layer plus membership and liveness.
pub struct NodeCore<E: Engine> {
    id: NodeId,
    cluster: ClusterSpec,
    ring: Ring,
    policies: Policies,
    txn: TxnNode<E>,
    liveness: Liveness,
    gossip: GossipMembership,
    /// The earliest gossip deadline a [`Timer::Gossip`] was asked for and
    /// has not fired yet.
    gossip_armed_ms: Option<u64>,
    /// Outputs made outside the transaction layer's actions (datagrams,
    /// asks, relayed answers), released with the next call's outputs.
    outbox: Vec<Output>,
    tally: Tally,
    metadata: Metadata,
    /// Requests handed to peers, by id (see [`forward`]).
    asks: BTreeMap<AskId, forward::Asked>,
    next_ask: u64,
    /// The transaction layer's request timeout (forwards wait a little
    /// longer).
    request_timeout_ms: u64,
    /// Dropped namespaces whose records this process removed (see
    /// [`purge`]).
    purged: BTreeSet<String>,
    /// The dropped namespace being purged, and where (see [`purge`]).
    purging: Option<purge::PurgeCursor>,
    /// The down set a driver imposes (see [`NodeCore::override_down`]).
    down_override: Option<BTreeSet<NodeId>>,
    /// The expiry sweep (see [`expiry`]).
    sweeper: expiry::Sweeper,
}

impl<E: Engine> NodeCore<E> {
    /// Opens node `id` of `cluster` over `engine`. `bootstrap`: the store
    /// belongs to a first member of a new cluster (see [`TxnNode::open`]).
    pub fn open(
        id: NodeId,
        cluster: ClusterSpec,
        default_policy: NamespacePolicy,
        engine: E,
        seed: u64,
        options: CoreOptions,
        bootstrap: bool,
    ) -> Result<NodeCore<E>, CoreError> {
        cluster.validate()?;
        if cluster.member(id.0).is_none() {
            return Err(ClusterError::NotAMember(id.0).into());
        }
        let ring = cluster.ring_with_seed(options.token_seed)?;
        let metadata = Metadata::new(default_policy, cluster.members.len());
        let policies: Policies = metadata.policies();
        let request_timeout_ms = options.txn.request_timeout_ms;
        let mut txn = TxnNode::open(
            id,
            engine,
            seed,
            options.txn,
            bootstrap,
            zerodb_txn::membership::View::new(ring.clone(), Default::default(), policies.clone()),
        )?;
        let generation = gossip::next_generation(txn.engine_mut())?;
        txn.engine_mut().sync()?;
        let addr = cluster
            .member(id.0)
            .map(|member| member.address)
            .ok_or(ClusterError::NotAMember(id.0))?;
        let gossip = GossipMembership::new(
            id,
            addr,
            generation,
            options.gossip,
            seed ^ GOSSIP_SEED_SALT,
        )?;
        Ok(NodeCore {
            id,
            cluster,
            ring,
            policies,
            txn,
            liveness: Liveness::default(),
            gossip,
            gossip_armed_ms: None,
            outbox: Vec::new(),
            tally: Tally::default(),
            metadata,
            asks: BTreeMap::new(),
            next_ask: 0,
            request_timeout_ms,
            purged: Default::default(),
            purging: None,
            down_override: None,
            sweeper: expiry::Sweeper::default(),
        })
    }

    /// How long the node waits for one request (`timeouts.request_timeout_ms`).
    pub fn request_timeout_ms(&self) -> u64 {
        self.request_timeout_ms
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The initial cluster.
    pub fn cluster(&self) -> &ClusterSpec {
        &self.cluster
    }

    /// The ring every node of the cluster computes.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Arms the first timers and starts gossip. Call once after `open`.
    pub fn start(&mut self, now_ms: u64) -> Vec<Output> {
        let addresses = self
            .cluster
            .members
            .iter()
            .map(|member| (NodeId(member.id), member.address))
            .collect();
        let step = self.gossip.start(now_ms, &self.ring, &addresses);
        self.apply_gossip(now_ms, step);
        let mut actions = self.txn.start(now_ms);
        self.tick_metadata(now_ms, &mut actions);
        self.finish(now_ms, actions)
    }

    /// A gossip datagram from `from`, the node its certificate names.
    pub fn handle_datagram(&mut self, now_ms: u64, from: NodeId, bytes: &[u8]) -> Vec<Output> {
        let step = self.gossip.handle_datagram(now_ms, from, bytes);
        self.apply_gossip(now_ms, step);
        self.finish(now_ms, Vec::new())
    }

    /// Leaves the gossip cluster (graceful shutdown): send the datagrams
    /// among the outputs before closing the transport.
    pub fn leave(&mut self, now_ms: u64) -> Vec<Output> {
        let step = self.gossip.leave(now_ms);
        self.apply_gossip(now_ms, step);
        self.finish(now_ms, Vec::new())
    }

    /// The gossip membership (health of members, counters).
    pub fn gossip(&self) -> &GossipMembership {
        &self.gossip
    }

    fn apply_gossip(&mut self, now_ms: u64, step: GossipStep) {
        for event in &step.events {
            tracing::debug!(node = %self.id, ?event, "gossip event");
        }
        self.outbox
            .extend(step.datagrams.into_iter().map(|datagram| Output::Datagram {
                to: datagram.to,
                addr: datagram.addr,
                bytes: datagram.bytes,
            }));
        if let Some(version) = step.cluster_metadata_version_seen {
            if version > self.metadata.version() {
                tracing::debug!(node = %self.id, version, held = self.metadata.version(), "a peer holds a newer catalog");
            }
            self.metadata.learned(now_ms, version);
        }
        if step.down_changed {
            tracing::info!(node = %self.id, down = ?self.gossip.down(), "gossip changed the down set");
            self.publish_down(now_ms);
        }
    }

    /// Asks for a [`Timer::Gossip`] at gossip's earliest deadline unless
    /// one at or before it is already armed.
    fn arm_gossip(&mut self, outputs: &mut Vec<Output>) {
        let Some(deadline_ms) = self.gossip.next_deadline() else {
            return;
        };
        if self
            .gossip_armed_ms
            .is_some_and(|armed| armed <= deadline_ms)
        {
            return;
        }
        self.gossip_armed_ms = Some(deadline_ms);
        outputs.push(Output::SetTimer {
            at_ms: deadline_ms,
            timer: Timer::Gossip,
        });
    }

    /// A message from peer `from`.
    pub fn handle_message(&mut self, now_ms: u64, from: NodeId, msg: NodeMessage) -> Vec<Output> {
        if self.liveness.heard_from(now_ms, from) {
            self.publish_down(now_ms);
        }
        let actions = match msg {
            NodeMessage::Txn(msg) => self.txn.handle_message(now_ms, from, *msg),
            NodeMessage::Hello { .. } => Vec::new(),
        };
        self.finish(now_ms, actions)
    }

    /// A data request from the node's driver or a peer (trusted caller;
    /// the namespace must still exist). Clients go through
    /// [`NodeCore::handle_client_request`].
    pub fn handle_request(&mut self, now_ms: u64, client: ClientId, req: Request) -> Vec<Output> {
        self.handle_data_request(now_ms, client, Caller::Node, req)
    }

    /// A timer fired (the driver's clock reached the `at_ms` it was set
    /// for).
    pub fn handle_timer(&mut self, now_ms: u64, timer: Timer) -> Vec<Output> {
        if self.liveness.expire(now_ms) {
            self.publish_down(now_ms);
        }
        match timer {
            Timer::Txn(timer) => {
                let mut actions = self.txn.handle_timer(now_ms, timer);
                self.tick_metadata(now_ms, &mut actions);
                self.finish(now_ms, actions)
            }
            Timer::Gossip => {
                if self.gossip_armed_ms.is_some_and(|armed| armed <= now_ms) {
                    self.gossip_armed_ms = None;
                }
                let step = self.gossip.handle_due_timers(now_ms);
                self.apply_gossip(now_ms, step);
                self.finish(now_ms, Vec::new())
            }
            Timer::Ask(id) => {
                self.ask_expired(id);
                self.finish(now_ms, Vec::new())
            }
        }
    }

    /// Counts the replies among `actions`.
    fn count(&mut self, actions: &[Action]) {
        for action in actions {
            if let Action::Reply { response, .. } = action {
                self.tally.replies += 1;
                match response {
                    Response::Error(error) => {
                        self.tally.errors += 1;
                        if matches!(
                            error,
                            ClientError::Conflict { .. } | ClientError::ConditionFailed { .. }
                        ) {
                            self.tally.aborted += 1;
                        }
                    }
                    Response::Written { .. } | Response::Committed { .. } => {
                        self.tally.committed += 1
                    }
                    Response::Value(_) => {}
                }
            }
        }
    }

    /// A send to `node` failed: it counts as down for a while.
    pub fn peer_unreachable(&mut self, now_ms: u64, node: NodeId) {
        if node != self.id && self.liveness.unreachable(now_ms, node) {
            tracing::info!(node = %self.id, peer = %node, "peer unreachable; marking it down");
            self.publish_down(now_ms);
        }
    }

    fn publish_down(&mut self, now_ms: u64) {
        let down = self.down_set(now_ms);
        self.txn.set_down(down);
    }

    /// The nodes considered down: by gossip, or after a failed send (or
    /// the driver's perfect knowledge, see [`NodeCore::override_down`]).
    fn down_set(&self, now_ms: u64) -> BTreeSet<NodeId> {
        if let Some(down) = &self.down_override {
            return down.clone();
        }
        let mut down = self.liveness.down(now_ms);
        down.extend(self.gossip.down().iter().copied());
        down
    }

    /// Whether `node` is considered down (by gossip, or because a send to
    /// it just failed).
    pub fn is_down(&self, now_ms: u64, node: NodeId) -> bool {
        if let Some(down) = &self.down_override {
            return down.contains(&node);
        }
        self.liveness.is_down(now_ms, node) || self.gossip.down().contains(&node)
    }

    /// Replaces the failure detector with `down` (a driver that knows who
    /// is down: the simulator's perfect failure detector); `None` returns
    /// to gossip and failed sends. Gossip keeps running either way.
    pub fn override_down(&mut self, now_ms: u64, down: Option<BTreeSet<NodeId>>) {
        self.down_override = down;
        self.publish_down(now_ms);
    }

    /// Whether the last batch raised the durable HLC floor: then none of
    /// its outputs may leave before its sync, not even requests
    /// ([`TxnNode::take_floor_raised`]).
    pub fn take_floor_raised(&mut self) -> bool {
        self.txn.take_floor_raised()
    }

    /// The transaction layer, for inspection (drivers feed it only through
    /// the core).
    pub fn txn(&self) -> &TxnNode<E> {
        &self.txn
    }

    /// The transaction layer, for inspection that reads its engine
    /// (decision records in the simulator's summaries).
    pub fn txn_mut(&mut self) -> &mut TxnNode<E> {
        &mut self.txn
    }

    /// Makes every write so far durable (once per batch of inputs).
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.txn.engine_mut().sync()
    }

    /// The engine (checkpoint, stats, validation, shutdown).
    pub fn engine_mut(&mut self) -> &mut E {
        self.txn.engine_mut()
    }

    /// Gives the engine back (shutdown).
    pub fn into_engine(self) -> E {
        self.txn.into_engine()
    }

    /// Engine figures.
    pub fn engine_stats(&mut self) -> EngineStats {
        self.txn.engine_mut().stats()
    }

    /// Request outcome counters.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// Requests in flight at this coordinator.
    pub fn requests_in_flight(&self) -> usize {
        self.txn.requests_in_flight()
    }

    /// Blind transactions this node coordinated, by commit path.
    pub fn commit_paths(&self) -> zerodb_txn::CommitPaths {
        self.txn.commit_paths()
    }

    /// Lock sets held by this replica.
    pub fn locks_held(&self) -> usize {
        self.txn.locks_held()
    }

    /// The replication factor of the default policy.
    pub fn replication_factor(&self) -> usize {
        self.policies.default.replication_factor
    }

    /// The cluster as this node sees it.
    pub fn status(&self, now_ms: u64) -> StatusReport {
        self.status_with(now_ms, &self.policies.default)
    }

    /// The cluster as this node sees it, ownership computed for `policy`.
    fn status_with(&self, now_ms: u64, policy: &NamespacePolicy) -> StatusReport {
        let rf = policy.replication_factor;
        let shares = Ownership::of(&self.ring, rf, &policy.regions)
            .map(|ownership| ownership.shares())
            .unwrap_or_default();
        let members = self
            .cluster
            .members
            .iter()
            .map(|spec| {
                let id = NodeId(spec.id);
                let share = shares.get(&id).copied().unwrap_or(0);
                MemberStatus {
                    id: spec.id,
                    address: spec.address.to_string(),
                    region: spec.region.clone(),
                    zone: spec.zone.clone(),
                    tokens: self.ring.member(id).map_or(0, |m| m.tokens.len() as u32),
                    ownership_ppm: ((share * 1_000_000) >> 64) as u32,
                    up: id == self.id || !self.is_down(now_ms, id),
                    health: health_name(self.gossip.liveness_of(id)).to_string(),
                    catalog_version: if id == self.id {
                        self.metadata.version()
                    } else {
                        self.gossip.cluster_metadata_version_of(id).unwrap_or(0)
                    },
                }
            })
            .collect();
        StatusReport {
            node: self.id.0,
            ring_epoch: self.ring.epoch(),
            replication_factor: rf as u32,
            replica_status: match self.txn.status() {
                ReplicaStatus::Normal => "normal".into(),
                ReplicaStatus::Recovering => "recovering".into(),
            },
            members,
            local_records: None,
        }
    }
}

/// How a status report names a member's health.
pub fn health_name(liveness: zerodb_gossip::Liveness) -> &'static str {
    match liveness {
        zerodb_gossip::Liveness::Up => "up",
        zerodb_gossip::Liveness::Suspect => "suspect",
        zerodb_gossip::Liveness::Down => "down",
    }
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod expiry_tests;
#[cfg(test)]
mod gossip_tests;
#[cfg(test)]
pub(super) mod tests;
