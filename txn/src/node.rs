//! [`TxnNode`]: one node's coordinator and replica roles behind the three
//! `handle_*` entry points. Everything the node wants done comes back as a
//! list of [`Action`]s.

use crate::types::ver;
use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_storage::{Engine, Space, StorageError, Version, WriteBatch};

use crate::codec;
use crate::coordinator::CoordinatorState;
use crate::hlc::Hlc;
use crate::membership::{NodeId, Policies, Ring, View};
use crate::message::{Message, ReqId};
use crate::options::TxnOptions;
use crate::replica::ReplicaState;
use crate::request::{ClientId, Request, Response};
use crate::types::TxnId;

/// A timer the node asked for; hand it back to [`TxnNode::handle_timer`]
/// when `at_ms` has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// The periodic tick: timeouts, retries, lease checks, recovery, hint
    /// replay and lost-state copy all run from it.
    Tick,
}

/// Something the driver must do for the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send a message to a peer (encode with [`crate::codec`]).
    Send {
        /// Destination.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// Answer a client request.
    Reply {
        /// The id given to `handle_request`.
        client: ClientId,
        /// The answer.
        response: Response,
    },
    /// Call `handle_timer(at_ms, timer)` once the clock reaches `at_ms`.
    SetTimer {
        /// When.
        at_ms: u64,
        /// Which timer.
        timer: Timer,
    },
}

/// Whether the node's replica votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaStatus {
    /// Serving: reads, locks and Paxos votes.
    Normal,
    /// Lost state (new or changed engine incarnation): copying data, locks
    /// and decisions from peers; no read, lock or Paxos vote until done.
    Recovering,
}

/// One node's transaction layer: coordinator for the client requests it
/// receives and replica for the partitions it holds.
///
/// # Driving it
/// - Call [`TxnNode::start`] once after construction and arm the timer it
///   returns; re-arm every `SetTimer` returned later.
/// - Feed inputs with `handle_message`, `handle_request`, `handle_timer`.
/// - **Durability rule**: after a batch of inputs, call `engine_mut().sync()`
///   once, and only then release (send, reply) the actions of that batch.
///   Locks, votes and writes are written to the engine but not synced by the
///   node; a reply that leaves before the sync can promise state a crash
///   loses.
/// - The node always has a view of the membership: [`TxnNode::open`] takes
///   the first one, [`TxnNode::set_view`] and [`TxnNode::set_down`] change
///   it.
pub struct TxnNode<E: Engine> {
    pub(crate) id: NodeId,
    pub(crate) engine: E,
    pub(crate) hlc: Hlc,
    pub(crate) rng: StdRng,
    pub(crate) options: TxnOptions,
    pub(crate) view: View,
    pub(crate) replica: ReplicaState,
    pub(crate) coord: CoordinatorState,
    pub(crate) watermark: crate::watermark::Watermark,
    pub(crate) out: Vec<Action>,
    next_req: ReqId,
    tick_at_ms: Option<u64>,
    pub(crate) now_ms: u64,
    /// Durable bound above every timestamp this node has issued.
    hlc_floor_ms: u64,
    /// The floor was raised in the current batch (see
    /// [`TxnNode::take_floor_raised`]).
    floor_raised: bool,
    /// Distinguishes transaction ids of this store incarnation from those a
    /// lost disk's incarnation issued (see [`TxnNode::fresh_txn_id`]).
    txn_nonce: u32,
}

/// System key of the durable HLC floor.
const HLC_FLOOR_KEY: &[u8] = b"Mh";

/// System key of the count of times this store was opened.
const LIVES_KEY: &[u8] = b"Ml";

/// How far ahead of the last timestamp the floor is written, in ms: one
/// small write per this much clock time.
const HLC_FLOOR_STEP_MS: u64 = 1_000;

