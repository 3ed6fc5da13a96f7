//! Gossip-driven membership for the simulated cluster: every running node
//! runs the node core's [`GossipMembership`] (SWIM on foca, metadata, the
//! clockwise digest exchange), its datagrams cross the simulated network
//! (latency, loss, duplication, partitions) and its down set is what the
//! node's transaction layer sees, in place of the perfect failure detector
//! of static membership.
//!
//! A crash drops the node's gossip state; a restart starts it again with a
//! higher generation. A paused process handles its gossip when it resumes,
//! so peers may suspect it meanwhile, as they would a real stalled process.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use zerodb_node::core::gossip::GossipMembership;
use zerodb_node::core::gossip::GossipStep;
use zerodb_ring::NodeId;

use crate::cluster::{Cluster, SimDisk, SimEvent};
use crate::history::Micros;

/// Which failure detector the simulated nodes use (`--membership`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum MembershipKind {
    /// Gossip (SWIM): nodes learn of crashes by probing, with delay and
    /// mistakes, as real nodes do.
    #[default]
    Gossip,
    /// A perfect failure detector: every node knows at once who is down.
    Static,
}

impl MembershipKind {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            MembershipKind::Gossip => "gossip",
            MembershipKind::Static => "static",
        }
    }
}

impl std::str::FromStr for MembershipKind {
    type Err = String;

    fn from_str(text: &str) -> Result<MembershipKind, String> {
        match text {
            "gossip" => Ok(MembershipKind::Gossip),
            "static" => Ok(MembershipKind::Static),
            other => Err(format!(
                "unknown membership {other:?}; use gossip or static"
            )),
        }
    }
}

/// A gossip input for one node.
pub enum GossipInput {
    /// A datagram arrives.
    Datagram {
        /// Destination node index.
        to: usize,
        /// Sender.
        from: NodeId,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// The node's earliest gossip deadline may have passed.
    Tick {
        /// Node index.
        node: usize,
        /// The node generation that scheduled it (stale after a crash).
        generation: u64,
    },
}

/// Every node's gossip state.
pub struct SimGossip {
    seed: u64,
    members: BTreeMap<usize, GossipMembership>,
    /// True time of the earliest tick scheduled per node.
    ticks: BTreeMap<usize, Micros>,
    /// Datagrams sent.
    pub datagrams: u64,
}

impl SimGossip {
    /// Gossip for a run with `seed`.
    pub fn new(seed: u64) -> SimGossip {
        SimGossip {
            seed: seed ^ 0x6753_494d_6f73_7370,
            members: BTreeMap::new(),
            ticks: BTreeMap::new(),
            datagrams: 0,
        }
    }
}

/// The simulated transport address of a node.
pub fn sim_addr(node: NodeId) -> SocketAddr {
    let [_, _, high, low] = node.0.to_be_bytes();
    SocketAddr::from((Ipv4Addr::new(10, 0, high, low), 7000))
}

impl<D: SimDisk> Cluster<D> {
    /// Starts gossip on a node that just booted (no-op with static
    /// membership).
    pub(crate) fn gossip_boot(&mut self, index: usize) {
        let Some(gossip) = self.gossip.as_mut() else {
            return;
        };
        let slot = &self.nodes[index];
        let generation = slot.restarts + 1;
        let seed = gossip.seed ^ (u64::from(slot.id.0) << 32) ^ slot.restarts;
        let membership = match GossipMembership::new(
            slot.id,
            sim_addr(slot.id),
            generation,
            GossipMembership::node_config(zerodb_gossip::GossipConfig::default().probe_period_ms),
            seed,
        ) {
            Ok(membership) => membership,
            Err(error) => {
                self.errors
                    .push(format!("node {} could not start gossip: {error}", slot.id));
                return;
            }
        };
        gossip.members.insert(index, membership);
        gossip.ticks.remove(&index);
        let addresses = self
            .nodes
            .iter()
            .map(|slot| (slot.id, sim_addr(slot.id)))
            .collect();
        let now_ms = self.nodes[index].clock.now_ms(self.now_us);
        let ring = self.ring.clone();
        let step = match self.gossip.as_mut().and_then(|g| g.members.get_mut(&index)) {
            Some(membership) => membership.start(now_ms, &ring, &addresses),
            None => return,
        };
        self.after_gossip(index, step);
    }

    /// Drops the gossip state of a crashed node.
    pub(crate) fn gossip_crash(&mut self, index: usize) {
        if let Some(gossip) = self.gossip.as_mut() {
            gossip.members.remove(&index);
            gossip.ticks.remove(&index);
        }
    }

