//! A small deterministic cluster harness for this crate's tests (and a
//! starting point for drivers): N [`TxnNode`]s over [`MemoryEngine`]s, a
//! message queue with seeded delivery delays (so seeded reordering), switches
//! to drop or duplicate messages, crashes, disk wipes and time advance. Every
//! message goes through [`crate::codec`] on the way.
//!
//! The full fault simulator lives in the `sim` crate; this one exists so the
//! protocol's stories can be told next to its code.

use crate::types::KeyExt;
use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_storage::{Engine, Incarnation, MemoryEngine, Space};

use crate::codec;
use crate::membership::{Member, NodeId, NodeStatus, Policies, Ring, Token, View};
use crate::message::Message;
use crate::node::{Action, Timer, TxnNode};
use crate::options::TxnOptions;
use crate::request::{ClientId, Request, Response};
use crate::types::Key;

/// Ring tokens per test node.
const TOKENS_PER_NODE: u64 = 8;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The view of [`test_ring`]`(n)` with nobody down and default policies.
pub fn test_view(n: u32) -> View {
    View::new(test_ring(n), BTreeSet::new(), Policies::default())
}

/// A test ring of nodes `1..=n`, all normal, one zone each.
pub fn test_ring(n: u32) -> Ring {
    let members = (1..=n).map(|id| {
        let tokens = (0..TOKENS_PER_NODE)
            .map(|j| Token(splitmix(u64::from(id) * 1_000 + j)))
            .collect();
        Member::new(
            NodeId(id),
            "r1",
            format!("z{id}"),
            tokens,
            NodeStatus::Normal,
        )
    });
    Ring::new(1, members)
}

/// A message about to be delivered.
#[derive(Clone, Debug)]
struct Envelope {
    from: NodeId,
    to: NodeId,
    frame: Vec<u8>,
}

/// A hook deciding, for each message a node emits, whether the node
/// crashes right there (the message and the rest of the batch are lost).
pub type CrashHook = Box<dyn FnMut(NodeId, &Message) -> bool>;

/// A hook that may replace each message on its way `(from, to)`: a test's
/// stand-in for a peer that answers something else.
pub type RewriteHook = Box<dyn FnMut(NodeId, NodeId, Message) -> Message>;

/// The harness.
pub struct Cluster {
    nodes: BTreeMap<NodeId, TxnNode<MemoryEngine>>,
    crashed: BTreeMap<NodeId, MemoryEngine>,
    ring: Ring,
    policies: Policies,
    down: BTreeSet<NodeId>,
    options: TxnOptions,
    queue: BTreeMap<(u64, u64), Envelope>,
    timers: BTreeSet<(u64, NodeId)>,
    seq: u64,
    now_ms: u64,
    rng: StdRng,
    next_client: u64,
    next_incarnation: u64,
    replies: BTreeMap<ClientId, Response>,
    /// Probability in per mille that a message is dropped.
    pub drop_per_mille: u32,
    /// Probability in per mille that a message is delivered twice.
    pub duplicate_per_mille: u32,
    /// Largest delivery delay in ms (delays are 1..=this, seeded).
    pub latency_max_ms: u64,
    /// Crash a node when it emits a matching message.
    pub crash_hook: Option<CrashHook>,
    /// Replace messages as they are sent.
    pub rewrite_hook: Option<RewriteHook>,
    /// Messages delivered so far.
    pub delivered: u64,
}

impl Cluster {
    /// `n` nodes, default policies (strong, RF 3), seeded.
    pub fn new(n: u32, seed: u64, options: TxnOptions) -> Cluster {
        Cluster::with_policies(n, seed, options, Policies::default())
    }

