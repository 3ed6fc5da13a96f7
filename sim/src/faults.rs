//! Fault rates: how hostile a run is. Rates vary per seed so that a sweep
//! covers calm runs, noisy networks and crash storms.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::net::NetConfig;

/// How hostile a run is (`--faults`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum FaultLevel {
    /// No faults: a reliable network, no crashes, no skew.
    None,
    /// Occasional faults.
    Light,
    /// Frequent faults of every kind.
    Heavy,
    /// Drawn per seed between none and heavy (the default).
    #[default]
    Mixed,
}

impl std::str::FromStr for FaultLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<FaultLevel, String> {
        match text {
            "none" => Ok(FaultLevel::None),
            "light" => Ok(FaultLevel::Light),
            "heavy" => Ok(FaultLevel::Heavy),
            "mixed" => Ok(FaultLevel::Mixed),
            other => Err(format!(
                "unknown fault level {other:?}; use none, light, heavy or mixed"
            )),
        }
    }
}

/// A kind of fault that can be switched off (`--without`), to narrow down
/// which fault a failing seed needs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Node crashes (and with them disk loss, mid-batch crashes and the
    /// disk faults, each of which ends in a crash).
    Crash,
    /// Disk loss on crash.
    Wipe,
    /// Crashes between handling an input and its sync.
    MidBatch,
    /// Network partitions.
    Partition,
    /// One-way link cuts.
    OneWay,
    /// Process pauses.
    Pause,
    /// Clock skew and drift.
    Clock,
    /// Clock jumps.
    Jump,
    /// Message loss, duplication and stragglers.
    Network,
    /// A failed `fsync` (ZeroDB's engine only).
    SyncFail,
    /// A failed write (ZeroDB's engine only).
    WriteError,
    /// A failed read (ZeroDB's engine only).
    ReadError,
    /// A flipped bit in a durable file (ZeroDB's engine only).
    BitFlip,
}

impl FaultKind {
    /// Every kind, in command-line order.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Crash,
        FaultKind::Wipe,
        FaultKind::MidBatch,
        FaultKind::Partition,
        FaultKind::OneWay,
        FaultKind::Pause,
        FaultKind::Clock,
        FaultKind::Jump,
        FaultKind::Network,
        FaultKind::SyncFail,
        FaultKind::WriteError,
        FaultKind::ReadError,
        FaultKind::BitFlip,
    ];

    /// The disk faults, in the order of [`FaultRates::disk_weights`].
    pub const DISK: [FaultKind; 4] = [
        FaultKind::SyncFail,
        FaultKind::WriteError,
        FaultKind::ReadError,
        FaultKind::BitFlip,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Wipe => "wipe",
            FaultKind::MidBatch => "mid-batch",
            FaultKind::Partition => "partition",
            FaultKind::OneWay => "one-way",
            FaultKind::Pause => "pause",
            FaultKind::Clock => "clock",
            FaultKind::Jump => "jump",
            FaultKind::Network => "network",
            FaultKind::SyncFail => "sync-fail",
            FaultKind::WriteError => "write-error",
            FaultKind::ReadError => "read-error",
            FaultKind::BitFlip => "bit-flip",
        }
    }
}

impl std::str::FromStr for FaultKind {
    type Err = String;

