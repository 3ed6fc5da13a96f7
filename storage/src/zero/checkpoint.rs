//! Writing the B+Tree at a checkpoint: the sorted changes of the memtable
//! are merged into the tree copy-on-write. Every changed node is written to
//! a page that the durable tree does not use, so the main file keeps the
//! last checkpoint's tree intact until the new superblock points elsewhere.
//! Nodes split when full and merge with a neighbour when under a quarter
//! full; the root grows and shrinks a level as needed.
//!
//! A large checkpoint merges its changes in parts (see `publish.rs`); the
//! writer of one part may rewrite a node it wrote itself earlier in the
//! part (the path to the root). Such a page was never durable, so it is
//! free again at once instead of waiting for the part to be published.

use std::collections::BTreeSet;

use super::btree::read_overflow;
use super::codec::{corrupt, decode_record, encode_record, Reader, ValueRef};
use super::page::{
    self, Branch, LeafEntries, PageType, BODY_LEN, INLINE_VALUE_MAX, OVERFLOW_PAYLOAD,
    UNDERFLOW_BYTES,
};
use super::pager::Pager;
use crate::{Record, StorageResult};

/// One change: tagged key and the new record, `None` to remove.
pub(crate) type Change<'a> = (&'a [u8], Option<&'a Record>);

/// A node of a rewritten level: the lowest key of its range (`None` when it
/// inherits its parent's), its page and the body bytes it uses
/// (`usize::MAX` when unchanged, so never considered underfull).
struct Piece {
    low: Option<Vec<u8>>,
    page: u64,
    used: usize,
}

/// The state of one checkpoint's tree rewrite.
pub(crate) struct TreeWriter<'a> {
    pub(crate) pager: &'a mut Pager,
    /// Pages free in the durable state: may be written now.
    pub(crate) free: &'a mut BTreeSet<u64>,
    /// Pages the durable state uses but the new one will not: free only
    /// after the new superblock is durable.
    pub(crate) freed: Vec<u64>,
    /// Pages this writer allocated: no durable state uses them.
    fresh: BTreeSet<u64>,
    pub(crate) generation: u64,
    /// Change in the number of records.
    pub(crate) records_delta: i64,
}

