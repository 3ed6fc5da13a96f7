//! One simulated run: a seed, a cluster, clients, faults, healing, final
//! reads and the checkers' verdict.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_config::{Consistency, NamespacePolicy, PartitionLevel};
use zerodb_storage::MemoryEngine;
use zerodb_txn::{ClientId, Policies, Request, TxnOptions};

use crate::check::convergence::check_convergence;
use crate::cluster::{Cluster, SimDisk, SimEvent, CLIENT_LATENCY_US};
use crate::disk::ZeroDisk;
use crate::faults::{FaultCounts, FaultKind, FaultLevel, FaultRates};
use crate::history::{Micros, ProcessId};
use crate::membership_gossip::MembershipKind;
use crate::workload::append::AppendWorkload;
use crate::workload::bank::BankWorkload;
use crate::workload::mixed_ns::MixedNsWorkload;
use crate::workload::register::RegisterWorkload;
use crate::workload::{
    Answer, OutcomeCounts, Workload, WorkloadKind, EVENTUAL_NAMESPACE, STRONG_NAMESPACE,
};

/// Simulated time the cluster gets after healing, before the final reads.
pub const SETTLE_US: Micros = 3_000_000;
/// Simulated time a run may take after healing before it is declared stuck.
pub const FINAL_PHASE_US_MAX: Micros = 300_000_000;
/// Anti-entropy period of the simulated nodes: short, so that several
/// rounds run while the cluster settles after healing.
pub const ANTI_ENTROPY_MS: u64 = 250;
/// Simulated time replicas of eventual registers get, after the final
/// reads, before they are compared (eight anti-entropy periods).
pub const CONVERGE_US: Micros = 8 * ANTI_ENTROPY_MS * 1_000;
/// Largest client think time between operations.
pub const THINK_US_MAX: Micros = 5_000;

/// The test-only switches of the transaction layer (each deliberately
/// breaks a safety mechanism so that the checkers can be shown to catch it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnsafeSwitches {
    /// Locks live only in memory.
    pub skip_lock_durability: bool,
    /// Strong reads skip read-time repair (learned commits and write-back).
    pub skip_read_repair: bool,
    /// A replica with lost state votes at once.
    pub skip_lost_state_recovery: bool,
    /// Strong reads ignore write locks.
    pub ignore_read_locks: bool,
    /// Replicas of eventual namespaces never run anti-entropy.
    pub skip_anti_entropy: bool,
}

impl UnsafeSwitches {
    /// Command-line flags that reproduce these switches.
    pub fn flags(&self) -> String {
        let mut flags = String::new();
        for (on, flag) in [
            (self.skip_lock_durability, " --unsafe-skip-lock-durability"),
            (self.skip_read_repair, " --unsafe-skip-read-repair"),
            (
                self.skip_lost_state_recovery,
                " --unsafe-skip-lost-state-recovery",
            ),
            (self.ignore_read_locks, " --unsafe-ignore-read-locks"),
            (self.skip_anti_entropy, " --unsafe-skip-anti-entropy"),
        ] {
            if on {
                flags.push_str(flag);
            }
        }
        flags
    }
}

/// Which storage engine the simulated nodes run on (`--engine`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// The in-memory engine (fast; crashes lose unsynced batches).
    #[default]
    Memory,
    /// ZeroDB's WAL + B+Tree engine over a fault-injecting file system
    /// (crashes keep a random, possibly torn, prefix of unsynced writes).
    Zero,
}

impl EngineKind {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Memory => "memory",
            EngineKind::Zero => "zero",
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;

    fn from_str(text: &str) -> Result<EngineKind, String> {
        match text {
            "memory" => Ok(EngineKind::Memory),
            "zero" => Ok(EngineKind::Zero),
            other => Err(format!("unknown engine {other:?}; use memory or zero")),
        }
    }
}

