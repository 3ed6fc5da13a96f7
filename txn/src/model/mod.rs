//! An exhaustive model checker for the replica state machines (locks, the
//! decision register, termination) running the real replica code
//! (DESIGN.md 6.4; issue 14, "look where the simulator does not").
//!
//! # The model
//! - Three real [`TxnNode`](crate::TxnNode)s over
//!   [`MemoryEngine`](zerodb_storage::MemoryEngine)s form one replica ring
//!   (RF 3), driven only through `handle_message` and `handle_timer`.
//! - Two or three model coordinators (see `coordinator.rs`) run protocol v1
//!   (`LockRead` -> `Decide` at ballot 0 -> `Apply`) with every choice left
//!   open: start, abandon and retry attempts at any moment. A transaction
//!   writes keys and may read key ranges under shared range locks (a scan,
//!   DESIGN.md 6.1 step 1); the `range_scan` scenario races a scan against
//!   an insert into its range.
//! - The network is a multiset of encoded messages between nodes. Each
//!   step delivers one message, delivers it and keeps a copy
//!   (duplication), or loses it; or a replica's clock jumps by one lease
//!   and its tick fires (lease expiry starts termination; waits time out);
//!   or a replica crashes and restarts over its engine; or a coordinator
//!   acts. Duplication, loss, clock jumps and crashes each have a budget,
//!   and so do faults of any kind together. A clock jump is the only
//!   timer: one jump expires every lease, wait and recovery round.
//! - Replies to coordinators are handed over at once instead of going
//!   through the network. This loses no replica behaviour: a coordinator's
//!   knowledge only grows, and every reaction to a late or lost reply
//!   (abandon, retry, wait) is already one of its free choices.
//!
//! # The search
//! Depth-first over every enabled event up to a depth bound, from forks of
//! the world (engines copied, in-memory state cloned). States are
//! deduplicated by a fingerprint of the state the replica protocol reads
//! (engine contents, lock tables and queues, recoveries, network,
//! coordinators, budgets, the clock and the checker's ghost record; not
//! the HLCs, random generators or background-task timers, which the
//! protocol under test does not branch on); a state seen again at a
//! smaller depth is explored again, so the bound is exact.
//! Every state is checked against [`STATE_INVARIANTS`]; every run that
//! reaches the bound (or has nothing left but faults) is then ended
//! without faults, every message delivered and every lease expired, and
//! checked against [`END_INVARIANTS`]. A panic of the replica code (its
//! own assertions) is a violation too.
//!
//! # Not covered
//! Real coordinators (their timers and retries), reads and read-time
//! repair, lost state (wiped disks) and lost-state copy, ring or policy
//! changes, the watermark, and protocol v2. The driver syncs after every
//! step that sends an answer and skips the sync of one that sends only
//! requests or nothing (an `Apply`), as the runtime and the simulator do; a
//! crash loses the writes of those steps since the replica's last sync. A
//! crash between a step's requests leaving and its sync (the runtime sends
//! requests first) is left to the simulator, whose coordinators share
//! their node with a replica.

mod coordinator;
mod invariants;
#[cfg(test)]
mod replay_tests;
mod search;
mod trace;
mod world;

pub use invariants::{END_INVARIANTS, STATE_INVARIANTS};
pub use search::check;

use std::fmt;
use std::time::Duration;

/// One transaction of a scenario; it writes every one of its keys.
#[derive(Clone, Debug)]
pub struct TxnSpec {
    /// Its timestamp in ms: a smaller one is older (wait-die favours it).
    pub age: u64,
    /// Ids of the keys it writes (namespace `ns`); the first is home.
    pub keys: Vec<String>,
    /// Id ranges `[start, end)` of the same table it reads under shared
    /// range locks (a scan).
    pub ranges: Vec<(String, String)>,
    /// Attempts it may make.
    pub attempts_max: u32,
    /// Whether its coordinator may abandon a running attempt at any
    /// moment (timeouts, `LockBusy`); when false it waits for a quorum.
    pub may_abandon: bool,
    /// How far it got in the initial state (saves depth for what follows).
    pub start: Start,
    /// A blind transaction (protocol v2: writes and version in its
    /// prepares, the fast path). Its keys must share one partition.
    pub blind: bool,
}

/// Where a transaction is in a scenario's initial state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Not begun: its first `Begin` is an event.
    Idle,
    /// Its first attempt's `LockRead`s are in flight.
    Locking,
    /// Its `LockRead`s were delivered in order (it holds the locks it could
    /// get) and, with a quorum, its `Decide`s are in flight.
    Deciding,
}

