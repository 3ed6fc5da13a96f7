//! Gossip-driven membership of one node (DESIGN.md section 4), sans-IO.
//!
//! [`GossipMembership`] wraps the gossip crate's [`Gossip`] state machine
//! for a node that knows its ring and its peers' addresses:
//!
//! - it seeds the view with the initial members (all `normal`, at
//!   generation 0, so that any real life of theirs replaces the record),
//!   publishes this node's metadata and joins through every peer;
//! - it keeps gossip's timers itself: the node core asks its driver for
//!   one [`Timer::Gossip`](super::Timer::Gossip) at
//!   [`GossipMembership::next_deadline`] and calls
//!   [`GossipMembership::handle_due_timers`] when it fires, so a driver
//!   knows one timer model only;
//! - it checks the sender a datagram claims against the node id the
//!   transport authenticated (the peer's certificate) and refuses a
//!   mismatch;
//! - it turns gossip's events into the down set the transaction layer's
//!   coordinators use. A down node keeps its place in the ring: failover
//!   around it is temporary (the ring never changes here);
//! - it carries the version of the cluster metadata (the catalog) each node
//!   holds: [`GossipMembership::advertise_cluster_metadata_version`]
//!   republishes this node's record, and a step reports the highest version
//!   a peer's new record advertises, so that the node can fetch it.
//!
//! Time (`now_ms`) and the seed come from the driver; nothing here reads a
//! clock or touches a socket. Both drivers (the node runtime and the
//! simulator) use this module, so the simulator tests this wiring.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};

use zerodb_gossip::{
    codec, Gossip, GossipConfig, GossipError, GossipEvent, GossipId, GossipTimer, Liveness,
    LocalMetadata, MetadataVersion, NodeMetadata, Output,
};
use zerodb_ring::{NodeId, NodeStatus, Ring};
use zerodb_storage::{Engine, Record, Space, StorageError, Version, WriteBatch};

/// Largest gossip datagram a node sends or accepts. QUIC datagrams on a
/// path with quinn's initial 1,200-byte MTU carry about 1,150 bytes after
/// the packet header, the AEAD tag and the transport's version byte; this
/// keeps a margin.
pub const NODE_GOSSIP_DATAGRAM_BYTES: usize = 1_100;

/// Most gossip timers held at once (foca keeps a handful per member; more
/// means a bug, and the oldest are dropped rather than growing forever).
pub const GOSSIP_TIMERS_MAX: usize = 65_536;

/// Most gossip timers fired by one call of
/// [`GossipMembership::handle_due_timers`]; the rest fire on the next.
pub const TIMERS_FIRED_PER_CALL_MAX: usize = 4_096;

/// Key in the engine's system space under which a node keeps its gossip
/// generation (its life counter).
pub const GENERATION_KEY: &[u8] = b"Gg";

/// Version of the cluster metadata a node of a static initial cluster holds.
pub const INITIAL_CLUSTER_METADATA_VERSION: u64 = 1;

/// One gossip datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Destination node.
    pub to: NodeId,
    /// Its address as gossip knows it (the transport may dial it).
    pub addr: SocketAddr,
    /// The datagram.
    pub bytes: Vec<u8>,
}

/// What one gossip input produced for the driver.
#[derive(Debug, Default)]
pub struct GossipStep {
    /// Datagrams to send (unreliable; losing some is fine).
    pub datagrams: Vec<Datagram>,
    /// Membership changes, in the order gossip saw them.
    pub events: Vec<GossipEvent>,
    /// True when the down set changed (hand [`GossipMembership::down`] to
    /// the transaction layer).
    pub down_changed: bool,
    /// The highest cluster metadata version advertised by a peer record
    /// that changed in this step (a node holding less should fetch it).
    pub cluster_metadata_version_seen: Option<u64>,
}