/// Everything that defines a run; the same config gives the same history.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// The seed.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Client operations to record before healing.
    pub ops: usize,
    /// The workload.
    pub workload: WorkloadKind,
    /// Fault level.
    pub faults: FaultLevel,
    /// Run the register workload on an eventual namespace.
    pub eventual: bool,
    /// Concurrent client processes.
    pub clients: u32,
    /// Test-only switches of the transaction layer.
    pub unsafe_switches: UnsafeSwitches,
    /// Keep the rendered history in the summary (for debugging a seed).
    pub keep_history: bool,
    /// Fault kinds switched off.
    pub without: Vec<FaultKind>,
    /// The nodes' storage engine.
    pub engine: EngineKind,
    /// The nodes' failure detector.
    pub membership: MembershipKind,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            seed: 0,
            nodes: 5,
            ops: 300,
            workload: WorkloadKind::Register,
            faults: FaultLevel::Mixed,
            eventual: false,
            clients: 8,
            unsafe_switches: UnsafeSwitches::default(),
            keep_history: false,
            without: Vec::new(),
            engine: EngineKind::Memory,
            membership: MembershipKind::default(),
        }
    }
}

impl RunConfig {
    /// The command that reproduces this run.
    pub fn command(&self) -> String {
        format!(
            "zerodb-sim --seed {} --nodes {} --ops {} --clients {} --workload {} --engine {} --membership {} --faults {}{}{}{}",
            self.seed,
            self.nodes,
            self.ops,
            self.clients,
            self.workload.name(),
            self.engine.name(),
            self.membership.name(),
            match self.faults {
                FaultLevel::None => "none",
                FaultLevel::Light => "light",
                FaultLevel::Heavy => "heavy",
                FaultLevel::Mixed => "mixed",
            },
            if self.eventual { " --eventual" } else { "" },
            self.unsafe_switches.flags(),
            self.without
                .iter()
                .map(|k| format!(" --without {}", k.name()))
                .collect::<String>()
        )
    }
}

/// What a run did and found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// Operations recorded (final reads included).
    pub ops: usize,
    /// Operations by outcome.
    pub outcomes: OutcomeCounts,
    /// Faults injected.
    pub faults: FaultCounts,
    /// Anomalies found.
    pub anomalies: Vec<String>,
    /// Checks that could not decide.
    pub unknown: Vec<String>,
    /// xxh3 of the recorded history.
    pub history_hash: u64,
    /// Simulated time the run took, in milliseconds.
    pub simulated_ms: u64,
    /// Events processed.
    pub events: u64,
    /// Each node's clock as `(skew ms, drift ppm)` at the end of the run.
    pub clocks: Vec<(i64, i64)>,
    /// The history, one operation per line (only when asked for with
    /// [`RunConfig::keep_history`]).
    pub history: Option<String>,
}

#[derive(PartialEq, Eq, Debug, Clone, Copy)]
enum Phase {
    Workload,
    Draining,
    Settling {
        until_us: Micros,
    },
    Final {
        deadline_us: Micros,
    },
    /// Final reads done; the cluster runs on without clients so that the
    /// last hint replays and the read repairs they caused are followed by
    /// anti-entropy rounds before replicas are compared.
    Converging {
        until_us: Micros,
    },
}

/// Runs one seed on the engine the config names.
pub fn run(config: &RunConfig) -> RunSummary {
    match config.engine {
        EngineKind::Memory => run_on::<MemoryEngine>(config),
        EngineKind::Zero => run_on::<ZeroDisk>(config),
    }
}

fn policies(config: &RunConfig) -> Policies {
    let strong = NamespacePolicy {
        consistency: Consistency::Strong,
        replication_factor: 3.min(config.nodes),
        partition_level: PartitionLevel::Record,
        regions: Vec::new(),
    };
    let eventual = NamespacePolicy {
        consistency: Consistency::Eventual,
        ..strong.clone()
    };
    Policies {
        version: 1,
        default: strong.clone(),
        namespaces: BTreeMap::from([
            (STRONG_NAMESPACE.to_string(), strong),
            (EVENTUAL_NAMESPACE.to_string(), eventual),
        ]),
    }
}

fn options(config: &RunConfig) -> TxnOptions {
    let switches = config.unsafe_switches;
    TxnOptions {
        unsafe_skip_lock_durability: switches.skip_lock_durability,
        unsafe_skip_read_repair: switches.skip_read_repair,
        unsafe_skip_lost_state_recovery: switches.skip_lost_state_recovery,
        unsafe_ignore_read_locks: switches.ignore_read_locks,
        anti_entropy_ms: if switches.skip_anti_entropy {
            0
        } else {
            ANTI_ENTROPY_MS
        },
        ..TxnOptions::default()
    }
}

