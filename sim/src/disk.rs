//! Simulated disks: the in-memory engine, and ZeroDB's own engine over a
//! fault-injecting in-memory file system.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::RngExt;
use zerodb_storage::{
    CrashMode, Direction, Engine, EngineOptions, EngineStats, FaultVfs, Incarnation, MemoryEngine,
    Record, ScanRange, Space, StorageError, StorageResult, Vfs, WriteBatch, ZeroEngine,
};

/// An I/O fault armed on a disk: operations of its kind fail after a
/// countdown, until the disk is crashed (the operator restarts the node
/// once the transient error is gone).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IoFault {
    /// `fsync` fails.
    Sync,
    /// Writes (and `set_len`, rename, remove) fail.
    Write,
    /// Reads fail (the write buffer is checkpointed into the tree and the
    /// page cache dropped first, so that reads reach the file).
    Read,
}

/// A disk the simulator can crash and lose.
pub trait SimDisk: Engine + Sized {
    /// Whether the disk has files that can fail I/O and rot: true for
    /// ZeroDB's engine over the fault-injecting file system, false for the
    /// memory engine (the simulator then never draws disk faults).
    const FILE_FAULTS: bool;
    /// A fresh, empty disk; `seed` fixes its random choices.
    fn fresh(seed: u64) -> StorageResult<Self>;
    /// Crash: unsynced writes are lost (or torn); synced ones survive.
    fn crash(&mut self) -> StorageResult<()>;
    /// The whole disk is lost; it comes back empty with a new incarnation.
    fn wipe(&mut self, seed: u64) -> StorageResult<()>;
    /// Arms `fault` to strike after `after` more operations of its kind.
    fn arm(&mut self, fault: IoFault, after: u64) -> StorageResult<()>;
    /// Stops failing operations.
    fn clear_faults(&mut self);
    /// Flips one bit at a random offset of the durable contents of a random
    /// file (bit rot); says where, or `None` when there is nothing to flip.
    fn flip_random_bit(&mut self, rng: &mut StdRng) -> Option<String>;
    /// Reopens the store from its files and checks every page: an error
    /// means the disk cannot be trusted (the simulator then loses it).
    fn reopen_checked(&mut self) -> StorageResult<()>;
}

impl SimDisk for MemoryEngine {
    const FILE_FAULTS: bool = false;

    fn fresh(seed: u64) -> StorageResult<Self> {
        Ok(MemoryEngine::new(Incarnation(seed)))
    }

    fn crash(&mut self) -> StorageResult<()> {
        MemoryEngine::crash(self);
        Ok(())
    }

    fn wipe(&mut self, seed: u64) -> StorageResult<()> {
        MemoryEngine::wipe(self, Incarnation(seed));
        Ok(())
    }

    fn arm(&mut self, _fault: IoFault, _after: u64) -> StorageResult<()> {
        Ok(())
    }

    fn clear_faults(&mut self) {}

    fn flip_random_bit(&mut self, _rng: &mut StdRng) -> Option<String> {
        None
    }

    fn reopen_checked(&mut self) -> StorageResult<()> {
        Ok(())
    }
}

/// The engine's directory on the simulated file system.
const DIR: &str = "data";

/// Page cache of a simulated node: small, so that the tree is read from
/// "disk" often.
pub const ZERO_CACHE_BYTES: usize = 1 << 20;

/// WAL size that triggers a checkpoint: small, so that runs checkpoint.
pub const ZERO_CHECKPOINT_WAL_BYTES: u64 = 256 << 10;

/// Pages a checkpoint part may replace before it is published: small, so
/// that the simulator's small trees checkpoint in several parts (crashes
/// between parts, and reuse of the pages a part freed).
pub const ZERO_CHECKPOINT_PART_PAGES: u64 = 8;

/// [`ZeroEngine`] over a [`FaultVfs`] whose crashes keep a random prefix of
/// the unsynced writes and may tear the first one they do not keep whole.
pub struct ZeroDisk {
    vfs: FaultVfs,
    engine: ZeroEngine,
    seed: u64,
    opens: u64,
}

impl ZeroDisk {
    fn options(&self) -> EngineOptions {
        EngineOptions {
            cache_bytes: ZERO_CACHE_BYTES,
            checkpoint_wal_bytes: ZERO_CHECKPOINT_WAL_BYTES,
            incarnation_seed: self.seed ^ self.opens.rotate_left(32),
        }
    }

    fn open(vfs: FaultVfs, seed: u64) -> StorageResult<ZeroDisk> {
        vfs.set_crash_mode(CrashMode::KeepRandomPrefixTorn);
        let options = EngineOptions {
            cache_bytes: ZERO_CACHE_BYTES,
            checkpoint_wal_bytes: ZERO_CHECKPOINT_WAL_BYTES,
            incarnation_seed: seed,
        };
        let (mut engine, _) = ZeroEngine::open(Arc::new(vfs.clone()), DIR, options)?;
        engine.set_checkpoint_part_pages(ZERO_CHECKPOINT_PART_PAGES);
        Ok(ZeroDisk {
            vfs,
            engine,
            seed,
            opens: 1,
        })
    }

