//! Running a checkpoint: merging the memtable into the tree and publishing
//! the result through a superblock (FORMAT.md, "Checkpoint protocol").
//!
//! Copy-on-write keeps every page the durable tree uses until a newer
//! superblock is durable, so a checkpoint that rewrites most leaves would
//! briefly need the file to hold two trees. A large checkpoint therefore
//! publishes in parts: it merges the changes of consecutive key ranges
//! and, once the pages it replaced pass a budget (an eighth of the pages in
//! use, at least [`PART_RELEASE_PAGES_MIN`]), publishes the tree so far
//! with a superblock that keeps the old WAL position. The replaced pages are
//! then free, and the next part writes into them instead of growing the
//! file. Only the last part moves the WAL position, stores a new
//! incarnation, and starts a new log. A crash after part k leaves a tree
//! that holds some of the memtable's changes; replaying the WAL from the
//! unchanged position applies every change again, which is harmless
//! because a WAL record carries whole records, not differences.

use std::collections::BTreeSet;

use super::checkpoint::{Change, TreeWriter};
use super::memtable::Memtable;
use super::page::{self, PAGE_SIZE};
use super::pager::Pager;
use super::superblock::Superblock;
use super::ZeroEngine;
use crate::StorageResult;

/// A part is published once it replaced at least this many pages (512
/// KiB), so a small checkpoint stays one part with one superblock, and a
/// part's two syncs are paid for at least this much reuse.
pub(super) const PART_RELEASE_PAGES_MIN: u64 = 512 * 1024 / PAGE_SIZE as u64;
/// The budget of one part: this share of the pages in use.
const PART_RELEASE_SHARE: u64 = 8;
/// Changes are merged in at most this many slices (a part is one or more
/// slices); each slice rewrites the path to the root once.
const SLICES_MAX: usize = 64;
/// A slice holds at least this many changes.
const SLICE_CHANGES_MIN: usize = 64;

/// What one published part changed.
struct Part {
    root: u64,
    freed: Vec<u64>,
    records_delta: i64,
    last: bool,
}

/// A page for the free list: the lowest free one, else a new one.
fn alloc(pager: &mut Pager, free: &mut BTreeSet<u64>) -> u64 {
    match free.pop_first() {
        Some(id) => id,
        None => pager.extend(),
    }
}

impl ZeroEngine {
    /// Merges the memtable into the tree and publishes it, in parts when
    /// large; then starts a new WAL segment.
    pub(super) fn checkpoint_inner(&mut self) -> StorageResult<()> {
        self.wal.sync()?;
        // The memtable is set aside while the tree is written so the parts
        // can be published through `self`; it comes back whatever happens,
        // so reads after a failed checkpoint still see every write.
        let memtable = std::mem::replace(&mut self.memtable, Memtable::new());
        let merged = self.merge_in_parts(&memtable);
        self.memtable = memtable;
        let next_lsn = merged?;
        self.memtable.clear();
        self.force_checkpoint = false;
        self.new_incarnation = None;
        self.checkpoints += 1;
        self.wal.rotate(next_lsn)
    }

    /// The pages one part may replace before it is published.
    fn part_budget(&self) -> u64 {
        if self.part_release_pages > 0 {
            return self.part_release_pages;
        }
        (self.live_pages() / PART_RELEASE_SHARE).max(PART_RELEASE_PAGES_MIN)
    }

    /// The first page id past which tree pages are moved to the front
    /// (`relocate.rs`), or `None` while the free pages are too few to be
    /// worth a part: the pages in use plus a sixteenth of slack.
    fn relocation_cutoff(&self) -> Option<u64> {
        let live = self.live_pages();
        if (self.free.len() as u64) <= self.part_budget() {
            return None;
        }
        Some(2 + live + live / 16)
    }

    /// Moves up to a part's budget of tree pages from the end of the file
    /// to free pages before it and publishes that as a part of its own, so
    /// that the parts after it can cut the end of the file.
    fn relocate_part(&mut self) -> StorageResult<()> {
        let Some(cutoff) = self.relocation_cutoff() else {
            return Ok(());
        };
        let mut budget = self.part_budget() as usize;
        let mut writer = TreeWriter::new(
            &mut self.pager,
            &mut self.free,
            std::mem::take(&mut self.freelist_pages),
            self.superblock.generation + 1,
        );
        let root = writer.relocate(self.superblock.root, cutoff, &mut budget)?;
        let freed = std::mem::take(&mut writer.freed);
        if root == self.superblock.root {
            // Nothing moved: `freed` is still the durable free-list chain.
            self.freelist_pages = freed;
            return Ok(());
        }
        self.publish(root, freed, 0, false).map(|_| ())
    }

