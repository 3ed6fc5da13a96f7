//! Faults on a schedule drawn from a seeded RNG: kill -9 and restart,
//! SIGSTOP/SIGCONT, two-way and one-way partitions, clock offsets (a kill
//! -9 and a restart under libfaketime), and lost disks (a kill -9, the
//! data folder deleted, a restart with `--recover`: the node copies its
//! state from its peers and votes again only after its vote fence).
//!
//! One fault at a time: inject, hold, heal, a quiet gap, the next. With at
//! most one node out, a quorum of three replicas always exists, so the
//! workloads keep making progress and the histories have something to
//! judge; overlapping faults would mostly produce unavailability.

use std::fmt;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::RngExt;

use zerodb_client::{Client, ClientConfig, ClientRequest, ClientResponse};

use crate::cluster::Cluster;
use crate::net::Topology;
use crate::HarnessError;

/// Longest a fault is held, in milliseconds.
const HOLD_MS_MAX: u64 = 6000;

/// Shortest a fault is held, in milliseconds.
const HOLD_MS_MIN: u64 = 1000;

/// Longest quiet gap between faults, in milliseconds.
const GAP_MS_MAX: u64 = 3000;

/// How often a node back from a lost disk is asked whether it votes again.
const RECOVERED_POLL_MS: u64 = 500;

/// Largest clock offset of a node, in seconds, either way.
pub const CLOCK_OFFSET_S_MAX: i64 = 30;

/// The kinds of fault, in the order of the summary line.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultKind {
    /// kill -9, then a restart on the same data.
    Kill,
    /// SIGSTOP, then SIGCONT.
    Pause,
    /// Blackhole routes both ways between two nodes.
    Partition,
    /// A blackhole route one way between two nodes.
    OneWay,
    /// kill -9, then a restart with the wall clock offset.
    Clock,
    /// kill -9, the data folder deleted, then a restart with `--recover`.
    LostDisk,
}

/// How many faults of each kind were injected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// kill -9 and restart.
    pub kills: u64,
    /// SIGSTOP / SIGCONT.
    pub pauses: u64,
    /// Two-way partitions.
    pub partitions: u64,
    /// One-way partitions.
    pub one_way: u64,
    /// Restarts with a clock offset.
    pub clock_offsets: u64,
    /// Restarts on an empty data folder.
    pub lost_disks: u64,
}

impl FaultCounts {
    /// All faults.
    pub fn total(&self) -> u64 {
        self.kills
            + self.pauses
            + self.partitions
            + self.one_way
            + self.clock_offsets
            + self.lost_disks
    }

    fn count(&mut self, kind: FaultKind) {
        match kind {
            FaultKind::Kill => self.kills += 1,
            FaultKind::Pause => self.pauses += 1,
            FaultKind::Partition => self.partitions += 1,
            FaultKind::OneWay => self.one_way += 1,
            FaultKind::Clock => self.clock_offsets += 1,
            FaultKind::LostDisk => self.lost_disks += 1,
        }
    }
}

impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} kills, {} pauses, {} partitions, {} one-way, {} clock offsets",
            self.total(),
            self.kills,
            self.pauses,
            self.partitions,
            self.one_way,
            self.clock_offsets
        )?;
        if self.lost_disks > 0 {
            write!(f, ", {} lost disks", self.lost_disks)?;
        }
        write!(f, ")")
    }
}

/// The fault injector of one run.
pub struct Nemesis {
    rng: StdRng,
    kinds: Vec<FaultKind>,
    /// Faults injected so far.
    pub counts: FaultCounts,
    /// Nodes that exited without being killed (each is an anomaly).
    pub crashes: Vec<String>,
    started: Instant,
    /// A client configuration per node that reaches only that node (to ask
    /// a node back from a lost disk whether it votes again).
    node_clients: Vec<ClientConfig>,
}

impl Nemesis {
    /// A nemesis drawing from `rng` among `kinds` (none: no faults);
    /// `node_clients[i]` reaches node `i + 1` alone.
    pub fn new(rng: StdRng, kinds: Vec<FaultKind>, node_clients: Vec<ClientConfig>) -> Nemesis {
        Nemesis {
            rng,
            kinds,
            counts: FaultCounts::default(),
            crashes: Vec::new(),
            started: Instant::now(),
            node_clients,
        }
    }

