//! The paged main file: a CLOCK page cache with a byte budget, the pages a
//! checkpoint has written but not yet flushed, and page allocation.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::page::{self, PageBuf, PageType, PAGE_SIZE};
use crate::vfs::VfsFile;
use crate::{StorageError, StorageResult};

/// Dirty pages are written out once they take this many bytes, so a large
/// checkpoint does not hold all of its pages in memory.
const DIRTY_FLUSH_BYTES: usize = 8 * 1024 * 1024;
/// The cache never holds fewer pages than this, whatever the budget.
const CACHE_PAGES_MIN: usize = 16;

/// Page ids are already well spread; a multiply is all the hashing needed.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

struct Slot {
    id: u64,
    data: PageBuf,
    referenced: bool,
}

/// The main file's pages.
pub(crate) struct Pager {
    file: Box<dyn VfsFile>,
    path: String,
    map: IdMap<usize>,
    slots: Vec<Slot>,
    capacity: usize,
    hand: usize,
    dirty: BTreeMap<u64, PageBuf>,
    /// Pages in the file (the next never-used page id).
    pub(crate) page_count: u64,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

impl Pager {
    pub(crate) fn new(
        file: Box<dyn VfsFile>,
        path: String,
        cache_bytes: usize,
        page_count: u64,
    ) -> Pager {
        Pager {
            file,
            path,
            map: IdMap::default(),
            slots: Vec::new(),
            capacity: (cache_bytes / PAGE_SIZE).max(CACHE_PAGES_MIN),
            hand: 0,
            dirty: BTreeMap::new(),
            page_count,
            hits: 0,
            misses: 0,
        }
    }

    pub(crate) fn io(&self, source: std::io::Error) -> StorageError {
        StorageError::Io {
            path: self.path.clone().into(),
            source,
        }
    }

    /// Byte offset of page `id`, or a corruption error for an id no file
    /// can reach (a damaged superblock or pointer can claim any id).
    fn offset(&self, id: u64) -> StorageResult<u64> {
        id.checked_mul(PAGE_SIZE as u64).ok_or_else(|| {
            super::codec::corrupt(
                format!("page {id}"),
                format!("page id past any file (in {})", self.path),
            )
        })
    }

    pub(crate) fn cached_bytes(&self) -> u64 {
        (self.slots.len() * PAGE_SIZE) as u64
    }

    /// Reads page `id` straight from the file, bypassing the cache, and
    /// verifies it.
    pub(crate) fn read_uncached(&self, id: u64) -> StorageResult<(PageBuf, PageType)> {
        let mut buf = vec![0u8; PAGE_SIZE].into_boxed_slice();
        self.file
            .read_at(self.offset(id)?, &mut buf)
            .map_err(|e| self.io(e))?;
        let kind = page::verify(&buf, id)?;
        Ok((buf, kind))
    }

    /// The bytes of page `id` as the file holds them, unchecked.
    pub(crate) fn read_raw(&self, id: u64) -> StorageResult<PageBuf> {
        let mut buf = vec![0u8; PAGE_SIZE].into_boxed_slice();
        self.file
            .read_at(self.offset(id)?, &mut buf)
            .map_err(|e| self.io(e))?;
        Ok(buf)
    }

    /// Page `id`, verified, from the dirty set, the cache or the file.
    pub(crate) fn get(&mut self, id: u64) -> StorageResult<&[u8]> {
        if !self.dirty.is_empty() && self.dirty.contains_key(&id) {
            return Ok(&self.dirty[&id]);
        }
        if let Some(&slot) = self.map.get(&id) {
            self.hits += 1;
            let s = &mut self.slots[slot];
            s.referenced = true;
            return Ok(&s.data);
        }
        self.misses += 1;
        if id < 2 || id >= self.page_count {
            return Err(super::codec::corrupt(
                format!("page {id}"),
                format!("reference outside the data pages (2..{})", self.page_count),
            ));
        }
        let offset = self.offset(id)?;
        let slot = self.victim();
        let read = self.file.read_at(offset, &mut self.slots[slot].data);
        if let Err(e) = read {
            self.slots[slot].id = u64::MAX;
            return Err(self.io(e));
        }
        if let Err(e) = page::verify(&self.slots[slot].data, id) {
            self.slots[slot].id = u64::MAX;
            return Err(e);
        }
        self.slots[slot].id = id;
        self.slots[slot].referenced = true;
        self.map.insert(id, slot);
        Ok(&self.slots[slot].data)
    }

