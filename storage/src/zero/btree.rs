//! Reading the B+Tree: point lookups and ordered cursors, straight from the
//! cached page bytes (no decoding of whole nodes on the read path).

use std::ops::Bound;

use super::codec::{corrupt, decode_record, ValueRef};
use super::page::{self, PageType, OVERFLOW_PAYLOAD};
use super::pager::Pager;
use crate::{Direction, Record, StorageResult};

/// Deepest tree a lookup follows before calling the structure corrupt (a
/// cycle of branch pages would otherwise loop forever).
const DEPTH_MAX: usize = 64;

/// Copies out the value of an overflow chain.
pub(crate) fn read_overflow(pager: &mut Pager, first: u64, len: u32) -> StorageResult<Vec<u8>> {
    let mut out = Vec::with_capacity(len as usize);
    let mut id = first;
    let pages_max = len as usize / OVERFLOW_PAYLOAD + 1;
    for _ in 0..pages_max {
        if out.len() >= len as usize {
            break;
        }
        let p = pager.get(id)?;
        if page::page_type(p) != Some(PageType::Overflow) {
            return Err(corrupt(format!("page {id}"), "expected an overflow page"));
        }
        let (data, next) = page::overflow_payload(p, id)?;
        out.extend_from_slice(data);
        id = next;
    }
    if out.len() != len as usize {
        return Err(corrupt(
            format!("overflow chain at page {first}"),
            format!("holds {} bytes, record says {len}", out.len()),
        ));
    }
    Ok(out)
}

/// Turns the record stored at `at` in leaf `leaf` into an owned record.
fn materialize(pager: &mut Pager, leaf: u64, at: usize) -> StorageResult<Record> {
    let p = pager.get(leaf)?;
    let rec = decode_record(&mut page::leaf_record(p, at))?;
    let (version, expires_at_ms) = (rec.version, rec.expires_at_ms);
    let value = match rec.value {
        ValueRef::None => None,
        ValueRef::Inline(v) => Some(v.to_vec()),
        ValueRef::Overflow { len, first } => Some(read_overflow(pager, first, len)?),
    };
    Ok(Record {
        version,
        value,
        expires_at_ms,
    })
}

/// The record under the tagged `key` in the tree rooted at `root`.
pub(crate) fn get(pager: &mut Pager, root: u64, key: &[u8]) -> StorageResult<Option<Record>> {
    match locate(pager, root, key)? {
        Some((leaf, at)) => materialize(pager, leaf, at).map(Some),
        None => Ok(None),
    }
}

/// Whether the tree rooted at `root` holds the tagged `key` (without
/// copying its record out).
pub(crate) fn contains(pager: &mut Pager, root: u64, key: &[u8]) -> StorageResult<bool> {
    Ok(locate(pager, root, key)?.is_some())
}

/// The leaf holding the tagged `key` and the offset of its record there.
fn locate(pager: &mut Pager, root: u64, key: &[u8]) -> StorageResult<Option<(u64, usize)>> {
    if root == 0 {
        return Ok(None);
    }
    let mut id = root;
    for _ in 0..DEPTH_MAX {
        let p = pager.get(id)?;
        match page::page_type(p) {
            Some(PageType::Branch) => {
                let i = page::branch_search(p, key, id)?;
                id = page::branch_child(p, i, id)?;
            }
            Some(PageType::Leaf) => {
                return match page::leaf_search(p, key, id)? {
                    Ok(i) => {
                        let (_, at) = page::leaf_key(p, i, id)?;
                        Ok(Some((id, at)))
                    }
                    Err(_) => Ok(None),
                };
            }
            other => {
                return Err(corrupt(
                    format!("page {id}"),
                    format!("expected a tree page, found {other:?}"),
                ))
            }
        }
    }
    Err(corrupt("tree", format!("deeper than {DEPTH_MAX} levels")))
}

/// An overflowed value not read yet: its chain's first page and its length.
type UnreadValue = Option<(u64, u32)>;

/// An ordered walk over the tree's entries within tagged bounds. It copies
/// out one leaf at a time: each leaf page is looked up in the cache once,
/// not once per entry.
pub(crate) struct Cursor {
    /// Branch pages on the path to the current leaf, each with the index of
    /// the child to visit after the current one (forward) or one past it
    /// (reverse).
    stack: Vec<(u64, usize)>,
    /// Entries of the current leaf not yet returned, in scan order.
    /// An overflowed value is read only when its entry is returned (the
    /// overflow chain's first page and the value's length ride along), so
    /// a scan with a small limit reads no large value it does not return.
    pending: std::collections::VecDeque<(Vec<u8>, Record, UnreadValue)>,
    direction: Direction,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    /// Leading key bytes left out of the keys returned (the space tag).
    strip: usize,
    /// No leaf is left to visit (the tree ended or the range did).
    done: bool,
}

impl Cursor {
    /// A cursor positioned at the first entry within `[start, end]` in
    /// `direction`, returning keys without their first `strip` bytes.
    pub(crate) fn new(
        pager: &mut Pager,
        root: u64,
        direction: Direction,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        strip: usize,
    ) -> StorageResult<Cursor> {
        let mut c = Cursor {
            stack: Vec::new(),
            pending: std::collections::VecDeque::new(),
            direction,
            start,
            end,
            strip,
            done: root == 0,
        };
        if root != 0 {
            c.seek(pager, root)?;
        }
        Ok(c)
    }

    fn forward(&self) -> bool {
        self.direction == Direction::Forward
    }