/// Fault budgets of one run.
#[derive(Clone, Debug, Default)]
pub struct Bounds {
    /// Messages that may be lost.
    pub drops: u32,
    /// Messages that may be delivered twice.
    pub duplicates: u32,
    /// Clock jumps (one lease each) with a tick at one replica.
    pub ticks: u32,
    /// Crash-and-restarts of a replica.
    pub crashes: u32,
    /// Faults of any kind above, at most, in one run.
    pub faults: u32,
}

/// What to explore.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// A name for reports.
    pub name: String,
    /// Its transactions (2 or 3).
    pub txns: Vec<TxnSpec>,
    /// Fault budgets.
    pub bounds: Bounds,
    /// Events per run, at most.
    pub depth_max: usize,
    /// Distinct states to explore before giving up (the report says so).
    pub states_max: u64,
    /// Lease, wait limit and recovery timeout, in ms: one clock jump.
    pub step_ms: u64,
    /// Runs the replicas with `unsafe_grant_woken_without_recheck` (the
    /// fix of issue 14 case 1 reverted).
    pub unsafe_case_1: bool,
    /// Runs the replicas with `unsafe_skip_range_locks` (range locks
    /// conflict with nothing).
    pub unsafe_skip_range_locks: bool,
    /// Runs the replicas with `unsafe_abort_blind_without_refusal`
    /// (termination aborts a blind attempt without a durable refusal).
    pub unsafe_abort_blind_without_refusal: bool,
    /// State invariants not checked (names from [`STATE_INVARIANTS`]), to
    /// see what a bug leads to past the first invariant it breaks.
    pub unchecked: Vec<&'static str>,
    /// Search with depth bounds 1, 2, ... up to `depth_max` and stop at
    /// the first bound with a violation, so its trace is a shortest one.
    pub shortest_trace: bool,
}

/// A violated invariant and the run that violates it.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The invariant (one of [`STATE_INVARIANTS`] or [`END_INVARIANTS`],
    /// or a panic of the replica code).
    pub invariant: String,
    /// What broke it.
    pub detail: String,
    /// The events from the initial state, one line each.
    pub trace: Vec<String>,
}

/// What a check found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// Distinct states explored.
    pub states: u64,
    /// Events run (transitions, repeated states included).
    pub transitions: u64,
    /// Deepest state explored.
    pub max_depth: usize,
    /// Runs ended without faults and checked against the end invariants.
    pub runs_ended: u64,
    /// Invariant evaluations (each state invariant counts once per state).
    pub invariants_checked: u64,
    /// Whether every state within the depth bound was explored (false
    /// when `states_max` cut the search or a violation stopped it).
    pub exhausted: bool,
    /// Wall time.
    pub elapsed: Duration,
    /// The first violation found, if any.
    pub violation: Option<Violation>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario {}", self.scenario)?;
        writeln!(f, "  states explored     {}", self.states)?;
        writeln!(f, "  transitions         {}", self.transitions)?;
        writeln!(f, "  max depth           {}", self.max_depth)?;
        writeln!(f, "  runs ended          {}", self.runs_ended)?;
        writeln!(
            f,
            "  invariants checked  {} ({} per state, {} per ended run)",
            self.invariants_checked,
            STATE_INVARIANTS.len(),
            END_INVARIANTS.len()
        )?;
        writeln!(f, "  exhausted           {}", self.exhausted)?;
        writeln!(f, "  time                {:.1?}", self.elapsed)?;
        match &self.violation {
            None => writeln!(f, "  violations          0"),
            Some(v) => {
                writeln!(f, "  violations          1: {}", v.invariant)?;
                writeln!(f, "  what: {}", v.detail)?;
                writeln!(f, "  trace:")?;
                for (i, line) in v.trace.iter().enumerate() {
                    writeln!(f, "    {:>3}. {line}", i + 1)?;
                }
                Ok(())
            }
        }
    }
}

fn spec(age: u64, keys: &[&str], attempts_max: u32, may_abandon: bool) -> TxnSpec {
    TxnSpec {
        age,
        keys: keys.iter().map(|k| k.to_string()).collect(),
        ranges: Vec::new(),
        attempts_max,
        may_abandon,
        start: Start::Locking,
        blind: false,
    }
}

/// Two transactions contend on one key: the older one may retry (a late
/// `LockRead` of its first attempt is where issue 14 case 1 lives), the
/// younger one waits or dies (wait-die). One fault: a loss, a duplicate,
/// a clock jump or a crash.
pub fn contention(depth_max: usize) -> Scenario {
    Scenario {
        name: "contention: 2 txns, 1 key, 3 replicas".into(),
        txns: vec![spec(5, &["a"], 2, true), spec(9, &["a"], 1, true)],
        bounds: Bounds {
            drops: 1,
            duplicates: 1,
            ticks: 1,
            crashes: 1,
            faults: 1,
        },
        depth_max,
        states_max: u64::MAX,
        step_ms: 100,
        unsafe_case_1: false,
        unsafe_skip_range_locks: false,
        unsafe_abort_blind_without_refusal: false,
        unchecked: Vec::new(),
        shortest_trace: false,
    }
}