    fn from_str(text: &str) -> Result<FaultKind, String> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown fault kind {text:?}; use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The fault rates of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRates {
    /// Network latency, loss, duplication, stragglers.
    pub net: NetConfig,
    /// Mean simulated time between injected faults (0: none).
    pub fault_interval_ms: u64,
    /// Relative weights of crash, partition, pause, clock jump, one-way cut.
    pub weights: [u32; 5],
    /// Probability that a crash also loses the disk (bounded so that fewer
    /// than a quorum of a partition lose state at a time).
    pub wipe: f64,
    /// Probability that a crash strikes in the middle of a batch, before its
    /// sync (losing the batch's unsynced writes and outputs).
    pub crash_mid_batch: f64,
    /// Longest outage (crash until restart, partition until heal, pause).
    pub outage_ms_max: u64,
    /// Largest initial clock skew, either way.
    pub skew_ms_max: i64,
    /// Largest clock drift, either way, in parts per million.
    pub drift_ppm_max: i64,
    /// Relative weights of the disk faults ([`FaultKind::DISK`]), drawn
    /// beside `weights`: all zero on the memory engine, which has no files
    /// to fail, and at the none and light levels.
    pub disk_weights: [u32; 4],
}

impl FaultRates {
    /// No faults at all.
    pub fn none() -> FaultRates {
        FaultRates {
            net: NetConfig::reliable(),
            fault_interval_ms: 0,
            weights: [0; 5],
            wipe: 0.0,
            crash_mid_batch: 0.0,
            outage_ms_max: 0,
            skew_ms_max: 0,
            drift_ppm_max: 0,
            disk_weights: [0; 4],
        }
    }

    /// Draws the rates of one run.
    pub fn draw(level: FaultLevel, rng: &mut StdRng) -> FaultRates {
        let intensity = match level {
            FaultLevel::None => return FaultRates::none(),
            FaultLevel::Light => rng.random_range(0.1..0.4),
            FaultLevel::Heavy => rng.random_range(0.7..1.0),
            FaultLevel::Mixed => {
                if rng.random_bool(0.1) {
                    return FaultRates::none();
                }
                rng.random_range(0.05..1.0)
            }
        };
        let net = NetConfig {
            latency_min_us: rng.random_range(100..500),
            latency_mean_us: rng.random_range(200..2_000),
            straggler: 0.05 * intensity,
            straggler_max_us: rng.random_range(1_000..50_000),
            loss: 0.05 * intensity * rng.random_range(0.0..1.0),
            duplicate: 0.05 * intensity * rng.random_range(0.0..1.0),
        };
        let weight = |rng: &mut StdRng| rng.random_range(0..10u32);
        FaultRates {
            net,
            fault_interval_ms: (40.0 / intensity) as u64,
            weights: [
                weight(rng) + 2,
                weight(rng) + 2,
                weight(rng),
                weight(rng),
                weight(rng),
            ],
            wipe: 0.3 * intensity,
            crash_mid_batch: 0.5,
            outage_ms_max: rng.random_range(100..3_000),
            skew_ms_max: (rng.random_range(0..500) as f64 * intensity) as i64,
            drift_ppm_max: (rng.random_range(0..2_000) as f64 * intensity) as i64,
            disk_weights: [0; 4],
        }
    }

    /// Draws the disk fault weights of a run whose disks can fail
    /// ([`crate::disk::SimDisk::FILE_FAULTS`]), from their own stream of
    /// `seed` so that every other choice of the run stays as it was
    /// without them (and memory-engine runs are unchanged). Only the
    /// mixed and heavy levels strike disks.
    pub fn draw_disk(&mut self, level: FaultLevel, seed: u64) {
        if !matches!(level, FaultLevel::Mixed | FaultLevel::Heavy) || self.fault_interval_ms == 0 {
            return;
        }
        let mut rng = StdRng::seed_from_u64(seed ^ 0xd15c_fa17_u64);
        for weight in &mut self.disk_weights {
            *weight = rng.random_range(1..5u32);
        }
    }
}

impl FaultRates {
    /// Switches one kind of fault off.
    pub fn without(&mut self, kind: FaultKind) {
        match kind {
            FaultKind::Crash => {
                self.weights[0] = 0;
                self.wipe = 0.0;
                self.crash_mid_batch = 0.0;
                // Every disk fault ends in a crash and a restart.
                self.disk_weights = [0; 4];
            }
            FaultKind::Wipe => self.wipe = 0.0,
            FaultKind::MidBatch => self.crash_mid_batch = 0.0,
            FaultKind::Partition => self.weights[1] = 0,
            FaultKind::Pause => self.weights[2] = 0,
            FaultKind::Clock => {
                self.skew_ms_max = 0;
                self.drift_ppm_max = 0;
            }
            FaultKind::Jump => self.weights[3] = 0,
            FaultKind::OneWay => self.weights[4] = 0,
            FaultKind::Network => {
                self.net.loss = 0.0;
                self.net.duplicate = 0.0;
                self.net.straggler = 0.0;
            }
            FaultKind::SyncFail
            | FaultKind::WriteError
            | FaultKind::ReadError
            | FaultKind::BitFlip => {
                let index = FaultKind::DISK.iter().position(|k| *k == kind);
                self.disk_weights[index.expect("a disk fault")] = 0;
            }
        }
    }
}

/// Faults injected during a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Node crashes.
    pub crashes: u64,
    /// Crashes that struck mid-batch, before the sync.
    pub crashes_mid_batch: u64,
    /// Disks lost.
    pub wipes: u64,
    /// Network partitions (including one-way cuts).
    pub partitions: u64,
    /// Process pauses.
    pub pauses: u64,
    /// Clock jumps.
    pub clock_jumps: u64,
    /// Messages lost (randomly or to a partition).
    pub messages_lost: u64,
    /// Messages delivered twice.
    pub messages_duplicated: u64,
    /// Disk faults; `None` when the disks cannot fail (the memory engine).
    pub disk: Option<DiskFaultCounts>,
}

