//! `storage_bench`: ZeroDB's engine against sled, redb and the in-memory
//! engine on the same data in the same run, printed as one table.
//!
//! ```text
//! cargo run --release -p zerodb-storage --example storage_bench -- --keys 1000000
//! cargo run --release -p zerodb-storage --example storage_bench -- --quick
//! ```
//!
//! Options: `--keys N` (data-set size, default 1,000,000), `--quick` (20,000
//! keys), `--rounds R` (repeats of each cheap phase, median reported,
//! default 3), `--engines a,b` (subset of zerodb,sled,redb,memory),
//! `--reads-only` (only the load, gets and scans: for profiling reads).
//!
//! `--churn` runs the churn instead (`churn.rs`): `--ops N` puts and
//! removes (default 1,000,000) over a live set of `--live N` keys (default
//! 100,000), `--batch N` operations per write and sync (default 100), on
//! `--engines` (default zerodb), in this process;
//! `--checkpoint-mib M` sets ZeroDB's checkpoint interval in WAL bytes.
//!
//! Each engine runs in a child process of this binary, so the peak memory
//! reported (VmHWM) is that engine's alone. Data lives in a directory under
//! the system temporary directory, removed afterwards.

mod churn;
mod redb_engine;
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use workload::Plan;
use zerodb_storage::{Engine, EngineOptions, Incarnation, MemoryEngine, SledEngine, ZeroEngine};

const ENGINES: [&str; 4] = ["zerodb", "sled", "redb", "memory"];

/// Page cache budget every on-disk engine gets: sled's and redb's default,
/// given to ZeroDB's engine too so reads compare engines, not budgets.
const CACHE_BYTES: usize = 1024 * 1024 * 1024;

struct Args {
    keys: u64,
    rounds: usize,
    reads_only: bool,
    engines: Vec<String>,
    child: Option<(String, PathBuf)>,
    /// The churn run's plan, when `--churn` was given.
    churn: Option<churn::ChurnPlan>,
    /// ZeroDB's checkpoint interval in WAL bytes (engine default if None).
    checkpoint_wal_bytes: Option<u64>,
}

fn number(name: &str, v: &str) -> Result<u64, String> {
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("{name} {v}: expected a positive whole number"))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        keys: 1_000_000,
        rounds: 3,
        reads_only: false,
        engines: ENGINES.iter().map(|s| s.to_string()).collect(),
        child: None,
        churn: None,
        checkpoint_wal_bytes: None,
    };
    let mut churn = false;
    let mut engines_given = false;
    let mut plan = churn::ChurnPlan {
        ops: 1_000_000,
        live: 100_000,
        batch: 100,
        interval: 100_000,
    };
    let mut it = std::env::args().skip(1);
    let mut child_engine = None;
    let mut child_dir = None;
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--keys" => {
                let v = value("--keys")?;
                args.keys = v
                    .replace('_', "")
                    .parse()
                    .map_err(|_| format!("--keys {v}: expected a positive whole number"))?;
            }
            "--quick" => args.keys = 20_000,
            "--reads-only" => args.reads_only = true,
            "--rounds" => {
                let v = value("--rounds")?;
                args.rounds = v
                    .parse()
                    .map_err(|_| format!("--rounds {v}: expected a positive whole number"))?;
            }
            "--churn" => churn = true,
            "--ops" => plan.ops = number("--ops", &value("--ops")?)?,
            "--live" => plan.live = number("--live", &value("--live")?)?,
            "--batch" => plan.batch = number("--batch", &value("--batch")?)?.max(1),
            "--checkpoint-mib" => {
                let v = number("--checkpoint-mib", &value("--checkpoint-mib")?)?;
                args.checkpoint_wal_bytes = Some(v.max(1) << 20);
            }
            "--engines" => {
                engines_given = true;
                args.engines = value("--engines")?.split(',').map(str::to_string).collect();
            }
            "--child" => child_engine = Some(value("--child")?),
            "--dir" => child_dir = Some(PathBuf::from(value("--dir")?)),
            "-h" | "--help" => {
                println!("usage: storage_bench [--keys N | --quick] [--rounds R] [--engines zerodb,sled,redb,memory] [--reads-only]");
                println!("       storage_bench --churn [--ops N] [--live N] [--batch N] [--checkpoint-mib M] [--engines zerodb,...]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}; try --help")),
        }
    }
    if args.keys == 0 || args.rounds == 0 {
        return Err("--keys and --rounds must be at least 1".to_string());
    }
    for engine in &args.engines {
        if !ENGINES.contains(&engine.as_str()) {
            return Err(format!("unknown engine {engine}; choose from {ENGINES:?}"));
        }
    }
    args.child = child_engine.zip(child_dir);
    if churn {
        if plan.live == 0 || plan.ops == 0 {
            return Err("--ops and --live must be at least 1".to_string());
        }
        plan.interval = (plan.ops / 10).max(plan.batch) / plan.batch * plan.batch;
        args.churn = Some(plan);
        if !engines_given {
            args.engines = vec!["zerodb".to_string()];
        }
    }
    Ok(args)
}

