//! `ezbench`: one load loop driving etcd (through the `etcd-client` crate)
//! or ZeroDB (through the node crate's client session), so that both
//! systems are measured by the same code: same key choice, same client
//! concurrency, same HDR histograms.
//!
//! - `ezbench run --system etcd|zerodb ...` runs a matrix of cells and
//!   prints one tab-separated line per cell (see [`Cell::line`]).
//! - `ezbench serve-eventual --dir D` starts the 3 nodes of a `zerodb dev`
//!   folder in this process with an eventual default policy (`zerodb dev`
//!   has no flag for it) and serves until SIGINT/SIGTERM.

mod counters;
mod driver;
mod eventual;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_cli::bench::Zipfian;

use driver::{Driver, Outcome};

/// Which system to drive.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// etcd over gRPC.
    Etcd,
    /// ZeroDB, strong namespace (linearizable).
    Zerodb,
    /// ZeroDB with an eventual default policy: writes W=1, reads R=1.
    ZerodbEventual,
}

/// A workload.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// 100% single-key writes.
    Write,
    /// 50% linearizable reads, 50% writes.
    Rw50,
    /// 95% linearizable reads, 5% writes.
    Rw95,
    /// 2-key read-modify-write: read both, write both if neither changed.
    Txn,
}

/// Key distribution.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dist {
    /// Every key equally likely.
    Uniform,
    /// YCSB zipfian, theta 0.99.
    Zipfian,
}

#[derive(Parser, Debug)]
#[command(name = "ezbench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a matrix of cells against one system.
    Run(RunArgs),
    /// Serve the nodes of a `zerodb dev` folder with an eventual policy.
    ServeEventual {
        /// The `zerodb dev` folder (certificates and cluster.toml).
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// System under test.
    #[arg(long, value_enum)]
    system: System,
    /// etcd client endpoints, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    etcd: Vec<String>,
    /// `zerodb dev` folder (seeds and certificates).
    #[arg(long, default_value = "zerodb-dev")]
    zerodb_dir: PathBuf,
    /// Workloads.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "write,rw50,rw95,txn"
    )]
    workloads: Vec<Workload>,
    /// Key distributions.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "uniform,zipfian"
    )]
    dists: Vec<Dist>,
    /// Client counts.
    #[arg(long, value_delimiter = ',', default_value = "16,128")]
    clients: Vec<u32>,
    /// Seconds per cell.
    #[arg(long, default_value_t = 8)]
    duration: u64,
    /// Distinct keys (all written before the first cell).
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
}

/// The figures of one cell.
struct Cell {
    ok: u64,
    aborted: u64,
    errors: u64,
    elapsed: f64,
    latency: Histogram<u64>,
    first_error: Option<String>,
    /// Durable syncs over the whole cluster during the cell, if known.
    syncs: Option<u64>,
}

impl Cell {
    /// `system workload dist clients ops/s p50_ms p99_ms aborted errors
    /// syncs_per_op` (`-` when the sync counters could not be read).
    fn line(&self, args: &RunArgs, workload: Workload, dist: Dist, clients: u32) -> String {
        let name = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
        format!(
            "{}\t{}\t{}\t{}\t{:.0}\t{:.2}\t{:.2}\t{}\t{}\t{}",
            name(&args.system),
            name(&workload),
            name(&dist),
            clients,
            self.ok as f64 / self.elapsed,
            self.latency.value_at_quantile(0.5) as f64 / 1000.0,
            self.latency.value_at_quantile(0.99) as f64 / 1000.0,
            self.aborted,
            self.errors,
            self.syncs.map_or("-".to_string(), |syncs| format!(
                "{:.3}",
                syncs as f64 / (self.ok + self.aborted).max(1) as f64
            ))
        )
    }
}

struct Shared {
    ok: AtomicU64,
    aborted: AtomicU64,
    errors: AtomicU64,
    deadline: Instant,
}

fn key_index(rng: &mut StdRng, dist: Dist, zipf: &Zipfian, keys: u64) -> u64 {
    match dist {
        Dist::Uniform => rng.random_range(0..keys.max(1)),
        Dist::Zipfian => zipf.sample(rng.random::<f64>()),
    }
}