/// Disk faults that struck during a run (ZeroDB's engine only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskFaultCounts {
    /// Failed syncs that stopped a node's engine.
    pub sync_failures: u64,
    /// Failed writes that stopped a node's engine.
    pub write_errors: u64,
    /// Failed reads that stopped a node's engine.
    pub read_errors: u64,
    /// Bits flipped in durable files.
    pub bit_flips: u64,
    /// Flips the engine caught on reopen (it refused to open, found a
    /// damaged page, or cut synced WAL records under a new incarnation):
    /// the node came back as a new incarnation.
    pub flips_caught: u64,
}

impl DiskFaultCounts {
    fn total(&self) -> u64 {
        self.sync_failures + self.write_errors + self.read_errors + self.bit_flips
    }

    fn add(&mut self, other: &DiskFaultCounts) {
        self.sync_failures += other.sync_failures;
        self.write_errors += other.write_errors;
        self.read_errors += other.read_errors;
        self.bit_flips += other.bit_flips;
        self.flips_caught += other.flips_caught;
    }
}

impl FaultCounts {
    /// Faults injected, messages included.
    pub fn total(&self) -> u64 {
        self.crashes
            + self.wipes
            + self.partitions
            + self.pauses
            + self.clock_jumps
            + self.messages_lost
            + self.messages_duplicated
            + self.disk.as_ref().map_or(0, DiskFaultCounts::total)
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: &FaultCounts) {
        self.crashes += other.crashes;
        self.crashes_mid_batch += other.crashes_mid_batch;
        self.wipes += other.wipes;
        self.partitions += other.partitions;
        self.pauses += other.pauses;
        self.clock_jumps += other.clock_jumps;
        self.messages_lost += other.messages_lost;
        self.messages_duplicated += other.messages_duplicated;
        if let Some(theirs) = &other.disk {
            self.disk.get_or_insert_with(Default::default).add(theirs);
        }
    }
}

impl std::fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} crashes ({} mid-batch), {} disks lost, {} partitions, {} pauses, {} clock jumps, \
             {} messages lost, {} duplicated",
            self.crashes,
            self.crashes_mid_batch,
            self.wipes,
            self.partitions,
            self.pauses,
            self.clock_jumps,
            self.messages_lost,
            self.messages_duplicated
        )?;
        match &self.disk {
            None => write!(
                f,
                "; no disk faults (the memory engine has no files to fail)"
            ),
            Some(disk) => write!(
                f,
                "; disk faults: {} sync failures, {} write errors, {} read errors, \
                 {} bit flips ({} caught on reopen)",
                disk.sync_failures,
                disk.write_errors,
                disk.read_errors,
                disk.bit_flips,
                disk.flips_caught
            ),
        }
    }
}