    /// Whether gossip has reconverged after healing: every node runs gossip
    /// and none of them holds any node down. Always true with static
    /// membership. The final reads wait for this (bounded), since a node
    /// still declared down in a peer's view makes that peer's coordinators
    /// refuse quorums that need it until gossip renews the node.
    pub(crate) fn gossip_converged(&self) -> bool {
        let Some(gossip) = self.gossip.as_ref() else {
            return true;
        };
        (0..self.nodes.len()).all(|index| {
            gossip
                .members
                .get(&index)
                .is_some_and(|membership| membership.down().is_empty())
        })
    }

    /// Each running node's gossip down set, for liveness reports.
    pub(crate) fn gossip_down_sets(&self) -> BTreeMap<NodeId, Vec<u32>> {
        let Some(gossip) = self.gossip.as_ref() else {
            return BTreeMap::new();
        };
        gossip
            .members
            .iter()
            .filter(|(_, membership)| !membership.down().is_empty())
            .map(|(index, membership)| {
                let down = membership.down().iter().map(|node| node.0).collect();
                (self.nodes[*index].id, down)
            })
            .collect()
    }

    /// Hands each running node the down set its own gossip holds.
    pub(crate) fn publish_gossip_down_sets(&mut self) {
        let Some(gossip) = self.gossip.as_ref() else {
            return;
        };
        for (index, slot) in self.nodes.iter_mut().enumerate() {
            if let (Some(node), Some(membership)) = (slot.node.as_mut(), gossip.members.get(&index))
            {
                node.set_down(membership.down().clone());
            }
        }
    }

    /// Handles one gossip input.
    pub(crate) fn handle_gossip(&mut self, input: GossipInput) {
        let index = match &input {
            GossipInput::Datagram { to, .. } => *to,
            GossipInput::Tick { node, .. } => *node,
        };
        let now_us = self.now_us;
        let slot = &self.nodes[index];
        if slot.paused_until_us > now_us {
            let resume = slot.paused_until_us;
            self.queue.push(resume, SimEvent::Gossip(input));
            return;
        }
        let generation = slot.generation;
        let now_ms = slot.clock.now_ms(now_us);
        let Some(gossip) = self.gossip.as_mut() else {
            return;
        };
        let Some(membership) = gossip.members.get_mut(&index) else {
            return;
        };
        let step = match input {
            GossipInput::Datagram { from, bytes, .. } => {
                membership.handle_datagram(now_ms, from, &bytes)
            }
            GossipInput::Tick {
                generation: set_by, ..
            } => {
                if set_by != generation {
                    return;
                }
                if gossip.ticks.get(&index).is_some_and(|at| *at <= now_us) {
                    gossip.ticks.remove(&index);
                }
                membership.handle_due_timers(now_ms)
            }
        };
        self.after_gossip(index, step);
    }

    /// Sends the step's datagrams, applies its down set and schedules the
    /// node's next gossip tick.
    fn after_gossip(&mut self, index: usize, step: GossipStep) {
        let from = self.nodes[index].id;
        for datagram in step.datagrams {
            let Some(to) = self.index_of(datagram.to) else {
                continue;
            };
            if let Some(gossip) = self.gossip.as_mut() {
                gossip.datagrams += 1;
            }
            for delay in self.net.delays(&mut self.rng, from.0, datagram.to.0) {
                let input = GossipInput::Datagram {
                    to,
                    from,
                    bytes: datagram.bytes.clone(),
                };
                self.queue
                    .push(self.now_us + delay, SimEvent::Gossip(input));
            }
        }
        let now_us = self.now_us;
        let slot = &mut self.nodes[index];
        let Some(gossip) = self.gossip.as_mut() else {
            return;
        };
        let Some(membership) = gossip.members.get(&index) else {
            return;
        };
        if step.down_changed {
            if let Some(node) = slot.node.as_mut() {
                node.set_down(membership.down().clone());
            }
        }
        let Some(deadline_ms) = membership.next_deadline() else {
            return;
        };
        let at_us = slot.clock.true_us_at(deadline_ms, now_us).max(now_us + 1);
        if gossip.ticks.get(&index).is_some_and(|at| *at <= at_us) {
            return;
        }
        gossip.ticks.insert(index, at_us);
        let tick = GossipInput::Tick {
            node: index,
            generation: slot.generation,
        };
        self.queue.push(at_us, SimEvent::Gossip(tick));
    }
}
