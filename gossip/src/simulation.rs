//! A deterministic network simulator for gossip: simulated time, latency,
//! loss, partitions that heal, crashes and restarts. Used by the tests and by
//! the `gossip_sim` measurement binary; one seed gives one run.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_ring::{NodeId, NodeStatus, Token};

use crate::config::GossipConfig;
use crate::gossip::Gossip;
use crate::identity::GossipId;
use crate::metadata::LocalMetadata;
use crate::output::{GossipEvent, GossipTimer, Output};
use crate::view::Liveness;

/// Network behaviour of the simulated cluster.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Smallest one-way latency.
    pub latency_min_ms: u64,
    /// Largest one-way latency.
    pub latency_max_ms: u64,
    /// Probability that a datagram is lost.
    pub loss: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency_min_ms: 1,
            latency_max_ms: 20,
            loss: 0.0,
        }
    }
}

/// A rule that drops datagrams (true = drop), for targeted faults in tests.
pub type DropRule = Box<dyn Fn(&[u8]) -> bool>;

enum Payload {
    Datagram {
        to: usize,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        life: u64,
        timer: GossipTimer,
    },
}

struct Scheduled {
    at_ms: u64,
    sequence: u64,
    payload: Payload,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.sequence) == (other.at_ms, other.sequence)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, the earliest must come first.
        (other.at_ms, other.sequence).cmp(&(self.at_ms, self.sequence))
    }
}

/// One simulated node.
pub struct SimNode {
    /// The state machine, `None` while crashed.
    pub gossip: Option<Gossip>,
    /// Node id.
    pub node: NodeId,
    /// Address.
    pub addr: SocketAddr,
    /// Generation the node runs (or last ran) with.
    pub generation: u64,
    /// Bumped on crash so that timers of an old life are discarded.
    life: u64,
    /// The node left gracefully.
    pub left: bool,
    /// Metadata it publishes.
    pub metadata: LocalMetadata,
}

impl SimNode {
    /// True while the node runs and has not left.
    pub fn is_running(&self) -> bool {
        self.gossip.is_some() && !self.left
    }
}

/// Counters of one simulation.
#[derive(Clone, Debug, Default)]
pub struct SimStats {
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Largest datagram sent.
    pub largest_datagram: usize,
    /// Datagrams lost to loss, partitions or drop rules.
    pub datagrams_dropped: u64,
    /// Errors returned by the state machines.
    pub errors: u64,
    /// Down events about nodes that were running at the time.
    pub false_downs: u64,
    /// The most recent error, rendered.
    pub last_error: Option<String>,
    /// Bytes sent per datagram kind (`swim`, or `control-<variant>`).
    pub bytes_by_kind: BTreeMap<String, u64>,
}

/// A simulated cluster.
pub struct SimCluster {
    /// Simulated time.
    pub now_ms: u64,
    /// The nodes, by index.
    pub nodes: Vec<SimNode>,
    /// Network behaviour (may be changed between steps).
    pub network: NetworkConfig,
    /// Counters.
    pub stats: SimStats,
    /// Liveness events seen: (time, observer index, event).
    pub events: Vec<(u64, usize, GossipEvent)>,
    /// Optional targeted drop rule.
    pub drop_rule: Option<DropRule>,
    queue: BinaryHeap<Scheduled>,
    sequence: u64,
    rng: StdRng,
    by_addr: BTreeMap<SocketAddr, usize>,
    groups: Option<Vec<u8>>,
    seed: u64,
}

/// Address of the simulated node with index `index`.
pub fn sim_addr(index: usize) -> SocketAddr {
    let index = index as u32;
    let ip = Ipv4Addr::new(10, (index >> 16) as u8, (index >> 8) as u8, index as u8);
    SocketAddr::new(IpAddr::V4(ip), 7000)
}

/// Metadata with `tokens` pseudo-random tokens for a simulated node.
pub fn sim_metadata(index: usize, tokens: usize) -> LocalMetadata {
    let mut rng = StdRng::seed_from_u64(index as u64 ^ 0x7063_6b73);
    let mut tokens: Vec<Token> = (0..tokens).map(|_| Token(rng.random())).collect();
    tokens.sort();
    LocalMetadata {
        region: "region-1".into(),
        zone: format!("zone-{}", index % 3),
        tokens,
        status: NodeStatus::Normal,
        cluster_metadata_version: 1,
    }
}

impl SimCluster {
    /// An empty cluster.
    pub fn new(seed: u64, network: NetworkConfig) -> SimCluster {
        SimCluster {
            now_ms: 0,
            nodes: Vec::new(),
            network,
            stats: SimStats::default(),
            events: Vec::new(),
            drop_rule: None,
            queue: BinaryHeap::new(),
            sequence: 0,
            rng: StdRng::seed_from_u64(seed),
            by_addr: BTreeMap::new(),
            groups: None,
            seed,
        }
    }

