//! The simulated cluster: N transaction nodes over simulated disks, clocks
//! and network, driven from one deterministic event queue.
//!
//! The driver follows the durability rule of DESIGN.md section 1: a node
//! handles one input, its engine syncs, and only then are the outputs of
//! that input released to the network and the clients. A crash can strike
//! between the two, losing the unsynced writes and the outputs with them.

use std::collections::{BTreeMap, BTreeSet};
use zerodb_txn::KeyExt;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_ring::{Member, NodeId, NodeStatus, Ring, Token};
use zerodb_storage::{Record, Space};
use zerodb_txn::{
    Action, ClientId, Key, Message, Policies, ReplicaStatus, Request, Response, Timer, TxnNode,
    TxnOptions, View,
};

use crate::clock::NodeClock;
pub use crate::disk::SimDisk;
use crate::faults::{FaultCounts, FaultRates};
use crate::history::Micros;
use crate::membership_gossip::{GossipInput, MembershipKind, SimGossip};
use crate::net::Network;
use crate::queue::EventQueue;

/// Ring positions per simulated node.
pub const TOKENS_PER_NODE: usize = 16;

/// One-way latency between a client and its coordinator.
pub const CLIENT_LATENCY_US: Micros = 300;

/// Latency of a node's message to itself.
pub const LOOPBACK_US: Micros = 5;

/// Everything that happens in a simulation.
pub enum SimEvent {
    /// A message arrives at a node.
    Deliver {
        /// Destination node index.
        to: usize,
        /// Sender.
        from: NodeId,
        /// The message.
        msg: Message,
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
    /// A client request arrives at its coordinator.
    Request {
        /// Coordinator index.
        node: usize,
        /// The request id.
        client: ClientId,
        /// The request.
        request: Request,
    },
    /// A coordinator's answer arrives at its client.
    Reply {
        /// The request id.
        client: ClientId,
        /// The answer.
        response: Response,
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
    /// Gossip membership (see [`crate::membership_gossip`]).
    Gossip(GossipInput),
}

/// One node's slot: its state machine when up, its disk when down.
pub struct NodeSlot<D: SimDisk> {
    /// The node's id.
    pub id: NodeId,
    /// Its clock.
    pub clock: NodeClock,
    pub(crate) node: Option<TxnNode<D>>,
    pub(crate) disk: Option<D>,
    pub(crate) generation: u64,
    pub(crate) paused_until_us: Micros,
    pub(crate) restarts: u64,
    pub(crate) crash_mid_batch: bool,
    pub(crate) lost_state: bool,
}

impl<D: SimDisk> NodeSlot<D> {
    /// True when the node is running.
    pub fn is_up(&self) -> bool {
        self.node.is_some()
    }

    /// The running node.
    pub fn node(&self) -> Option<&TxnNode<D>> {
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
    pub(crate) rng: StdRng,
    pub(crate) ring: Ring,
    pub(crate) policies: Policies,
    options: TxnOptions,
    seed: u64,
    next_incarnation: u64,
    /// Print every delivered message and fault to stderr (debugging a seed;
    /// set `ZERODB_SIM_TRACE=1`).
    pub(crate) trace: bool,
    /// Gossip state when membership is gossip-driven; `None` is the
    /// perfect failure detector of static membership.
    pub(crate) gossip: Option<SimGossip>,
}

impl<D: SimDisk> Cluster<D> {
    /// A cluster of `node_count` nodes, all normal members of ring epoch 1,
    /// with the default membership (gossip).
    pub fn new(
        seed: u64,
        node_count: usize,
        rates: FaultRates,
        policies: Policies,
        options: TxnOptions,
    ) -> Self {
        Self::with_membership(
            seed,
            node_count,
            rates,
            policies,
            options,
            MembershipKind::default(),
        )
    }

    /// A cluster of `node_count` nodes whose failure detector is `membership`.
    pub fn with_membership(
        seed: u64,
        node_count: usize,
        rates: FaultRates,
        policies: Policies,
        options: TxnOptions,
        membership: MembershipKind,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5151_c1c1_u64);
        let members: Vec<Member> = (0..node_count)
            .map(|i| {
                let tokens = (0..TOKENS_PER_NODE).map(|_| Token(rng.random())).collect();
                Member::new(
                    NodeId(i as u32 + 1),
                    "r1",
                    format!("z{}", i % 3),
                    tokens,
                    NodeStatus::Normal,
                )
            })
            .collect();
        let ring = Ring::new(1, members);
        let mut cluster = Cluster {
            now_us: 0,
            queue: EventQueue::default(),
            nodes: Vec::new(),
            net: Network::new(rates.net.clone()),
            counts: FaultCounts::default(),
            errors: Vec::new(),
            events: 0,
            ring,
            policies,
            options,
            seed,
            next_incarnation: 1,
            trace: std::env::var_os("ZERODB_SIM_TRACE").is_some(),
            gossip: (membership == MembershipKind::Gossip).then(|| SimGossip::new(seed)),
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
            });
            cluster.boot(i, true);
        }
        cluster
    }

