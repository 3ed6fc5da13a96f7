//! [`ZeroEngine`]: ZeroDB's own storage engine (DESIGN.md section 8,
//! byte format in `storage/FORMAT.md`).
//!
//! Writes go to a logical redo WAL (one CRC-framed record per batch) and to
//! an in-memory write buffer (the memtable) that reads consult first. `sync`
//! makes every buffered WAL record durable with one fsync (group commit). A
//! checkpoint merges the memtable into a copy-on-write B+Tree of 8 KiB
//! pages in the main file, syncs it, publishes it through one of two
//! superblocks, and starts a fresh WAL. The main file therefore always holds
//! the last checkpoint's consistent tree, and recovery is: pick the newest
//! valid superblock, replay the WAL records after it, cut a damaged tail.

mod btree;
mod checkpoint;
mod codec;
mod count;
mod freelist;
mod memtable;
mod open;
mod page;
mod pager;
mod publish;
mod relocate;
mod repair;
mod scan;
mod superblock;
mod validate;
mod wal;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use crate::vfs::{RealVfs, Vfs};
use crate::{
    Direction, Engine, EngineStats, Incarnation, OpenReport, Record, ScanRange, Space,
    StorageError, StorageResult, WriteBatch, WriteOp,
};
use count::{adjust, tree_contains};
use freelist::load_freelist;
use memtable::Memtable;
use pager::Pager;
use superblock::Superblock;
use wal::Wal;

pub use page::PAGE_SIZE;
pub use repair::RepairReport;
pub use validate::ValidationReport;

/// Name of the paged main file inside the engine's directory.
pub const MAIN_FILE: &str = "zerodb.pages";

/// Settings of a [`ZeroEngine`]. The page size is fixed at [`PAGE_SIZE`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// Byte budget of the page cache (default 64 MiB). The data set may be
    /// any multiple of it.
    pub cache_bytes: usize,
    /// A checkpoint runs automatically once the WAL holds this many bytes
    /// (default 64 MiB). The memtable holds about as much in memory.
    pub checkpoint_wal_bytes: u64,
    /// Entropy for new incarnation ids. `open_dir` takes it from the clock
    /// when 0; callers of `open` (the simulator) pass a seeded value.
    pub incarnation_seed: u64,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            cache_bytes: 64 * 1024 * 1024,
            checkpoint_wal_bytes: 64 * 1024 * 1024,
            incarnation_seed: 0,
        }
    }
}

/// ZeroDB's WAL + B+Tree engine over a [`Vfs`].
pub struct ZeroEngine {
    vfs: Arc<dyn Vfs>,
    dir: String,
    options: EngineOptions,
    pager: Pager,
    wal: Wal,
    memtable: Memtable,
    /// The durable superblock (last checkpoint).
    superblock: Superblock,
    /// Pages free in the durable state.
    free: BTreeSet<u64>,
    /// Pages of the durable free-list chain.
    freelist_pages: Vec<u64>,
    /// Checkpoint even if the memtable is empty (a new incarnation to store,
    /// or a damaged superblock to rewrite).
    force_checkpoint: bool,
    /// A new incarnation the next checkpoint stores (the durable one is in
    /// `superblock`).
    new_incarnation: Option<u64>,
    poisoned: Option<String>,
    closed: bool,
    checkpoints: u64,
    syncs: u64,
    /// Records stored now (tombstones included): the last checkpoint's
    /// count plus what the memtable adds or removes, kept up to date as the
    /// memtable changes.
    records: u64,
    /// False once a tree lookup for the count failed (a damaged page).
    records_exact: bool,
    key_buf: Vec<u8>,
    /// Pages a checkpoint part may replace before it is published; 0 picks
    /// the budget from the pages in use (see `publish.rs`).
    part_release_pages: u64,
}

impl std::fmt::Debug for ZeroEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeroEngine")
            .field("dir", &self.dir)
            .field("generation", &self.superblock.generation)
            .field("memtable", &self.memtable.len())
            .finish_non_exhaustive()
    }
}