    /// Adds a node (not yet started); returns its index.
    pub fn add_node(&mut self, config: &GossipConfig, metadata: LocalMetadata) -> usize {
        let index = self.nodes.len();
        let addr = sim_addr(index);
        let node = NodeId(index as u32 + 1);
        let id = GossipId::new(node, addr, 1);
        let gossip = Gossip::new(id, config.clone(), self.seed ^ (index as u64 + 1) << 20)
            .unwrap_or_else(|error| panic!("simulated node config invalid: {error}"));
        self.by_addr.insert(addr, index);
        self.nodes.push(SimNode {
            gossip: Some(gossip),
            node,
            addr,
            generation: 1,
            life: 0,
            left: false,
            metadata,
        });
        index
    }

    /// Publishes the node's metadata and joins through the given seeds.
    pub fn start(&mut self, index: usize, seeds: &[usize]) {
        let seeds: Vec<SocketAddr> = seeds.iter().map(|seed| sim_addr(*seed)).collect();
        let metadata = self.nodes[index].metadata.clone();
        let now = self.now_ms;
        self.apply(index, |gossip| gossip.set_local_metadata(now, metadata));
        self.apply(index, |gossip| gossip.join(now, &seeds));
    }

    /// Starts the given nodes as a configured initial cluster: each publishes
    /// its metadata, restores a view holding all the others, and joins
    /// through the seeds. Much cheaper to simulate than joins from nothing.
    pub fn warm_start(&mut self, indices: &[usize], seeds: &[usize]) {
        let now = self.now_ms;
        for &index in indices {
            let metadata = self.nodes[index].metadata.clone();
            self.apply(index, |gossip| gossip.set_local_metadata(now, metadata));
        }
        let records: Vec<_> = indices
            .iter()
            .filter_map(|&index| {
                let node = &self.nodes[index];
                node.gossip.as_ref()?.metadata(node.node)
            })
            .collect();
        let seeds: Vec<SocketAddr> = seeds.iter().map(|seed| sim_addr(*seed)).collect();
        for &index in indices {
            let view = records.clone();
            self.apply(index, |gossip| gossip.restore_view(now, view));
            self.apply(index, |gossip| gossip.join(now, &seeds));
        }
    }

    /// Publishes new metadata for a running node.
    pub fn set_metadata(&mut self, index: usize, metadata: LocalMetadata) {
        self.nodes[index].metadata = metadata.clone();
        let now = self.now_ms;
        self.apply(index, |gossip| gossip.set_local_metadata(now, metadata));
    }

    /// Crashes a node: its state is gone, its timers never fire.
    pub fn crash(&mut self, index: usize) {
        self.nodes[index].gossip = None;
        self.nodes[index].life += 1;
    }

    /// Restarts a crashed node with a new generation and rejoins.
    pub fn restart(
        &mut self,
        index: usize,
        config: &GossipConfig,
        generation: u64,
        seeds: &[usize],
    ) {
        let node = &mut self.nodes[index];
        node.life += 1;
        node.generation = generation;
        node.left = false;
        let id = GossipId::new(node.node, node.addr, generation);
        let seed = self.seed ^ (index as u64 + 1) << 20 ^ generation;
        node.gossip = Some(
            Gossip::new(id, config.clone(), seed)
                .unwrap_or_else(|error| panic!("simulated node config invalid: {error}")),
        );
        self.start(index, seeds);
    }

    /// Makes a node leave gracefully (it keeps running but is out).
    pub fn leave(&mut self, index: usize) {
        let now = self.now_ms;
        self.apply(index, |gossip| gossip.leave(now));
        self.nodes[index].left = true;
    }

    /// Splits the network: datagrams between different groups are lost.
    pub fn partition(&mut self, groups: Vec<u8>) {
        self.groups = Some(groups);
    }

    /// Heals the partition.
    pub fn heal(&mut self) {
        self.groups = None;
    }

    fn apply(
        &mut self,
        index: usize,
        call: impl FnOnce(&mut Gossip) -> crate::error::GossipResult<Vec<Output>>,
    ) {
        let Some(gossip) = self.nodes[index].gossip.as_mut() else {
            return;
        };
        match call(gossip) {
            Ok(outputs) => self.route(index, outputs),
            Err(error) => {
                self.stats.errors += 1;
                self.stats.last_error = Some(error.to_string());
            }
        }
    }

    fn push(&mut self, at_ms: u64, payload: Payload) {
        self.sequence += 1;
        self.queue.push(Scheduled {
            at_ms,
            sequence: self.sequence,
            payload,
        });
    }