impl<'a> TreeWriter<'a> {
    /// A writer of the tree for `generation`; `freed` starts with the pages
    /// the durable state uses that the new one will not (its free list).
    pub(crate) fn new(
        pager: &'a mut Pager,
        free: &'a mut BTreeSet<u64>,
        freed: Vec<u64>,
        generation: u64,
    ) -> TreeWriter<'a> {
        TreeWriter {
            pager,
            free,
            freed,
            fresh: BTreeSet::new(),
            generation,
            records_delta: 0,
        }
    }

    /// A page to write: the lowest free one (so the tree gathers at the
    /// front of the file and its end can be cut), else a new one.
    pub(crate) fn alloc(&mut self) -> u64 {
        let id = match self.free.pop_first() {
            Some(id) => id,
            None => self.pager.extend(),
        };
        self.fresh.insert(id);
        id
    }

    /// Page `id` is no longer part of the tree being written. A page this
    /// writer wrote is free at once; a page of the durable state only once
    /// the new superblock is durable. Call it after the last read of `id`.
    pub(crate) fn release(&mut self, id: u64) {
        if self.fresh.remove(&id) {
            self.pager.forget(id);
            self.free.insert(id);
        } else {
            self.freed.push(id);
        }
    }

    fn page_kind(&mut self, id: u64) -> StorageResult<PageType> {
        let p = self.pager.get(id)?;
        page::page_type(p).ok_or_else(|| corrupt(format!("page {id}"), "unknown page type"))
    }

    /// Merges `changes` into the tree at `root`; returns the new root.
    pub(crate) fn apply(&mut self, root: u64, changes: &[Change<'_>]) -> StorageResult<u64> {
        let mut pieces = if root == 0 {
            let entries = self.merge_leaf(Vec::new(), changes)?;
            self.write_leaves(entries)?
        } else {
            self.apply_node(root, changes)?
        };
        loop {
            match pieces.len() {
                0 => return Ok(0),
                1 => {
                    let id = pieces[0].page;
                    let p = self.pager.get(id)?;
                    if page::page_type(p) == Some(PageType::Branch) && page::count(p) == 1 {
                        let child = page::branch_child(p, 0, id)?;
                        self.release(id);
                        pieces[0].page = child;
                        continue;
                    }
                    return Ok(id);
                }
                _ => {
                    pieces[0].low = None;
                    pieces = self.write_branches(pieces)?;
                }
            }
        }
    }

    fn apply_node(&mut self, id: u64, changes: &[Change<'_>]) -> StorageResult<Vec<Piece>> {
        match self.page_kind(id)? {
            PageType::Leaf => {
                let entries = page::decode_leaf(self.pager.get(id)?, id)?;
                self.release(id);
                let merged = self.merge_leaf(entries, changes)?;
                self.write_leaves(merged)
            }
            PageType::Branch => {
                let branch = page::decode_branch(self.pager.get(id)?, id)?;
                self.release(id);
                let mut pieces = Vec::with_capacity(branch.children.len() + 2);
                // Neighbouring leaves that both change are rewritten anyway:
                // their entries are gathered and written together as evenly
                // filled pages, so churn does not leave many half-empty
                // leaves behind (it costs no extra page writes).
                let mut run: Option<(Option<Vec<u8>>, LeafEntries)> = None;
                let mut rest = changes;
                for (i, child) in branch.children.iter().enumerate() {
                    let upper = branch.separators.get(i);
                    let n =
                        upper.map_or(rest.len(), |u| rest.partition_point(|(k, _)| *k < &u[..]));
                    let (mine, later) = rest.split_at(n);
                    rest = later;
                    let low = if i == 0 {
                        None
                    } else {
                        Some(branch.separators[i - 1].clone())
                    };
                    if mine.is_empty() {
                        self.write_run(&mut run, &mut pieces)?;
                        pieces.push(Piece {
                            low,
                            page: *child,
                            used: usize::MAX,
                        });
                        continue;
                    }
                    if self.page_kind(*child)? == PageType::Leaf {
                        let entries = page::decode_leaf(self.pager.get(*child)?, *child)?;
                        self.release(*child);
                        let merged = self.merge_leaf(entries, mine)?;
                        match &mut run {
                            Some((_, entries)) => entries.extend(merged),
                            None => run = Some((low, merged)),
                        }
                        continue;
                    }
                    self.write_run(&mut run, &mut pieces)?;
                    let mut sub = self.apply_node(*child, mine)?;
                    if let Some(first) = sub.first_mut() {
                        first.low = low;
                    }
                    pieces.extend(sub);
                }
                self.write_run(&mut run, &mut pieces)?;
                self.fix_underflow(&mut pieces)?;
                if let Some(first) = pieces.first_mut() {
                    first.low = None;
                }
                self.write_branches(pieces)
            }
            other => Err(corrupt(
                format!("page {id}"),
                format!("expected a tree page, found {other:?}"),
            )),
        }
    }

    /// Writes the gathered entries of a run of changed leaves, if any, as
    /// pieces; the first takes the run's `low`.
    fn write_run(
        &mut self,
        run: &mut Option<(Option<Vec<u8>>, LeafEntries)>,
        pieces: &mut Vec<Piece>,
    ) -> StorageResult<()> {
        if let Some((low, entries)) = run.take() {
            let mut sub = self.write_leaves(entries)?;
            if let Some(first) = sub.first_mut() {
                first.low = low;
            }
            pieces.extend(sub);
        }
        Ok(())
    }

    /// Merges the neighbours of every underfull piece until none is left
    /// (or only one piece remains).
    fn fix_underflow(&mut self, pieces: &mut Vec<Piece>) -> StorageResult<()> {
        let mut i = 0;
        while i < pieces.len() {
            if pieces.len() < 2 || pieces[i].used >= UNDERFLOW_BYTES {
                i += 1;
                continue;
            }
            let a = if i + 1 < pieces.len() { i } else { i - 1 };
            let (left, right) = (pieces[a].page, pieces[a + 1].page);
            let separator = pieces[a + 1].low.clone();
            let merged = match self.page_kind(left)? {
                PageType::Leaf => {
                    let mut entries = page::decode_leaf(self.pager.get(left)?, left)?;
                    entries.extend(page::decode_leaf(self.pager.get(right)?, right)?);
                    self.write_leaves(entries)?
                }
                _ => {
                    let mut l = page::decode_branch(self.pager.get(left)?, left)?;
                    let r = page::decode_branch(self.pager.get(right)?, right)?;
                    let separator = separator
                        .ok_or_else(|| corrupt("tree", "missing separator between branches"))?;
                    l.separators.push(separator);
                    l.separators.extend(r.separators);
                    l.children.extend(r.children);
                    let mut sub: Vec<Piece> = Vec::new();
                    for (k, child) in l.children.iter().enumerate() {
                        sub.push(Piece {
                            low: if k == 0 {
                                None
                            } else {
                                Some(l.separators[k - 1].clone())
                            },
                            page: *child,
                            used: usize::MAX,
                        });
                    }
                    self.write_branches(sub)?
                }
            };
            self.release(left);
            self.release(right);
            let low = pieces[a].low.take();
            let mut merged = merged;
            if let Some(first) = merged.first_mut() {
                first.low = low;
            }
            let produced = merged.len();
            pieces.splice(a..a + 2, merged);
            // When the merged entries still need two pages nothing more can
            // be gained here; move on instead of merging them forever.
            i = if produced > 1 { a + produced } else { a };
        }
        Ok(())
    }

    fn merge_leaf(
        &mut self,
        old: LeafEntries,
        changes: &[Change<'_>],
    ) -> StorageResult<LeafEntries> {
        let mut out = Vec::with_capacity(old.len() + changes.len());
        let mut old = old.into_iter().peekable();
        for (key, change) in changes {
            while let Some((k, _)) = old.peek() {
                if k.as_slice() >= *key {
                    break;
                }
                out.extend(old.next());
            }
            let replaced = match old.peek() {
                Some((k, _)) if k.as_slice() == *key => old.next(),
                _ => None,
            };
            if let Some((_, record)) = &replaced {
                self.release_value(record)?;
                self.records_delta -= 1;
            }
            if let Some(record) = change {
                let encoded = self.encode_value(record)?;
                out.push((key.to_vec(), encoded));
                self.records_delta += 1;
            }
        }
        out.extend(old);
        Ok(out)
    }

    fn encode_value(&mut self, record: &Record) -> StorageResult<Vec<u8>> {
        let mut out = Vec::new();
        match &record.value {
            Some(v) if v.len() > INLINE_VALUE_MAX => {
                let first = self.write_overflow(v)?;
                encode_record(record, Some(first), &mut out);
            }
            _ => encode_record(record, None, &mut out),
        }
        Ok(out)
    }

    fn write_overflow(&mut self, value: &[u8]) -> StorageResult<u64> {
        let chunks: Vec<&[u8]> = value.chunks(OVERFLOW_PAYLOAD).collect();
        let ids: Vec<u64> = chunks.iter().map(|_| self.alloc()).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let next = ids.get(i + 1).copied().unwrap_or(0);
            let p = page::encode_overflow(chunk, next, ids[i], self.generation);
            self.pager.put(ids[i], p)?;
        }
        Ok(ids[0])
    }

    /// Frees the overflow chain a stored record points to, if any.
    fn release_value(&mut self, record: &[u8]) -> StorageResult<()> {
        let rec = decode_record(&mut Reader::new(record, "leaf record"))?;
        if let ValueRef::Overflow { len, first } = rec.value {
            // Reading the chain checks it; its pages are then released.
            read_overflow(self.pager, first, len)?;
            let mut id = first;
            while id != 0 {
                let (_, next) = page::overflow_payload(self.pager.get(id)?, id)?;
                self.release(id);
                id = next;
            }
        }
        Ok(())
    }

    /// Writes entries as evenly filled leaves.
    fn write_leaves(&mut self, entries: LeafEntries) -> StorageResult<Vec<Piece>> {
        let costs: Vec<usize> = entries
            .iter()
            .map(|(k, r)| page::leaf_entry_cost(k, r))
            .collect();
        let mut pieces = Vec::new();
        for range in split_evenly(&costs) {
            let used = costs[range.clone()].iter().sum();
            let chunk = &entries[range];
            let id = self.alloc();
            let p = page::encode_leaf(chunk, id, self.generation);
            self.pager.put(id, p)?;
            pieces.push(Piece {
                low: Some(chunk[0].0.clone()),
                page: id,
                used,
            });
        }
        Ok(pieces)
    }

    /// Writes pieces as the children of evenly filled branch pages. The
    /// first piece's `low` is ignored; each returned piece's `low` is that
    /// of its first child.
    fn write_branches(&mut self, pieces: Vec<Piece>) -> StorageResult<Vec<Piece>> {
        let costs: Vec<usize> = pieces
            .iter()
            .map(|p| page::branch_entry_cost(p.low.as_deref()))
            .collect();
        let mut out = Vec::new();
        for range in split_evenly(&costs) {
            let chunk = &pieces[range.clone()];
            let branch = Branch {
                children: chunk.iter().map(|p| p.page).collect(),
                separators: chunk[1..]
                    .iter()
                    .map(|p| p.low.clone().unwrap_or_default())
                    .collect(),
            };
            // The first child's separator is promoted to the parent.
            let used = costs[range].iter().sum::<usize>()
                - chunk[0].low.as_ref().map_or(0, |l| 4 + l.len());
            let id = self.alloc();
            let p = page::encode_branch(&branch, id, self.generation);
            self.pager.put(id, p)?;
            out.push(Piece {
                low: chunk[0].low.clone(),
                page: id,
                used,
            });
        }
        Ok(out)
    }
}

/// Splits items with these costs into consecutive groups that each fit a
/// page body, as evenly as the costs allow.
fn split_evenly(costs: &[usize]) -> Vec<std::ops::Range<usize>> {
    let total: usize = costs.iter().sum();
    if costs.is_empty() {
        return Vec::new();
    }
    let pages = total.div_ceil(BODY_LEN).max(1);
    let target = total.div_ceil(pages);
    let mut out = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, c) in costs.iter().enumerate() {
        if i > start && (used + c > BODY_LEN || used >= target) {
            out.push(start..i);
            start = i;
            used = 0;
        }
        used += c;
    }
    out.push(start..costs.len());
    out
}

#[cfg(test)]
mod tests {
    use super::split_evenly;
    use crate::zero::page::BODY_LEN;

    #[test]
    fn split_evenly_fits_every_group_in_a_page() {
        let costs = vec![100; 500];
        let groups = split_evenly(&costs);
        assert!(groups.len() >= 7);
        for g in &groups {
            assert!(costs[g.clone()].iter().sum::<usize>() <= BODY_LEN);
        }
        assert_eq!(groups.last().unwrap().end, 500);
        let big = vec![BODY_LEN / 2 + 10; 3];
        assert_eq!(split_evenly(&big).len(), 3);
    }
}