/// splitmix64 finaliser: spreads seeds into incarnation ids.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn new_incarnation(seed: u64, previous: u64) -> u64 {
    let mut id = mix(seed ^ mix(previous));
    if id == 0 || id == previous {
        id = id.wrapping_add(1).max(1);
    }
    id
}

fn io_error(dir: &str, name: &str, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: Path::new(dir).join(name),
        source,
    }
}

impl ZeroEngine {
    /// Opens (or creates) the store in `dir` of `vfs`, recovering from the
    /// WAL. The report says what recovery replayed and cut, and whether a
    /// new incarnation was issued.
    pub fn open(
        vfs: Arc<dyn Vfs>,
        dir: &str,
        options: EngineOptions,
    ) -> StorageResult<(ZeroEngine, OpenReport)> {
        vfs.create_dir_all(dir).map_err(|e| io_error(dir, "", e))?;
        let existed = vfs
            .exists(dir, MAIN_FILE)
            .map_err(|e| io_error(dir, MAIN_FILE, e))?;
        let file = vfs
            .open(dir, MAIN_FILE, true)
            .map_err(|e| io_error(dir, MAIN_FILE, e))?;
        let len = file.len().map_err(|e| io_error(dir, MAIN_FILE, e))?;
        // Creation syncs both superblocks before anything else exists, so a
        // shorter file is a creation that never finished: nothing was stored.
        let created = !existed || len < 2 * PAGE_SIZE as u64;
        let path = Path::new(dir).join(MAIN_FILE).display().to_string();
        let (superblock, damaged) = if created {
            (Self::create(&*vfs, dir, &*file, &options)?, None)
        } else {
            Self::read_superblocks(&*file, dir)?
        };
        let mut pager = Pager::new(file, path, options.cache_bytes, superblock.page_count);
        if let Some(damaged) = &damaged {
            Self::check_fallback(&mut pager, dir, &superblock, damaged)?;
        }
        let (free, freelist_pages) = load_freelist(&mut pager, &superblock)?;
        let mut memtable = Memtable::new();
        let (wal, recovery) = Wal::recover(Arc::clone(&vfs), dir, superblock.next_lsn, |ops| {
            for (key, record) in ops {
                memtable.insert(key, record);
            }
        })?;
        let mut engine = ZeroEngine {
            vfs,
            dir: dir.to_string(),
            options,
            pager,
            wal,
            memtable,
            superblock,
            free,
            freelist_pages,
            force_checkpoint: false,
            new_incarnation: None,
            poisoned: None,
            closed: false,
            checkpoints: 0,
            syncs: 0,
            records: 0,
            records_exact: true,
            key_buf: Vec::with_capacity(codec::KEY_LEN_MAX + 1),
            part_release_pages: 0,
        };
        engine.count_records();
        if recovery.synced_lost {
            tracing::warn!(
                dir,
                dropped = recovery.dropped,
                "WAL lost records that may have been synced; issuing a new incarnation"
            );
            engine.set_incarnation(new_incarnation(
                engine.options.incarnation_seed ^ engine.superblock.generation,
                engine.superblock.incarnation,
            ));
        }
        if let Some(damaged) = &damaged {
            // The checkpoint below writes the next generation into the
            // damaged slot, so both copies are good again.
            tracing::warn!(
                dir,
                slot = damaged.slot,
                generation = engine.superblock.generation,
                lost = recovery.synced_lost,
                "repairing the damaged superblock with a checkpoint"
            );
            engine.force_checkpoint = true;
        }
        if engine.force_checkpoint {
            engine.checkpoint()?;
        }
        let report = OpenReport {
            wal_records_replayed: recovery.replayed,
            wal_records_dropped: recovery.dropped,
            created,
            incarnation: Incarnation(engine.superblock.incarnation),
        };
        Ok((engine, report))
    }