fn workload(config: &RunConfig, rng: &mut StdRng) -> Box<dyn Workload> {
    match config.workload {
        WorkloadKind::Register if config.eventual => Box::new(RegisterWorkload::new(
            EVENTUAL_NAMESPACE,
            rng.random_range(3..8),
            false,
        )),
        WorkloadKind::Register => Box::new(RegisterWorkload::new(
            STRONG_NAMESPACE,
            rng.random_range(3..8),
            true,
        )),
        WorkloadKind::Append => Box::new(AppendWorkload::new(rng.random_range(4..10))),
        WorkloadKind::Bank => Box::new(BankWorkload::new(rng.random_range(3..7))),
        WorkloadKind::MixedNs => Box::new(MixedNsWorkload::new(
            rng.random_range(3..8),
            rng.random_range(3..8),
        )),
    }
}

/// The simulated clients' side of the wire.
struct Clients {
    rng: StdRng,
    /// Request id -> the process waiting for it.
    outstanding: BTreeMap<ClientId, ProcessId>,
    next_request: u64,
    timeout_us: Micros,
}

impl Clients {
    /// Sends `request` from `process` to a random running coordinator, with
    /// a client-side timeout.
    fn issue<D: SimDisk>(
        &mut self,
        cluster: &mut Cluster<D>,
        process: ProcessId,
        request: Request,
    ) {
        let now = cluster.now_us;
        let up: Vec<usize> = (0..cluster.nodes.len())
            .filter(|&i| cluster.nodes[i].is_up())
            .collect();
        let node = if up.is_empty() {
            self.rng.random_range(0..cluster.nodes.len())
        } else {
            up[self.rng.random_range(0..up.len())]
        };
        let client = ClientId(self.next_request);
        self.next_request += 1;
        self.outstanding.insert(client, process);
        cluster.queue.push(
            now + CLIENT_LATENCY_US,
            SimEvent::Request {
                node,
                client,
                request,
            },
        );
        cluster
            .queue
            .push(now + self.timeout_us, SimEvent::ClientTimeout { client });
    }
}

/// Compares the replicas of the workload's eventual registers (read from
/// their engines once the run is over) for convergence.
fn check_replicas<D: SimDisk>(cluster: &mut Cluster<D>, workload: &dyn Workload) -> Vec<String> {
    let mut stored = BTreeMap::new();
    let mut written = BTreeMap::new();
    for (register, key, values) in workload.converging_keys() {
        stored.insert(register, cluster.replica_records(&key));
        written.insert(register, values);
    }
    check_convergence(&stored, &written)
        .into_iter()
        .map(|problem| format!("eventual namespace: convergence: {problem}"))
        .collect()
}