    /// Injects faults until `deadline`, leaving everything healed.
    pub async fn run(
        &mut self,
        cluster: &mut Cluster,
        topology: &Topology,
        deadline: Instant,
    ) -> Result<(), HarnessError> {
        let nodes = topology.nodes();
        while Instant::now() < deadline {
            self.note_crashes(cluster);
            let gap = self.rng.random_range(0..=GAP_MS_MAX);
            sleep_until_at_most(deadline, gap).await;
            if Instant::now() >= deadline || nodes < 2 || self.kinds.is_empty() {
                continue;
            }
            let kind = self.kinds[self.rng.random_range(0..self.kinds.len())];
            let a = self.rng.random_range(1..=nodes);
            let b = (a + self.rng.random_range(1..nodes) - 1) % nodes + 1;
            let hold = self.rng.random_range(HOLD_MS_MIN..=HOLD_MS_MAX);
            self.counts.count(kind);
            self.log(format_args!("{kind:?} n{a} (n{b}) for {hold} ms"));
            match kind {
                FaultKind::Kill | FaultKind::Clock => {
                    cluster.kill(a);
                    sleep_until_at_most(deadline, hold).await;
                    let offset = if kind == FaultKind::Clock {
                        let magnitude = self.rng.random_range(1..=CLOCK_OFFSET_S_MAX);
                        if self.rng.random_bool(0.5) {
                            -magnitude
                        } else {
                            magnitude
                        }
                    } else {
                        cluster.clock_offset(a)
                    };
                    self.log(format_args!("restart n{a} with clock offset {offset:+} s"));
                    cluster.start(a, offset)?;
                }
                FaultKind::LostDisk => {
                    cluster.kill(a);
                    cluster.lose_disk(a)?;
                    sleep_until_at_most(deadline, hold).await;
                    let offset = cluster.clock_offset(a);
                    self.log(format_args!("restart n{a} on an empty disk with --recover"));
                    cluster.start_recovering(a, offset)?;
                    // The next fault waits until it votes again: a second
                    // lost disk while it copies would be two of three
                    // replicas without their state, beyond what a ring of
                    // three survives (DESIGN.md 6.4: at most Q-1).
                    self.await_recovered(a, deadline).await;
                }
                FaultKind::Pause => {
                    cluster.pause(a, true);
                    sleep_until_at_most(deadline, hold).await;
                    cluster.pause(a, false);
                }
                FaultKind::Partition | FaultKind::OneWay => {
                    topology.block(a, b)?;
                    if kind == FaultKind::Partition {
                        topology.block(b, a)?;
                    }
                    sleep_until_at_most(deadline, hold).await;
                    topology.heal()?;
                }
            }
        }
        self.note_crashes(cluster);
        topology.heal()?;
        cluster.heal()
    }

    /// Waits until node `id` reports `normal` (it copied its state and
    /// its vote fence lifted), or until `deadline`.
    async fn await_recovered(&self, id: u32, deadline: Instant) {
        let Some(config) = self.node_clients.get(id as usize - 1) else {
            return;
        };
        let waited = Instant::now();
        let client = Client::new(config.clone()).ok();
        while Instant::now() < deadline {
            let answer = match &client {
                Some(client) => client.request(&ClientRequest::Status).await.ok(),
                None => None,
            };
            if let Some(ClientResponse::Status(status)) = answer {
                if status.node == id && status.replica_status == "normal" {
                    self.log(format_args!(
                        "n{id} votes again after {:.1} s",
                        waited.elapsed().as_secs_f64()
                    ));
                    return;
                }
            }
            sleep_until_at_most(deadline, RECOVERED_POLL_MS).await;
        }
        self.log(format_args!(
            "n{id} still recovering at the end of the faults"
        ));
    }

    fn note_crashes(&mut self, cluster: &mut Cluster) {
        for (id, status) in cluster.exited() {
            let crash =
                format!("node n{id} exited by itself ({status}); see n{id}.log in the run folder");
            self.log(format_args!("{crash}"));
            self.crashes.push(crash);
        }
    }

    fn log(&self, message: fmt::Arguments<'_>) {
        eprintln!(
            "[{:>7.1}s] nemesis: {message}",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Sleeps `ms` milliseconds, or until `deadline` if that comes first.
async fn sleep_until_at_most(deadline: Instant, ms: u64) {
    let until = (Instant::now() + Duration::from_millis(ms)).min(deadline);
    tokio::time::sleep_until(until.into()).await;
}