    /// Writes the memtable's changes into the tree part by part; returns
    /// the WAL position the last part published.
    fn merge_in_parts(&mut self, memtable: &Memtable) -> StorageResult<u64> {
        self.relocate_part()?;
        let changes: Vec<Change<'_>> = memtable.iter().map(|(k, v)| (k, v.as_ref())).collect();
        let slice = changes.len().div_ceil(SLICES_MAX).max(SLICE_CHANGES_MIN);
        let mut slices: Vec<&[Change<'_>]> = changes.chunks(slice).collect();
        if slices.is_empty() {
            // A forced checkpoint with nothing to merge still publishes.
            slices.push(&[]);
        }
        let budget = self.part_budget() as usize;
        let mut slices = slices.into_iter().peekable();
        loop {
            let generation = self.superblock.generation + 1;
            let mut writer = TreeWriter::new(
                &mut self.pager,
                &mut self.free,
                std::mem::take(&mut self.freelist_pages),
                generation,
            );
            let mut root = self.superblock.root;
            for changes in slices.by_ref() {
                root = writer.apply(root, changes)?;
                if writer.freed.len() >= budget {
                    break;
                }
            }
            let part = Part {
                root,
                records_delta: writer.records_delta,
                freed: std::mem::take(&mut writer.freed),
                last: slices.peek().is_none(),
            };
            let next_lsn = self.publish(part.root, part.freed, part.records_delta, part.last)?;
            if part.last {
                return Ok(next_lsn);
            }
        }
    }

    /// Makes the tree at `root` durable: writes the free list (the pages
    /// free now plus `freed`, which the durable tree still uses), syncs,
    /// writes and syncs the next superblock, and cuts the free pages at the
    /// end of the file. Only the `last` part of a checkpoint moves the WAL
    /// position and stores a new incarnation. Returns the WAL position.
    fn publish(
        &mut self,
        root: u64,
        freed: Vec<u64>,
        records_delta: i64,
        last: bool,
    ) -> StorageResult<u64> {
        let generation = self.superblock.generation + 1;
        // Pages at the end of the file that neither the durable tree nor the
        // new one uses are cut off once the new superblock is durable, so
        // the file shrinks when the tree does. Pages this part released
        // stay: the durable superblock still points at them.
        while self.pager.page_count > 2 && self.free.last() == Some(&(self.pager.page_count - 1)) {
            self.free.pop_last();
            self.pager.page_count -= 1;
        }
        // Pages for the new free list come from pages free now; the list
        // then holds what remains plus everything this part released.
        let mut chain = Vec::new();
        while chain.len() < (self.free.len() + freed.len()).div_ceil(page::FREELIST_IDS) {
            chain.push(alloc(&mut self.pager, &mut self.free));
        }
        let mut all_free: Vec<u64> = self.free.iter().copied().collect();
        all_free.extend(freed);
        all_free.sort_unstable();
        all_free.dedup();
        // Taking a chain page can use up the last free page, leaving the
        // chain one page longer than its ids need: that page is written
        // empty, never left unwritten (the superblock names every page of
        // the chain).
        debug_assert!(all_free.len() <= chain.len() * page::FREELIST_IDS);
        for (i, &id) in chain.iter().enumerate() {
            let start = (i * page::FREELIST_IDS).min(all_free.len());
            let end = (start + page::FREELIST_IDS).min(all_free.len());
            let next = chain.get(i + 1).copied().unwrap_or(0);
            let p = page::encode_freelist(&all_free[start..end], next, id, generation);
            self.pager.put(id, p)?;
        }
        let records = (self.superblock.records as i64 + records_delta).max(0) as u64;
        self.pager.flush()?;
        self.pager.sync()?;
        let sb = self.next_superblock(generation, root, &chain, all_free.len(), records, last);
        self.pager.write_now(sb.slot(), &sb.encode())?;
        self.pager.sync()?;
        if last {
            debug_assert!(
                !self.records_exact || records == self.records,
                "the live record count {} drifted from the tree's {records}",
                self.records
            );
            self.records = records;
            self.records_exact = true;
        }
        self.superblock = sb;
        self.free = all_free.into_iter().collect();
        self.freelist_pages = chain;
        // The cut only returns space: if it fails, the file keeps unused
        // pages at its end, which the page count already excludes.
        if let Err(e) = self.pager.truncate() {
            tracing::warn!(dir = %self.dir, error = %e, "could not cut free pages off the main file");
        }
        Ok(sb.next_lsn)
    }

    /// The superblock of generation `generation`. A part before the last
    /// keeps the durable WAL position and incarnation: the WAL from there
    /// still holds every change of the checkpoint.
    fn next_superblock(
        &self,
        generation: u64,
        root: u64,
        chain: &[u64],
        free_count: usize,
        records: u64,
        last: bool,
    ) -> Superblock {
        let (mut incarnation, mut next_lsn) =
            (self.superblock.incarnation, self.superblock.next_lsn);
        if last {
            incarnation = self.new_incarnation.unwrap_or(incarnation);
            next_lsn = self.wal.next_lsn;
            if incarnation != self.superblock.incarnation {
                // A superblock that changes the incarnation starts the log
                // past every earlier one's `next_lsn`: should it be damaged
                // later, falling back to the one before always finds a gap
                // (a loss), never the old incarnation with nothing missing.
                next_lsn = next_lsn.max(self.superblock.next_lsn + 1);
            }
        }
        Superblock {
            generation,
            incarnation,
            root,
            page_count: self.pager.page_count,
            freelist_head: chain.first().copied().unwrap_or(0),
            free_count: free_count as u64,
            records,
            next_lsn,
        }
    }
}
