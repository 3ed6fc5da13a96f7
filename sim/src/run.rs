//! One simulated run: a seed, a cluster, clients, faults, healing, final
//! reads and the checkers' verdict.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_config::{Consistency, NamespacePolicy, PartitionLevel};
use zerodb_node::api::{ClientRequest, ClientResponse};
use zerodb_node::core::metadata::Caller;
use zerodb_storage::MemoryEngine;
use zerodb_txn::{ClientError, ClientId, Policies, Response, TxnOptions};

use crate::check::convergence::check_convergence;
use crate::check::rest::check_decisions;
use crate::cluster::{Cluster, SimDisk, SimEvent, CLIENT_LATENCY_US};
use crate::disk::ZeroDisk;
use crate::faults::{FaultCounts, FaultRates};
use crate::history::{Micros, ProcessId};
use crate::workload::append::AppendWorkload;
use crate::workload::bank::BankWorkload;
use crate::workload::catalog::CatalogSetup;
use crate::workload::documents::{DocumentsWorkload, DOCUMENTS_NAMESPACE};
use crate::workload::graph::{GraphWorkload, GRAPH_NAMESPACE};
use crate::workload::mixed_ns::MixedNsWorkload;
use crate::workload::ranges::{ranges_policy, RangesWorkload, GROUPS, RANGES_NAMESPACE};
use crate::workload::register::RegisterWorkload;
use crate::workload::scans::WRONG_ANSWER;
use crate::workload::ttl::TtlWorkload;
use crate::workload::{
    Answer, Call, OutcomeCounts, Workload, WorkloadKind, ADMIN, EVENTUAL_NAMESPACE,
    STRONG_NAMESPACE,
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
/// Low-report period of the simulated nodes (released watermark), and the
/// margin below their clocks: short, so that decision records are deleted
/// and lagging coordinators refused within a run.
pub const WATERMARK_MS: u64 = 250;
/// See [`WATERMARK_MS`].
pub const WATERMARK_MARGIN_MS: u64 = 1_000;
/// How long after the final reads the cluster may take to come to rest:
/// a lease that began just before healing, its recovery with backoff, and
/// hint replays, many times over.
pub const REST_US_MAX: Micros = 60_000_000;
/// How often the resting cluster is audited.
pub const REST_POLL_US: Micros = 100_000;
/// Largest client think time between operations.
pub const THINK_US_MAX: Micros = 5_000;
/// Simulated time the catalog setup may take (no faults strike until it
/// is done) before the run is declared stuck.
pub const SETUP_US_MAX: Micros = 60_000_000;
/// The process that sets the catalog up before the clients start.
const SETUP_PROCESS: ProcessId = ProcessId(u32::MAX);

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
    /// Batches the nodes handled (one engine sync each) and the inputs in
    /// them (messages to self handled inside a batch not counted).
    pub batches: (u64, u64),
    /// Requests nodes handed to peers (forwards and local scans).
    pub asks: u64,
    /// The newest catalog version a client was told its change committed
    /// (0 for workloads that change no catalog).
    pub catalog_version: u64,
    /// Each node's clock as `(skew ms, drift ppm)` at the end of the run.
    pub clocks: Vec<(i64, i64)>,
    /// The history, one operation per line (only when asked for with
    /// [`RunConfig::keep_history`]).
    pub history: Option<String>,
    /// Finished markers and decision registers deleted below the released
    /// watermark by the nodes running at the end, and still stored there.
    pub decision_records: (u64, usize),
}

#[derive(PartialEq, Eq, Debug, Clone, Copy)]
enum Phase {
    /// The catalog gets the run's namespaces and users, without faults.
    Setup,
    /// The workload prepares its data (its tables and indexes), without
    /// faults: every process may issue, the workload says when it is done.
    WorkloadSetup,
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
    /// Everything is done; the run waits for the cluster to come to rest
    /// (expired locks recovered, hints handed off), checking every
    /// [`REST_POLL_US`], until `deadline_us`.
    Resting {
        deadline_us: Micros,
        next_poll_us: Micros,
    },
}

pub use crate::run_config::{EngineKind, RunConfig, UnsafeSwitches};

/// Runs one seed on the engine the config names.
pub fn run(config: &RunConfig) -> RunSummary {
    match config.engine {
        EngineKind::Memory => run_on::<MemoryEngine>(config),
        EngineKind::Zero => run_on::<ZeroDisk>(config),
    }
}

/// The policy of the run's strong namespace (and of new namespaces).
fn strong_policy(config: &RunConfig) -> NamespacePolicy {
    NamespacePolicy {
        consistency: Consistency::Strong,
        replication_factor: config.rf.min(config.nodes),
        partition_level: PartitionLevel::Record,
        regions: Vec::new(),
    }
}