/// Opens engine `name` with its files in `dir`.
fn open_engine(
    name: &str,
    dir: &Path,
    checkpoint_wal_bytes: Option<u64>,
) -> Result<Box<dyn Engine>, String> {
    let defaults = EngineOptions::default();
    match name {
        "sled" => Ok(Box::new(
            SledEngine::open(dir).map_err(|e| e.to_string())?.0,
        )),
        "redb" => Ok(Box::new(
            redb_engine::RedbEngine::open(&dir.join("redb.db")).map_err(|e| e.to_string())?,
        )),
        "memory" => Ok(Box::new(MemoryEngine::new(Incarnation(1)))),
        "zerodb" => Ok(Box::new(
            ZeroEngine::open_dir(
                dir,
                EngineOptions {
                    cache_bytes: CACHE_BYTES,
                    checkpoint_wal_bytes: checkpoint_wal_bytes
                        .unwrap_or(defaults.checkpoint_wal_bytes),
                    ..defaults
                },
            )
            .map_err(|e| e.to_string())?
            .0,
        )),
        other => Err(format!("unknown engine {other}")),
    }
}

fn child(engine_name: &str, dir: &Path, plan: &Plan) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut engine = open_engine(engine_name, dir, None)?;
    workload::run(&mut *engine, dir, plan)
}

/// One engine's figures by name, or why it failed.
type Outcome = Result<BTreeMap<String, f64>, String>;

