//! Story tests of the core's gossip wiring: three cores exchange gossip
//! datagrams through a lossless queue with simulated time; a node that
//! stops answering is declared down and handed to the transaction layer as
//! such, comes back up after a restart with a new generation, and a
//! datagram whose claimed sender does not match its certificate is refused.

use std::collections::{BTreeMap, BTreeSet};

use zerodb_gossip::Liveness;
use zerodb_storage::{Incarnation, MemoryEngine};

use super::tests::cluster;
use super::*;

/// Simulated one-way latency of a datagram.
const LATENCY_MS: u64 = 1;
/// Time step of the harness.
const STEP_MS: u64 = 5;

fn open(id: u32, n: u32, engine: MemoryEngine, bootstrap: bool) -> NodeCore<MemoryEngine> {
    NodeCore::open(
        NodeId(id),
        cluster(n),
        NamespacePolicy::default(),
        engine,
        u64::from(id) * 7,
        CoreOptions::default(),
        bootstrap,
    )
    .unwrap()
}

struct Net {
    n: u32,
    cores: BTreeMap<NodeId, NodeCore<MemoryEngine>>,
    /// Stopped nodes keep their engine for a restart.
    stopped: BTreeMap<NodeId, MemoryEngine>,
    in_flight: Vec<(u64, NodeId, NodeId, Vec<u8>)>,
    /// Gossip timers by node (the only timers these stories fire).
    gossip_due: BTreeMap<NodeId, Vec<u64>>,
    now_ms: u64,
}

impl Net {
    fn new(n: u32) -> Net {
        let mut net = Net {
            n,
            cores: BTreeMap::new(),
            stopped: BTreeMap::new(),
            in_flight: Vec::new(),
            gossip_due: BTreeMap::new(),
            now_ms: 10_000,
        };
        for id in 1..=n {
            let engine = MemoryEngine::new(Incarnation(u64::from(id)));
            net.boot(id, engine, true);
        }
        net
    }

    fn boot(&mut self, id: u32, engine: MemoryEngine, bootstrap: bool) {
        let mut core = open(id, self.n, engine, bootstrap);
        let outputs = core.start(self.now_ms);
        self.cores.insert(NodeId(id), core);
        self.gossip_due.remove(&NodeId(id));
        self.absorb(NodeId(id), outputs);
    }

    /// Keeps the gossip datagrams and timers among `outputs`.
    fn absorb(&mut self, from: NodeId, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Datagram { to, bytes, .. } => {
                    self.in_flight
                        .push((self.now_ms + LATENCY_MS, from, to, bytes))
                }
                Output::SetTimer {
                    at_ms,
                    timer: Timer::Gossip,
                } => self.gossip_due.entry(from).or_default().push(at_ms),
                _ => {}
            }
        }
    }

    fn stop(&mut self, id: u32) {
        let core = self.cores.remove(&NodeId(id)).unwrap();
        self.stopped.insert(NodeId(id), core.into_engine());
    }

    fn restart(&mut self, id: u32) {
        let engine = self.stopped.remove(&NodeId(id)).unwrap();
        self.boot(id, engine, false);
    }

    /// Runs simulated time for `ms`.
    fn run(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += STEP_MS;
            let now = self.now_ms;
            let due: Vec<_> = {
                let (due, later) = std::mem::take(&mut self.in_flight)
                    .into_iter()
                    .partition(|(at, ..)| *at <= now);
                self.in_flight = later;
                due
            };
            for (_, from, to, bytes) in due {
                if let Some(core) = self.cores.get_mut(&to) {
                    let outputs = core.handle_datagram(now, from, &bytes);
                    self.absorb(to, outputs);
                }
            }
            let ids: Vec<NodeId> = self.cores.keys().copied().collect();
            for id in ids {
                let timers = self.gossip_due.remove(&id).unwrap_or_default();
                let (fire, keep): (Vec<u64>, Vec<u64>) =
                    timers.into_iter().partition(|at| *at <= now);
                self.gossip_due.insert(id, keep);
                if !fire.is_empty() {
                    let outputs = self
                        .cores
                        .get_mut(&id)
                        .unwrap()
                        .handle_timer(now, Timer::Gossip);
                    self.absorb(id, outputs);
                }
            }
        }
    }

    fn core(&self, id: u32) -> &NodeCore<MemoryEngine> {
        &self.cores[&NodeId(id)]
    }
}