    /// `n` nodes with the given namespace policies.
    pub fn with_policies(n: u32, seed: u64, options: TxnOptions, policies: Policies) -> Cluster {
        let ring = test_ring(n);
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            crashed: BTreeMap::new(),
            ring,
            policies,
            down: BTreeSet::new(),
            options,
            queue: BTreeMap::new(),
            timers: BTreeSet::new(),
            seq: 0,
            now_ms: 1_000,
            rng: StdRng::seed_from_u64(seed),
            next_client: 1,
            next_incarnation: u64::from(n) + 1,
            replies: BTreeMap::new(),
            drop_per_mille: 0,
            duplicate_per_mille: 0,
            latency_max_ms: 3,
            crash_hook: None,
            rewrite_hook: None,
            delivered: 0,
        };
        for id in 1..=n {
            let engine = MemoryEngine::new(Incarnation(u64::from(id)));
            cluster.boot(NodeId(id), engine, true);
        }
        cluster
    }

    fn boot(&mut self, id: NodeId, engine: MemoryEngine, bootstrap: bool) {
        let seed = self.rng.random::<u64>();
        let mut node = TxnNode::open(
            id,
            engine,
            seed,
            self.options.clone(),
            bootstrap,
            View::new(self.ring.clone(), self.down.clone(), self.policies.clone()),
        )
        .expect("memory engine opens");
        let actions = node.start(self.now_ms);
        self.nodes.insert(id, node);
        self.release(id, actions);
    }

    /// The current time.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// A node (panics if it is crashed).
    pub fn node(&mut self, id: u32) -> &mut TxnNode<MemoryEngine> {
        self.nodes.get_mut(&NodeId(id)).expect("node is up")
    }

    /// The replica ring of a key.
    pub fn replicas_of(&self, key: &Key) -> Vec<NodeId> {
        let view = crate::membership::View {
            ring: self.ring.clone(),
            down: BTreeSet::new(),
            policies: self.policies.clone(),
        };
        view.replicas(&view.partition_of(key))
    }

    /// Sends a client request to `node`; returns the id its reply will have.
    pub fn submit(&mut self, node: u32, req: Request) -> ClientId {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        let id = NodeId(node);
        let Some(n) = self.nodes.get_mut(&id) else {
            return client;
        };
        let actions = n.handle_request(self.now_ms, client, req);
        self.release(id, actions);
        client
    }

    /// The reply to `client`, if it arrived.
    pub fn reply(&self, client: ClientId) -> Option<&Response> {
        self.replies.get(&client)
    }

    /// Submits and runs until the reply arrives or `max_ms` pass.
    pub fn call(&mut self, node: u32, req: Request, max_ms: u64) -> Option<Response> {
        let client = self.submit(node, req);
        let until = self.now_ms + max_ms;
        while self.now_ms < until && !self.replies.contains_key(&client) {
            if !self.step(until) {
                break;
            }
        }
        self.replies.get(&client).cloned()
    }

    /// Runs until time `now + ms`.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now_ms + ms;
        while self.step(until) {}
        self.now_ms = self.now_ms.max(until);
    }

    /// Runs until `done` holds or `max_ms` pass; returns whether it held.
    pub fn run_until(&mut self, max_ms: u64, mut done: impl FnMut(&mut Cluster) -> bool) -> bool {
        let until = self.now_ms + max_ms;
        loop {
            if done(self) {
                return true;
            }
            if !self.step(until) {
                return done(self);
            }
        }
    }

    /// Delivers the next event due before `until`. Returns false when none.
    fn step(&mut self, until: u64) -> bool {
        let next_msg = self.queue.keys().next().copied();
        let next_timer = self.timers.iter().next().copied();
        let msg_first = match (next_msg, next_timer) {
            (None, None) => return false,
            (Some((at, _)), Some((t_at, _))) => at <= t_at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if msg_first {
            let (at, seq) = next_msg.expect("checked");
            if at > until {
                return false;
            }
            let env = self.queue.remove(&(at, seq)).expect("present");
            self.now_ms = self.now_ms.max(at);
            self.deliver(env);
        } else {
            let (at, id) = next_timer.expect("checked");
            if at > until {
                return false;
            }
            self.timers.remove(&(at, id));
            self.now_ms = self.now_ms.max(at);
            if let Some(node) = self.nodes.get_mut(&id) {
                let actions = node.handle_timer(self.now_ms, Timer::Tick);
                self.release(id, actions);
            }
        }
        true
    }

    fn deliver(&mut self, env: Envelope) {
        let Some(node) = self.nodes.get_mut(&env.to) else {
            return;
        };
        let msg: Message = codec::decode(&env.frame).expect("frames from this crate decode");
        self.delivered += 1;
        let actions = node.handle_message(self.now_ms, env.from, msg);
        self.release(env.to, actions);
    }

    /// Syncs the node's engine (the driver's durability rule), then
    /// releases its actions, unless the crash hook fires first.
    fn release(&mut self, id: NodeId, actions: Vec<Action>) {
        if let Some(hook) = &mut self.crash_hook {
            let crash = actions.iter().any(|a| match a {
                Action::Send { msg, .. } => hook(id, msg),
                _ => false,
            });
            if crash {
                self.crash(id.0);
                return;
            }
        }
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        node.engine_mut().sync().expect("memory engine syncs");
        for action in actions {
            match action {
                Action::Send { to, msg } => {
                    let msg = match &mut self.rewrite_hook {
                        Some(hook) => hook(id, to, msg),
                        None => msg,
                    };
                    self.enqueue(id, to, &msg)
                }
                Action::Reply { client, response } => {
                    self.replies.insert(client, response);
                }
                Action::SetTimer {
                    at_ms,
                    timer: Timer::Tick,
                } => {
                    self.timers.insert((at_ms, id));
                }
            }
        }
    }

    fn enqueue(&mut self, from: NodeId, to: NodeId, msg: &Message) {
        if self.drop_per_mille > 0 && self.rng.random_range(0..1000) < self.drop_per_mille {
            return;
        }
        let copies = if self.duplicate_per_mille > 0
            && self.rng.random_range(0..1000) < self.duplicate_per_mille
        {
            2
        } else {
            1
        };
        let frame = codec::encode(msg).expect("messages encode");
        for _ in 0..copies {
            let delay = self.rng.random_range(1..=self.latency_max_ms.max(1));
            self.seq += 1;
            self.queue.insert(
                (self.now_ms + delay, self.seq),
                Envelope {
                    from,
                    to,
                    frame: frame.clone(),
                },
            );
        }
    }

    /// Crashes a node: unsynced writes are lost, in-memory state is gone,
    /// messages to it are dropped until it restarts.
    pub fn crash(&mut self, id: u32) {
        let id = NodeId(id);
        if let Some(node) = self.nodes.remove(&id) {
            let mut engine = node.into_engine();
            engine.crash();
            self.crashed.insert(id, engine);
            self.timers.retain(|(_, n)| *n != id);
        }
    }

    /// Crashes a node and loses its whole disk.
    pub fn wipe(&mut self, id: u32) {
        self.crash(id);
        let incarnation = Incarnation(self.next_incarnation);
        self.next_incarnation += 1;
        if let Some(engine) = self.crashed.get_mut(&NodeId(id)) {
            engine.wipe(incarnation);
        }
    }

    /// Restarts a crashed node over its engine.
    pub fn restart(&mut self, id: u32) {
        if let Some(engine) = self.crashed.remove(&NodeId(id)) {
            self.boot(NodeId(id), engine, false);
        }
    }

    /// Marks nodes down (or up) in every node's liveness view.
    pub fn set_down(&mut self, down: &[u32]) {
        self.down = down.iter().map(|n| NodeId(*n)).collect();
        for node in self.nodes.values_mut() {
            node.set_down(self.down.clone());
        }
    }

    /// The record a node stores for a key (data space, tombstones included).
    pub fn stored(&mut self, id: u32, key: &Key) -> Option<zerodb_storage::Record> {
        let skey = key.storage_key();
        if let Some(node) = self.nodes.get_mut(&NodeId(id)) {
            return node.engine_mut().get(Space::Data, &skey).expect("get");
        }
        self.crashed
            .get_mut(&NodeId(id))
            .and_then(|e| e.get(Space::Data, &skey).expect("get"))
    }

    /// Total lock sets held over every running node.
    pub fn locks_held(&self) -> usize {
        self.nodes.values().map(|n| n.locks_held()).sum()
    }

    /// Ids of running nodes.
    pub fn running(&self) -> Vec<u32> {
        self.nodes.keys().map(|n| n.0).collect()
    }
}
