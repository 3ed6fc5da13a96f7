//! The measured workload, run in a child process for one engine so that its
//! peak memory is its own. Every engine gets the same keys, values and
//! operation order (all derived from fixed seeds).

use std::ops::Bound;
use std::path::Path;
use std::time::Instant;

use zerodb_storage::{Direction, Engine, Record, ScanRange, Space, Version, WriteBatch};

/// Bytes in every value.
pub const VALUE_BYTES: usize = 100;
/// Records returned by one scan call.
const SCAN_PAGE: usize = 1_000;

/// Sizes of the run.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Keys in the data set.
    pub keys: u64,
    /// Rounds of each repeated phase; the median is reported.
    pub rounds: usize,
    /// Puts timed with one batch per sync, per round.
    pub puts_sync_1: u64,
    /// Puts timed with 16 batches per sync, per round.
    pub puts_sync_16: u64,
    /// Point gets per round.
    pub gets: u64,
    /// Operations of the 50/50 mix per round.
    pub mix_ops: u64,
    /// Only the load, the gets and the scans (for profiling reads).
    pub reads_only: bool,
}

impl Plan {
    /// The plan for `keys` keys and `rounds` rounds.
    pub fn new(keys: u64, rounds: usize, reads_only: bool) -> Plan {
        Plan {
            reads_only,
            keys,
            rounds,
            puts_sync_1: keys.min(1_000),
            puts_sync_16: keys.min(16_000),
            gets: keys.min(200_000),
            mix_ops: keys.min(100_000),
        }
    }
}

/// A deterministic 64-bit mixer (splitmix64) used for keys and choices.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A tiny seeded generator: enough for choosing keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        mix(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The key of data-set member `i`: random order in key space.
pub fn key(i: u64) -> Vec<u8> {
    let mut k = b"user".to_vec();
    k.extend_from_slice(&mix(i ^ 0x5EED).to_be_bytes());
    k
}

pub fn record(i: u64, write: u64) -> Record {
    let mut value = vec![0u8; VALUE_BYTES];
    for (n, byte) in value.iter_mut().enumerate() {
        *byte = (mix(i.wrapping_add(write)).rotate_left(n as u32 % 64) as u8) | 1;
    }
    let version = Version {
        physical_ms: write + 1,
        logical: 0,
        node: 1,
    };
    Record::value(version, value)
}

fn put_one<E: Engine + ?Sized>(engine: &mut E, i: u64, write: u64) -> Result<(), String> {
    let mut batch = WriteBatch::new();
    batch.put(Space::Data, key(i), record(i, write));
    engine.write(batch).map_err(|e| e.to_string())
}