    fn route(&mut self, index: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Send { to, bytes, .. } => self.send(index, to, bytes),
                Output::SetTimer { at_ms, timer } => {
                    let life = self.nodes[index].life;
                    self.push(
                        at_ms.max(self.now_ms),
                        Payload::Timer {
                            node: index,
                            life,
                            timer,
                        },
                    );
                }
                Output::Event(event) => self.record(index, event),
            }
        }
    }

    fn record(&mut self, observer: usize, event: GossipEvent) {
        if let GossipEvent::Down(node) = event {
            let subject = node.0 as usize - 1;
            if self.nodes.get(subject).is_some_and(SimNode::is_running) {
                self.stats.false_downs += 1;
            }
        }
        if !matches!(event, GossipEvent::MetadataChanged(_)) {
            self.events.push((self.now_ms, observer, event));
        }
    }

    fn send(&mut self, from: usize, to: SocketAddr, bytes: Vec<u8>) {
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        self.stats.largest_datagram = self.stats.largest_datagram.max(bytes.len());
        let kind = match bytes.get(1) {
            Some(0) => "swim".to_string(),
            _ => format!("control-{}", bytes.get(2).copied().unwrap_or(0)),
        };
        *self.stats.bytes_by_kind.entry(kind).or_default() += bytes.len() as u64;
        let Some(&target) = self.by_addr.get(&to) else {
            self.stats.datagrams_dropped += 1;
            return;
        };
        let split = self
            .groups
            .as_ref()
            .is_some_and(|groups| groups.get(from) != groups.get(target));
        let ruled = self.drop_rule.as_ref().is_some_and(|rule| rule(&bytes));
        let lost = self.rng.random_bool(self.network.loss.clamp(0.0, 1.0));
        if split || ruled || lost {
            self.stats.datagrams_dropped += 1;
            return;
        }
        let latency = self
            .rng
            .random_range(self.network.latency_min_ms..=self.network.latency_max_ms);
        let from_addr = self.nodes[from].addr;
        self.push(
            self.now_ms + latency,
            Payload::Datagram {
                to: target,
                from: from_addr,
                bytes,
            },
        );
    }

    /// Runs every event up to and including `until_ms`.
    pub fn run_until(&mut self, until_ms: u64) {
        while let Some(next) = self.queue.peek() {
            if next.at_ms > until_ms {
                break;
            }
            let Some(scheduled) = self.queue.pop() else {
                break;
            };
            self.now_ms = scheduled.at_ms;
            let now = self.now_ms;
            match scheduled.payload {
                Payload::Datagram { to, from, bytes } => {
                    self.apply(to, |gossip| gossip.handle_datagram(now, from, &bytes));
                }
                Payload::Timer { node, life, timer } => {
                    if self.nodes[node].life == life {
                        self.apply(node, |gossip| gossip.handle_timer(now, timer));
                    }
                }
            }
        }
        self.now_ms = self.now_ms.max(until_ms);
    }

    /// Runs in steps of `step_ms` until `done` holds or `limit_ms` passes;
    /// returns the time at which it held.
    pub fn run_until_true(
        &mut self,
        limit_ms: u64,
        step_ms: u64,
        mut done: impl FnMut(&SimCluster) -> bool,
    ) -> Option<u64> {
        loop {
            if done(self) {
                return Some(self.now_ms);
            }
            if self.now_ms >= limit_ms {
                return None;
            }
            let next = (self.now_ms + step_ms).min(limit_ms);
            self.run_until(next);
        }
    }

    /// True when every running node sees every other running node alive
    /// with its current metadata, and every stopped node as down.
    pub fn views_agree(&self) -> bool {
        let expected: Vec<Option<crate::metadata::MetadataVersion>> = self
            .nodes
            .iter()
            .map(|node| {
                let gossip = node.gossip.as_ref()?;
                if node.left {
                    return None;
                }
                gossip.metadata(node.node).map(|record| record.version())
            })
            .collect();
        for observer in self.nodes.iter().filter(|node| node.is_running()) {
            let Some(gossip) = observer.gossip.as_ref() else {
                continue;
            };
            for (subject, version) in self.nodes.iter().zip(&expected) {
                if subject.node == observer.node {
                    continue;
                }
                let liveness = gossip.liveness_of(subject.node);
                match version {
                    Some(version) => {
                        if liveness == Liveness::Down {
                            return false;
                        }
                        let held = gossip.metadata_version(subject.node);
                        if held != Some(*version) {
                            return false;
                        }
                    }
                    None => {
                        if liveness != Liveness::Down {
                            return false;
                        }
                    }
                }
            }
        }
        true
    }

    /// True when every running node sees `subject` as down.
    pub fn all_see_down(&self, subject: usize) -> bool {
        let node = self.nodes[subject].node;
        self.nodes
            .iter()
            .filter(|observer| observer.is_running() && observer.node != node)
            .all(|observer| {
                observer
                    .gossip
                    .as_ref()
                    .is_none_or(|gossip| gossip.liveness_of(node) == Liveness::Down)
            })
    }
}