impl<E: Engine> TxnNode<E> {
    /// Opens the node over `engine`, rebuilding its lock table from the
    /// system space.
    ///
    /// `bootstrap`: the node is a first member of a new cluster (its empty
    /// store is the truth). Otherwise a store with no or a different
    /// incarnation marker means lost state, and the replica starts
    /// [`ReplicaStatus::Recovering`].
    pub fn open(
        id: NodeId,
        engine: E,
        seed: u64,
        options: TxnOptions,
        bootstrap: bool,
        view: View,
    ) -> Result<TxnNode<E>, StorageError> {
        let mut node = TxnNode {
            id,
            engine,
            hlc: Hlc::new(id.0),
            rng: StdRng::seed_from_u64(seed),
            options,
            view: view.clone(),
            replica: ReplicaState::default(),
            coord: CoordinatorState::default(),
            watermark: crate::watermark::Watermark::default(),
            out: Vec::new(),
            next_req: 1,
            tick_at_ms: None,
            now_ms: 0,
            hlc_floor_ms: 0,
            floor_raised: false,
            txn_nonce: 0,
        };
        node.load_hlc_floor()?;
        node.begin_life()?;
        node.load_watermark()?;
        node.load_replica_state(bootstrap)?;
        node.load_placements()?;
        node.set_view(view.ring, view.down, view.policies);
        Ok(node)
    }

    /// Arms the first tick and the leases of the locks `open` reloaded
    /// (each runs again from `now_ms`). Call once after `open` (and after
    /// a restart).
    pub fn start(&mut self, now_ms: u64) -> Vec<Action> {
        self.now_ms = now_ms;
        self.rearm_leases(now_ms);
        self.tick_at_ms = None;
        self.arm_tick();
        std::mem::take(&mut self.out)
    }

    /// Sets the ring, the down set and the namespace policies. A namespace
    /// an earlier view named and `policies` does not (a dropped one) keeps
    /// its policy, remembered durably, so its locks and decision registers
    /// stay on their replica rings (see `replica::placement`).
    pub fn set_view(&mut self, ring: Ring, down: BTreeSet<NodeId>, mut policies: Policies) {
        self.remember_placements(&mut policies);
        self.view = View::new(ring, down, policies);
    }

    /// Updates only the down set (gossip liveness events).
    pub fn set_down(&mut self, down: BTreeSet<NodeId>) {
        self.view.down = down;
    }