/// The namespaces the setup creates in the catalog: the range workload's
/// only for that workload, so that the others' histories do not change.
fn policies(config: &RunConfig) -> Policies {
    let strong = strong_policy(config);
    let eventual = NamespacePolicy {
        consistency: Consistency::Eventual,
        ..strong.clone()
    };
    let mut namespaces = BTreeMap::from([
        (STRONG_NAMESPACE.to_string(), strong.clone()),
        (EVENTUAL_NAMESPACE.to_string(), eventual),
    ]);
    if config.workload == WorkloadKind::Ranges {
        namespaces.insert(RANGES_NAMESPACE.to_string(), ranges_policy(&strong));
    }
    if config.workload == WorkloadKind::Documents {
        namespaces.insert(DOCUMENTS_NAMESPACE.to_string(), ranges_policy(&strong));
    }
    if config.workload == WorkloadKind::Graph {
        namespaces.insert(GRAPH_NAMESPACE.to_string(), ranges_policy(&strong));
    }
    Policies {
        version: zerodb_node::core::metadata::PLACEMENT_VERSION,
        default: strong,
        namespaces,
    }
}

/// What the run needs in the catalog: its namespaces and the workload's
/// users.
fn setup(policies: &Policies, users: Vec<String>) -> CatalogSetup {
    let namespaces = policies.namespaces.clone();
    CatalogSetup::new(Box::new(move |catalog| {
        let mut changed = false;
        for (name, policy) in &namespaces {
            if catalog.policy(name).is_none() {
                changed |= catalog.create_namespace(name, policy.clone()).is_ok();
            }
        }
        for user in &users {
            if !catalog.users.contains_key(user) {
                changed |= catalog.create_user(user, false).is_ok();
            }
        }
        changed
    }))
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
        unsafe_watermark_ignores_locks: switches.watermark_ignores_locks,
        unsafe_skip_hint_replay: switches.skip_hint_replay,
        unsafe_skip_range_locks: switches.skip_range_locks,
        unsafe_count_own_answers_in_batch: switches.count_own_answers_in_batch,
        unsafe_blind_ignores_stored_version: switches.blind_ignores_stored_version,
        unsafe_abort_blind_without_refusal: switches.abort_blind_without_refusal,
        unsafe_fast_path_on_quorum: switches.fast_path_on_quorum,
        unsafe_read_skips_blind_prepare: switches.read_skips_blind_prepare,
        unsafe_drop_expired_prepares: switches.drop_expired_prepares,
        unsafe_expire_on_coordinator_clock: switches.expire_on_coordinator_clock,
        watermark_ms: WATERMARK_MS,
        watermark_margin_ms: WATERMARK_MARGIN_MS,
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
            // The churned namespaces are pinned to region r1.
            3.min(config.nodes.div_ceil(2)),
        )),
        WorkloadKind::Ranges => Box::new(RangesWorkload::new(GROUPS)),
        WorkloadKind::Documents => Box::new(DocumentsWorkload::new()),
        WorkloadKind::Graph => {
            Box::new(GraphWorkload::new(config.unsafe_switches.skip_edge_cascade))
        }
        WorkloadKind::Ttl => Box::new(TtlWorkload::new(STRONG_NAMESPACE, config.rf / 2 + 1)),
    }
}

/// The simulated clients' side of the wire.
struct Clients {
    rng: StdRng,
    /// Request id -> the process waiting for it.
    /// Request id -> the process waiting for it, and whether it scans.
    outstanding: BTreeMap<ClientId, (ProcessId, bool)>,
    next_request: u64,
    timeout_us: Micros,
}

impl Clients {
    /// Sends `call` from `process` acting as `caller` to a random
    /// running coordinator, with a client-side timeout.
    fn issue<D: SimDisk>(
        &mut self,
        cluster: &mut Cluster<D>,
        process: ProcessId,
        caller: Caller,
        call: Call,
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
        let (request, scans) = match call {
            Call::Data(request) => (ClientRequest::Data(request), false),
            Call::Scan(query) => (ClientRequest::Scan(query), true),
        };
        self.outstanding.insert(client, (process, scans));
        cluster.queue.push(
            now + CLIENT_LATENCY_US,
            SimEvent::Request {
                node,
                client,
                caller,
                request,
            },
        );
        cluster
            .queue
            .push(now + self.timeout_us, SimEvent::ClientTimeout { client });
    }
}