/// Counters of what the membership refused or could not deliver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GossipCounters {
    /// Datagrams whose claimed sender did not match the certificate.
    pub refused_identity: u64,
    /// Datagrams that failed to decode or were rejected by gossip.
    pub rejected: u64,
    /// Datagrams addressed to an address no known node has.
    pub unroutable: u64,
}

/// Health of one member for status reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberHealth {
    /// The node.
    pub node: NodeId,
    /// Its health as this node sees it.
    pub liveness: Liveness,
    /// The life (generation) of the node gossip knows.
    pub generation: u64,
    /// Its lifecycle status in its metadata.
    pub status: NodeStatus,
}

/// Reads this node's gossip generation from `engine`, adds one and stores
/// it (not yet synced: the caller syncs before gossiping). A store without
/// one starts at 1; a node that lost its store and reuses a generation is
/// renewed past its previous life by gossip itself.
pub fn next_generation<E: Engine>(engine: &mut E) -> Result<u64, StorageError> {
    let previous = engine
        .get(Space::System, GENERATION_KEY)?
        .and_then(|record| record.value)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map_or(0, u64::from_be_bytes);
    let generation = previous.saturating_add(1);
    let mut batch = WriteBatch::new();
    batch.put(
        Space::System,
        GENERATION_KEY.to_vec(),
        Record::value(Version::ZERO, generation.to_be_bytes().to_vec()),
    );
    engine.write(batch)?;
    Ok(generation)
}

/// One node's gossip membership; see the module docs.
pub struct GossipMembership {
    gossip: Gossip,
    node: NodeId,
    /// Every address known to belong to a node (initial members and what
    /// gossip metadata tells).
    nodes_by_addr: BTreeMap<SocketAddr, NodeId>,
    /// Pending gossip timers by (deadline, sequence).
    timers: BTreeMap<(u64, u64), GossipTimer>,
    next_timer: u64,
    down: BTreeSet<NodeId>,
    counters: GossipCounters,
    /// What this node publishes about itself (set by `start`).
    local: Option<LocalMetadata>,
}

impl GossipMembership {
    /// Membership for `node` at `addr` in life `generation` (persisted by
    /// the driver and higher on every start). `seed` seeds gossip's RNG.
    pub fn new(
        node: NodeId,
        addr: SocketAddr,
        generation: u64,
        config: GossipConfig,
        seed: u64,
    ) -> Result<GossipMembership, GossipError> {
        let id = GossipId::new(node, addr, generation);
        Ok(GossipMembership {
            gossip: Gossip::new(id, config, seed)?,
            node,
            nodes_by_addr: BTreeMap::from([(addr, node)]),
            timers: BTreeMap::new(),
            next_timer: 0,
            down: BTreeSet::new(),
            counters: GossipCounters::default(),
            local: None,
        })
    }

    /// The settings a node uses: the defaults scaled to a probe period of
    /// `probe_period_ms` (`timeouts.gossip_interval_ms`), with datagrams
    /// sized for QUIC ([`NODE_GOSSIP_DATAGRAM_BYTES`]).
    pub fn node_config(probe_period_ms: u64) -> GossipConfig {
        GossipConfig {
            datagram_limit_bytes: NODE_GOSSIP_DATAGRAM_BYTES,
            ..GossipConfig::with_probe_period(probe_period_ms)
        }
    }