    /// Descends from `root` to the leaf holding the scan's first bound and
    /// copies out its entries from that bound on.
    fn seek(&mut self, pager: &mut Pager, root: u64) -> StorageResult<()> {
        let forward = self.forward();
        let bound = if forward { &self.start } else { &self.end };
        let mut id = root;
        for _ in 0..DEPTH_MAX {
            let p = pager.get(id)?;
            let n = page::count(p);
            match page::page_type(p) {
                Some(PageType::Branch) => {
                    let i = match bound {
                        Bound::Included(k) | Bound::Excluded(k) => page::branch_search(p, k, id)?,
                        Bound::Unbounded if forward => 0,
                        Bound::Unbounded => n.saturating_sub(1),
                    };
                    let child = page::branch_child(p, i, id)?;
                    self.stack.push((id, if forward { i + 1 } else { i }));
                    id = child;
                }
                Some(PageType::Leaf) => {
                    // Forward: the first index to copy; reverse: one past
                    // the last.
                    let pos = match bound {
                        Bound::Unbounded => {
                            if forward {
                                0
                            } else {
                                n
                            }
                        }
                        Bound::Included(k) => match page::leaf_search(p, k, id)? {
                            Ok(i) => i + usize::from(!forward),
                            Err(i) => i,
                        },
                        Bound::Excluded(k) => match page::leaf_search(p, k, id)? {
                            Ok(i) => i + usize::from(forward),
                            Err(i) => i,
                        },
                    };
                    return self.copy_leaf(pager, id, pos);
                }
                other => return Err(not_a_tree_page(id, other)),
            }
        }
        Err(corrupt("tree", format!("deeper than {DEPTH_MAX} levels")))
    }

    /// Descends from `id` to the first (forward) or last leaf of its
    /// subtree and copies out its entries.
    fn descend(&mut self, pager: &mut Pager, mut id: u64) -> StorageResult<()> {
        let forward = self.forward();
        // A cycle of branch pages would otherwise grow the stack forever.
        while self.stack.len() < DEPTH_MAX {
            let p = pager.get(id)?;
            let n = page::count(p);
            match page::page_type(p) {
                Some(PageType::Branch) => {
                    let i = if forward { 0 } else { n.saturating_sub(1) };
                    let child = page::branch_child(p, i, id)?;
                    self.stack.push((id, if forward { i + 1 } else { i }));
                    id = child;
                }
                Some(PageType::Leaf) => {
                    return self.copy_leaf(pager, id, if forward { 0 } else { n })
                }
                other => return Err(not_a_tree_page(id, other)),
            }
        }
        Err(corrupt("tree", format!("deeper than {DEPTH_MAX} levels")))
    }

    fn in_range(&self, key: &[u8]) -> bool {
        match self.direction {
            Direction::Forward => match &self.end {
                Bound::Included(e) => key <= e.as_slice(),
                Bound::Excluded(e) => key < e.as_slice(),
                Bound::Unbounded => true,
            },
            Direction::Reverse => match &self.start {
                Bound::Included(s) => key >= s.as_slice(),
                Bound::Excluded(s) => key > s.as_slice(),
                Bound::Unbounded => true,
            },
        }
    }

    /// Copies the in-range entries of leaf `id` from `pos` on (forward) or
    /// below `pos` (reverse) into `pending`. Reaching a key past the range
    /// ends the walk.
    fn copy_leaf(&mut self, pager: &mut Pager, id: u64, pos: usize) -> StorageResult<()> {
        let forward = self.forward();
        let p = pager.get(id)?;
        let n = page::count(p);
        let (mut next, end) = if forward {
            (pos.min(n), n)
        } else {
            (pos.min(n), 0)
        };
        while next != end {
            let i = if forward { next } else { next - 1 };
            next = if forward { next + 1 } else { next - 1 };
            let (key, at) = page::leaf_key(p, i, id)?;
            if !self.in_range(key) {
                self.done = true;
                break;
            }
            let rec = decode_record(&mut page::leaf_record(p, at))?;
            let (value, overflow) = match rec.value {
                ValueRef::None => (None, None),
                ValueRef::Inline(v) => (Some(v.to_vec()), None),
                ValueRef::Overflow { len, first } => (Some(Vec::new()), Some((first, len))),
            };
            let key = key.get(self.strip..).unwrap_or_default().to_vec();
            let record = Record {
                version: rec.version,
                value,
                expires_at_ms: rec.expires_at_ms,
            };
            self.pending.push_back((key, record, overflow));
        }
        Ok(())
    }

    /// The next entry (key less its first `strip` bytes, and record), or
    /// `None` past the range.
    pub(crate) fn next(&mut self, pager: &mut Pager) -> StorageResult<Option<(Vec<u8>, Record)>> {
        let forward = self.forward();
        loop {
            if let Some((key, mut record, overflow)) = self.pending.pop_front() {
                if let Some((first, len)) = overflow {
                    record.value = Some(read_overflow(pager, first, len)?);
                }
                return Ok(Some((key, record)));
            }
            if self.done {
                return Ok(None);
            }
            // The current leaf is used up: move to the next child of the
            // deepest branch that has one left.
            let Some(&(id, pos)) = self.stack.last() else {
                self.done = true;
                return Ok(None);
            };
            let p = pager.get(id)?;
            let has_next = if forward {
                pos < page::count(p)
            } else {
                pos > 0
            };
            if !has_next {
                self.stack.pop();
                continue;
            }
            let i = if forward { pos } else { pos - 1 };
            let child = page::branch_child(p, i, id)?;
            if let Some(top) = self.stack.last_mut() {
                top.1 = if forward { pos + 1 } else { pos - 1 };
            }
            self.descend(pager, child)?;
        }
    }
}

fn not_a_tree_page(id: u64, found: Option<PageType>) -> crate::StorageError {
    corrupt(
        format!("page {id}"),
        format!("expected a tree page, found {found:?}"),
    )
}
