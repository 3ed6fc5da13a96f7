//! `zerodb bench`: a YCSB-like load against a running cluster: N clients,
//! each on its own connection to a random node, reading and updating keys
//! picked uniformly or from a zipfian distribution, for a duration or an
//! operation count; prints a progress line each second and then the
//! throughput and latency percentiles.
//!
//! `--workload` picks what an operation is: `kv` (the default, above), or
//! one of the zeroql workloads and the raw peers they are measured against
//! ([`query`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_txn::{Level, Request};

use super::connect::{ConnectArgs, Session};
use super::exit::{self, CliError};
use super::txn_text::KeySpace;
use zerodb_node::api::{ClientRequest, ClientResponse};

mod query;

/// What one operation of the run is.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Raw gets and puts of `--keys` keys, `--read-ratio` of them gets.
    Kv,
    /// A raw put of a new key: the peer of `create`.
    Put,
    /// A raw get of a loaded key: the peer of `select`.
    Get,
    /// zeroql `CREATE bench:$id SET v = $v` with a new id.
    Create,
    /// zeroql `SELECT * FROM bench:$id` with a loaded id.
    Select,
    /// zeroql `SELECT * FROM people_N WHERE k = $k`, through the index
    /// `by_k` (N is --records; each value of `k` is held by 10 records).
    Indexed,
    /// The same statement `WITH NO INDEX`: a scan of the whole table.
    Scan,
}

/// How keys are picked.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// A few keys are hot (YCSB's zipfian, theta 0.99).
    Zipfian,
}

/// `zerodb bench` options.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Concurrent clients (one connection each).
    #[arg(long, default_value_t = 16)]
    pub clients: u32,
    /// Seconds to run (ignored when --ops is given).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Total operations to run.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Fraction of reads; the rest are updates.
    #[arg(long, default_value_t = 0.5)]
    pub read_ratio: f64,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Key distribution.
    #[arg(long, value_enum, default_value_t = Distribution::Zipfian)]
    pub distribution: Distribution,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Skip writing every key before the measured run.
    #[arg(long)]
    pub no_load: bool,
    /// What each operation is (see the variants).
    #[arg(long, value_enum, default_value_t = Workload::Kv)]
    pub workload: Workload,
    /// Records of the table that `indexed` and `scan` query.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
}

/// YCSB's zipfian generator over `0..n`.
#[derive(Clone, Debug)]
pub struct Zipfian {
    n: u64,
    theta: f64,
    alpha: f64,
    zeta_n: f64,
    eta: f64,
}

impl Zipfian {
    /// A generator over `0..n` (n >= 1) with skew 0.99.
    pub fn new(n: u64) -> Zipfian {
        let theta = 0.99;
        let zeta = |count: u64| {
            (1..=count)
                .map(|i| 1.0 / (i as f64).powf(theta))
                .sum::<f64>()
        };
        let zeta_n = zeta(n.max(1));
        let zeta_2 = zeta(2.min(n.max(1)));
        let eta = (1.0 - (2.0 / n.max(2) as f64).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n);
        Zipfian {
            n: n.max(1),
            theta,
            alpha: 1.0 / (1.0 - theta),
            zeta_n,
            eta,
        }
    }

    /// The next value from a uniform `u` in `[0, 1)`.
    pub fn sample(&self, u: f64) -> u64 {
        let uz = u * self.zeta_n;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.n - 1);
        }
        let value = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        value.min(self.n - 1)
    }
}

struct Shared {
    done: AtomicU64,
    errors: AtomicU64,
    /// What the first failed operation said, for the summary.
    first_error: Mutex<Option<String>>,
    budget: Option<u64>,
    deadline: Instant,
}

impl Shared {
    /// Claims one operation; false once the run is over.
    fn claim(&self) -> bool {
        match self.budget {
            Some(budget) => self.done.fetch_add(1, Ordering::Relaxed) < budget,
            None => {
                let more = Instant::now() < self.deadline;
                if more {
                    self.done.fetch_add(1, Ordering::Relaxed);
                }
                more
            }
        }
    }