    /// Starts gossip as a member of `ring` whose members listen at
    /// `addresses`: seeds the view with every other member (as `normal`
    /// records of generation 0, replaced by any real life), publishes this
    /// node's metadata and joins through all of them.
    pub fn start(
        &mut self,
        now_ms: u64,
        ring: &Ring,
        addresses: &BTreeMap<NodeId, SocketAddr>,
    ) -> GossipStep {
        let mut step = GossipStep::default();
        let mut records = Vec::new();
        let mut seeds = Vec::new();
        for member in ring.members() {
            let Some(&addr) = addresses.get(&member.id) else {
                continue;
            };
            self.nodes_by_addr.insert(addr, member.id);
            if member.id == self.node {
                continue;
            }
            seeds.push(addr);
            let local = LocalMetadata {
                region: member.region.clone(),
                zone: member.zone.clone(),
                tokens: member.tokens.clone(),
                status: member.status,
                cluster_metadata_version: INITIAL_CLUSTER_METADATA_VERSION,
            };
            records.push(NodeMetadata::from_local(
                GossipId::new(member.id, addr, 0),
                0,
                &local,
            ));
        }
        let result = self.gossip.restore_view(now_ms, records);
        self.absorb(now_ms, result, &mut step);
        if let Some(member) = ring.member(self.node) {
            let local = LocalMetadata {
                region: member.region.clone(),
                zone: member.zone.clone(),
                tokens: member.tokens.clone(),
                status: member.status,
                cluster_metadata_version: INITIAL_CLUSTER_METADATA_VERSION,
            };
            self.local = Some(local.clone());
            let result = self.gossip.set_local_metadata(now_ms, local);
            self.absorb(now_ms, result, &mut step);
        }
        let result = self.gossip.join(now_ms, &seeds);
        self.absorb(now_ms, result, &mut step);
        step
    }

    /// A datagram from `from`, the node id the transport authenticated.
    /// A datagram claiming to come from another node is refused (logged
    /// and counted); malformed input is dropped.
    pub fn handle_datagram(&mut self, now_ms: u64, from: NodeId, bytes: &[u8]) -> GossipStep {
        let mut step = GossipStep::default();
        let label = self.address_of(from);
        let claimed = match codec::claimed_sender(label, bytes) {
            Ok(claimed) => claimed,
            Err(error) => {
                self.counters.rejected += 1;
                tracing::debug!(peer = %from, %error, "dropping a malformed gossip datagram");
                return step;
            }
        };
        if claimed.node != from {
            self.counters.refused_identity += 1;
            tracing::warn!(
                peer = %from,
                claimed = %claimed,
                "refusing gossip: the sender's certificate names {from} but the datagram claims to come from {}",
                claimed.node
            );
            return step;
        }
        self.nodes_by_addr.insert(claimed.addr, claimed.node);
        let result = self.gossip.handle_datagram(now_ms, claimed.addr, bytes);
        if result.is_err() {
            self.counters.rejected += 1;
        }
        self.absorb(now_ms, result, &mut step);
        step
    }

    /// Republishes this node's record with the cluster metadata `version`
    /// it now holds (after it loaded or committed a newer catalog); peers
    /// holding less fetch it. Nothing happens before
    /// [`GossipMembership::start`] or when the version is unchanged.
    pub fn advertise_cluster_metadata_version(&mut self, now_ms: u64, version: u64) -> GossipStep {
        let mut step = GossipStep::default();
        let Some(local) = self.local.as_mut() else {
            return step;
        };
        if local.cluster_metadata_version == version {
            return step;
        }
        local.cluster_metadata_version = version;
        let local = local.clone();
        let result = self.gossip.set_local_metadata(now_ms, local);
        self.absorb(now_ms, result, &mut step);
        step
    }

    /// The cluster metadata version `node` advertises, as far as this node
    /// knows (this node's own for itself).
    pub fn cluster_metadata_version_of(&self, node: NodeId) -> Option<u64> {
        self.gossip
            .metadata(node)
            .map(|record| record.cluster_metadata_version)
    }