    /// Opens (or creates) the store in directory `path` of the real file
    /// system. An `incarnation_seed` of 0 is replaced by clock-based entropy.
    pub fn open_dir(
        path: &Path,
        options: EngineOptions,
    ) -> StorageResult<(ZeroEngine, OpenReport)> {
        let mut options = options;
        if options.incarnation_seed == 0 {
            options.incarnation_seed = clock_entropy();
        }
        let dir = path.to_str().ok_or_else(|| StorageError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
        })?;
        ZeroEngine::open(Arc::new(RealVfs::new()), dir, options)
    }

    /// Counts the records stored now: the tree's count adjusted by every
    /// memtable entry (after recovery; writes keep the count up to date).
    fn count_records(&mut self) {
        let mut records = self.superblock.records;
        for (key, entry) in self.memtable.iter() {
            let root = self.superblock.root;
            let in_tree = tree_contains(&mut self.pager, root, key, &mut self.records_exact);
            records = adjust(records, in_tree, entry.is_some());
        }
        self.records = records;
    }

    /// Puts one change of the tagged key in `key_buf` into the memtable and
    /// keeps the record count up to date: whether the key was stored before
    /// comes from the memtable when it holds the key, else from the tree.
    fn apply_change(&mut self, record: Option<Record>) {
        let present = record.is_some();
        let was_present = match self.memtable.insert(self.key_buf.clone(), record) {
            Some(previous) => previous.is_some(),
            None => tree_contains(
                &mut self.pager,
                self.superblock.root,
                &self.key_buf,
                &mut self.records_exact,
            ),
        };
        self.records = adjust(self.records, was_present, present);
    }

    /// The directory this engine keeps its files in.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The file system this engine uses.
    pub fn vfs(&self) -> &Arc<dyn Vfs> {
        &self.vfs
    }

    fn check_open(&self) -> StorageResult<()> {
        if self.closed {
            return Err(StorageError::Closed);
        }
        Ok(())
    }

    fn check_writable(&self) -> StorageResult<()> {
        self.check_open()?;
        match &self.poisoned {
            Some(why) => Err(StorageError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    /// Remembers an I/O error (or a failed checkpoint) so that later writes
    /// are refused.
    fn poison<T>(&mut self, result: StorageResult<T>, always: bool) -> StorageResult<T> {
        if let Err(e) = &result {
            if always || matches!(e, StorageError::Io { .. }) {
                self.poisoned.get_or_insert_with(|| e.to_string());
            }
        }
        result
    }

    /// Like [`ZeroEngine::poison`] for a read: a read that fails on the
    /// file (I/O) or on what it found there (a damaged page) leaves the
    /// engine unable to answer truthfully, so it stops rather than let its
    /// caller go on without the record (or sync what it did meanwhile).
    fn poison_read<T>(&mut self, result: StorageResult<T>) -> StorageResult<T> {
        if let Err(e) = &result {
            if matches!(e, StorageError::Io { .. } | StorageError::Corruption { .. }) {
                self.poisoned.get_or_insert_with(|| e.to_string());
            }
        }
        result
    }

    /// Pages the durable state uses: every page below the page count but
    /// the two superblocks and the free ones (tree, overflow and free-list
    /// pages).
    fn live_pages(&self) -> u64 {
        self.superblock
            .page_count
            .saturating_sub(2 + self.free.len() as u64)
    }

    /// Sets the incarnation stored by the next checkpoint (repair).
    fn set_incarnation(&mut self, incarnation: u64) {
        self.new_incarnation = Some(incarnation);
        self.force_checkpoint = true;
    }

    /// Publishes a checkpoint in parts once each part has replaced `pages`
    /// pages of the durable tree (0: the default, an eighth of the pages in
    /// use and at least 512 KiB). Small values make tests and the simulator
    /// exercise multi-part checkpoints on small trees.
    pub fn set_checkpoint_part_pages(&mut self, pages: u64) {
        self.part_release_pages = pages;
    }

    /// Drops every clean page from the cache, so that the next reads go to
    /// the file (memory pressure; lets the simulator's read faults strike).
    pub fn evict_cache(&mut self) {
        self.pager.evict_clean();
    }

    /// Walks every page and checks the structure; see [`ValidationReport`].
    pub fn validate(&mut self) -> ValidationReport {
        validate::validate(&mut self.pager, &self.superblock)
    }

    /// Copies everything still readable from the store in `src_dir` into a
    /// new store in `dst_dir` (which must not hold one) and reports what was
    /// lost. The new store gets a new incarnation when anything was lost.
    pub fn repair(
        src_vfs: Arc<dyn Vfs>,
        src_dir: &str,
        dst_vfs: Arc<dyn Vfs>,
        dst_dir: &str,
        options: EngineOptions,
    ) -> StorageResult<RepairReport> {
        repair::repair(src_vfs, src_dir, dst_vfs, dst_dir, options)
    }
}

fn clock_entropy() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    mix(nanos ^ u64::from(std::process::id()) << 32)
}

impl Engine for ZeroEngine {
    fn get(&mut self, space: Space, key: &[u8]) -> StorageResult<Option<Record>> {
        self.check_open()?;
        self.key_buf.clear();
        self.key_buf.push(space.tag());
        self.key_buf.extend_from_slice(key);
        if let Some(entry) = self.memtable.get(self.key_buf.as_slice()) {
            return Ok(entry.clone());
        }
        let found = btree::get(&mut self.pager, self.superblock.root, &self.key_buf);
        self.poison_read(found)
    }

    fn scan(
        &mut self,
        range: &ScanRange,
        direction: Direction,
        limit: usize,
    ) -> StorageResult<Vec<(Vec<u8>, Record)>> {
        self.check_open()?;
        let Some((lo, hi)) = scan::tagged_bounds(range) else {
            return Ok(Vec::new());
        };
        let root = self.superblock.root;
        let found = scan::merged_scan(
            &mut self.pager,
            root,
            &self.memtable,
            lo,
            hi,
            direction,
            limit,
        );
        self.poison_read(found)
    }

    fn write(&mut self, batch: WriteBatch) -> StorageResult<()> {
        self.check_writable()?;
        codec::check_batch(&batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        let appended = self.wal.append(&batch);
        self.poison(appended, false)?;
        for (space, key, op) in batch.ops {
            self.key_buf.clear();
            self.key_buf.push(space.tag());
            self.key_buf.extend_from_slice(&key);
            let record = match op {
                WriteOp::Put(record) => Some(record),
                WriteOp::Remove => None,
            };
            self.apply_change(record);
        }
        if self.wal.bytes >= self.options.checkpoint_wal_bytes {
            self.checkpoint()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> StorageResult<()> {
        self.check_writable()?;
        let synced = self.wal.sync();
        if self.poison(synced, true)? {
            self.syncs += 1;
        }
        Ok(())
    }

    fn checkpoint(&mut self) -> StorageResult<()> {
        self.check_writable()?;
        if self.memtable.is_empty() && !self.force_checkpoint {
            let synced = self.wal.sync();
            return self.poison(synced, true).map(|_| ());
        }
        let done = self.checkpoint_inner();
        self.poison(done, true)
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            records: self.records,
            disk_bytes: self.pager.file_len() + self.wal.disk_bytes(),
            file_bytes: self.pager.file_len(),
            live_bytes: self.live_pages() * PAGE_SIZE as u64,
            garbage_bytes: self.free.len() as u64 * PAGE_SIZE as u64,
            cache_bytes: self.pager.cached_bytes(),
            cache_hits: self.pager.hits,
            cache_misses: self.pager.misses,
            wal_bytes: self.wal.bytes,
            wal_position: self.wal.durable_lsn,
            checkpoints: self.checkpoints,
            syncs: self.syncs,
        }
    }

    fn incarnation(&self) -> Incarnation {
        Incarnation(self.new_incarnation.unwrap_or(self.superblock.incarnation))
    }

    fn close(&mut self) -> StorageResult<()> {
        if self.closed {
            return Ok(());
        }
        let result = if self.poisoned.is_none() {
            self.sync()
        } else {
            Ok(())
        };
        self.closed = true;
        result
    }
}