    fn reopen(&mut self) -> StorageResult<()> {
        let options = self.options();
        let (mut engine, _) = ZeroEngine::open(Arc::new(self.vfs.clone()), DIR, options)?;
        engine.set_checkpoint_part_pages(ZERO_CHECKPOINT_PART_PAGES);
        self.engine = engine;
        self.opens += 1;
        Ok(())
    }
}

impl SimDisk for ZeroDisk {
    const FILE_FAULTS: bool = true;

    fn fresh(seed: u64) -> StorageResult<Self> {
        ZeroDisk::open(FaultVfs::new(seed), seed)
    }

    fn crash(&mut self) -> StorageResult<()> {
        self.vfs.crash();
        self.reopen()
    }

    fn wipe(&mut self, seed: u64) -> StorageResult<()> {
        *self = ZeroDisk::open(FaultVfs::new(seed), seed)?;
        Ok(())
    }

    fn arm(&mut self, fault: IoFault, after: u64) -> StorageResult<()> {
        match fault {
            IoFault::Sync => self.vfs.fail_syncs_after(after),
            IoFault::Write => self.vfs.fail_writes_after(after),
            IoFault::Read => {
                // Reads reach the file only for records in the tree, not
                // in the write buffer, and only past the page cache.
                self.engine.checkpoint()?;
                self.engine.evict_cache();
                self.vfs.fail_reads_after(after);
            }
        }
        Ok(())
    }

    fn clear_faults(&mut self) {
        self.vfs.clear_faults();
    }

    fn flip_random_bit(&mut self, rng: &mut StdRng) -> Option<String> {
        let files: Vec<(String, u64)> = self
            .vfs
            .list(DIR)
            .ok()?
            .into_iter()
            .filter_map(|name| {
                let len = self.vfs.durable_len(DIR, &name).ok()?;
                (len > 0).then_some((name, len))
            })
            .collect();
        if files.is_empty() {
            return None;
        }
        let (name, len) = &files[rng.random_range(0..files.len())];
        let offset = rng.random_range(0..*len);
        let bit = rng.random_range(0..8u8);
        self.vfs.flip_bit(DIR, name, offset, bit).ok()?;
        Some(format!("{name} byte {offset} bit {bit}"))
    }

    fn reopen_checked(&mut self) -> StorageResult<()> {
        self.reopen()?;
        let report = self.engine.validate();
        if report.is_ok() {
            return Ok(());
        }
        Err(StorageError::Corruption {
            what: format!("{DIR}/{}", zerodb_storage::ZERO_MAIN_FILE),
            detail: report.problems.join("; "),
        })
    }
}

impl Engine for ZeroDisk {
    fn get(&mut self, space: Space, key: &[u8]) -> StorageResult<Option<Record>> {
        self.engine.get(space, key)
    }

    fn scan(
        &mut self,
        range: &ScanRange,
        direction: Direction,
        limit: usize,
    ) -> StorageResult<Vec<(Vec<u8>, Record)>> {
        self.engine.scan(range, direction, limit)
    }

    fn write(&mut self, batch: WriteBatch) -> StorageResult<()> {
        self.engine.write(batch)
    }

    fn sync(&mut self) -> StorageResult<()> {
        self.engine.sync()
    }

    fn checkpoint(&mut self) -> StorageResult<()> {
        self.engine.checkpoint()
    }

    fn stats(&self) -> EngineStats {
        self.engine.stats()
    }

    fn incarnation(&self) -> Incarnation {
        self.engine.incarnation()
    }

    fn close(&mut self) -> StorageResult<()> {
        self.engine.close()
    }
}

#[cfg(test)]
mod tests {
    use zerodb_storage::Version;

    use super::*;

    fn put(disk: &mut impl SimDisk, key: &[u8], physical_ms: u64) {
        let mut batch = WriteBatch::new();
        batch.put(
            Space::Data,
            key.to_vec(),
            Record::value(
                Version {
                    physical_ms,
                    logical: 0,
                    node: 1,
                },
                b"v".to_vec(),
            ),
        );
        disk.write(batch).unwrap();
    }

    fn crash_keeps_synced_and_loses_unsynced<D: SimDisk>() {
        let mut disk = D::fresh(9).unwrap();
        let incarnation = disk.incarnation();
        put(&mut disk, b"synced", 1);
        disk.sync().unwrap();
        put(&mut disk, b"unsynced", 2);
        disk.crash().unwrap();
        assert!(disk.get(Space::Data, b"synced").unwrap().is_some());
        // A torn or dropped tail may keep or lose the unsynced write, but
        // the store stays the same incarnation.
        assert_eq!(disk.incarnation(), incarnation);
        disk.wipe(10).unwrap();
        assert!(disk.get(Space::Data, b"synced").unwrap().is_none());
        assert_ne!(disk.incarnation(), incarnation);
    }

    #[test]
    fn memory_disk_crashes_and_wipes() {
        crash_keeps_synced_and_loses_unsynced::<MemoryEngine>();
        let mut disk = MemoryEngine::fresh(1).unwrap();
        put(&mut disk, b"unsynced", 2);
        SimDisk::crash(&mut disk).unwrap();
        assert!(disk.get(Space::Data, b"unsynced").unwrap().is_none());
    }

    #[test]
    fn zero_disk_crashes_and_wipes() {
        crash_keeps_synced_and_loses_unsynced::<ZeroDisk>();
    }
}