    /// Whether the batch since the last call raised the durable HLC floor
    /// (and resets it). Timestamps issued in that batch may lie above the
    /// floor that is durable so far, and requests to peers carry them
    /// (transaction ids, commit versions): the driver must sync such a
    /// batch before *any* of its outputs leave, or a crash before the sync
    /// lets the restarted node issue the same id again (sim/FAILING.md
    /// section 17). The floor moves once per `HLC_FLOOR_STEP_MS` of clock.
    pub fn take_floor_raised(&mut self) -> bool {
        std::mem::take(&mut self.floor_raised)
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The node's tunables.
    pub fn options(&self) -> &TxnOptions {
        &self.options
    }

    /// Whether the replica votes or is copying lost state.
    pub fn status(&self) -> ReplicaStatus {
        self.replica.status
    }

    /// The node's view: ring, down set and namespace policies.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The engine (for the driver's `sync`, and for inspection in tests).
    pub fn engine_mut(&mut self) -> &mut E {
        &mut self.engine
    }

    /// Gives the engine back (driver shutdown, simulated crash).
    pub fn into_engine(self) -> E {
        self.engine
    }

    /// A copy of this node, in-memory state included, over `engine`, which
    /// must hold a copy of this node's engine contents. The model checker
    /// forks a world this way to explore every next event from one state.
    /// The copy's random generator is seeded from this one's (`StdRng` is
    /// not `Clone`), so it is deterministic but not the same stream.
    pub(crate) fn fork_onto(&mut self, engine: E) -> TxnNode<E> {
        let seed = self.rng.random::<u64>();
        TxnNode {
            id: self.id,
            engine,
            hlc: self.hlc.clone(),
            rng: StdRng::seed_from_u64(seed),
            options: self.options.clone(),
            view: self.view.clone(),
            replica: self.replica.clone(),
            coord: self.coord.clone(),
            watermark: self.watermark.clone(),
            out: self.out.clone(),
            next_req: self.next_req,
            tick_at_ms: self.tick_at_ms,
            now_ms: self.now_ms,
            hlc_floor_ms: self.hlc_floor_ms,
            floor_raised: self.floor_raised,
            txn_nonce: self.txn_nonce,
        }
    }

    /// Number of `(txn, attempt)` lock sets this replica holds.
    pub fn locks_held(&self) -> usize {
        self.replica.held.len()
    }

    /// Blind transactions this coordinator committed, by path.
    pub fn commit_paths(&self) -> crate::coordinator::CommitPaths {
        self.coord.paths
    }

    /// Number of client requests in flight at this coordinator.
    pub fn requests_in_flight(&self) -> usize {
        self.coord.in_flight()
    }

    /// A message from a peer.
    pub fn handle_message(&mut self, now_ms: u64, from: NodeId, msg: Message) -> Vec<Action> {
        self.now_ms = self.now_ms.max(now_ms);
        self.dispatch_message(from, msg);
        self.arm_tick();
        std::mem::take(&mut self.out)
    }

    /// A client request; the answer comes back as `Action::Reply{client}`.
    pub fn handle_request(&mut self, now_ms: u64, client: ClientId, req: Request) -> Vec<Action> {
        self.now_ms = self.now_ms.max(now_ms);
        self.start_request(client, req);
        self.arm_tick();
        std::mem::take(&mut self.out)
    }

    /// A timer set earlier has fired.
    pub fn handle_timer(&mut self, now_ms: u64, timer: Timer) -> Vec<Action> {
        self.now_ms = self.now_ms.max(now_ms);
        match timer {
            Timer::Tick => {
                if self.tick_at_ms.is_some_and(|at| at <= self.now_ms) {
                    self.tick_at_ms = None;
                }
                self.tick();
            }
        }
        self.arm_tick();
        std::mem::take(&mut self.out)
    }

    fn tick(&mut self) {
        self.replica_tick();
        self.coordinator_tick();
        self.watermark_tick();
    }

    fn arm_tick(&mut self) {
        if self.tick_at_ms.is_none() {
            let at_ms = self.now_ms + self.options.tick_ms;
            self.tick_at_ms = Some(at_ms);
            self.out.push(Action::SetTimer {
                at_ms,
                timer: Timer::Tick,
            });
        }
    }

    /// A fresh HLC timestamp for a transaction id or a version. Keeps a
    /// durable floor ahead of every timestamp issued, so a restarted node
    /// (whose clock may read earlier) never reissues one: two writes with one
    /// version would leave replicas disagreeing forever.
    pub(crate) fn timestamp(&mut self) -> Version {
        let ts = self.hlc.now(self.now_ms);
        self.keep_floor_above(ts.physical_ms);
        ts
    }

    /// Moves the clock past the timestamp of a transaction this replica is
    /// asked to vote on (a lock, a prepare, a decision), durably: the
    /// floor follows, so a restart does not forget it. The vote fence
    /// (`replica/fence.rs`) rests on this: every transaction a replica
    /// that lost its disk voted on had, if its vote could count, a vote of
    /// some peer too, and that peer's clock then reports a time at or past
    /// the transaction's. Without it, a transaction the lost incarnation
    /// coordinated with its clock ahead of every peer's lay above all their
    /// answers, and the fence could lift while its messages were in flight.
    pub(crate) fn observe_request(&mut self, seen: Version) {
        if self.options.unsafe_skip_request_clock {
            return;
        }
        self.hlc.observe(seen);
        self.keep_floor_above(seen.physical_ms);
    }

    /// Raises the durable floor when the clock reached it.
    fn keep_floor_above(&mut self, physical_ms: u64) {
        if physical_ms >= self.hlc_floor_ms {
            let floor = physical_ms + HLC_FLOOR_STEP_MS;
            let mut batch = WriteBatch::new();
            batch.put(
                Space::System,
                HLC_FLOOR_KEY.to_vec(),
                crate::replica::system_record(codec::encode_stored(&floor)),
            );
            match self.engine.write(batch) {
                Ok(()) => {
                    self.hlc_floor_ms = floor;
                    self.floor_raised = true;
                }
                // Not fatal: the floor is advanced again on the next try.
                Err(e) => tracing::warn!(error = %e, "could not persist the HLC floor"),
            }
        }
    }

    /// A transaction id no earlier life of this node issued. The durable
    /// floor covers restarts over the same store; a lost store loses the
    /// floor too (and the node may coordinate before it has copied anything
    /// back), so the id's timestamp carries a nonce of the store's
    /// incarnation in place of the node id (`coordinator` names the node).
    /// A reused id makes replicas take a new transaction's lock request for
    /// a duplicate of the old one's, and the new attempt's abort releases
    /// the old transaction's locks without applying its writes.
    pub(crate) fn fresh_txn_id(&mut self) -> TxnId {
        let ts = self.timestamp();
        TxnId {
            timestamp: ver(Version {
                node: self.txn_nonce,
                ..ts
            }),
            coordinator: self.id.0,
        }
    }

    /// Moves the clock past the durable floor (on open).
    fn load_hlc_floor(&mut self) -> Result<(), StorageError> {
        let floor = self
            .engine
            .get(Space::System, HLC_FLOOR_KEY)?
            .and_then(|r| r.value)
            .and_then(|v| codec::decode::<u64>(&v).ok())
            .unwrap_or(0);
        let incarnation = self.engine.incarnation().0;
        self.txn_nonce = (incarnation ^ (incarnation >> 32)) as u32;
        self.hlc.observe(Version {
            physical_ms: floor,
            logical: 0,
            node: self.id.0,
        });
        self.hlc_floor_ms = floor;
        Ok(())
    }

    /// Counts this opening of the store (durably, with the first sync) and
    /// starts request ids in a range no earlier life used. Seed 600 of
    /// `zerodb-sim --workload mixed-ns --faults mixed`: ids restarted at 1
    /// after a crash, a reply to an eventual read sent before the crash
    /// arrived after it, and a new strong read with the same id took it as
    /// its own: a strong read returned another key's value. The store's
    /// nonce covers a lost disk, whose life count starts again.
    fn begin_life(&mut self) -> Result<(), StorageError> {
        let lives = self
            .engine
            .get(Space::System, LIVES_KEY)?
            .and_then(|r| r.value)
            .and_then(|v| codec::decode::<u64>(&v).ok())
            .unwrap_or(0)
            + 1;
        let mut batch = WriteBatch::new();
        batch.put(
            Space::System,
            LIVES_KEY.to_vec(),
            crate::replica::system_record(codec::encode_stored(&lives)),
        );
        self.engine.write(batch)?;
        self.next_req = (ReqId::from(self.txn_nonce) << 96) | (ReqId::from(lives) << 64) | 1;
        Ok(())
    }

    /// This life of this store: `(store nonce << 32) | life count`, the
    /// high half of every request id it issues. Unique over restarts and,
    /// through the nonce, over lost disks.
    pub(crate) fn life_id(&self) -> u64 {
        (self.next_req >> 64) as u64
    }

    /// A fresh request id for messages this node sends.
    pub(crate) fn next_req(&mut self) -> ReqId {
        let req = self.next_req;
        self.next_req += 1;
        req
    }

    /// Queues a message.
    pub(crate) fn send(&mut self, to: NodeId, msg: Message) {
        self.out.push(Action::Send { to, msg });
    }

    /// Queues a client reply.
    pub(crate) fn reply(&mut self, client: ClientId, response: Response) {
        self.on_answered(client, &response);
        self.out.push(Action::Reply { client, response });
    }

    /// `base * 2^n` capped, with full jitter in `[base/2, that]`.
    pub(crate) fn backoff_ms(&mut self, tries: u32) -> u64 {
        let base = self.options.backoff_base_ms.max(1);
        let cap = base
            .saturating_mul(1u64 << tries.min(16))
            .min(self.options.backoff_max_ms.max(base));
        self.rng.random_range(base / 2..=cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::test_view;
    use zerodb_storage::{Incarnation, MemoryEngine};

    /// Node `id` of the 3-node test view over `engine`.
    fn open(id: u32, engine: MemoryEngine, bootstrap: bool) -> TxnNode<MemoryEngine> {
        TxnNode::open(
            NodeId(id),
            engine,
            1,
            TxnOptions::default(),
            bootstrap,
            test_view(3),
        )
        .unwrap()
    }

    #[test]
    fn a_restarted_node_never_reissues_a_timestamp_even_if_its_clock_went_back() {
        let engine = MemoryEngine::new(Incarnation(1));
        let mut node = open(4, engine, true);
        node.now_ms = 50_000;
        let before = node.timestamp();
        node.engine_mut().sync().unwrap();
        let mut engine = node.into_engine();
        engine.crash();
        let mut node = open(4, engine, false);
        node.now_ms = 10;
        assert!(node.timestamp() > before);
    }

    /// A batch that raised the floor must sync before any output leaves
    /// (sim/FAILING.md section 17): the driver is told once per raise.
    #[test]
    fn a_raised_floor_is_reported_once_per_raise() {
        let engine = MemoryEngine::new(Incarnation(1));
        let mut node = open(4, engine, true);
        node.now_ms = 50_000;
        node.timestamp();
        assert!(
            node.take_floor_raised(),
            "the first timestamp raises the floor"
        );
        assert!(!node.take_floor_raised(), "reported once");
        node.now_ms = 50_000 + HLC_FLOOR_STEP_MS / 2;
        node.timestamp();
        assert!(!node.take_floor_raised(), "still below the floor");
        node.now_ms = 50_000 + 2 * HLC_FLOOR_STEP_MS;
        node.timestamp();
        assert!(node.take_floor_raised());
    }

    /// Seed 1 of `zerodb-sim --workload append --faults heavy`: a node
    /// lost its disk, came back with its clock behind and reissued a
    /// transaction id; replicas took the new lock request for a duplicate
    /// of the old committed transaction's, and the new attempt's abort
    /// released the old locks unapplied.
    #[test]
    fn transaction_ids_stay_unique_after_a_lost_disk() {
        let engine = MemoryEngine::new(Incarnation(7));
        let mut node = open(2, engine, true);
        node.now_ms = 50_000;
        let before = node.fresh_txn_id();
        let mut engine = node.into_engine();
        engine.wipe(Incarnation(8));
        let mut node = open(2, engine, false);
        node.now_ms = 50_000;
        let after = node.fresh_txn_id();
        assert_ne!(after, before, "same clock reading, another incarnation");
        assert_eq!(after.coordinator, before.coordinator);
    }

    #[test]
    fn request_ids_of_a_restarted_or_wiped_node_never_repeat_an_earlier_life() {
        let engine = MemoryEngine::new(Incarnation(1));
        let mut node = open(3, engine, true);
        let first: Vec<ReqId> = (0..100).map(|_| node.next_req()).collect();
        node.engine_mut().sync().unwrap();
        let mut engine = node.into_engine();
        engine.crash();
        let mut node = open(3, engine, false);
        let second: Vec<ReqId> = (0..100).map(|_| node.next_req()).collect();
        let mut engine = node.into_engine();
        engine.wipe(Incarnation(2));
        let mut node = open(3, engine, false);
        let third: Vec<ReqId> = (0..100).map(|_| node.next_req()).collect();
        let all: BTreeSet<ReqId> = first.iter().chain(&second).chain(&third).copied().collect();
        assert_eq!(
            all.len(),
            300,
            "a reply to an old request must not match a new one"
        );
    }

    #[test]
    fn ticks_are_armed_once_and_rearmed_when_they_fire() {
        let engine = MemoryEngine::new(Incarnation(1));
        let mut node = open(1, engine, true);
        let first = node.start(100);
        assert_eq!(
            first,
            vec![Action::SetTimer {
                at_ms: 110,
                timer: Timer::Tick
            }]
        );
        let none = node.handle_message(105, NodeId(2), Message::Stored { req: 99 });
        assert!(none.is_empty(), "no second tick while one is armed");
        let again = node.handle_timer(110, Timer::Tick);
        assert!(again.contains(&Action::SetTimer {
            at_ms: 120,
            timer: Timer::Tick
        }));
    }
}