    /// A fresh seed for a new disk (its incarnation and random choices).
    fn disk_seed(&mut self) -> u64 {
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
                deleted += node.decision_records_collected();
                stored += node.decision_records();
            }
        }
        (deleted, stored)
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
                    .is_some_and(|n| n.status() == ReplicaStatus::Normal)
        })
    }

    /// Opens the node from its disk (first boot or restart) and arms it.
    fn boot(&mut self, index: usize, bootstrap: bool) {
        let now_us = self.now_us;
        let slot = &mut self.nodes[index];
        let Some(disk) = slot.disk.take() else { return };
        let node_seed = self.seed ^ (u64::from(slot.id.0) << 40) ^ slot.restarts;
        match TxnNode::open(slot.id, disk, node_seed, self.options.clone(), bootstrap) {
            Ok(mut node) => {
                node.set_view(self.ring.clone(), BTreeSet::new(), self.policies.clone());
                let actions = node.start(slot.clock.now_ms(now_us));
                slot.node = Some(node);
                self.gossip_boot(index);
                self.after_input(index, actions);
            }
            Err(error) => {
                self.errors.push(format!(
                    "node {} failed to open its store: {error}",
                    slot.id
                ));
            }
        }
        self.publish_down_set();
    }

    /// Tells every running node which nodes are down: its own gossip view
    /// with gossip membership, or the truth (a perfect failure detector)
    /// with static membership.
    pub(crate) fn publish_down_set(&mut self) {
        if self.gossip.is_some() {
            self.publish_gossip_down_sets();
            return;
        }
        let down = self.down_set();
        for slot in &mut self.nodes {
            if let Some(node) = slot.node.as_mut() {
                node.set_down(down.clone());
            }
        }
    }

    /// Processes one node-bound event.
    pub fn handle_node_event(&mut self, event: SimEvent) {
        if let SimEvent::Gossip(input) = event {
            self.handle_gossip(input);
            return;
        }
        let index = match &event {
            SimEvent::Deliver { to, .. } => *to,
            SimEvent::Timer { node, .. } | SimEvent::Request { node, .. } => *node,
            _ => return,
        };
        let now_us = self.now_us;
        let slot = &mut self.nodes[index];
        if slot.paused_until_us > now_us {
            // A paused process handles its input when it resumes.
            self.queue.push(slot.paused_until_us, event);
            return;
        }
        let generation = slot.generation;
        let clock = slot.clock.clone();
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        let now_ms = clock.now_ms(now_us);
        if self.trace {
            match &event {
                SimEvent::Deliver { from, msg, .. } => {
                    eprintln!("{now_us} n{} <- {from}: {msg:?}", index + 1)
                }
                SimEvent::Request {
                    client, request, ..
                } => eprintln!("{now_us} n{} <- client {client:?}: {request:?}", index + 1),
                _ => {}
            }
        }
        let actions = match event {
            SimEvent::Deliver { from, msg, .. } => node.handle_message(now_ms, from, msg),
            SimEvent::Request {
                client, request, ..
            } => node.handle_request(now_ms, client, request),
            SimEvent::Timer {
                generation: set_by,
                at_ms,
                timer,
                ..
            } => {
                if set_by != generation {
                    return;
                }
                if now_ms < at_ms {
                    // The clock jumped back: wait until it reads `at_ms`.
                    let at_us = clock.true_us_at(at_ms, now_us + 1);
                    self.queue.push(
                        at_us,
                        SimEvent::Timer {
                            node: index,
                            generation,
                            at_ms,
                            timer,
                        },
                    );
                    return;
                }
                node.handle_timer(now_ms, timer)
            }
            _ => unreachable!("filtered above"),
        };
        self.after_input(index, actions);
    }

    /// The durability rule: sync, then release; or crash before the sync.
    fn after_input(&mut self, index: usize, actions: Vec<Action>) {
        let slot = &mut self.nodes[index];
        if slot.crash_mid_batch {
            slot.crash_mid_batch = false;
            self.counts.crashes_mid_batch += 1;
            self.crash_now(index, false);
            self.schedule_restart(index);
            return;
        }
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        if let Err(error) = node.engine_mut().sync() {
            self.errors
                .push(format!("node {} failed to sync: {error}", slot.id));
            self.crash_now(index, false);
            return;
        }
        if slot.lost_state && node.status() == ReplicaStatus::Normal {
            slot.lost_state = false;
        }
        self.release(index, actions);
    }

    fn release(&mut self, index: usize, actions: Vec<Action>) {
        let from = self.nodes[index].id;
        for action in actions {
            match action {
                Action::Send { to, msg } => {
                    let Some(to_index) = self.index_of(to) else {
                        self.errors
                            .push(format!("node {from} sent to unknown node {to}"));
                        continue;
                    };
                    if to_index == index {
                        self.queue.push(
                            self.now_us + LOOPBACK_US,
                            SimEvent::Deliver {
                                to: to_index,
                                from,
                                msg,
                            },
                        );
                        continue;
                    }
                    let delays = self.net.delays(&mut self.rng, from.0, to.0);
                    for delay in delays {
                        let msg = msg.clone();
                        self.queue.push(
                            self.now_us + delay,
                            SimEvent::Deliver {
                                to: to_index,
                                from,
                                msg,
                            },
                        );
                    }
                }
                Action::Reply { client, response } => {
                    if self.trace {
                        eprintln!(
                            "{} n{} -> client {client:?}: {response:?}",
                            self.now_us,
                            index + 1
                        );
                    }
                    self.queue.push(
                        self.now_us + CLIENT_LATENCY_US,
                        SimEvent::Reply { client, response },
                    );
                }
                Action::SetTimer { at_ms, timer } => {
                    let slot = &self.nodes[index];
                    let at_us = slot.clock.true_us_at(at_ms, self.now_us);
                    let generation = slot.generation;
                    self.queue.push(
                        at_us,
                        SimEvent::Timer {
                            node: index,
                            generation,
                            at_ms,
                            timer,
                        },
                    );
                }
            }
        }
    }

    /// Crashes a node now; `wipe` also loses its disk.
    pub(crate) fn crash_now(&mut self, index: usize, wipe: bool) {
        let disk_seed = self.disk_seed();
        let slot = &mut self.nodes[index];
        let Some(node) = slot.node.take() else { return };
        if self.trace {
            eprintln!("{} n{} CRASH wipe={wipe}", self.now_us, index + 1);
        }
        let mut disk = node.into_engine();
        let mut result = disk.crash();
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
        slot.generation += 1;
        slot.restarts += 1;
        slot.paused_until_us = 0;
        self.counts.crashes += 1;
        self.gossip_crash(index);
        self.publish_down_set();
    }

    /// Restarts a crashed node from its disk.
    pub(crate) fn restart(&mut self, index: usize) {
        if !self.nodes[index].is_up() {
            if self.trace {
                eprintln!("{} n{} RESTART", self.now_us, index + 1);
            }
            self.boot(index, false);
        }
    }

    /// Arms a crash of `index` at its next input, before that input's sync.
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
        self.nodes.iter().any(|slot| slot.lost_state)
    }

    /// Nodes per status, for summaries.
    pub fn status_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for slot in &self.nodes {
            let status = match slot.node.as_ref().map(|n| n.status()) {
                None => "down",
                Some(ReplicaStatus::Normal) => "normal",
                Some(ReplicaStatus::Recovering) => "recovering",
            };
            *counts.entry(status).or_insert(0) += 1;
        }
        counts
    }
}
