//! The simulated cluster: N node cores ([`NodeCore`], the same core the
//! runtime drives) over simulated disks, clocks and network, driven from
//! one deterministic event queue.
//!
//! The driver ([`crate::driver`]) follows the runtime's batch semantics
//! and the durability rule of DESIGN.md section 1: a node handles a batch
//! of inputs (everything due for it at one instant, bounded, and the
//! messages it sends itself), its engine syncs once, and only then are the
//! batch's outputs released to the network and the clients. A crash can
//! strike between the two, losing the unsynced writes and the outputs with
//! them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_config::NamespacePolicy;
use zerodb_node::api::{ClientRequest, ClientResponse, NodeMessage};
use zerodb_node::core::gossip::GossipMembership;
use zerodb_node::core::membership::{ClusterSpec, MemberSpec};
use zerodb_node::core::metadata::Caller;
use zerodb_node::core::{AskId, CoreOptions, NodeCore, Output, Timer};
use zerodb_ring::{NodeId, Ring};
use zerodb_storage::{Record, Space};
use zerodb_txn::{Audit, ClientId, Key, KeyExt, Policies, ReplicaStatus, TxnOptions, View};

use crate::check;
use crate::clock::NodeClock;
pub use crate::disk::SimDisk;
use crate::disk_faults::DiskFaultState;
use crate::driver::Inbound;
use crate::faults::{FaultCounts, FaultRates};
use crate::history::Micros;
use crate::membership_gossip::MembershipKind;
use crate::net::Network;
use crate::queue::EventQueue;

/// Ring positions per simulated node.
pub const TOKENS_PER_NODE: u32 = 16;

/// One-way latency between a client and its coordinator.
pub const CLIENT_LATENCY_US: Micros = 300;

/// How long a node's engine sync takes: the node handles nothing else
/// meanwhile, so inputs arriving during a sync form the next batch (group
/// commit, as in the runtime).
pub const SYNC_US: Micros = 150;

/// Everything that happens in a simulation.
pub enum SimEvent {
    /// A message arrives at a node.
    Deliver {
        /// Destination node index.
        to: usize,
        /// Sender.
        from: NodeId,
        /// The message.
        msg: NodeMessage,
    },
    /// A gossip datagram arrives at a node.
    Datagram {
        /// Destination node index.
        to: usize,
        /// Sender.
        from: NodeId,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// A node's timer fires.
    Timer {
        /// Node index.
        node: usize,
        /// The node generation that set it (stale after a crash).
        generation: u64,
        /// Node-clock time it was set for.
        at_ms: u64,
        /// Which timer.
        timer: Timer,
    },
    /// A request arrives at a node: a client's, or one a node asked a peer
    /// (a forward or a local scan).
    Request {
        /// Node index.
        node: usize,
        /// The request id.
        client: ClientId,
        /// Who sent it.
        caller: Caller,
        /// The request.
        request: ClientRequest,
    },
    /// What came of a node's ask arrives back at it.
    Answer {
        /// Node index of the asker.
        node: usize,
        /// The asker's generation (an answer to an earlier life is
        /// dropped: ask ids restart with each life).
        generation: u64,
        /// The ask.
        id: AskId,
        /// The node asked.
        from: NodeId,
        /// Its answer; `None` when it could not be reached.
        answer: Option<ClientResponse>,
    },
    /// A node handles the inputs gathered in its inbox.
    Batch {
        /// Node index.
        node: usize,
        /// The node generation that scheduled it.
        generation: u64,
    },
    /// A node's sync of its last batch completes: the batch's outputs are
    /// released.
    Synced {
        /// Node index.
        node: usize,
        /// The node generation whose batch it is (a crash before the sync
        /// completes loses the outputs).
        generation: u64,
        /// The batch's outputs.
        outputs: Vec<Output>,
    },
    /// A coordinator's answer arrives at its client.
    Reply {
        /// The request id.
        client: ClientId,
        /// The answer.
        response: ClientResponse,
    },
    /// A client gives up on a request.
    ClientTimeout {
        /// The request id.
        client: ClientId,
    },
    /// A client process may issue its next operation.
    ClientWake {
        /// The process.
        process: u32,
    },
    /// Time to inject the next fault.
    Fault,
    /// A crashed node restarts.
    Restart {
        /// Node index.
        node: usize,
    },
    /// Partitions and cut links heal.
    Heal,
}

/// One node's slot: its core when up, its disk when down.
pub struct NodeSlot<D: SimDisk> {
    /// The node's id.
    pub id: NodeId,
    /// Its clock.
    pub clock: NodeClock,
    pub(crate) node: Option<NodeCore<D>>,
    pub(crate) disk: Option<D>,
    pub(crate) generation: u64,
    pub(crate) paused_until_us: Micros,
    pub(crate) restarts: u64,
    pub(crate) crash_mid_batch: bool,
    pub(crate) lost_state: bool,
    pub(crate) disk_faults: DiskFaultState,
    /// Inputs waiting for the node's next batch.
    pub(crate) inbox: Vec<Inbound>,
    /// Whether a [`SimEvent::Batch`] is scheduled for the inbox.
    pub(crate) batch_scheduled: bool,
    /// Whether the node is syncing a batch (inputs wait in the inbox).
    pub(crate) syncing: bool,
    /// The highest reading of its clock any of its lives was given.
    pub(crate) clock_high_ms: u64,
}

impl<D: SimDisk> NodeSlot<D> {
    /// The node's clock at true time `now_us`, as handed to its core
    /// (remembered in [`NodeSlot::clock_high`]).
    pub(crate) fn read_clock(&mut self, now_us: Micros) -> u64 {
        let now_ms = self.clock.now_ms(now_us);
        self.clock_high_ms = self.clock_high_ms.max(now_ms);
        now_ms
    }

