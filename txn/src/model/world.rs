//! One state of the model: three real replicas over [`MemoryEngine`]s, the
//! network as a multiset of encoded messages, the model coordinators, the
//! fault budgets left, and the checker's own record of what happened
//! (ghost state, see [`Ghost`]). A world can be forked, so every event is
//! explored from the same state.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::Hash;

use zerodb_storage::{Direction, Engine, Incarnation, MemoryEngine, ScanRange, Space};

use super::coordinator::{Coordinator, Outbox, COORDINATOR_ID_BASE};
use super::{Bounds, Scenario, Start};
use crate::codec;
use crate::membership::{NodeId, View};
use crate::message::Message;
use crate::node::{Action, Timer, TxnNode};
use crate::options::TxnOptions;
use crate::types::{Attempt, Decision, Key, TxnId};

/// Replicas in every model (one replica ring of RF 3).
pub(crate) const REPLICAS: u32 = 3;

/// A message in flight: `(to, from, encoded message)`.
pub(crate) type Envelope = (u32, u32, Vec<u8>);

/// A fault-free ending that broke an invariant: its steps, the invariant
/// and what broke it.
pub(crate) type EndFailure = (Vec<Event>, &'static str, String);

/// What the checker remembers beyond the nodes' own state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ghost {
    /// Every `(replica, txn, attempt)` whose lock a replica granted.
    pub(crate) granted: BTreeSet<(u32, TxnId, Attempt)>,
    /// The outcome every `Apply` sent so far carried, per attempt.
    pub(crate) outcomes: BTreeMap<(TxnId, Attempt), Decision>,
    /// Decisions the coordinators answered their clients with.
    pub(crate) acked: BTreeMap<(TxnId, Attempt), Decision>,
    /// The first value each replica's register decided, per attempt.
    pub(crate) decided: BTreeMap<(u32, TxnId, Attempt), Decision>,
    /// The first violation seen while handling an event (two outcomes).
    pub(crate) broken: Option<(&'static str, String)>,
}

/// A step of the model.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Event {
    /// Deliver one copy of a message.
    Deliver(Envelope),
    /// Deliver one copy and keep another in flight.
    Duplicate(Envelope),
    /// Lose one copy.
    Drop(Envelope),
    /// A replica's clock jumps by a lease and its tick fires.
    Tick(u32),
    /// A replica crashes and restarts over its engine.
    Crash(u32),
    /// A coordinator abandons its attempt, if any, and starts the next.
    Begin(usize),
    /// A coordinator abandons its attempt.
    Abort(usize),
    /// A coordinator proposes `Committed` at ballot 0.
    Decide(usize),
    /// A blind coordinator commits on the fast path.
    FastCommit(usize),
}

/// One state of the model.
pub(crate) struct World {
    pub(crate) replicas: Vec<TxnNode<MemoryEngine>>,
    pub(crate) net: BTreeMap<Envelope, u32>,
    pub(crate) coords: Vec<Coordinator>,
    pub(crate) ghost: Ghost,
    pub(crate) view: View,
    pub(crate) now_ms: u64,
    pub(crate) left: Bounds,
    pub(crate) step_ms: u64,
}

/// The options every model replica runs with: one clock jump (`Tick`)
/// expires every lease and every wait, and background work that is not
/// under test (watermark reports, anti-entropy) is off.
pub(crate) fn model_options(scenario: &Scenario) -> TxnOptions {
    let step_ms = scenario.step_ms;
    TxnOptions {
        lease_ms: step_ms,
        wait_max_ms: step_ms,
        recovery_timeout_ms: step_ms,
        backoff_base_ms: 0,
        backoff_max_ms: 1,
        watermark_ms: 0,
        anti_entropy_ms: 0,
        unsafe_grant_woken_without_recheck: scenario.unsafe_case_1,
        unsafe_skip_range_locks: scenario.unsafe_skip_range_locks,
        unsafe_abort_blind_without_refusal: scenario.unsafe_abort_blind_without_refusal,
        ..TxnOptions::default()
    }
}

