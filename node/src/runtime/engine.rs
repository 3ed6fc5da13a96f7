//! The storage engine a node runs on, chosen by `storage.engine`: ZeroDB's
//! own engine (default), sled, or memory. One enum rather than a trait
//! object so that engine-specific operations (validation) stay reachable.

use std::path::Path;

use zerodb_config::StorageEngineKind;
use zerodb_storage::{
    Direction, Engine, EngineOptions, EngineStats, Incarnation, MemoryEngine, OpenReport, Record,
    ScanRange, SledEngine, Space, StorageResult, ValidationReport, WriteBatch, ZeroEngine,
};

/// One of the engines behind the [`Engine`] trait. There is one per node,
/// so the size difference between variants does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum NodeEngine {
    /// ZeroDB's WAL + B+Tree engine.
    Zero(ZeroEngine),
    /// sled.
    Sled(SledEngine),
    /// In memory: lost when the process ends.
    Memory(MemoryEngine),
}

impl NodeEngine {
    /// Opens the engine of `kind` in `dir` (created when missing).
    /// `entropy` seeds a memory engine's incarnation.
    pub fn open(
        kind: StorageEngineKind,
        dir: &Path,
        cache_bytes: u64,
        entropy: u64,
    ) -> StorageResult<(NodeEngine, OpenReport)> {
        match kind {
            StorageEngineKind::Zerodb => {
                let options = EngineOptions {
                    cache_bytes: usize::try_from(cache_bytes).unwrap_or(usize::MAX),
                    ..EngineOptions::default()
                };
                let (engine, report) = ZeroEngine::open_dir(dir, options)?;
                Ok((NodeEngine::Zero(engine), report))
            }
            StorageEngineKind::Sled => {
                let (engine, report) = SledEngine::open(dir)?;
                Ok((NodeEngine::Sled(engine), report))
            }
            StorageEngineKind::Memory => {
                let incarnation = Incarnation(entropy | 1);
                let report = OpenReport {
                    wal_records_replayed: 0,
                    wal_records_dropped: 0,
                    created: true,
                    incarnation,
                };
                Ok((NodeEngine::Memory(MemoryEngine::new(incarnation)), report))
            }
        }
    }

    /// The engine's name as configured.
    pub fn name(&self) -> &'static str {
        match self {
            NodeEngine::Zero(_) => "zerodb",
            NodeEngine::Sled(_) => "sled",
            NodeEngine::Memory(_) => "memory",
        }
    }

    /// Walks and checks the store; only the ZeroDB engine supports it.
    pub fn validate(&mut self) -> Option<ValidationReport> {
        match self {
            NodeEngine::Zero(engine) => Some(engine.validate()),
            _ => None,
        }
    }

    fn inner(&mut self) -> &mut dyn Engine {
        match self {
            NodeEngine::Zero(engine) => engine,
            NodeEngine::Sled(engine) => engine,
            NodeEngine::Memory(engine) => engine,
        }
    }

    fn inner_ref(&self) -> &dyn Engine {
        match self {
            NodeEngine::Zero(engine) => engine,
            NodeEngine::Sled(engine) => engine,
            NodeEngine::Memory(engine) => engine,
        }
    }
}

impl Engine for NodeEngine {
    fn get(&mut self, space: Space, key: &[u8]) -> StorageResult<Option<Record>> {
        self.inner().get(space, key)
    }

    fn scan(
        &mut self,
        range: &ScanRange,
        direction: Direction,
        limit: usize,
    ) -> StorageResult<Vec<(Vec<u8>, Record)>> {
        self.inner().scan(range, direction, limit)
    }

    fn write(&mut self, batch: WriteBatch) -> StorageResult<()> {
        self.inner().write(batch)
    }

    fn sync(&mut self) -> StorageResult<()> {
        self.inner().sync()
    }

    fn checkpoint(&mut self) -> StorageResult<()> {
        self.inner().checkpoint()
    }

    fn stats(&self) -> EngineStats {
        self.inner_ref().stats()
    }

    fn incarnation(&self) -> Incarnation {
        self.inner_ref().incarnation()
    }

    fn close(&mut self) -> StorageResult<()> {
        self.inner().close()
    }

    fn sweep_expired(&mut self, now_ms: u64, limit: usize) -> StorageResult<usize> {
        self.inner().sweep_expired(now_ms, limit)
    }
}