    /// The highest clock reading the node was handed so far: every clock a
    /// replica reported (a grant's `clock_ms`) is at most this.
    pub fn clock_high(&self) -> u64 {
        self.clock_high_ms
    }

    /// True when the node is running.
    pub fn is_up(&self) -> bool {
        self.node.is_some()
    }

    /// The running node core.
    pub fn node(&self) -> Option<&NodeCore<D>> {
        self.node.as_ref()
    }
}

/// The cluster and its event queue.
pub struct Cluster<D: SimDisk> {
    /// True simulated time.
    pub now_us: Micros,
    /// Pending events.
    pub queue: EventQueue<SimEvent>,
    /// The nodes.
    pub nodes: Vec<NodeSlot<D>>,
    /// The network.
    pub net: Network,
    /// Fault rates of this run.
    pub rates: FaultRates,
    /// Faults injected so far.
    pub counts: FaultCounts,
    /// Errors the driver hit (a storage error on open or sync): reported as
    /// anomalies, since a healthy disk must not fail.
    pub errors: Vec<String>,
    /// Events processed.
    pub events: u64,
    /// Batches the nodes handled, and the inputs in them.
    pub batches: (u64, u64),
    /// Test only (`UnsafeSwitches::release_votes_before_sync`): sync a
    /// batch only before an answer to a client.
    pub unsafe_release_votes_before_sync: bool,
    pub(crate) rng: StdRng,
    pub(crate) spec: ClusterSpec,
    pub(crate) ring: Ring,
    /// The policies the run creates in the catalog (for reading replicas
    /// straight from their engines).
    pub(crate) policies: Policies,
    default_policy: NamespacePolicy,
    options: CoreOptions,
    seed: u64,
    next_incarnation: u64,
    /// Requests the driver carries for a node's asks: the id it gave the
    /// request at the node asked -> (asker index, asker generation, ask,
    /// node asked).
    pub(crate) carried: BTreeMap<ClientId, (usize, u64, AskId, NodeId)>,
    pub(crate) next_carried: u64,
    /// Print every delivered message and fault to stderr (debugging a seed;
    /// set `ZERODB_SIM_TRACE=1`).
    pub(crate) trace: bool,
    /// The failure detector: gossip inside each core, or the truth.
    pub(crate) membership: MembershipKind,
}

/// Client ids the driver gives the requests it carries for asks (far
/// above the simulated clients', below the node's own).
pub const CARRIED_CLIENT_BASE: u64 = 1 << 48;

/// The simulated transport address of a node.
pub fn sim_addr(node: NodeId) -> SocketAddr {
    let [_, _, high, low] = node.0.to_be_bytes();
    SocketAddr::from((Ipv4Addr::new(10, 0, high, low), 7000))
}

/// The region of node index `index` of `count`: the first half (rounded
/// up) in `r1`, the rest in `r2`, so that namespaces pinned to one region
/// make the other half forward.
pub fn region_of(index: usize, count: usize) -> &'static str {
    if index < count.div_ceil(2) {
        "r1"
    } else {
        "r2"
    }
}

