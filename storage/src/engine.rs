//! The `Engine` trait: what the transaction layer needs from local storage.

use std::ops::Bound;

use crate::{Incarnation, Record, Space, StorageResult};

/// One change inside a [`WriteBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Store this record under the key, replacing whatever was there.
    /// A delete in the data model is a `Put` of a tombstone.
    Put(Record),
    /// Physically remove the key (lock release, tombstone purge).
    Remove,
}

/// An atomic group of changes: after a crash either all of a synced batch
/// is there or, for an unsynced one, all or none of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The changes, applied in order.
    pub ops: Vec<(Space, Vec<u8>, WriteOp)>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Adds a put.
    pub fn put(&mut self, space: Space, key: impl Into<Vec<u8>>, record: Record) -> &mut Self {
        self.ops.push((space, key.into(), WriteOp::Put(record)));
        self
    }

    /// Adds a physical removal.
    pub fn remove(&mut self, space: Space, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push((space, key.into(), WriteOp::Remove));
        self
    }

    /// Whether the batch has no changes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Scan order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Ascending key order.
    Forward,
    /// Descending key order.
    Reverse,
}

/// A key range within one space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanRange {
    /// The space scanned.
    pub space: Space,
    /// Lower bound.
    pub start: Bound<Vec<u8>>,
    /// Upper bound.
    pub end: Bound<Vec<u8>>,
}

impl ScanRange {
    /// Every key of a space.
    pub fn all(space: Space) -> ScanRange {
        ScanRange {
            space,
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(space: Space, prefix: &[u8]) -> ScanRange {
        let end = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        ScanRange {
            space,
            start: Bound::Included(prefix.to_vec()),
            end,
        }
    }

    /// Whether `key` lies inside the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let after_start = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let before_end = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        after_start && before_end
    }
}

/// The smallest key greater than every key with this prefix, if any.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Figures an engine reports for `admin info` and benchmarks. Engines fill
/// what they know and leave the rest zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Records stored (tombstones included), if the engine tracks it.
    pub records: u64,
    /// Bytes the engine's files take on disk (its log included).
    pub disk_bytes: u64,
    /// Bytes of the engine's data file(s), its log excluded. With
    /// `live_bytes` and `garbage_bytes` this shows whether disk use tracks
    /// the live data.
    pub file_bytes: u64,
    /// Bytes the live data takes in the data file. ZeroDB's engine counts
    /// the pages the last checkpoint's state uses (tree, overflow and
    /// free-list pages) times the page size; the in-memory engine counts
    /// the bytes of its keys and records; 0 when the engine cannot tell.
    pub live_bytes: u64,
    /// Bytes of the data file that hold nothing live and wait for reuse
    /// (ZeroDB's engine: free pages times the page size); 0 when unknown.
    pub garbage_bytes: u64,
    /// Bytes held by the page cache.
    pub cache_bytes: u64,
    /// Page cache hits since open.
    pub cache_hits: u64,
    /// Page cache misses since open.
    pub cache_misses: u64,
    /// Bytes in the WAL since the last checkpoint.
    pub wal_bytes: u64,
    /// Position (log sequence number) of the last durable WAL record.
    pub wal_position: u64,
    /// Checkpoints completed since open.
    pub checkpoints: u64,
    /// `sync` calls that reached the disk since open.
    pub syncs: u64,
}

/// What opening an engine found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// WAL records replayed into the tree.
    pub wal_records_replayed: u64,
    /// WAL records dropped from a torn or corrupt tail.
    pub wal_records_dropped: u64,
    /// Whether the store was created by this open.
    pub created: bool,
    /// The store's incarnation after opening. A new one is issued when the
    /// store is new or lost records that had been synced.
    pub incarnation: Incarnation,
}

