//! The storage engine a node runs on, chosen by `storage.engine`: ZeroDB's
//! own engine (default), sled, or memory. One enum rather than a trait
//! object so that engine-specific operations (validation) stay reachable.
//!
//! The node remembers whether anything was written since the last sync, so
//! that a batch that only read (a strong read, a timer tick that found
//! nothing to do) costs no sync at all, whichever engine runs.

use std::path::Path;

use zerodb_config::StorageEngineKind;
use zerodb_storage::{
    Direction, Engine, EngineOptions, EngineStats, Incarnation, MemoryEngine, OpenReport, Record,
    ScanRange, SledEngine, Space, StorageResult, ValidationReport, WriteBatch, ZeroEngine,
};

/// One of the engines behind the [`Engine`] trait, with a record of
/// whether it holds writes not yet synced.
#[derive(Debug)]
pub struct NodeEngine {
    kind: EngineKind,
    /// Writes since the last sync (`sync` does nothing while false).
    unsynced: bool,
    /// Syncs that had writes to make durable.
    syncs: u64,
}

/// The engine itself. There is one per node, so the size difference
/// between variants does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum EngineKind {
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
                Ok((NodeEngine::new(EngineKind::Zero(engine)), report))
            }
            StorageEngineKind::Sled => {
                let (engine, report) = SledEngine::open(dir)?;
                Ok((NodeEngine::new(EngineKind::Sled(engine)), report))
            }
            StorageEngineKind::Memory => {
                let incarnation = Incarnation(entropy | 1);
                let report = OpenReport {
                    wal_records_replayed: 0,
                    wal_records_dropped: 0,
                    created: true,
                    incarnation,
                };
                let engine = EngineKind::Memory(MemoryEngine::new(incarnation));
                Ok((NodeEngine::new(engine), report))
            }
        }
    }

    fn new(kind: EngineKind) -> NodeEngine {
        NodeEngine {
            kind,
            // Opening may have written (a new store, a replayed WAL): the
            // first sync always runs.
            unsynced: true,
            syncs: 0,
        }
    }

    /// The engine's name as configured.
    pub fn name(&self) -> &'static str {
        match self.kind {
            EngineKind::Zero(_) => "zerodb",
            EngineKind::Sled(_) => "sled",
            EngineKind::Memory(_) => "memory",
        }
    }

    /// Walks and checks the store; only the ZeroDB engine supports it.
    pub fn validate(&mut self) -> Option<ValidationReport> {
        match &mut self.kind {
            EngineKind::Zero(engine) => Some(engine.validate()),
            _ => None,
        }
    }

    /// Whether writes since the last sync wait to be made durable.
    pub fn needs_sync(&self) -> bool {
        self.unsynced
    }

    /// Syncs that had writes to make durable (a sync with nothing to do
    /// is not counted, and costs nothing).
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    fn inner(&mut self) -> &mut dyn Engine {
        match &mut self.kind {
            EngineKind::Zero(engine) => engine,
            EngineKind::Sled(engine) => engine,
            EngineKind::Memory(engine) => engine,
        }
    }

    fn inner_ref(&self) -> &dyn Engine {
        match &self.kind {
            EngineKind::Zero(engine) => engine,
            EngineKind::Sled(engine) => engine,
            EngineKind::Memory(engine) => engine,
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
        // Marked before the write: a failed write may have appended part of
        // the batch, and the next sync must not skip it.
        self.unsynced = true;
        self.inner().write(batch)
    }

    fn sync(&mut self) -> StorageResult<()> {
        if !self.unsynced {
            return Ok(());
        }
        self.inner().sync()?;
        self.unsynced = false;
        self.syncs += 1;
        Ok(())
    }

    fn checkpoint(&mut self) -> StorageResult<()> {
        self.inner().checkpoint()?;
        // A checkpoint makes everything so far durable.
        self.unsynced = false;
        Ok(())
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
        let swept = self.inner().sweep_expired(now_ms, limit);
        // Nothing turned means nothing written; an error may have written.
        if !matches!(swept, Ok(0)) {
            self.unsynced = true;
        }
        swept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerodb_storage::Version;

    fn memory() -> NodeEngine {
        let dir = std::env::temp_dir();
        NodeEngine::open(StorageEngineKind::Memory, &dir, 0, 7)
            .expect("a memory engine opens")
            .0
    }

    fn put(engine: &mut NodeEngine, key: &[u8]) {
        let mut batch = WriteBatch::new();
        batch.put(
            Space::Data,
            key.to_vec(),
            Record::value(Version::ZERO, b"v".to_vec()),
        );
        engine.write(batch).expect("write");
    }

    #[test]
    fn syncs_only_when_something_was_written() {
        let mut engine = memory();
        // A new store may hold what opening wrote: the first sync runs.
        assert!(engine.needs_sync());
        engine.sync().expect("sync");
        assert_eq!(engine.syncs(), 1);
        assert!(!engine.needs_sync());
        // Nothing written since: free, and not counted.
        engine.sync().expect("sync");
        engine.get(Space::Data, b"k").expect("get");
        engine.sync().expect("sync");
        assert_eq!(engine.syncs(), 1);
        assert_eq!(engine.stats().syncs, 1, "the inner engine was not asked");
        put(&mut engine, b"k");
        assert!(engine.needs_sync());
        engine.sync().expect("sync");
        assert_eq!(engine.syncs(), 2);
        assert_eq!(engine.stats().syncs, 2);
        // A sweep that expires nothing writes nothing.
        assert_eq!(engine.sweep_expired(1_000, 10).expect("sweep"), 0);
        assert!(!engine.needs_sync());
    }

    #[test]
    fn a_sync_makes_the_writes_durable_and_only_those() {
        let mut engine = memory();
        put(&mut engine, b"a");
        engine.sync().expect("sync");
        engine.sync().expect("a sync with nothing to do");
        put(&mut engine, b"b");
        let EngineKind::Memory(inner) = &mut engine.kind else {
            panic!("a memory engine");
        };
        inner.crash();
        assert!(engine.get(Space::Data, b"a").expect("get").is_some());
        assert!(engine.get(Space::Data, b"b").expect("get").is_none());
    }
}