/// Two transactions over two keys in different partitions, in opposite
/// orders (so their homes differ). One fault: a loss, a duplicate or a
/// crash.
pub fn two_partitions(depth_max: usize) -> Scenario {
    Scenario {
        name: "two partitions: 2 txns, keys a and b, 3 replicas".into(),
        txns: vec![spec(5, &["a", "b"], 1, true), spec(9, &["b", "a"], 1, true)],
        bounds: Bounds {
            drops: 1,
            duplicates: 1,
            ticks: 0,
            crashes: 1,
            faults: 1,
        },
        ..contention(depth_max)
    }
}

/// Termination racing the coordinator: T holds `a` at every replica and
/// its `Decide`s are in flight; a replica's lease may expire (clock jump)
/// and its recovery competes with ballot 0 for T's register, while H
/// waits or dies on `a` and U (on `b`) runs beside them. Two faults: the
/// clock jump and one loss, duplicate or crash.
pub fn termination(depth_max: usize) -> Scenario {
    let mut deciding = spec(5, &["a"], 1, false);
    deciding.start = Start::Deciding;
    Scenario {
        name: "termination: lease expiry racing Decide, 3 txns".into(),
        txns: vec![
            deciding,
            spec(9, &["a"], 1, true),
            spec(12, &["b"], 1, false),
        ],
        bounds: Bounds {
            drops: 1,
            duplicates: 1,
            ticks: 1,
            crashes: 1,
            faults: 2,
        },
        ..contention(depth_max)
    }
}

/// A scan racing an insert: S share-locks ids `[a, c)` and writes `s`
/// (as a statement that counts a range and records the count does); W
/// writes `b`, inside the range. Both must never believe they hold their
/// locks at a quorum at once (no phantom). One fault: a loss, a
/// duplicate, a clock jump or a crash.
pub fn range_scan(depth_max: usize) -> Scenario {
    let mut scan = spec(5, &["s"], 2, true);
    scan.ranges = vec![("a".into(), "c".into())];
    Scenario {
        name: "range scan: a scan of [a, c) and an insert of b, 3 replicas".into(),
        txns: vec![scan, spec(7, &["b"], 2, true)],
        ..contention(depth_max)
    }
}

/// The range scenario with range locks that conflict with nothing and no
/// faults, searched for a shortest trace: the checker must find the
/// phantom.
pub fn range_scan_unlocked(depth_max: usize) -> Scenario {
    Scenario {
        name: "range scan with unsafe_skip_range_locks".into(),
        bounds: Bounds::default(),
        unsafe_skip_range_locks: true,
        shortest_trace: true,
        ..range_scan(depth_max)
    }
}

/// Issue 14 case 1 as a scenario: the contention scenario with the fix
/// reverted and no faults (the late delivery itself is enough), searched
/// for a shortest trace.
pub fn case_1(depth_max: usize) -> Scenario {
    Scenario {
        name: "case 1: contention with unsafe_grant_woken_without_recheck".into(),
        bounds: Bounds::default(),
        unsafe_case_1: true,
        shortest_trace: true,
        ..contention(depth_max)
    }
}

/// Protocol v2's blind writes: B1 and B2 write `a` blind (fast path when
/// every replica prepared, the classic ballot-0 `Decide` with a quorum,
/// abort only when no quorum can prepare, termination by prepares and
/// durable refusals), racing a v1 read-modify-write-style writer V of
/// `a`. One fault: a loss, a duplicate, a clock jump (termination) or a
/// crash.
pub fn blind(depth_max: usize) -> Scenario {
    let mut b1 = spec(5, &["a"], 2, true);
    b1.blind = true;
    let mut b2 = spec(7, &["a"], 2, true);
    b2.blind = true;
    Scenario {
        name: "blind: 2 blind writes of a, 3 replicas".into(),
        txns: vec![b1, b2],
        ..contention(depth_max)
    }
}

/// The blind scenario with termination taking "not prepared" as a
/// refusal without making it durable, searched for a shortest trace: the
/// checker must find the attempt committed on the fast path and aborted
/// by termination.
pub fn blind_unrefused(depth_max: usize) -> Scenario {
    let mut b1 = spec(5, &["a"], 1, false);
    b1.blind = true;
    Scenario {
        name: "blind with unsafe_abort_blind_without_refusal".into(),
        txns: vec![b1],
        bounds: Bounds {
            drops: 0,
            duplicates: 0,
            ticks: 1,
            crashes: 0,
            faults: 1,
        },
        unsafe_abort_blind_without_refusal: true,
        shortest_trace: true,
        ..contention(depth_max)
    }
}