/// Local storage for one node.
///
/// Writes are visible to reads as soon as `write` returns and durable once a
/// later `sync` returns (group commit: many batches, one fsync). Reads return
/// records as stored, tombstones and expired records included, because the
/// replication layer needs their versions; [`Engine::get_visible`] hides
/// both.
pub trait Engine: Send {
    /// The record stored under `key`, tombstones and expired records
    /// included.
    fn get(&mut self, space: Space, key: &[u8]) -> StorageResult<Option<Record>>;

    /// Up to `limit` records of `range` in `direction`, tombstones and
    /// expired records included.
    fn scan(
        &mut self,
        range: &ScanRange,
        direction: Direction,
        limit: usize,
    ) -> StorageResult<Vec<(Vec<u8>, Record)>>;

    /// Applies a batch atomically. Not durable until `sync`.
    fn write(&mut self, batch: WriteBatch) -> StorageResult<()>;

    /// Makes every earlier `write` durable.
    fn sync(&mut self) -> StorageResult<()>;

    /// Writes dirty state to the main file and truncates the WAL.
    fn checkpoint(&mut self) -> StorageResult<()>;

    /// Current figures.
    fn stats(&self) -> EngineStats;

    /// This store's incarnation (see [`Incarnation`]).
    fn incarnation(&self) -> Incarnation;

    /// Syncs and releases the files. The engine refuses use afterwards.
    fn close(&mut self) -> StorageResult<()>;

    /// The record under `key` if it is a live, unexpired value at `now_ms`.
    fn get_visible(
        &mut self,
        space: Space,
        key: &[u8],
        now_ms: u64,
    ) -> StorageResult<Option<Record>> {
        Ok(self
            .get(space, key)?
            .filter(|r| !r.is_tombstone() && !r.is_expired(now_ms)))
    }

    /// Turns up to `limit` expired data records into tombstones (keeping
    /// their versions, so any newer write still wins). Returns how many it
    /// turned. Used in eventual namespaces; strong namespaces expire through
    /// transactions instead (DESIGN.md 6.3).
    fn sweep_expired(&mut self, now_ms: u64, limit: usize) -> StorageResult<usize> {
        let mut batch = WriteBatch::new();
        let mut start = std::ops::Bound::Unbounded;
        const PAGE: usize = 1024;
        while batch.ops.len() < limit {
            let range = ScanRange {
                space: Space::Data,
                start: start.clone(),
                end: std::ops::Bound::Unbounded,
            };
            let page = self.scan(&range, Direction::Forward, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            start = std::ops::Bound::Excluded(last.clone());
            let full = page.len() == PAGE;
            for (key, record) in page {
                if batch.ops.len() >= limit {
                    break;
                }
                if !record.is_tombstone() && record.is_expired(now_ms) {
                    batch.put(Space::Data, key, Record::tombstone(record.version));
                }
            }
            if !full {
                break;
            }
        }
        let turned = batch.ops.len();
        if turned > 0 {
            self.write(batch)?;
        }
        Ok(turned)
    }
}

impl<E: Engine + ?Sized> Engine for Box<E> {
    fn get(&mut self, space: Space, key: &[u8]) -> StorageResult<Option<Record>> {
        (**self).get(space, key)
    }
    fn scan(
        &mut self,
        range: &ScanRange,
        direction: Direction,
        limit: usize,
    ) -> StorageResult<Vec<(Vec<u8>, Record)>> {
        (**self).scan(range, direction, limit)
    }
    fn write(&mut self, batch: WriteBatch) -> StorageResult<()> {
        (**self).write(batch)
    }
    fn sync(&mut self) -> StorageResult<()> {
        (**self).sync()
    }
    fn checkpoint(&mut self) -> StorageResult<()> {
        (**self).checkpoint()
    }
    fn stats(&self) -> EngineStats {
        (**self).stats()
    }
    fn incarnation(&self) -> Incarnation {
        (**self).incarnation()
    }
    fn close(&mut self) -> StorageResult<()> {
        (**self).close()
    }
}
