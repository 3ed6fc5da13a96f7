//! One harness run: set up the namespaces and the cluster, run the
//! workloads under the nemesis until the deadline, heal, read everything
//! back, check, and tear everything down (also on Ctrl-C or a panic: the
//! [`Topology`] and [`Cluster`] guards clean up when dropped).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::StdRng;
use rand::SeedableRng;
use zerodb_client::{Client, ClientConfig};
use zerodb_sim::history::ProcessId;

use crate::check::{self, OutcomeCounts, REGISTER_STEPS_PER_KEY_MAX};
use crate::cluster::Cluster;
use crate::nemesis::{FaultCounts, FaultKind, Nemesis};
use crate::net::{self, Topology};
use crate::workload::{self, Limits, Recorder, INITIAL_BALANCE};
use crate::HarnessError;

/// How long the cluster may take to serve its first request and commit the
/// bank's funding.
const READY_S_MAX: u64 = 60;

/// Client deadline per request: above the node's
/// ([`crate::cluster::NODE_REQUEST_TIMEOUT_MS`]) so the coordinator's
/// answer, often definite, arrives first.
const CLIENT_TIMEOUT_MS: u64 = 5000;

/// `zerodb-harness` options.
#[derive(Parser, Clone, Debug)]
#[command(
    name = "zerodb-harness",
    about = "Real `zerodb start` processes in network namespaces under kill -9, pauses, \
             partitions and clock offsets; register and bank workloads checked by the \
             simulator's checkers. Linux, as root."
)]
pub struct Args {
    /// Seed of the fault schedule and the workloads (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds of workload under faults (healing and final reads follow).
    #[arg(long, default_value_t = 120)]
    pub duration: u64,
    /// Most operations over all workers (a safety bound: a 30-minute run
    /// does about 250,000 on two cores, so the duration ends it first).
    #[arg(long, default_value_t = 2_000_000)]
    pub ops: u64,
    /// Nodes (3 or 5 are the intended sizes; at most 9).
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    /// Register workers (each one client process of the history).
    #[arg(long, default_value_t = 3)]
    pub register_workers: u32,
    /// Register keys.
    #[arg(long, default_value_t = 8)]
    pub keys: u64,
    /// Bank workers.
    #[arg(long, default_value_t = 2)]
    pub bank_workers: u32,
    /// Bank accounts.
    #[arg(long, default_value_t = 5)]
    pub accounts: u64,
    /// Range workers: inserts that count their group under a range lock,
    /// and range reads (checked for phantoms).
    #[arg(long, default_value_t = 2)]
    pub range_workers: u32,
    /// TTL workers: strong writes with TTLs of 0.3 to 2 s, each read until
    /// the expiry sweep deleted it (checked: never before a quorum of node
    /// clocks passed the expiry).
    #[arg(long, default_value_t = 1)]
    pub ttl_workers: u32,
    /// Storage engine of the nodes: zerodb, sled or memory.
    #[arg(long, default_value = "zerodb")]
    pub engine: String,
    /// The `zerodb` binary (default: next to this one, else on PATH).
    #[arg(long)]
    pub zerodb: Option<PathBuf>,
    /// Folder for certificates, configurations, data and node logs
    /// (default: a new folder under the temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the folder after a clean run (it is always kept on anomalies).
    #[arg(long)]
    pub keep: bool,
    /// Fault kinds to inject, comma-separated (clock needs Debian's
    /// `faketime` package and is left out without it).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "kill,pause,partition,one-way,clock"
    )]
    pub faults: Vec<FaultKind>,
    /// Seconds to let the healed cluster settle before the final reads.
    #[arg(long, default_value_t = 5)]
    pub settle: u64,
    /// Remove namespaces, links and processes a killed run left, and exit.
    #[arg(long)]
    pub cleanup: bool,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The seed (rerun with `--seed`).
    pub seed: u64,
    /// Register operations by outcome.
    pub registers: OutcomeCounts,
    /// Bank operations by outcome.
    pub bank: OutcomeCounts,
    /// Range operations by outcome.
    pub ranges: OutcomeCounts,
    /// TTL operations by outcome.
    pub ttl: OutcomeCounts,
    /// Faults injected by kind.
    pub faults: FaultCounts,
    /// Every anomaly and inconclusive check, one line each.
    pub anomalies: Vec<String>,
    /// The run folder, when kept.
    pub kept: Option<PathBuf>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for anomaly in &self.anomalies {
            writeln!(f, "ANOMALY {anomaly}")?;
        }
        writeln!(
            f,
            "seed {}: register {}, bank {}, ranges {}, ttl {}",
            self.seed, self.registers, self.bank, self.ranges, self.ttl
        )?;
        if let Some(dir) = &self.kept {
            writeln!(f, "run folder (logs, data): {}", dir.display())?;
        }
        let mut all = self.registers;
        all.ok += self.bank.ok;
        all.failed += self.bank.failed;
        all.indeterminate += self.bank.indeterminate;
        for counts in [&self.ranges, &self.ttl] {
            all.ok += counts.ok;
            all.failed += counts.failed;
            all.indeterminate += counts.indeterminate;
        }
        write!(
            f,
            "operations {all}, faults injected {}, anomalies {}",
            self.faults,
            self.anomalies.len()
        )
    }
}