    /// The earliest deadline of a pending gossip timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.keys().next().map(|(at_ms, _)| *at_ms)
    }

    /// Fires every gossip timer due at `now_ms`.
    pub fn handle_due_timers(&mut self, now_ms: u64) -> GossipStep {
        let mut step = GossipStep::default();
        // Timers set while firing may be due at once (a suspicion notice);
        // the bound keeps a misbehaving timer from spinning the driver.
        for _ in 0..TIMERS_FIRED_PER_CALL_MAX {
            let Some(entry) = self.timers.first_entry() else {
                break;
            };
            if entry.key().0 > now_ms {
                break;
            }
            let timer = entry.remove();
            let result = self.gossip.handle_timer(now_ms, timer);
            self.absorb(now_ms, result, &mut step);
        }
        step
    }

    /// Leaves the cluster gracefully (shutdown): peers learn at once that
    /// this node is gone.
    pub fn leave(&mut self, now_ms: u64) -> GossipStep {
        let mut step = GossipStep::default();
        let result = self.gossip.leave(now_ms);
        self.absorb(now_ms, result, &mut step);
        self.timers.clear();
        step
    }

    /// Nodes gossip considers down (never this node).
    pub fn down(&self) -> &BTreeSet<NodeId> {
        &self.down
    }

    /// Health of `node` (this node is always up).
    pub fn liveness_of(&self, node: NodeId) -> Liveness {
        self.gossip.liveness_of(node)
    }

    /// Every member gossip knows, with its health.
    pub fn members(&self) -> Vec<MemberHealth> {
        self.gossip
            .members()
            .into_iter()
            .map(|view| MemberHealth {
                node: view.member.id,
                liveness: view.liveness,
                generation: view.generation,
                status: view.member.status,
            })
            .collect()
    }

    /// This node's current identity (the generation may have grown).
    pub fn id(&self) -> GossipId {
        self.gossip.id()
    }

    /// The metadata version held for `node`.
    pub fn metadata_version(&self, node: NodeId) -> Option<MetadataVersion> {
        self.gossip.metadata_version(node)
    }

    /// What was refused or dropped so far.
    pub fn counters(&self) -> GossipCounters {
        self.counters
    }

    fn address_of(&self, node: NodeId) -> SocketAddr {
        self.nodes_by_addr
            .iter()
            .find(|(_, known)| **known == node)
            .map_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), |(addr, _)| {
                *addr
            })
    }

    /// Sorts gossip's outputs into the step: datagrams routed by node id,
    /// timers kept here, events applied to the down set.
    fn absorb(
        &mut self,
        now_ms: u64,
        result: Result<Vec<Output>, GossipError>,
        step: &mut GossipStep,
    ) {
        let outputs = match result {
            Ok(outputs) => outputs,
            Err(error) => {
                // Outputs produced before the failure come with the next
                // call; the error itself is a bad input or a full datagram.
                tracing::debug!(node = %self.node, %error, "gossip refused an input");
                return;
            }
        };
        for output in outputs {
            match output {
                Output::Send { to, node, bytes } => {
                    let node = node.or_else(|| self.nodes_by_addr.get(&to).copied());
                    match node {
                        Some(node) if node != self.node => step.datagrams.push(Datagram {
                            to: node,
                            addr: to,
                            bytes,
                        }),
                        Some(_) => {}
                        None => self.counters.unroutable += 1,
                    }
                }
                Output::SetTimer { at_ms, timer } => self.add_timer(at_ms.max(now_ms), timer),
                Output::Event(event) => {
                    if let GossipEvent::MetadataChanged(node) = event {
                        if let Some(record) = self.gossip.metadata(node) {
                            self.nodes_by_addr.insert(record.id.addr, node);
                            if node != self.node {
                                let seen = record.cluster_metadata_version;
                                step.cluster_metadata_version_seen =
                                    step.cluster_metadata_version_seen.max(Some(seen));
                            }
                        }
                    }
                    step.events.push(event);
                }
            }
        }
        let down: BTreeSet<NodeId> = self
            .gossip
            .down_nodes()
            .into_iter()
            .filter(|node| *node != self.node)
            .collect();
        if down != self.down {
            self.down = down;
            step.down_changed = true;
        }
    }

    fn add_timer(&mut self, at_ms: u64, timer: GossipTimer) {
        if self.timers.len() >= GOSSIP_TIMERS_MAX {
            tracing::warn!(node = %self.node, "too many gossip timers; dropping the earliest");
            self.timers.pop_first();
        }
        self.timers.insert((at_ms, self.next_timer), timer);
        self.next_timer += 1;
    }
}