/// Runs one seed over disks of type `D`.
pub fn run_on<D: SimDisk>(config: &RunConfig) -> RunSummary {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut rates = FaultRates::draw(config.faults, &mut rng);
    for &kind in &config.without {
        rates.without(kind);
    }
    let txn_options = options(config);
    let client_timeout_us = (txn_options.request_timeout_ms + 1_000) * 1_000;
    let mut cluster: Cluster<D> = Cluster::with_membership(
        config.seed,
        config.nodes,
        rates,
        policies(config),
        txn_options,
        config.membership,
    );
    let mut workload = workload(config, &mut rng);
    let mut clients = Clients {
        rng: StdRng::seed_from_u64(config.seed ^ 0xc11e_c11e_u64),
        outstanding: BTreeMap::new(),
        next_request: 1,
        timeout_us: client_timeout_us,
    };
    let mut phase = Phase::Workload;
    let mut anomalies = Vec::new();
    for process in 0..config.clients {
        let at = clients.rng.random_range(0..THINK_US_MAX);
        cluster.queue.push(at, SimEvent::ClientWake { process });
    }
    cluster.schedule_next_fault();
    while let Some((at_us, event)) = cluster.queue.pop() {
        cluster.now_us = at_us;
        cluster.events += 1;
        let now = at_us;
        let answer = match event {
            SimEvent::Deliver { .. }
            | SimEvent::Timer { .. }
            | SimEvent::Request { .. }
            | SimEvent::Gossip(..) => {
                cluster.handle_node_event(event);
                None
            }
            SimEvent::Reply { client, response } => Some((client, Answer::Response(response))),
            SimEvent::ClientTimeout { client } => Some((client, Answer::Timeout)),
            SimEvent::ClientWake { process } => {
                let may_issue = match phase {
                    Phase::Workload => workload.recorded() < config.ops,
                    Phase::Final { .. } => true,
                    _ => false,
                };
                if may_issue {
                    match workload.invoke(ProcessId(process), now, &mut rng) {
                        Some(request) => clients.issue(&mut cluster, ProcessId(process), request),
                        None => cluster
                            .queue
                            .push(now + THINK_US_MAX * 10, SimEvent::ClientWake { process }),
                    }
                }
                None
            }
            SimEvent::Fault => {
                if phase == Phase::Workload {
                    cluster.inject_fault();
                }
                None
            }
            SimEvent::Restart { node } => {
                cluster.restart(node);
                None
            }
            SimEvent::Heal => {
                cluster.net.heal();
                None
            }
        };
        if let Some((client, answer)) = answer {
            if let Some(process) = clients.outstanding.remove(&client) {
                match workload.complete(process, now, answer) {
                    Some(follow_up) => clients.issue(&mut cluster, process, follow_up),
                    None => {
                        let think = clients.rng.random_range(0..THINK_US_MAX);
                        cluster
                            .queue
                            .push(now + think, SimEvent::ClientWake { process: process.0 });
                    }
                }
            }
        }
        match phase {
            Phase::Workload if workload.recorded() >= config.ops => phase = Phase::Draining,
            Phase::Draining if clients.outstanding.is_empty() => {
                cluster.heal_all();
                phase = Phase::Settling {
                    until_us: now + SETTLE_US,
                };
            }
            Phase::Settling { until_us }
                if now >= until_us && cluster.all_normal() && cluster.gossip_converged() =>
            {
                workload.begin_final();
                for process in 0..config.clients {
                    cluster.queue.push(now, SimEvent::ClientWake { process });
                }
                phase = Phase::Final {
                    deadline_us: now + FINAL_PHASE_US_MAX,
                };
            }
            Phase::Settling { until_us } if now >= until_us + FINAL_PHASE_US_MAX => {
                anomalies.push(format!(
                    "liveness: nodes not all normal after healing: {:?}; gossip down sets: {:?}",
                    cluster.status_counts(),
                    cluster.gossip_down_sets()
                ));
                break;
            }
            Phase::Final { .. } if workload.final_done() => {
                if workload.converging_keys().is_empty() {
                    break;
                }
                phase = Phase::Converging {
                    until_us: now + CONVERGE_US,
                };
            }
            Phase::Converging { until_us } if now >= until_us => break,
            Phase::Final { deadline_us } if now >= deadline_us => {
                anomalies.push("liveness: final reads did not finish after healing".to_string());
                break;
            }
            _ => {}
        }
    }
    cluster.counts.messages_lost = cluster.net.lost;
    cluster.counts.messages_duplicated = cluster.net.duplicated;
    anomalies.extend(check_replicas(&mut cluster, workload.as_ref()));
    let verdict = workload.check();
    let history = workload.history_text();
    anomalies.extend(cluster.errors.iter().map(|e| format!("driver: {e}")));
    anomalies.extend(verdict.anomalies);
    RunSummary {
        ops: workload.recorded(),
        outcomes: workload.outcomes(),
        faults: cluster.counts.clone(),
        anomalies,
        unknown: verdict.unknown,
        history_hash: xxhash_rust::xxh3::xxh3_64(history.as_bytes()),
        simulated_ms: cluster.now_us / 1_000,
        events: cluster.events,
        clocks: cluster
            .nodes
            .iter()
            .map(|slot| (slot.clock.skew_ms, slot.clock.drift_ppm))
            .collect(),
        history: config.keep_history.then_some(history),
    }
}