/// Carries out a run; Ctrl-C stops it and cleans up.
pub async fn run(args: Args) -> Result<Summary, HarnessError> {
    net::preflight()?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 % 1_000_000)
    });
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("zdbh-{seed}-{}", std::process::id()))
    });
    let keep = args.keep;
    // The run's future (and with it the cluster and topology guards) is
    // dropped when select! returns, so the folder goes after the processes.
    let result = tokio::select! {
        result = run_inner(args, seed, dir.clone()) => result,
        _ = tokio::signal::ctrl_c() => Err(HarnessError::Interrupted),
    };
    if matches!(result, Err(HarnessError::Interrupted)) && !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run_inner(args: Args, seed: u64, dir: PathBuf) -> Result<Summary, HarnessError> {
    let binary = zerodb_binary(args.zerodb.as_deref())?;
    // Declared before the cluster so that it is dropped after it: the
    // processes die before their namespaces go. Made before the folder, so
    // that a run refused beside another one leaves nothing behind.
    let topology = Topology::create(args.nodes)?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::Setup(format!("{}: {e}", dir.display())))?;
    eprintln!(
        "zerodb-harness: seed {seed}, {} nodes, {} s, folder {}",
        args.nodes,
        args.duration,
        dir.display()
    );
    let mut cluster = Cluster::prepare(&binary, &dir, args.nodes, &args.engine)?;
    let mut kinds = args.faults.clone();
    kinds.dedup();
    if kinds.contains(&FaultKind::Clock) && !cluster.can_offset_clocks() {
        eprintln!(
            "zerodb-harness: libfaketime not found (apt-get install faketime): no clock offsets"
        );
        kinds.retain(|k| *k != FaultKind::Clock);
    }
    cluster.start_all()?;
    let client_config = client_config(&cluster)?;
    let setup =
        Client::new(client_config.clone()).map_err(|e| HarnessError::Setup(e.to_string()))?;
    let ready_by = Instant::now() + Duration::from_secs(READY_S_MAX);
    if !workload::fund_bank(&setup, args.accounts, ready_by).await {
        return Err(HarnessError::Unavailable(format!(
            "the bank's funding did not commit within {READY_S_MAX} s; see the n*.log files in {}",
            dir.display()
        )));
    }
    eprintln!("zerodb-harness: cluster ready; workloads and faults start");

    let recorder = Recorder::new();
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let limits = Limits {
        deadline,
        budget: Arc::new(AtomicU64::new(args.ops)),
    };
    let mut workers = Vec::new();
    let mut process = 0;
    for worker in 0..args.register_workers + args.bank_workers + args.range_workers {
        let client =
            Client::new(client_config.clone()).map_err(|e| HarnessError::Setup(e.to_string()))?;
        let worker_seed = seed.wrapping_mul(1_000_003).wrapping_add(u64::from(worker));
        let (limits, recorder) = (limits.clone(), recorder.clone());
        workers.push(if worker < args.register_workers {
            tokio::spawn(workload::register_worker(
                client,
                ProcessId(process),
                args.keys,
                worker_seed,
                limits,
                recorder,
            ))
        } else if worker < args.register_workers + args.bank_workers {
            tokio::spawn(workload::bank_worker(
                client,
                ProcessId(process),
                args.accounts,
                worker_seed,
                limits,
                recorder,
            ))
        } else {
            tokio::spawn(crate::ranges::range_worker(
                client,
                ProcessId(process),
                worker_seed,
                limits,
                recorder,
            ))
        });
        process += 1;
    }
    for worker in 0..args.ttl_workers {
        let client =
            Client::new(client_config.clone()).map_err(|e| HarnessError::Setup(e.to_string()))?;
        let worker_seed = seed.wrapping_mul(1_000_033).wrapping_add(u64::from(worker));
        workers.push(tokio::spawn(crate::ttl::ttl_worker(
            client,
            ProcessId(process),
            worker_seed,
            limits.clone(),
            recorder.clone(),
            cluster.clock_book(),
        )));
        process += 1;
    }
    let node_clients = (1..=cluster.seeds().len() as u32)
        .map(|id| node_client_config(&cluster, id))
        .collect::<Result<Vec<_>, _>>()?;
    let mut nemesis = Nemesis::new(StdRng::seed_from_u64(seed), kinds, node_clients);
    nemesis.run(&mut cluster, &topology, deadline).await?;
    for worker in workers {
        let _ = worker.await;
    }
    eprintln!(
        "zerodb-harness: healed; settling {} s before the final reads",
        args.settle
    );
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let finals =
        workload::final_register_reads(&setup, ProcessId(process), args.keys, &recorder).await;
    let bank_read =
        workload::final_bank_read(&setup, ProcessId(process + 1), args.accounts, &recorder).await;
    let range_state = if args.range_workers > 0 {
        crate::ranges::final_range_reads(&setup, ProcessId(process + 2), &recorder).await
    } else {
        std::collections::BTreeMap::new()
    };
    setup.close().await;
    let mut anomalies = nemesis.crashes.clone();
    for (id, status) in cluster.exited() {
        anomalies.push(format!(
            "node n{id} exited by itself ({status}) near the end"
        ));
    }
    cluster.stop_all();
    eprintln!("zerodb-harness: checking");

    let registers = recorder
        .registers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let bank = recorder
        .bank
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let verdict = check::check_register_history(
        &registers,
        Some(&finals),
        args.keys,
        REGISTER_STEPS_PER_KEY_MAX,
    );
    anomalies.extend(verdict.anomalies);
    let total = INITIAL_BALANCE * args.accounts as i64;
    anomalies.extend(check::check_bank_history(&bank, args.accounts, total).anomalies);
    if !bank_read {
        anomalies.push("bank: the final read never answered after healing".into());
    }
    let ranges = recorder
        .ranges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if args.range_workers > 0 {
        match zerodb_sim::check::ranges::check_ranges(
            &ranges,
            &range_state,
            crate::ranges::RANGE_GROUPS,
        ) {
            Ok(report) => {
                anomalies.extend(report.anomalies.into_iter().map(|a| format!("ranges: {a}")));
                anomalies.extend(
                    report
                        .inconclusive
                        .into_iter()
                        .map(|a| format!("ranges (inconclusive): {a}")),
                );
            }
            Err(error) => anomalies.push(format!("ranges: malformed history: {error}")),
        }
    }
    let ttl = recorder
        .ttl
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // Replica rings of RF 3 (`nodes.min(3)`): a quorum of 2, of 1 alone.
    let quorum = (args.nodes.min(3) / 2 + 1) as usize;
    anomalies.extend(zerodb_sim::check::ttl::check_ttl(&ttl, quorum));
    let mut ttl_counts = OutcomeCounts::default();
    ttl_counts.add(&ttl);
    let mut range_counts = OutcomeCounts::default();
    range_counts.add(&ranges);
    let mut register_counts = OutcomeCounts::default();
    register_counts.add(&registers);
    let mut bank_counts = OutcomeCounts::default();
    bank_counts.add(&bank);
    let kept = if anomalies.is_empty() && !args.keep {
        drop(cluster);
        let _ = std::fs::remove_dir_all(&dir);
        None
    } else {
        write_histories(&dir, &registers, &bank);
        Some(dir)
    };
    Ok(Summary {
        seed,
        registers: register_counts,
        bank: bank_counts,
        ranges: range_counts,
        ttl: ttl_counts,
        faults: nemesis.counts.clone(),
        anomalies,
        kept,
    })
}