#[test]
fn a_stopped_node_is_declared_down_and_comes_back_up_after_a_restart() {
    let mut net = Net::new(3);
    net.run(3_000);
    for id in 1..=3 {
        let core = net.core(id);
        assert!(
            core.gossip().down().is_empty(),
            "n{id} sees {:?}",
            core.gossip().down()
        );
        for peer in 1..=3 {
            assert_eq!(core.gossip().liveness_of(NodeId(peer)), Liveness::Up);
        }
    }
    net.stop(3);
    net.run(6_000);
    let now = net.now_ms;
    for id in 1..=2 {
        let core = net.core(id);
        assert_eq!(core.gossip().down(), &BTreeSet::from([NodeId(3)]));
        assert!(core.is_down(now, NodeId(3)));
        let status = core.status(now);
        let n3 = status.members.iter().find(|m| m.id == 3).unwrap();
        assert!(!n3.up);
        assert_eq!(n3.health, "down");
        // A down node keeps its place in the ring.
        assert_eq!(n3.tokens, 8);
    }
    net.restart(3);
    assert_eq!(net.core(3).gossip().id().generation, 2);
    net.run(4_000);
    let now = net.now_ms;
    for id in 1..=3 {
        let core = net.core(id);
        assert!(
            core.gossip().down().is_empty(),
            "n{id} sees {:?}",
            core.gossip().down()
        );
        assert!(!core.is_down(now, NodeId(3)));
        assert!(core
            .status(now)
            .members
            .iter()
            .all(|m| m.up && m.health == "up"));
    }
}

#[test]
fn a_graceful_leave_is_seen_at_once() {
    let mut net = Net::new(3);
    net.run(3_000);
    let left_at = net.now_ms;
    let core = net.cores.get_mut(&NodeId(2)).unwrap();
    let outputs = core.leave(left_at);
    assert!(
        outputs
            .iter()
            .any(|output| matches!(output, Output::Datagram { .. })),
        "leaving sends a notice"
    );
    net.absorb(NodeId(2), outputs);
    net.stop(2);
    // Far less than a failure detection (probe, suspicion, timeout).
    net.run(100);
    for id in [1, 3] {
        assert_eq!(net.core(id).gossip().down(), &BTreeSet::from([NodeId(2)]));
    }
}

#[test]
fn gossip_claiming_another_sender_than_the_certificate_is_refused() {
    let mut net = Net::new(2);
    net.run(1_000);
    // Capture a real datagram from node 2 and deliver it as if node 1's
    // certificate had sent it.
    let stolen = net
        .cores
        .get_mut(&NodeId(2))
        .unwrap()
        .handle_timer(u64::MAX / 2, Timer::Gossip)
        .into_iter()
        .find_map(|output| match output {
            Output::Datagram {
                to: NodeId(1),
                bytes,
                ..
            } => Some(bytes),
            _ => None,
        })
        .expect("node 2 gossips to node 1");
    let now = net.now_ms;
    let core = net.cores.get_mut(&NodeId(1)).unwrap();
    let before = core.gossip().counters();
    core.handle_datagram(now, NodeId(3), &stolen);
    assert_eq!(
        core.gossip().counters().refused_identity,
        before.refused_identity + 1
    );
    core.handle_datagram(now, NodeId(2), &[0xff, 0, 1]);
    assert_eq!(core.gossip().counters().rejected, before.rejected + 1);
}
