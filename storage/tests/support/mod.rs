//! Test support shared by the conformance suite and the model tests: one
//! [`Harness`] per engine, so every engine runs the same cases, and a
//! self-removing temporary directory.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use zerodb_storage::{
    CrashMode, Engine, EngineOptions, FaultVfs, Incarnation, MemoryEngine, Record, SledEngine,
    Version, ZeroEngine,
};

/// A directory under the system temporary directory, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new, empty directory whose name contains `label`.
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("zerodb-test-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One engine under test plus whatever it needs to be reopened.
pub trait Harness: Sized {
    /// The engine type.
    type E: Engine;
    /// Whether `EngineStats::records` is tracked.
    const COUNTS_RECORDS: bool;
    /// Whether the engine lives on a disk, so `disk_bytes` must be non-zero.
    const ON_DISK: bool;
    /// A fresh, empty store.
    fn fresh() -> Self;
    /// The open engine.
    fn engine(&mut self) -> &mut Self::E;
    /// Closes the engine if still open and opens the same store again.
    fn reopen(&mut self);
    /// Whether [`Harness::crash_and_reopen`] is supported.
    const CAN_CRASH: bool = false;
    /// Simulates power loss followed by a restart: what was not synced may
    /// be lost (whole batches, oldest kept first).
    fn crash_and_reopen(&mut self) {
        unreachable!("this harness cannot simulate a crash");
    }
}

/// [`MemoryEngine`]; reopening is its `crash`, which keeps synced batches.
pub struct MemoryHarness {
    engine: MemoryEngine,
}

impl Harness for MemoryHarness {
    type E = MemoryEngine;
    const COUNTS_RECORDS: bool = true;
    const ON_DISK: bool = false;

    fn fresh() -> Self {
        MemoryHarness {
            engine: MemoryEngine::new(Incarnation(7)),
        }
    }

    fn engine(&mut self) -> &mut MemoryEngine {
        &mut self.engine
    }

    fn reopen(&mut self) {
        let _ = self.engine.close();
        self.engine.crash();
    }

    const CAN_CRASH: bool = true;

    fn crash_and_reopen(&mut self) {
        self.engine.crash();
    }
}

/// [`SledEngine`] in a temporary directory.
pub struct SledHarness {
    // Field order matters: the engine must drop before its directory.
    engine: Option<SledEngine>,
    dir: TempDir,
}

impl Harness for SledHarness {
    type E = SledEngine;
    const COUNTS_RECORDS: bool = true;
    const ON_DISK: bool = true;

    fn fresh() -> Self {
        let dir = TempDir::new("sled");
        let (engine, report) = SledEngine::open(dir.path()).expect("open sled");
        assert!(report.created, "a fresh sled store reports created");
        SledHarness {
            engine: Some(engine),
            dir,
        }
    }

    fn engine(&mut self) -> &mut SledEngine {
        self.engine.as_mut().expect("engine open")
    }

    fn reopen(&mut self) {
        if let Some(mut engine) = self.engine.take() {
            let _ = engine.close();
        }
        let (engine, report) = SledEngine::open(self.dir.path()).expect("reopen sled");
        assert!(!report.created, "a reopened sled store is not new");
        self.engine = Some(engine);
    }
}

/// [`ZeroEngine`] on the real file system, default options.
pub struct ZeroDirHarness {
    engine: Option<ZeroEngine>,
    dir: TempDir,
}

impl Harness for ZeroDirHarness {
    type E = ZeroEngine;
    const COUNTS_RECORDS: bool = true;
    const ON_DISK: bool = true;

    fn fresh() -> Self {
        let dir = TempDir::new("zero");
        let (engine, report) =
            ZeroEngine::open_dir(dir.path(), EngineOptions::default()).expect("open zero");
        assert!(report.created, "a fresh zero store reports created");
        ZeroDirHarness {
            engine: Some(engine),
            dir,
        }
    }

    fn engine(&mut self) -> &mut ZeroEngine {
        self.engine.as_mut().expect("engine open")
    }

    fn reopen(&mut self) {
        if let Some(mut engine) = self.engine.take() {
            let _ = engine.close();
        }
        let (engine, report) =
            ZeroEngine::open_dir(self.dir.path(), EngineOptions::default()).expect("reopen zero");
        assert!(!report.created, "a reopened zero store is not new");
        self.engine = Some(engine);
    }
}

/// Options that make a small test reach checkpoints, evictions and WAL
/// rotation.
pub fn small_zero_options() -> EngineOptions {
    EngineOptions {
        cache_bytes: 64 * 1024,
        checkpoint_wal_bytes: 16 * 1024,
        incarnation_seed: 11,
    }
}

/// [`ZeroEngine`] over a [`FaultVfs`] whose crashes keep a random prefix of
/// the unsynced writes and tear the next one: the harshest crash it offers.
pub struct ZeroFaultHarness {
    engine: Option<ZeroEngine>,
    vfs: FaultVfs,
}

impl ZeroFaultHarness {
    fn open(&mut self) {
        let (engine, _) = ZeroEngine::open(Arc::new(self.vfs.clone()), "db", small_zero_options())
            .expect("open zero over FaultVfs");
        self.engine = Some(engine);
    }
}

impl Harness for ZeroFaultHarness {
    type E = ZeroEngine;
    const COUNTS_RECORDS: bool = true;
    const ON_DISK: bool = true;

    fn fresh() -> Self {
        let vfs = FaultVfs::new(0x5eed);
        vfs.set_crash_mode(CrashMode::KeepRandomPrefixTorn);
        let mut harness = ZeroFaultHarness { engine: None, vfs };
        harness.open();
        harness
    }

    fn engine(&mut self) -> &mut ZeroEngine {
        self.engine.as_mut().expect("engine open")
    }

    fn reopen(&mut self) {
        if let Some(mut engine) = self.engine.take() {
            let _ = engine.close();
        }
        self.open();
    }

    const CAN_CRASH: bool = true;

    fn crash_and_reopen(&mut self) {
        // Power fails with the engine still running; it never gets to
        // close. The crash happens first so nothing it holds reaches disk.
        self.vfs.crash();
        drop(self.engine.take());
        self.open();
    }
}

/// A version with physical time `n`.
pub fn v(n: u64) -> Version {
    Version {
        physical_ms: n,
        logical: 0,
        node: 1,
    }
}

/// A live record with version `n` and value `value`.
pub fn val(n: u64, value: &[u8]) -> Record {
    Record::value(v(n), value.to_vec())
}

/// The key of record `i` in the corruption tests (`key00042`).
pub fn numbered_key(i: u64) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

/// Record `i` of the corruption tests: every third one spans pages
/// (`100 + (i % 3) * spread` bytes), so flips hit leaves and overflow.
pub fn numbered_record(i: u64, spread: usize) -> Record {
    Record::value(
        Version {
            physical_ms: i,
            logical: 0,
            node: 1,
        },
        vec![(i % 251) as u8; 100 + (i as usize % 3) * spread],
    )
}

/// Writes records `range` (see [`numbered_record`]) in one batch.
pub fn fill_numbered(engine: &mut ZeroEngine, range: std::ops::Range<u64>, spread: usize) {
    let mut batch = zerodb_storage::WriteBatch::new();
    for i in range {
        batch.put(
            zerodb_storage::Space::Data,
            numbered_key(i),
            numbered_record(i, spread),
        );
    }
    engine.write(batch).unwrap();
}