impl World {
    /// The initial state of `scenario`.
    pub(crate) fn new(scenario: &Scenario) -> World {
        let ring = crate::testing::test_ring(REPLICAS);
        let policies = crate::membership::Policies::default();
        let view = View {
            ring: ring.clone(),
            down: BTreeSet::new(),
            policies: policies.clone(),
        };
        let options = model_options(scenario);
        let now_ms = 1_000;
        let mut replicas = Vec::new();
        for id in 1..=REPLICAS {
            let engine = MemoryEngine::new(Incarnation(u64::from(id)));
            let mut node = TxnNode::open(
                NodeId(id),
                engine,
                u64::from(id),
                options.clone(),
                true,
                View::new(ring.clone(), BTreeSet::new(), policies.clone()),
            )
            .expect("memory engine opens");
            node.start(now_ms);
            node.engine_mut().sync().expect("memory engine syncs");
            replicas.push(node);
        }
        let coords = scenario
            .txns
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let keys = t
                    .keys
                    .iter()
                    .map(|k| Key::new("ns", "db", "t", k.as_str()))
                    .collect();
                let ranges = t
                    .ranges
                    .iter()
                    .map(|(start, end)| {
                        let start = Key::new("ns", "db", "t", start.as_str());
                        let end = Key::new("ns", "db", "t", end.as_str());
                        (start, end)
                    })
                    .collect();
                let mut c = Coordinator::new(i, t.age, keys, t.attempts_max, t.may_abandon);
                c.ranges = ranges;
                c.blind = t.blind;
                c
            })
            .collect();
        let mut world = World {
            replicas,
            net: BTreeMap::new(),
            coords,
            ghost: Ghost::default(),
            view,
            now_ms,
            left: scenario.bounds.clone(),
            step_ms: scenario.step_ms,
        };
        for (i, t) in scenario.txns.iter().enumerate() {
            if t.start != Start::Idle {
                world.apply(&Event::Begin(i));
            }
            if t.start == Start::Deciding {
                let from = world.coords[i].node.0;
                let mine: Vec<Envelope> =
                    world.net.keys().filter(|e| e.1 == from).cloned().collect();
                for env in mine {
                    world.apply(&Event::Deliver(env));
                }
                world.apply(&Event::Decide(i));
            }
        }
        world
    }

    /// A copy of this state.
    pub(crate) fn fork(&mut self) -> World {
        let replicas = self
            .replicas
            .iter_mut()
            .map(|n| {
                let engine = n.engine_mut().clone();
                n.fork_onto(engine)
            })
            .collect();
        World {
            replicas,
            net: self.net.clone(),
            coords: self.coords.clone(),
            ghost: self.ghost.clone(),
            view: self.view.clone(),
            now_ms: self.now_ms,
            left: self.left.clone(),
            step_ms: self.step_ms,
        }
    }

    /// Every event possible in this state, within the budgets left.
    pub(crate) fn enabled(&self) -> Vec<Event> {
        let mut events = Vec::new();
        for (i, c) in self.coords.iter().enumerate() {
            if c.can_decide(&self.view) {
                events.push(Event::Decide(i));
            }
            if c.can_fast_commit() {
                events.push(Event::FastCommit(i));
            }
            if c.can_begin() {
                events.push(Event::Begin(i));
            }
            if c.can_abort() {
                events.push(Event::Abort(i));
            }
        }
        let faults = self.left.faults > 0;
        for env in self.net.keys() {
            events.push(Event::Deliver(env.clone()));
            if faults && self.left.duplicates > 0 {
                events.push(Event::Duplicate(env.clone()));
            }
            if faults && self.left.drops > 0 {
                events.push(Event::Drop(env.clone()));
            }
        }
        for id in 1..=REPLICAS {
            if faults && self.left.ticks > 0 {
                events.push(Event::Tick(id));
            }
            if faults && self.left.crashes > 0 {
                events.push(Event::Crash(id));
            }
        }
        events
    }

    /// Runs one event.
    pub(crate) fn apply(&mut self, event: &Event) {
        if matches!(
            event,
            Event::Duplicate(_) | Event::Drop(_) | Event::Tick(_) | Event::Crash(_)
        ) {
            self.left.faults -= 1;
        }
        match event {
            Event::Deliver(env) | Event::Duplicate(env) | Event::Drop(env) => {
                let keep = matches!(event, Event::Duplicate(_));
                match event {
                    Event::Duplicate(_) => self.left.duplicates -= 1,
                    Event::Drop(_) => self.left.drops -= 1,
                    _ => {}
                }
                if !keep {
                    self.take(env);
                }
                if !matches!(event, Event::Drop(_)) {
                    self.deliver(env);
                }
            }
            Event::Tick(id) => {
                self.left.ticks -= 1;
                self.now_ms += self.step_ms;
                let now = self.now_ms;
                let actions = self.replica(*id).handle_timer(now, Timer::Tick);
                self.release(*id, actions);
            }
            Event::Crash(id) => {
                self.left.crashes -= 1;
                self.crash_restart(*id);
            }
            Event::Begin(i) => {
                let out = self.coords[*i].begin(&self.view, self.step_ms);
                self.send_from_coordinator(*i, out);
            }
            Event::Abort(i) => {
                let out = self.coords[*i].abort(&self.view);
                self.send_from_coordinator(*i, out);
            }
            Event::Decide(i) => {
                let out = self.coords[*i].decide(&self.view);
                self.send_from_coordinator(*i, out);
            }
            Event::FastCommit(i) => {
                let (out, acked) = self.coords[*i].fast_commit(&self.view);
                if let Some(decision) = acked {
                    let c = &self.coords[*i];
                    self.ghost.acked.insert((c.txn, c.attempt), decision);
                }
                self.send_from_coordinator(*i, out);
            }
        }
    }

    fn take(&mut self, env: &Envelope) {
        if let Some(count) = self.net.get_mut(env) {
            *count -= 1;
            if *count == 0 {
                self.net.remove(env);
            }
        }
    }

    fn replica(&mut self, id: u32) -> &mut TxnNode<MemoryEngine> {
        &mut self.replicas[(id - 1) as usize]
    }

    fn deliver(&mut self, env: &Envelope) {
        let (to, from, frame) = env;
        let msg: Message = codec::decode(frame).expect("frames of this crate decode");
        let now = self.now_ms;
        let actions = self.replica(*to).handle_message(now, NodeId(*from), msg);
        self.release(*to, actions);
    }

    /// The driver's durability rule (sync, then release), with the replies
    /// to coordinators handed over at once (see `super` for why). A step
    /// that sends nothing but requests skips its sync (DESIGN.md 6.1 step
    /// 5, `Message::is_request`): a crash before a later sync loses its
    /// writes. A step that raised the HLC floor syncs whatever it sends
    /// (`TxnNode::take_floor_raised`, as both drivers do).
    fn release(&mut self, id: u32, actions: Vec<Action>) {
        let answers = actions.iter().any(|action| match action {
            Action::Send { msg, .. } => !msg.is_request(),
            Action::Reply { .. } => true,
            Action::SetTimer { .. } => false,
        });
        let floor_raised = self.replica(id).take_floor_raised();
        if answers || floor_raised {
            self.replica(id)
                .engine_mut()
                .sync()
                .expect("memory engine syncs");
        }
        for action in actions {
            let Action::Send { to, msg } = action else {
                continue;
            };
            if let Message::LockGranted { txn, attempt, .. } = &msg {
                self.ghost.granted.insert((id, *txn, *attempt));
            }
            self.note_outcome(&msg);
            if to.0 >= COORDINATOR_ID_BASE {
                self.hand_to_coordinator(NodeId(id), to, &msg);
            } else {
                self.enqueue(id, to.0, &msg);
            }
        }
    }

    fn hand_to_coordinator(&mut self, from: NodeId, to: NodeId, msg: &Message) {
        let Some(i) = self.coords.iter().position(|c| c.node == to) else {
            return;
        };
        let (out, acked) = self.coords[i].on_reply(&self.view, from, msg);
        if let Some(decision) = acked {
            let c = &self.coords[i];
            self.ghost.acked.insert((c.txn, c.attempt), decision);
        }
        self.send_from_coordinator(i, out);
    }

    fn send_from_coordinator(&mut self, i: usize, out: Outbox) {
        let from = self.coords[i].node.0;
        for (to, msg) in out {
            self.note_outcome(&msg);
            self.enqueue(from, to.0, &msg);
        }
    }

    fn enqueue(&mut self, from: u32, to: u32, msg: &Message) {
        let frame = codec::encode(msg).expect("messages encode");
        *self.net.entry((to, from, frame)).or_insert(0) += 1;
    }

    /// I5 across the fast path and the register: every `Apply` of one
    /// attempt carries one outcome.
    fn note_outcome(&mut self, msg: &Message) {
        let Message::Apply {
            txn,
            attempt,
            decision,
            ..
        } = msg
        else {
            return;
        };
        match self.ghost.outcomes.get(&(*txn, *attempt)) {
            Some(seen) if seen != decision && self.ghost.broken.is_none() => {
                self.ghost.broken = Some((
                    "I5 one outcome per (txn, attempt)",
                    format!("{txn} attempt {attempt}: {seen:?} and then {decision:?}"),
                ));
            }
            Some(_) => {}
            None => {
                self.ghost
                    .outcomes
                    .insert((*txn, *attempt), decision.clone());
            }
        }
    }

    /// Crash and restart: in-memory state is lost, the engine keeps what
    /// was synced (everything but the writes of the steps that sent
    /// nothing since the replica's last sync).
    fn crash_restart(&mut self, id: u32) {
        let index = (id - 1) as usize;
        let options = self.replicas[index].options.clone();
        let placeholder = TxnNode::open(
            NodeId(id),
            MemoryEngine::new(Incarnation(0)),
            0,
            options.clone(),
            true,
            self.view.clone(),
        )
        .expect("memory engine opens");
        let old = std::mem::replace(&mut self.replicas[index], placeholder);
        let mut engine = old.into_engine();
        engine.crash();
        let seed = u64::from(id) + 100;
        let mut node = TxnNode::open(
            NodeId(id),
            engine,
            seed,
            options,
            false,
            View::new(
                self.view.ring.clone(),
                BTreeSet::new(),
                self.view.policies.clone(),
            ),
        )
        .expect("memory engine opens");
        let actions = node.start(self.now_ms);
        self.replicas[index] = node;
        self.release(id, actions);
    }

    /// Whether nothing is left to do: no message in flight and no lock,
    /// queued request or recovery at any replica.
    pub(crate) fn settled(&self) -> bool {
        self.net.is_empty()
            && self.replicas.iter().all(|n| {
                n.replica.held.is_empty()
                    && n.replica.waiting.is_empty()
                    && n.replica.recoveries.is_empty()
            })
    }

    /// Ends the run without faults: deliver everything in order, let each
    /// coordinator finish (decide with a quorum, else abandon), and jump
    /// the clocks so leases expire and replicas terminate what is left.
    /// `check` runs after every step. The ending is deterministic, so it
    /// stops early at a state in `ended` (an ending already checked from
    /// there); on success every state passed is added to `ended`. Returns
    /// the steps taken and whether the run settled here (false: it joined
    /// a checked ending), or the steps and the invariant broken.
    pub(crate) fn quiesce(
        &mut self,
        rounds_max: usize,
        ended: &mut HashSet<u128>,
        mut check: impl FnMut(&mut World) -> Option<(&'static str, String)>,
    ) -> Result<(Vec<Event>, bool), EndFailure> {
        let mut steps = Vec::new();
        let mut passed = Vec::new();
        for _ in 0..rounds_max {
            if self.settled() {
                ended.extend(passed);
                return Ok((steps, true));
            }
            let fingerprint = self.fingerprint();
            if ended.contains(&fingerprint) {
                ended.extend(passed);
                return Ok((steps, false));
            }
            passed.push(fingerprint);
            let event = if let Some(env) = self.net.keys().next() {
                Event::Deliver(env.clone())
            } else if let Some(i) = self.coords.iter().position(|c| c.can_fast_commit()) {
                Event::FastCommit(i)
            } else if let Some(i) = self.coords.iter().position(|c| c.can_decide(&self.view)) {
                Event::Decide(i)
            } else if let Some(i) = self.coords.iter().position(|c| c.running()) {
                Event::Abort(i)
            } else {
                // Tick every replica once (this is not a budgeted fault).
                for id in 1..=REPLICAS {
                    self.left.ticks += 1;
                    self.left.faults += 1;
                    self.apply(&Event::Tick(id));
                    steps.push(Event::Tick(id));
                }
                if let Some((name, detail)) = check(self) {
                    return Err((steps, name, detail));
                }
                continue;
            };
            self.apply(&event);
            steps.push(event);
            if let Some((name, detail)) = check(self) {
                return Err((steps, name, detail));
            }
        }
        if self.settled() {
            ended.extend(passed);
            Ok((steps, true))
        } else {
            Err((
                steps,
                "termination: every lock released",
                "the run did not settle".into(),
            ))
        }
    }

    /// A fingerprint of everything that decides the future: the engines'
    /// contents, the replicas' in-memory state, the network, the
    /// coordinators, the budgets left and the ghost record.
    pub(crate) fn fingerprint(&mut self) -> u128 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        (self.now_ms, &self.net).hash(&mut h);
        let left = &self.left;
        (
            left.drops,
            left.duplicates,
            left.ticks,
            left.crashes,
            left.faults,
        )
            .hash(&mut h);
        for c in &self.coords {
            c.fingerprint(&mut h);
        }
        let g = &self.ghost;
        g.granted.hash(&mut h);
        for map in [&g.outcomes, &g.acked] {
            for (key, decision) in map {
                (key, codec::encode_stored(decision)).hash(&mut h);
            }
        }
        for (key, decision) in &g.decided {
            (key, codec::encode_stored(decision)).hash(&mut h);
        }
        g.broken.is_some().hash(&mut h);
        for n in &mut self.replicas {
            for space in [Space::Data, Space::System] {
                let all = n
                    .engine_mut()
                    .scan(&ScanRange::all(space), Direction::Forward, usize::MAX)
                    .expect("memory engine scans");
                for (key, r) in all {
                    (key, r.version, r.value, r.expires_at_ms).hash(&mut h);
                }
            }
            let unsynced = n.engine_mut().unsynced();
            if !unsynced.is_empty() {
                format!("{unsynced:?}").hash(&mut h);
            }
            let r = &n.replica;
            (r.status == crate::node::ReplicaStatus::Normal).hash(&mut h);
            for (txn, held) in &r.held {
                (txn, held.lease_until_ms).hash(&mut h);
                codec::encode_stored(&held.record).hash(&mut h);
            }
            for w in &r.waiting {
                (w.from.0, w.until_ms, codec::encode_stored(&w.req)).hash(&mut h);
            }
            if !r.recoveries.is_empty() {
                format!("{:?}", r.recoveries).hash(&mut h);
            }
        }
        h.digest128()
    }
}