async fn worker(
    mut driver: Driver,
    workload: Workload,
    dist: Dist,
    keys: u64,
    value: Vec<u8>,
    shared: Arc<Shared>,
    seed: u64,
) -> (Histogram<u64>, Option<String>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let zipf = Zipfian::new(keys);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
    let mut first_error = None;
    while Instant::now() < shared.deadline {
        let a = key_index(&mut rng, dist, &zipf, keys);
        let started = Instant::now();
        let outcome = match workload {
            Workload::Write => driver.put(a, &value).await,
            Workload::Rw50 | Workload::Rw95 => {
                let reads = if workload == Workload::Rw50 {
                    0.5
                } else {
                    0.95
                };
                if rng.random::<f64>() < reads {
                    driver.get(a).await
                } else {
                    driver.put(a, &value).await
                }
            }
            Workload::Txn => {
                let mut b = key_index(&mut rng, dist, &zipf, keys);
                if b == a {
                    b = (a + 1) % keys.max(2);
                }
                driver.rmw(a, b, &value).await
            }
        };
        let micros = started.elapsed().as_micros() as u64;
        match outcome {
            Outcome::Ok => {
                shared.ok.fetch_add(1, Ordering::Relaxed);
                let _ = latency.record(micros.clamp(1, 60_000_000));
            }
            Outcome::Aborted => {
                shared.aborted.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Error(error) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                first_error.get_or_insert(error);
            }
        }
    }
    driver.close().await;
    (latency, first_error)
}

async fn cell(
    args: &RunArgs,
    workload: Workload,
    dist: Dist,
    clients: u32,
) -> Result<Cell, String> {
    let mut drivers = Vec::new();
    for c in 0..clients {
        drivers.push(Driver::connect(args.system, &args.etcd, &args.zerodb_dir, c).await?);
    }
    let shared = Arc::new(Shared {
        ok: AtomicU64::new(0),
        aborted: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        deadline: Instant::now() + Duration::from_secs(args.duration),
    });
    let syncs_before = counters::syncs(args.system, &args.etcd, &args.zerodb_dir).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, driver) in drivers.into_iter().enumerate() {
        let seed = 0x5EED ^ ((c as u64) << 8) ^ (workload as u64) << 40 ^ (dist as u64) << 48;
        let task = worker(
            driver,
            workload,
            dist,
            args.keys,
            vec![b'x'; args.value_size],
            shared.clone(),
            seed,
        );
        tasks.push(tokio::spawn(task));
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
    let mut first_error = None;
    for task in tasks {
        let (histogram, error) = task.await.map_err(|e| e.to_string())?;
        let _ = latency.add(&histogram);
        if first_error.is_none() {
            first_error = error;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let syncs_after = counters::syncs(args.system, &args.etcd, &args.zerodb_dir).await;
    Ok(Cell {
        syncs: syncs_before
            .zip(syncs_after)
            .map(|(before, after)| after.saturating_sub(before)),
        ok: shared.ok.load(Ordering::Relaxed),
        aborted: shared.aborted.load(Ordering::Relaxed),
        errors: shared.errors.load(Ordering::Relaxed),
        elapsed,
        latency,
        first_error,
    })
}

async fn load(args: &RunArgs) -> Result<(), String> {
    let clients = 32u64;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut driver =
            Driver::connect(args.system, &args.etcd, &args.zerodb_dir, c as u32).await?;
        let (keys, value) = (args.keys, vec![b'x'; args.value_size]);
        tasks.push(tokio::spawn(async move {
            let mut index = c;
            while index < keys {
                if let Outcome::Error(error) = driver.put(index, &value).await {
                    return Err(format!("loading key {index}: {error}"));
                }
                index += clients;
            }
            driver.close().await;
            Ok(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

async fn run(args: RunArgs) -> Result<(), String> {
    let started = Instant::now();
    load(&args).await?;
    eprintln!(
        "{:?}: loaded {} keys in {:.1}s",
        args.system,
        args.keys,
        started.elapsed().as_secs_f64()
    );
    for &workload in &args.workloads {
        for &dist in &args.dists {
            for &clients in &args.clients {
                let cell = cell(&args, workload, dist, clients).await?;
                if let Some(error) = &cell.first_error {
                    eprintln!(
                        "{:?} {workload:?} {dist:?} {clients}: first error: {error}",
                        args.system
                    );
                }
                let line = cell.line(&args, workload, dist, clients);
                eprintln!("{line}");
                println!("{line}");
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args).await,
        Command::ServeEventual { dir } => eventual::serve(&dir).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ezbench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