    /// Counts a failed operation, keeping the first one's message.
    fn failed(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(message);
    }
}

/// A key index in `0..n` from `distribution` (`zipf` is the generator over
/// the same `n`).
fn pick(distribution: Distribution, zipf: &Zipfian, n: u64, rng: &mut StdRng) -> u64 {
    match distribution {
        Distribution::Uniform => rng.random_range(0..n.max(1)),
        Distribution::Zipfian => zipf.sample(rng.random::<f64>()),
    }
}

fn key_id(index: u64) -> String {
    format!("user{index:010}")
}

/// One operation, built before its clock starts.
enum Operation {
    /// A raw request (`kv`, `put`, `get`).
    Data(ClientRequest),
    /// A zeroql statement (the other workloads).
    Query(query::Statement),
}

impl Operation {
    /// Sends the operation; `Err` holds what went wrong.
    async fn send(self, session: &mut Session, space: &KeySpace) -> Result<(), String> {
        match self {
            Operation::Data(request) => match session.call(&request).await {
                Ok(ClientResponse::Data(zerodb_txn::Response::Error(error))) => {
                    Err(zerodb_client::Error::from(error).to_string())
                }
                Ok(ClientResponse::Error(error)) => {
                    Err(zerodb_client::Error::from(error).to_string())
                }
                Err(error) => Err(error.to_string()),
                Ok(_) => Ok(()),
            },
            Operation::Query(statement) => statement.send(session, space).await,
        }
    }
}

/// The operations of `kv`: reads and updates of `--keys` keys.
struct KvOperations {
    zipf: Zipfian,
    value: Vec<u8>,
}

impl KvOperations {
    fn next(&self, args: &BenchArgs, space: &KeySpace, rng: &mut StdRng) -> Operation {
        let index = pick(args.distribution, &self.zipf, args.keys, rng);
        let key = space.key(&key_id(index));
        let read = rng.random::<f64>() < args.read_ratio;
        Operation::Data(if read {
            ClientRequest::Data(Request::Get {
                key,
                level: Level::One,
            })
        } else {
            ClientRequest::Data(Request::Put {
                key,
                value: self.value.clone(),
                level: Level::One,
                ttl_ms: None,
            })
        })
    }
}

/// One client's source of operations.
enum Operations {
    Kv(KvOperations),
    Other(query::Operations),
}

async fn client(
    connect: ConnectArgs,
    space: KeySpace,
    args: BenchArgs,
    shared: Arc<Shared>,
    seed: u64,
    run_tag: u64,
) -> Result<Histogram<u64>, CliError> {
    let mut session = Session::new(&connect)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut operations = match args.workload {
        Workload::Kv => Operations::Kv(KvOperations {
            zipf: Zipfian::new(args.keys),
            value: vec![b'x'; args.value_size],
        }),
        _ => Operations::Other(query::Operations::new(&args, run_tag, seed)),
    };
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
    while shared.claim() {
        let operation = match &mut operations {
            Operations::Kv(kv) => kv.next(&args, &space, &mut rng),
            Operations::Other(other) => other.next(&args, &space, &mut rng),
        };
        let started = Instant::now();
        let result = operation.send(&mut session, &space).await;
        let micros = started.elapsed().as_micros() as u64;
        match result {
            Err(message) => shared.failed(message),
            Ok(()) => {
                let _ = latency.record(micros.clamp(1, 60_000_000));
            }
        }
    }
    session.close().await;
    Ok(latency)
}