fn client_config(cluster: &Cluster) -> Result<ClientConfig, HarnessError> {
    client_config_for(cluster, cluster.seeds())
}

/// A client of node `id` alone.
fn node_client_config(cluster: &Cluster, id: u32) -> Result<ClientConfig, HarnessError> {
    client_config_for(cluster, vec![cluster.seeds()[id as usize - 1]])
}

fn client_config_for(
    cluster: &Cluster,
    seeds: Vec<std::net::SocketAddr>,
) -> Result<ClientConfig, HarnessError> {
    let certs = cluster.dir().join("certs");
    let mut config = ClientConfig::from_files(
        seeds,
        &certs.join("ca.crt"),
        &certs.join("client.admin.crt"),
        &certs.join("client.admin.key"),
    )
    .map_err(|e| HarnessError::Setup(e.to_string()))?;
    config.request_timeout = Duration::from_millis(CLIENT_TIMEOUT_MS);
    Ok(config)
}

/// The `zerodb` binary: the one given, else the one built next to this
/// binary (same target folder), else `zerodb` on PATH.
fn zerodb_binary(given: Option<&Path>) -> Result<PathBuf, HarnessError> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    let beside = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?;
        // Test binaries live one level further down, in deps/.
        [dir.join("zerodb"), dir.parent()?.join("zerodb")]
            .into_iter()
            .find(|p| p.is_file())
    });
    if let Some(path) = beside {
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("zerodb"))
            .find(|p| p.is_file())
    });
    on_path.ok_or_else(|| {
        HarnessError::Setup(
            "no zerodb binary: build it (cargo build --release -p zerodb-cli --bin zerodb) \
             or pass --zerodb PATH"
                .into(),
        )
    })
}

/// Keeps the histories next to the logs for a failed run's post-mortem.
fn write_histories(
    dir: &Path,
    registers: &[zerodb_sim::history::RegisterOperation],
    bank: &[zerodb_sim::history::BankOperation],
) {
    let render = |ops: Vec<String>| ops.join("\n") + "\n";
    let _ = std::fs::write(
        dir.join("register-history.txt"),
        render(
            registers
                .iter()
                .enumerate()
                .map(|(i, op)| format!("{i} {op:?}"))
                .collect(),
        ),
    );
    let _ = std::fs::write(
        dir.join("bank-history.txt"),
        render(
            bank.iter()
                .enumerate()
                .map(|(i, op)| format!("{i} {op:?}"))
                .collect(),
        ),
    );
}