/// What the client of a data request (`scans` false) or a scan makes of a
/// node's answer; an answer of the wrong kind to a data request is a
/// driver error (the node broke the protocol), one to a scan is left to
/// the scan checker.
fn answer_of(response: ClientResponse, scans: bool, errors: &mut Vec<String>) -> Answer {
    match (response, scans) {
        (ClientResponse::Data(response), _) => Answer::Response(response),
        (ClientResponse::Scan(entries), true) => Answer::Scanned(Ok(entries)),
        (ClientResponse::Error(error), true) => Answer::Scanned(Err(error.to_string())),
        (other, true) => Answer::Scanned(Err(format!("{WRONG_ANSWER}{other:?}"))),
        (other, false) => {
            errors.push(format!("a data request was answered with {other:?}"));
            Answer::Response(Response::Error(ClientError::BadRequest {
                reason: "not a data answer".into(),
            }))
        }
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
    check_convergence(&stored, &written, &workload.acknowledged_registers())
        .into_iter()
        .map(|problem| format!("eventual namespace: convergence: {problem}"))
        .collect()
}

/// After healing every node must hold the newest catalog version a client
/// was told committed (gossip tells each node of it; it reads it then).
fn check_catalog_versions<D: SimDisk>(
    cluster: &Cluster<D>,
    workload: &dyn Workload,
) -> Vec<String> {
    let acknowledged = workload.acknowledged_catalog_version();
    cluster
        .catalog_versions()
        .into_iter()
        .filter(|(_, held)| *held < acknowledged)
        .map(|(node, held)| {
            format!("catalog: node {node} holds catalog version {held} after healing, older than version {acknowledged} acknowledged to a client")
        })
        .collect()
}

fn resting(now: Micros) -> Phase {
    Phase::Resting {
        deadline_us: now + REST_US_MAX,
        next_poll_us: now,
    }
}

/// Runs one seed over disks of type `D`.
pub fn run_on<D: SimDisk>(config: &RunConfig) -> RunSummary {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut rates = FaultRates::draw(config.faults, &mut rng);
    if D::FILE_FAULTS && config.disk_faults {
        rates.draw_disk(config.faults, config.seed);
    }
    for &kind in &config.without {
        rates.without(kind);
    }
    let txn_options = options(config);
    // Forwarded requests may take the forwarder's timeout, a little longer
    // than the transaction layer's.
    let client_timeout_us =
        (txn_options.request_timeout_ms + zerodb_node::core::forward::FORWARD_MARGIN_MS + 1_000)
            * 1_000;
    let policies = policies(config);
    let mut cluster: Cluster<D> = Cluster::new(
        config.seed,
        config.nodes,
        rates,
        strong_policy(config),
        policies.clone(),
        txn_options,
        config.membership,
    );
    cluster.unsafe_release_votes_before_sync = config.unsafe_switches.release_votes_before_sync;
    let mut workload = workload(config, &mut rng);
    let mut setup = setup(&policies, workload.users());
    let mut clients = Clients {
        rng: StdRng::seed_from_u64(config.seed ^ 0xc11e_c11e_u64),
        outstanding: BTreeMap::new(),
        next_request: 1,
        timeout_us: client_timeout_us,
    };
    let mut phase = Phase::Setup;
    let mut anomalies = Vec::new();
    let first = setup.start();
    clients.issue(
        &mut cluster,
        SETUP_PROCESS,
        Caller::User(ADMIN.into()),
        Call::Data(first),
    );
    while let Some((at_us, event)) = cluster.queue.pop() {
        cluster.now_us = at_us;
        cluster.events += 1;
        let now = at_us;
        let answer = match event {
            SimEvent::Deliver { .. }
            | SimEvent::Datagram { .. }
            | SimEvent::Timer { .. }
            | SimEvent::Request { .. }
            | SimEvent::Answer { .. }
            | SimEvent::Batch { .. }
            | SimEvent::Synced { .. } => {
                cluster.handle_node_event(event);
                None
            }
            // A reply after the client gave up goes nowhere.
            SimEvent::Reply { client, response } => clients
                .outstanding
                .get(&client)
                .map(|&(_, scans)| (client, answer_of(response, scans, &mut cluster.errors))),
            SimEvent::ClientTimeout { client } => Some((client, Answer::Timeout)),
            SimEvent::ClientWake { process } => {
                let may_issue = match phase {
                    Phase::WorkloadSetup => true,
                    Phase::Workload => workload.recorded() < config.ops,
                    Phase::Final { .. } => true,
                    _ => false,
                };
                if may_issue {
                    let process = ProcessId(process);
                    match workload.call(process, now, &mut rng) {
                        Some(call) => {
                            let caller = workload.caller(process);
                            clients.issue(&mut cluster, process, caller, call)
                        }
                        None => cluster.queue.push(
                            now + THINK_US_MAX * 10,
                            SimEvent::ClientWake { process: process.0 },
                        ),
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
            match clients.outstanding.remove(&client).map(|c| c.0) {
                Some(SETUP_PROCESS) => match setup.complete(&answer) {
                    Some(next) => {
                        let admin = Caller::User(ADMIN.into());
                        clients.issue(&mut cluster, SETUP_PROCESS, admin, Call::Data(next))
                    }
                    None => {
                        for process in 0..config.clients {
                            let at = now + clients.rng.random_range(0..THINK_US_MAX);
                            cluster.queue.push(at, SimEvent::ClientWake { process });
                        }
                        if workload.set_up() {
                            cluster.schedule_next_fault();
                            phase = Phase::Workload;
                        } else {
                            phase = Phase::WorkloadSetup;
                        }
                    }
                },
                Some(process) => {
                    let highs: Vec<u64> = cluster.nodes.iter().map(|n| n.clock_high()).collect();
                    workload.observe_clocks(&highs);
                    match workload.complete(process, now, answer) {
                        Some(follow_up) => {
                            let caller = workload.caller(process);
                            clients.issue(&mut cluster, process, caller, Call::Data(follow_up))
                        }
                        None => {
                            let think = clients.rng.random_range(0..THINK_US_MAX);
                            cluster
                                .queue
                                .push(now + think, SimEvent::ClientWake { process: process.0 });
                        }
                    }
                }
                None => {}
            }
        }
        match phase {
            Phase::Setup if now >= SETUP_US_MAX => {
                anomalies.push(format!(
                    "liveness: the catalog setup did not finish after {} requests",
                    setup.tries
                ));
                break;
            }
            Phase::WorkloadSetup if workload.set_up() => {
                cluster.schedule_next_fault();
                phase = Phase::Workload;
            }
            Phase::WorkloadSetup if now >= SETUP_US_MAX * 2 => {
                anomalies
                    .push("liveness: the workload's setup did not finish without faults".into());
                break;
            }
            Phase::Workload if workload.recorded() >= config.ops => phase = Phase::Draining,
            Phase::Draining if clients.outstanding.is_empty() => {
                cluster.heal_all();
                phase = Phase::Settling {
                    until_us: now + SETTLE_US,
                };
            }
            Phase::Settling { until_us }
                if now >= until_us
                    && cluster.all_normal()
                    && cluster.gossip_converged()
                    && cluster.catalogs_converged() =>
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
                if cluster.trace {
                    cluster.print_watermarks();
                }
                anomalies.push(format!(
                    "liveness: nodes not all normal after healing: {:?}; gossip down sets: {:?}; catalog versions: {:?}",
                    cluster.status_counts(),
                    cluster.gossip_down_sets(),
                    cluster.catalog_versions()
                ));
                break;
            }
            Phase::Final { .. } if workload.final_done() => {
                phase = if workload.converging_keys().is_empty() {
                    resting(now)
                } else {
                    Phase::Converging {
                        until_us: now + CONVERGE_US,
                    }
                };
            }
            Phase::Converging { until_us } if now >= until_us => phase = resting(now),
            Phase::Resting {
                deadline_us,
                next_poll_us,
            } if now >= next_poll_us => {
                let unrest = cluster.unrest();
                if unrest.is_empty() {
                    break;
                }
                if now >= deadline_us {
                    anomalies.push(format!(
                        "liveness: the cluster did not come to rest {} s after the final reads: {}",
                        REST_US_MAX / 1_000_000,
                        unrest.join("; ")
                    ));
                    break;
                }
                phase = Phase::Resting {
                    deadline_us,
                    next_poll_us: now + REST_POLL_US,
                };
            }
            Phase::Final { deadline_us } if now >= deadline_us => {
                anomalies.push("liveness: final reads did not finish after healing".to_string());
                break;
            }
            _ => {}
        }
    }
    cluster.counts.messages_lost = cluster.net.lost;
    cluster.counts.messages_duplicated = cluster.net.duplicated;
    anomalies.extend(check_decisions(&cluster.audits()));
    anomalies.extend(check_replicas(&mut cluster, workload.as_ref()));
    anomalies.extend(check_catalog_versions(&cluster, workload.as_ref()));
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
        batches: cluster.batches,
        asks: cluster.asks(),
        catalog_version: workload.acknowledged_catalog_version(),
        clocks: cluster
            .nodes
            .iter()
            .map(|slot| (slot.clock.skew_ms, slot.clock.drift_ppm))
            .collect(),
        history: config.keep_history.then_some(history),
        decision_records: cluster.decision_records(),
    }
}