async fn load(connect: &ConnectArgs, space: &KeySpace, args: &BenchArgs) -> Result<(), CliError> {
    let clients = u64::from(args.clients.max(1));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (connect, space, value) = (connect.clone(), space.clone(), vec![b'x'; args.value_size]);
        let keys = args.keys;
        tasks.push(tokio::spawn(async move {
            let mut session = Session::new(&connect)?;
            let mut index = c;
            while index < keys {
                let request = ClientRequest::Data(Request::Put {
                    key: space.key(&key_id(index)),
                    value: value.clone(),
                    level: Level::One,
                    ttl_ms: None,
                });
                session.call(&request).await?;
                index += clients;
            }
            session.close().await;
            Ok::<(), CliError>(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| CliError::new(exit::INTERNAL, e.to_string()))??;
    }
    Ok(())
}

/// Runs the benchmark and prints its figures.
pub async fn run(connect: &ConnectArgs, space: &KeySpace, args: BenchArgs) -> Result<u8, CliError> {
    if !(0.0..=1.0).contains(&args.read_ratio) {
        return Err(CliError::usage(format!(
            "--read-ratio {}: use a fraction between 0 and 1",
            args.read_ratio
        )));
    }
    // `put` and `create` write new keys: nothing to load.
    let loads = !matches!(args.workload, Workload::Put | Workload::Create);
    if loads && !args.no_load {
        let started = Instant::now();
        if matches!(args.workload, Workload::Kv | Workload::Get) {
            eprintln!("loading {} keys...", args.keys);
            load(connect, space, &args).await?;
        } else {
            query::load(connect, space, &args).await?;
        }
        eprintln!("loaded in {:.1}s", started.elapsed().as_secs_f64());
    }
    // Tells this run's new keys (`put`, `create`) from an earlier run's.
    let run_tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64);
    let shared = Arc::new(Shared {
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        budget: args.ops,
        deadline: Instant::now() + Duration::from_secs(args.duration),
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients.max(1) {
        let task = client(
            connect.clone(),
            space.clone(),
            args.clone(),
            shared.clone(),
            0x5EED + u64::from(c),
            run_tag,
        );
        tasks.push(tokio::spawn(task));
    }
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let done = shared.done.load(Ordering::Relaxed);
                eprintln!(
                    "[{:>4.0}s] {done} ops ({} ops/s), {} errors",
                    started.elapsed().as_secs_f64(),
                    done.saturating_sub(last),
                    shared.errors.load(Ordering::Relaxed)
                );
                last = done;
            }
        })
    };
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
    for task in tasks {
        let histogram = task
            .await
            .map_err(|e| CliError::new(exit::INTERNAL, e.to_string()))??;
        let _ = latency.add(&histogram);
    }
    progress.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let ok = latency.len();
    let errors = shared.errors.load(Ordering::Relaxed);
    let distribution = format!("{:?}", args.distribution).to_lowercase();
    match args.workload {
        Workload::Kv => println!(
            "{} clients, {:?} keys ({distribution}), read ratio {}: {ok} ok, {errors} errors in {elapsed:.1}s",
            args.clients, args.keys, args.read_ratio
        ),
        workload => println!(
            "{}: {} clients, {}: {ok} ok, {errors} errors in {elapsed:.1}s",
            query::describe(workload),
            args.clients,
            query::describe_keys(&args, &distribution),
        ),
    }
    println!(
        "throughput {:.0} ops/s; latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        ok as f64 / elapsed,
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.value_at_quantile(0.999) as f64 / 1000.0,
        latency.max() as f64 / 1000.0
    );
    if let Some(first) = shared
        .first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        println!("first error: {first}");
    }
    Ok(if errors == 0 {
        exit::OK
    } else {
        exit::UNAVAILABLE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipfian_stays_in_range_and_favours_small_keys() {
        let zipf = Zipfian::new(1000);
        let mut rng = StdRng::seed_from_u64(1);
        let mut hot = 0;
        for _ in 0..10_000 {
            let value = zipf.sample(rng.random::<f64>());
            assert!(value < 1000);
            if value < 10 {
                hot += 1;
            }
        }
        // Uniform would put 1% below 10; zipfian 0.99 puts far more there.
        assert!(hot > 2_000, "{hot}");
        assert_eq!(Zipfian::new(1).sample(0.9), 0);
    }
}