    /// A free slot: a new one while under capacity, else the CLOCK victim.
    fn victim(&mut self) -> usize {
        if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                id: u64::MAX,
                data: vec![0u8; PAGE_SIZE].into_boxed_slice(),
                referenced: false,
            });
            return self.slots.len() - 1;
        }
        loop {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let s = &mut self.slots[i];
            if s.referenced {
                s.referenced = false;
                continue;
            }
            if s.id != u64::MAX {
                self.map.remove(&s.id);
                s.id = u64::MAX;
            }
            return i;
        }
    }

    /// Drops every cached page (dirty pages are not cached: they stay).
    pub(crate) fn evict_clean(&mut self) {
        self.map = IdMap::default();
        self.slots.clear();
        self.hand = 0;
    }

    /// Drops page `id` from the cache (its id is about to hold other data).
    pub(crate) fn forget(&mut self, id: u64) {
        if let Some(slot) = self.map.remove(&id) {
            self.slots[slot].id = u64::MAX;
            self.slots[slot].referenced = false;
        }
        self.dirty.remove(&id);
    }

    /// Queues a sealed page for writing.
    pub(crate) fn put(&mut self, id: u64, data: PageBuf) -> StorageResult<()> {
        self.forget(id);
        self.dirty.insert(id, data);
        if self.dirty.len() * PAGE_SIZE >= DIRTY_FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// A never-used page id at the end of the file.
    pub(crate) fn extend(&mut self) -> u64 {
        let id = self.page_count;
        self.page_count += 1;
        id
    }

    /// Writes every queued page (adjacent pages in one write) without
    /// syncing.
    pub(crate) fn flush(&mut self) -> StorageResult<()> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut run: Vec<u8> = Vec::new();
        let mut run_start = 0u64;
        let mut next = u64::MAX;
        for (id, data) in dirty {
            if id != next && !run.is_empty() {
                self.write_run(run_start, &run)?;
                run.clear();
            }
            if run.is_empty() {
                run_start = id;
            }
            run.extend_from_slice(&data);
            next = id + 1;
        }
        if !run.is_empty() {
            self.write_run(run_start, &run)?;
        }
        Ok(())
    }

    fn write_run(&self, start: u64, bytes: &[u8]) -> StorageResult<()> {
        self.file
            .write_at(self.offset(start)?, bytes)
            .map_err(|e| self.io(e))
    }

    /// Writes a page at once, bypassing the queue (superblocks).
    pub(crate) fn write_now(&mut self, id: u64, data: &[u8]) -> StorageResult<()> {
        self.forget(id);
        self.write_run(id, data)
    }

    /// Cuts the file after the last page in use, dropping cached copies of
    /// the pages cut. Not synced: a file left longer by a crash only has
    /// unused pages at its end.
    pub(crate) fn truncate(&mut self) -> StorageResult<()> {
        let len = self.offset(self.page_count)?;
        if self.file.len().map_err(|e| self.io(e))? <= len {
            return Ok(());
        }
        for slot in &mut self.slots {
            if slot.id != u64::MAX && slot.id >= self.page_count {
                self.map.remove(&slot.id);
                slot.id = u64::MAX;
                slot.referenced = false;
            }
        }
        self.file.set_len(len).map_err(|e| self.io(e))
    }

    /// Makes the file at least `len` bytes long (zeros; not synced).
    pub(crate) fn extend_to(&mut self, len: u64) -> StorageResult<()> {
        if self.file.len().map_err(|e| self.io(e))? >= len {
            return Ok(());
        }
        self.file.set_len(len).map_err(|e| self.io(e))
    }

    pub(crate) fn sync(&self) -> StorageResult<()> {
        self.file.sync().map_err(|e| self.io(e))
    }

    pub(crate) fn file_len(&self) -> u64 {
        self.file.len().unwrap_or(0)
    }
}