/// Ops per second of `ops` operations taking `f` (seconds measured inside).
fn rate(ops: u64, f: impl FnOnce() -> Result<(), String>) -> Result<f64, String> {
    let start = Instant::now();
    f()?;
    Ok(ops as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Puts `count` random keys (overwrites of the data set) with a sync after
/// every `per_sync` batches; returns puts per second.
fn timed_puts<E: Engine + ?Sized>(
    engine: &mut E,
    plan: &Plan,
    rng: &mut Rng,
    count: u64,
    per_sync: u64,
    write_base: u64,
) -> Result<f64, String> {
    rate(count, || {
        for n in 0..count {
            put_one(engine, rng.below(plan.keys), write_base + n)?;
            if (n + 1) % per_sync == 0 {
                engine.sync().map_err(|e| e.to_string())?;
            }
        }
        engine.sync().map_err(|e| e.to_string())
    })
}

fn timed_gets<E: Engine + ?Sized>(
    engine: &mut E,
    plan: &Plan,
    rng: &mut Rng,
) -> Result<f64, String> {
    rate(plan.gets, || {
        for _ in 0..plan.gets {
            let i = rng.below(plan.keys);
            let found = engine
                .get(Space::Data, &key(i))
                .map_err(|e| e.to_string())?;
            if found.is_none() {
                return Err(format!("key {i} of the data set is missing"));
            }
        }
        Ok(())
    })
}

fn timed_scan<E: Engine + ?Sized>(engine: &mut E, plan: &Plan) -> Result<f64, String> {
    rate(plan.keys, || {
        let mut start = Bound::Unbounded;
        let mut seen = 0u64;
        let mut last: Option<Vec<u8>> = None;
        loop {
            let range = ScanRange {
                space: Space::Data,
                start,
                end: Bound::Unbounded,
            };
            let page = engine
                .scan(&range, Direction::Forward, SCAN_PAGE)
                .map_err(|e| e.to_string())?;
            for (k, _) in &page {
                if last.as_ref().is_some_and(|l| l >= k) {
                    return Err("scan returned keys out of order".to_string());
                }
                last = Some(k.clone());
            }
            seen += page.len() as u64;
            if page.len() < SCAN_PAGE {
                break;
            }
            start = Bound::Excluded(last.clone().unwrap_or_default());
        }
        if seen != plan.keys {
            return Err(format!("scan saw {seen} keys, expected {}", plan.keys));
        }
        Ok(())
    })
}

fn timed_mix<E: Engine + ?Sized>(
    engine: &mut E,
    plan: &Plan,
    rng: &mut Rng,
    write_base: u64,
) -> Result<f64, String> {
    rate(plan.mix_ops, || {
        let mut puts = 0u64;
        for n in 0..plan.mix_ops {
            let i = rng.below(plan.keys);
            if rng.next() % 2 == 0 {
                engine
                    .get(Space::Data, &key(i))
                    .map_err(|e| e.to_string())?;
            } else {
                put_one(engine, i, write_base + n)?;
                puts += 1;
                if puts % 16 == 0 {
                    engine.sync().map_err(|e| e.to_string())?;
                }
            }
        }
        engine.sync().map_err(|e| e.to_string())
    })
}

/// Runs every phase on `engine` and prints one `result <name> <value>` line
/// per figure on stdout (progress goes to stderr).
pub fn run<E: Engine + ?Sized>(engine: &mut E, dir: &Path, plan: &Plan) -> Result<(), String> {
    let report = |name: &str, value: f64| println!("result {name} {value}");
    let mut rng = Rng(42);

    // Load: the whole data set in random key order, 256 batches per sync.
    let load = rate(plan.keys, || {
        for i in 0..plan.keys {
            put_one(engine, i, 0)?;
            if (i + 1) % 256 == 0 {
                engine.sync().map_err(|e| e.to_string())?;
            }
        }
        engine.sync().map_err(|e| e.to_string())
    })?;
    report("put_sync_256", load);
    eprintln!("  loaded {} keys at {load:.0}/s", plan.keys);

    let mut write_base = plan.keys;
    let write_rounds = if plan.reads_only { 0 } else { plan.rounds };
    for (name, count, per_sync) in [
        ("put_sync_16", plan.puts_sync_16, 16),
        ("put_sync_1", plan.puts_sync_1, 1),
    ] {
        let mut rounds = Vec::new();
        for _ in 0..write_rounds {
            rounds.push(timed_puts(
                engine, plan, &mut rng, count, per_sync, write_base,
            )?);
            write_base += count;
        }
        if !rounds.is_empty() {
            report(name, median(rounds));
        }
    }

    // Warm the cache with one unmeasured round, then measure.
    timed_gets(engine, plan, &mut rng)?;
    let gets: Result<Vec<f64>, String> = (0..plan.rounds)
        .map(|_| timed_gets(engine, plan, &mut rng))
        .collect();
    report("get", median(gets?));

    let scans: Result<Vec<f64>, String> =
        (0..plan.rounds).map(|_| timed_scan(engine, plan)).collect();
    report("scan", median(scans?));

    if plan.reads_only {
        return Ok(());
    }
    let mut mixes = Vec::new();
    for _ in 0..plan.rounds {
        mixes.push(timed_mix(engine, plan, &mut rng, write_base)?);
        write_base += plan.mix_ops;
    }
    report("mix", median(mixes));

    engine.checkpoint().map_err(|e| e.to_string())?;
    engine.close().map_err(|e| e.to_string())?;
    report("disk_bytes", dir_bytes(dir) as f64);
    report("peak_rss_bytes", peak_rss_bytes() as f64);
    Ok(())
}

/// Bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// This process's peak resident set (VmHWM), in bytes; 0 if unknown.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}
