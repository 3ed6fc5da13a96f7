//! The churn run (`--churn`): does an engine's file track its live data
//! while records come and go? A live set of keys is loaded, then every
//! batch puts new keys and removes the oldest ones (first in, first out, as
//! records whose TTL ran out and whose tombstones were purged), so the live
//! set keeps its size while its keys move through the whole key space. The
//! run prints the data file against the live data at every interval, and
//! the latency of each foreground batch (write and sync), which includes
//! the checkpoints the engine runs inside its writes.

use std::path::Path;
use std::time::Instant;

use zerodb_storage::{Engine, Version, WriteBatch};

use crate::workload::{dir_bytes, key, record, VALUE_BYTES};

/// Sizes of a churn run.
#[derive(Clone, Copy, Debug)]
pub struct ChurnPlan {
    /// Puts and removes after the load, together.
    pub ops: u64,
    /// Keys live at any time.
    pub live: u64,
    /// Operations per batch; every batch is written and synced alone.
    pub batch: u64,
    /// Operations between two printed rows.
    pub interval: u64,
}

/// Bytes the live data takes: key, value and the 16-byte version of each
/// live record (what any engine must store to hold it).
fn live_bytes(live: u64) -> u64 {
    live * (key(0).len() + VALUE_BYTES + Version::ENCODED_LEN) as u64
}

/// The sorted latencies of a stretch of batches.
struct Latencies(Vec<u64>);

impl Latencies {
    fn quantile(&mut self, q: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.sort_unstable();
        let at = ((self.0.len() - 1) as f64 * q).round() as usize;
        self.0[at]
    }
}

/// What the data file and the engine's own figures say at one moment.
struct Sizes {
    /// The data file (or, for engines that do not say, the directory).
    file: u64,
    /// The log, when the engine reports it apart.
    log: u64,
    /// The engine's own live and garbage figures (0: not reported).
    engine_live: u64,
    garbage: u64,
    checkpoints: u64,
}

fn sizes(engine: &dyn Engine, dir: &Path) -> Sizes {
    let stats = engine.stats();
    let (file, log) = if stats.file_bytes > 0 {
        (
            stats.file_bytes,
            stats.disk_bytes.saturating_sub(stats.file_bytes),
        )
    } else {
        (dir_bytes(dir), 0)
    };
    Sizes {
        file,
        log,
        engine_live: stats.live_bytes,
        garbage: stats.garbage_bytes,
        checkpoints: stats.checkpoints,
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn header() {
    println!(
        "{:>9} | {:>9} | {:>9} | {:>6} | {:>8} | {:>8} | {:>8} | {:>5} | {:>7} | {:>7} | {:>7}",
        "ops",
        "live MiB",
        "file MiB",
        "ratio",
        "in use",
        "garbage",
        "WAL MiB",
        "ckpts",
        "p50 us",
        "p99 us",
        "max us"
    );
}

fn row(label: &str, live: u64, s: &Sizes, lat: &mut Latencies) {
    let max = lat.quantile(1.0);
    println!(
        "{label:>9} | {:>9} | {:>9} | {:>6.2} | {:>8} | {:>8} | {:>8} | {:>5} | {:>7} | {:>7} | {:>7}",
        mib(live),
        mib(s.file),
        s.file as f64 / live.max(1) as f64,
        mib(s.engine_live),
        mib(s.garbage),
        mib(s.log),
        s.checkpoints,
        lat.quantile(0.5),
        lat.quantile(0.99),
        max,
    );
}

/// Runs the churn on `engine` (files in `dir`) and prints its table.
/// `cheap_stats`: the engine's `stats` costs no walk of its data, so the
/// peak file size is sampled after every batch, not only at each row.
pub fn run(
    engine: &mut dyn Engine,
    dir: &Path,
    plan: &ChurnPlan,
    cheap_stats: bool,
) -> Result<(), String> {
    let fail = |e: zerodb_storage::StorageError| e.to_string();
    let live = live_bytes(plan.live);
    for start in (0..plan.live).step_by(1_000) {
        let mut batch = WriteBatch::new();
        for i in start..(start + 1_000).min(plan.live) {
            batch.put(zerodb_storage::Space::Data, key(i), record(i, i));
        }
        engine.write(batch).map_err(fail)?;
        engine.sync().map_err(fail)?;
    }
    // The node checkpoints on a timer too: start from a checkpointed load.
    engine.checkpoint().map_err(fail)?;
    header();
    row(
        "load",
        live,
        &sizes(engine, dir),
        &mut Latencies(Vec::new()),
    );

    let (mut next, mut oldest) = (plan.live, 0u64);
    let mut interval = Latencies(Vec::new());
    let mut all = Latencies(Vec::new());
    let mut peak_ratio: f64 = 0.0;
    let mut done = 0u64;
    while done < plan.ops {
        let mut batch = WriteBatch::new();
        for n in 0..plan.batch.min(plan.ops - done) {
            if n % 2 == 0 {
                batch.put(zerodb_storage::Space::Data, key(next), record(next, next));
                next += 1;
            } else {
                batch.remove(zerodb_storage::Space::Data, key(oldest));
                oldest += 1;
            }
        }
        done += plan.batch.min(plan.ops - done);
        let started = Instant::now();
        engine.write(batch).map_err(fail)?;
        engine.sync().map_err(fail)?;
        let micros = started.elapsed().as_micros() as u64;
        interval.0.push(micros);
        all.0.push(micros);
        // The live set is the keys not yet removed (one more put than
        // removes while a batch of odd size is cut short).
        let now_live = live_bytes(next - oldest);
        if cheap_stats || done % plan.interval == 0 || done == plan.ops {
            let s = sizes(engine, dir);
            peak_ratio = peak_ratio.max(s.file as f64 / now_live as f64);
            if done % plan.interval == 0 || done == plan.ops {
                row(&done.to_string(), now_live, &s, &mut interval);
                interval.0.clear();
            }
        }
    }
    let started = Instant::now();
    engine.checkpoint().map_err(fail)?;
    let end_checkpoint_ms = started.elapsed().as_millis();
    let end_live = live_bytes(next - oldest);
    let end = sizes(engine, dir);
    peak_ratio = peak_ratio.max(end.file as f64 / end_live as f64);
    row("end", end_live, &end, &mut Latencies(Vec::new()));
    println!(
        "end: file {} MiB for {} MiB live data = {:.2}x (peak {:.2}x); \
         writes p50 {} us, p99 {} us, max {} us over {} batches; final checkpoint {} ms",
        mib(end.file),
        mib(end_live),
        end.file as f64 / end_live as f64,
        peak_ratio,
        all.quantile(0.5),
        all.quantile(0.99),
        all.quantile(1.0),
        all.0.len(),
        end_checkpoint_ms,
    );
    engine.close().map_err(fail)
}