impl<D: SimDisk> Cluster<D> {
    /// A cluster of `node_count` nodes whose new namespaces start from
    /// `default_policy`; `policies` are the namespaces the run will create
    /// (used to find replicas when reading engines directly).
    pub fn new(
        seed: u64,
        node_count: usize,
        rates: FaultRates,
        default_policy: NamespacePolicy,
        policies: Policies,
        txn: TxnOptions,
        membership: MembershipKind,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5151_c1c1_u64);
        let spec = ClusterSpec {
            tokens_per_node: TOKENS_PER_NODE,
            members: (0..node_count)
                .map(|i| {
                    let id = NodeId(i as u32 + 1);
                    MemberSpec {
                        id: id.0,
                        address: sim_addr(id),
                        region: region_of(i, node_count).to_string(),
                        zone: format!("z{}", i % 3),
                    }
                })
                .collect(),
        };
        let options = CoreOptions {
            txn,
            gossip: GossipMembership::node_config(
                zerodb_gossip::GossipConfig::default().probe_period_ms,
            ),
            token_seed: rng.random(),
        };
        let ring = spec
            .ring_with_seed(options.token_seed)
            .expect("the simulated cluster is valid");
        let mut cluster = Cluster {
            now_us: 0,
            queue: EventQueue::default(),
            nodes: Vec::new(),
            net: Network::new(rates.net.clone()),
            counts: FaultCounts::default(),
            errors: Vec::new(),
            events: 0,
            batches: (0, 0),
            unsafe_release_votes_before_sync: false,
            spec,
            ring,
            policies,
            default_policy,
            options,
            seed,
            next_incarnation: 1,
            carried: BTreeMap::new(),
            next_carried: CARRIED_CLIENT_BASE,
            trace: std::env::var_os("ZERODB_SIM_TRACE").is_some(),
            membership,
            rates,
            rng,
        };
        for i in 0..node_count {
            let skew = match cluster.rates.skew_ms_max {
                0 => 0,
                max => cluster.rng.random_range(-max..=max),
            };
            let drift = match cluster.rates.drift_ppm_max {
                0 => 0,
                max => cluster.rng.random_range(-max..=max),
            };
            let disk_seed = cluster.disk_seed();
            let disk = match D::fresh(disk_seed) {
                Ok(disk) => Some(disk),
                Err(error) => {
                    cluster
                        .errors
                        .push(format!("node {} could not create its disk: {error}", i + 1));
                    None
                }
            };
            cluster.nodes.push(NodeSlot {
                id: NodeId(i as u32 + 1),
                clock: NodeClock::new(skew, drift),
                node: None,
                disk,
                generation: 0,
                paused_until_us: 0,
                restarts: 0,
                crash_mid_batch: false,
                lost_state: false,
                disk_faults: DiskFaultState::default(),
                inbox: Vec::new(),
                batch_scheduled: false,
                syncing: false,
                clock_high_ms: 0,
            });
        }
        // Every slot exists before the first node sends to its peers.
        if D::FILE_FAULTS {
            cluster.counts.disk = Some(Default::default());
        }
        for i in 0..node_count {
            cluster.boot(i, true);
        }
        cluster
    }

    /// A fresh seed for a new disk (its incarnation and random choices).
    pub(crate) fn disk_seed(&mut self) -> u64 {
        self.next_incarnation += 1;
        self.seed.rotate_left(17) ^ self.next_incarnation
    }

    /// `(deleted, stored)` finished markers and decision registers over
    /// the running nodes (deletions of earlier lives are not counted).
    pub fn decision_records(&mut self) -> (u64, usize) {
        let mut deleted = 0;
        let mut stored = 0;
        for slot in &mut self.nodes {
            if let Some(node) = slot.node.as_mut() {
                deleted += node.txn().decision_records_collected();
                stored += node.txn_mut().decision_records();
            }
        }
        (deleted, stored)
    }

    /// What every running node holds (see [`zerodb_txn::Audit`]); a node
    /// whose engine cannot be read is recorded in [`Cluster::errors`].
    pub fn audits(&mut self) -> Vec<(u32, Audit)> {
        let mut audits = Vec::new();
        for slot in &mut self.nodes {
            let Some(node) = slot.node.as_mut() else {
                continue;
            };
            match node.txn_mut().audit() {
                Ok(audit) => audits.push((slot.id.0, audit)),
                Err(error) => self
                    .errors
                    .push(format!("auditing node {}: {error}", slot.id)),
            }
        }
        audits
    }

    /// What keeps the cluster from rest (see [`check::rest::unrest`]);
    /// empty when it is at rest.
    pub fn unrest(&mut self) -> Vec<String> {
        self.audits()
            .iter()
            .flat_map(|(node, audit)| check::rest::unrest(*node, audit))
            .collect()
    }

    /// Node index of a node id.
    pub fn index_of(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|slot| slot.id == id)
    }

    /// What each replica of `key` stores in its data space, read straight
    /// from its engine (running or crashed); a read error is reported as an
    /// absent record and recorded in [`Cluster::errors`].
    pub fn replica_records(&mut self, key: &Key) -> Vec<(NodeId, Option<Record>)> {
        let view = View {
            ring: self.ring.clone(),
            down: BTreeSet::new(),
            policies: self.policies.clone(),
        };
        let storage_key = key.storage_key();
        let mut records = Vec::new();
        for id in view.replicas(&view.partition_of(key)) {
            let Some(index) = self.index_of(id) else {
                continue;
            };
            let slot = &mut self.nodes[index];
            let read = match (slot.node.as_mut(), slot.disk.as_mut()) {
                (Some(node), _) => node.engine_mut().get(Space::Data, &storage_key),
                (None, Some(disk)) => disk.get(Space::Data, &storage_key),
                (None, None) => Ok(None),
            };
            let record = read.unwrap_or_else(|error| {
                self.errors
                    .push(format!("reading {key:?} on replica {id}: {error}"));
                None
            });
            records.push((id, record));
        }
        records
    }

    /// Nodes currently down (crashed, not yet restarted).
    pub fn down_set(&self) -> BTreeSet<NodeId> {
        self.nodes
            .iter()
            .filter(|slot| !slot.is_up())
            .map(|slot| slot.id)
            .collect()
    }

    /// True when every node is up, unpaused and voting.
    pub fn all_normal(&self) -> bool {
        self.nodes.iter().all(|slot| {
            slot.paused_until_us <= self.now_us
                && slot
                    .node
                    .as_ref()
                    .is_some_and(|n| n.txn().status() == ReplicaStatus::Normal)
        })
    }

    /// Prints each running node's watermark state (trace only).
    pub(crate) fn print_watermarks(&self) {
        for (index, slot) in self.nodes.iter().enumerate() {
            if let Some(node) = slot.node.as_ref() {
                eprintln!(
                    "{} n{} {:?} WATERMARK {}",
                    self.now_us,
                    index + 1,
                    node.txn().status(),
                    node.txn().watermark_report()
                );
            }
        }
    }

    /// The catalog version each running node holds.
    pub fn catalog_versions(&self) -> BTreeMap<NodeId, u64> {
        self.nodes
            .iter()
            .filter_map(|slot| Some((slot.id, slot.node.as_ref()?.catalog_version())))
            .collect()
    }

    /// Requests nodes handed to peers so far (forwards, local scans).
    pub fn asks(&self) -> u64 {
        self.next_carried - CARRIED_CLIENT_BASE
    }

    /// Whether every node runs and holds the same loaded catalog version
    /// (gossip tells each node of a newer one; it then reads it).
    pub(crate) fn catalogs_converged(&self) -> bool {
        let versions = self.catalog_versions();
        let first = versions.values().next().copied().unwrap_or(0);
        versions.len() == self.nodes.len()
            && first > 0
            && versions.values().all(|version| *version == first)
    }

    /// Opens the node from its disk (first boot or restart) and arms it.
    fn boot(&mut self, index: usize, bootstrap: bool) {
        let now_us = self.now_us;
        let slot = &mut self.nodes[index];
        let Some(disk) = slot.disk.take() else { return };
        let node_seed = self.seed ^ (u64::from(slot.id.0) << 40) ^ slot.restarts;
        let opened = NodeCore::open(
            slot.id,
            self.spec.clone(),
            self.default_policy.clone(),
            disk,
            node_seed,
            self.options.clone(),
            bootstrap,
        );
        match opened {
            Ok(mut node) => {
                // However it lost state (a lost disk, or an engine that cut
                // synced records), it counts against the bound on lost disks.
                slot.lost_state |= node.txn().status() == ReplicaStatus::Recovering;
                if self.trace && slot.lost_state {
                    eprintln!(
                        "{now_us} n{} BOOT RECOVERING: {}",
                        index + 1,
                        node.txn().watermark_report()
                    );
                }
                let outputs = node.start(slot.read_clock(now_us));
                slot.node = Some(node);
                self.publish_down_set();
                self.begin_sync(index, outputs);
            }
            Err(error) => {
                self.errors.push(format!(
                    "node {} failed to open its store: {error}",
                    slot.id
                ));
            }
        }
    }

    /// With static membership, tells every running node which nodes are
    /// down (a perfect failure detector); with gossip each core keeps its
    /// own view.
    pub(crate) fn publish_down_set(&mut self) {
        if self.membership != MembershipKind::Static {
            return;
        }
        let down = self.down_set();
        let now_us = self.now_us;
        for slot in &mut self.nodes {
            let now_ms = slot.read_clock(now_us);
            if let Some(node) = slot.node.as_mut() {
                node.override_down(now_ms, Some(down.clone()));
            }
        }
    }

    /// Crashes a node now; `wipe` also loses its disk. The inputs it had
    /// not handled and the outputs of a batch not yet synced are lost.
    pub(crate) fn crash_now(&mut self, index: usize, wipe: bool) {
        let disk_seed = self.disk_seed();
        let slot = &mut self.nodes[index];
        let Some(node) = slot.node.take() else { return };
        if self.trace {
            eprintln!("{} n{} CRASH wipe={wipe}", self.now_us, index + 1);
        }
        let mut disk = node.into_engine();
        let mut result = slot.disk_faults.crash(&mut disk, wipe);
        if wipe {
            result = result.and(disk.wipe(disk_seed));
            slot.lost_state = true;
            self.counts.wipes += 1;
        }
        match result {
            Ok(()) => slot.disk = Some(disk),
            Err(error) => self.errors.push(format!(
                "node {} could not reopen its disk after a crash: {error}",
                slot.id
            )),
        }
        if slot.syncing {
            self.counts.crashes_mid_batch += 1;
        }
        slot.inbox.clear();
        slot.batch_scheduled = false;
        slot.syncing = false;
        slot.generation += 1;
        slot.restarts += 1;
        slot.paused_until_us = 0;
        self.counts.crashes += 1;
        self.publish_down_set();
    }

    /// Restarts a crashed node from its disk.
    pub(crate) fn restart(&mut self, index: usize) {
        if !self.nodes[index].is_up() {
            if self.trace {
                eprintln!("{} n{} RESTART", self.now_us, index + 1);
            }
            self.check_flipped_disk(index);
            self.boot(index, false);
        }
    }

    /// Arms a crash of `index` in its next batch, before that batch's sync.
    pub(crate) fn crash_at_next_input(&mut self, index: usize) {
        self.nodes[index].crash_mid_batch = true;
    }

    /// Pauses a node's process until `until_us`.
    pub(crate) fn pause(&mut self, index: usize, until_us: Micros) {
        self.nodes[index].paused_until_us = until_us;
    }

    /// True when some node has lost state and has not finished recovering
    /// (then no other node may lose its disk).
    pub(crate) fn lost_state_in_progress(&self) -> bool {
        self.nodes
            .iter()
            .any(|slot| slot.lost_state || slot.disk_faults.flip_pending)
    }

    /// Nodes per status, for summaries.
    pub fn status_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for slot in &self.nodes {
            let status = match slot.node.as_ref().map(|n| n.txn().status()) {
                None => "down",
                Some(ReplicaStatus::Normal) => "normal",
                Some(ReplicaStatus::Recovering) => "recovering",
            };
            *counts.entry(status).or_insert(0) += 1;
        }
        counts
    }
}