/// Runs one engine in a child process.
fn run_child(engine: &str, args: &Args) -> Outcome {
    let dir = std::env::temp_dir().join(format!("zerodb-bench-{engine}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args(["--child", engine, "--dir"])
        .arg(&dir)
        .args([
            "--keys",
            &args.keys.to_string(),
            "--rounds",
            &args.rounds.to_string(),
        ])
        .args(args.reads_only.then_some("--reads-only"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start the child: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let output = output?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let why = stdout
            .lines()
            .find_map(|l| l.strip_prefix("error "))
            .unwrap_or("crashed");
        return Err(why.to_string());
    }
    Ok(stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.strip_prefix("result ")?.split(' ');
            Some((parts.next()?.to_string(), parts.next()?.parse().ok()?))
        })
        .collect())
}

/// How a row is shown and which way is better.
struct Row {
    metric: &'static str,
    label: &'static str,
    higher_is_better: bool,
    bytes: bool,
}

const ROWS: [Row; 8] = [
    Row {
        metric: "put_sync_1",
        label: "put, 1 batch/sync (ops/s)",
        higher_is_better: true,
        bytes: false,
    },
    Row {
        metric: "put_sync_16",
        label: "put, 16 batches/sync (ops/s)",
        higher_is_better: true,
        bytes: false,
    },
    Row {
        metric: "put_sync_256",
        label: "put, 256 batches/sync, load (ops/s)",
        higher_is_better: true,
        bytes: false,
    },
    Row {
        metric: "get",
        label: "random get, warm (ops/s)",
        higher_is_better: true,
        bytes: false,
    },
    Row {
        metric: "scan",
        label: "ordered scan (keys/s)",
        higher_is_better: true,
        bytes: false,
    },
    Row {
        metric: "mix",
        label: "50/50 get/put, 16/sync (ops/s)",
        higher_is_better: true,
        bytes: false,
    },
    Row {
        metric: "disk_bytes",
        label: "size on disk",
        higher_is_better: false,
        bytes: true,
    },
    Row {
        metric: "peak_rss_bytes",
        label: "peak memory (VmHWM)",
        higher_is_better: false,
        bytes: true,
    },
];

fn human(value: f64, bytes: bool) -> String {
    if bytes {
        let mib = value / (1024.0 * 1024.0);
        return format!("{mib:.1} MiB");
    }
    match value {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

fn print_table(args: &Args, results: &[(String, Outcome)]) {
    let have_zerodb = results
        .iter()
        .any(|(name, r)| name == "zerodb" && r.is_ok());
    let reference = if have_zerodb {
        "vs zerodb"
    } else {
        "vs the best on-disk engine"
    };
    println!();
    println!(
        "storage_bench: {} keys, {}-byte values, median of {} rounds; each engine in its own process; ratios {reference}",
        args.keys,
        workload::VALUE_BYTES,
        args.rounds
    );
    let width = 24;
    let mut header = format!("{:<38}", "metric");
    for (name, _) in results {
        header.push_str(&format!("| {name:<width$}"));
    }
    println!("{header}");
    println!("{}", "-".repeat(header.len()));
    for row in &ROWS {
        let values: Vec<Option<f64>> = results
            .iter()
            .map(|(name, r)| {
                let v = r.as_ref().ok()?.get(row.metric).copied()?;
                // The memory engine has no files: leave its size blank.
                (!(row.metric == "disk_bytes" && name == "memory")).then_some(v)
            })
            .collect();
        let base = if have_zerodb {
            results
                .iter()
                .position(|(name, _)| name == "zerodb")
                .and_then(|i| values[i])
        } else {
            // The memory engine never touches a disk: the best on-disk
            // engine is the fair reference.
            let known = values
                .iter()
                .zip(results)
                .filter(|(_, (name, _))| name != "memory")
                .filter_map(|(v, _)| *v)
                .filter(|v| *v > 0.0);
            if row.higher_is_better {
                known.reduce(f64::max)
            } else {
                known.reduce(f64::min)
            }
        };
        let mut line = format!("{:<38}", row.label);
        for (value, (_, result)) in values.iter().zip(results) {
            let cell = match (value, result) {
                (_, Err(_)) => "n/a".to_string(),
                (None, _) => "-".to_string(),
                (Some(v), _) => match base {
                    Some(b) if b > 0.0 => format!("{} ({:.2}x)", human(*v, row.bytes), v / b),
                    _ => human(*v, row.bytes),
                },
            };
            line.push_str(&format!("| {cell:<width$}"));
        }
        println!("{line}");
    }
    for (name, result) in results {
        if let Err(why) = result {
            println!("{name}: {why}");
        }
    }
    println!("ratios: throughput rows higher is better, size and memory rows lower is better");
    println!(
        "cache budget {} MiB for each on-disk engine; size on disk counts WAL/log files; \
         sync ends in fdatasync for every on-disk engine (sled: its flush, then fdatasync of its log)",
        CACHE_BYTES >> 20
    );
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            eprintln!("storage_bench: {why}");
            std::process::exit(2);
        }
    };
    if let Some(plan) = &args.churn {
        run_churn(&args, plan);
        return;
    }
    let plan = Plan::new(args.keys, args.rounds, args.reads_only);
    if let Some((engine, dir)) = &args.child {
        let outcome = child(engine, dir, &plan);
        if let Err(why) = outcome {
            println!("error {why}");
            std::process::exit(1);
        }
        return;
    }
    let mut results = Vec::new();
    for engine in &args.engines {
        eprintln!("storage_bench: running {engine} ({plan:?})");
        results.push((engine.clone(), run_child(engine, &args)));
    }
    print_table(&args, &results);
}

/// Runs the churn on each engine in turn, in this process.
fn run_churn(args: &Args, plan: &churn::ChurnPlan) {
    for engine_name in &args.engines {
        let dir =
            std::env::temp_dir().join(format!("zerodb-churn-{engine_name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        println!();
        println!(
            "churn on {engine_name}: {} ops ({} puts of new keys, {} removes of the oldest), \
             {} live keys, {}-byte values, {} ops per batch (write + sync){}",
            plan.ops,
            plan.ops.div_ceil(2),
            plan.ops / 2,
            plan.live,
            workload::VALUE_BYTES,
            plan.batch,
            if engine_name == "zerodb" {
                let bytes = args
                    .checkpoint_wal_bytes
                    .unwrap_or(EngineOptions::default().checkpoint_wal_bytes);
                format!("; checkpoint every {} MiB of WAL", bytes >> 20)
            } else {
                "; file size sampled at each row only".to_string()
            },
        );
        let outcome = std::fs::create_dir_all(&dir)
            .map_err(|e| format!("create {}: {e}", dir.display()))
            .and_then(|()| open_engine(engine_name, &dir, args.checkpoint_wal_bytes))
            .and_then(|mut engine| {
                let cheap = matches!(engine_name.as_str(), "zerodb" | "memory");
                churn::run(&mut *engine, &dir, plan, cheap)
            });
        if let Err(why) = outcome {
            println!("{engine_name}: {why}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "live MiB: key + value + 16-byte version of each live record; file MiB: the data file \
         (ZeroDB: the page file, WAL apart; others: their directory); in use / garbage: \
         the engine's own figures (ZeroDB: pages of the last checkpoint in use / free); \
         latency: one batch's write + sync, checkpoints included"
    );
}
