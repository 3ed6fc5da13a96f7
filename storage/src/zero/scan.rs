//! Range scans: the tree's ordered cursor merged with the memtable's
//! changes (which win, and whose removals hide tree entries).

use std::ops::Bound;

use super::btree::Cursor;
use super::codec;
use super::pager::Pager;
use super::Memtable;
use crate::{Direction, Record, ScanRange, StorageResult};

/// Lower and upper bounds on tagged keys.
pub(super) type KeyBounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Tagged bounds of a scan range, or `None` when it holds no key.
pub(super) fn tagged_bounds(range: &ScanRange) -> Option<KeyBounds> {
    let tag = range.space.tag();
    let t = |k: &Vec<u8>| codec::tagged(range.space, k);
    let lo = match &range.start {
        Bound::Included(k) => Bound::Included(t(k)),
        Bound::Excluded(k) => Bound::Excluded(t(k)),
        Bound::Unbounded => Bound::Included(vec![tag]),
    };
    let hi = match &range.end {
        Bound::Included(k) => Bound::Included(t(k)),
        Bound::Excluded(k) => Bound::Excluded(t(k)),
        Bound::Unbounded => Bound::Excluded(vec![tag + 1]),
    };
    let (l, l_in) = match &lo {
        Bound::Included(k) => (k, true),
        Bound::Excluded(k) => (k, false),
        Bound::Unbounded => unreachable!("lower bound is always set"),
    };
    let (h, h_in) = match &hi {
        Bound::Included(k) => (k, true),
        Bound::Excluded(k) => (k, false),
        Bound::Unbounded => unreachable!("upper bound is always set"),
    };
    if l > h || (l == h && !(l_in && h_in)) {
        return None;
    }
    Some((lo, hi))
}

/// Up to `limit` records within tagged bounds in `direction`: the tree's,
/// overridden by the memtable's changes.
pub(super) fn merged_scan(
    pager: &mut Pager,
    root: u64,
    memtable: &Memtable,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    direction: Direction,
    limit: usize,
) -> StorageResult<Vec<(Vec<u8>, Record)>> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let mut cursor = Cursor::new(pager, root, direction, lo.clone(), hi.clone())?;
    let forward = direction == Direction::Forward;
    let range = memtable.range((as_slice(&lo), as_slice(&hi)));
    let mut mem: Box<dyn Iterator<Item = (&[u8], &Option<Record>)>> = if forward {
        Box::new(range)
    } else {
        Box::new(range.rev())
    };
    let mut m = mem.next();
    let mut t = cursor.next(pager)?;
    while out.len() < limit {
        let take_mem = match (&m, &t) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((mk, _)), Some((tk, _))) => {
                if forward {
                    *mk <= tk.as_slice()
                } else {
                    *mk >= tk.as_slice()
                }
            }
        };
        if take_mem {
            let (mk, mv) = m.expect("checked above");
            if t.as_ref().is_some_and(|(tk, _)| tk.as_slice() == mk) {
                t = cursor.next(pager)?;
            }
            if let Some(record) = mv {
                out.push((mk.to_vec(), record.clone()));
            }
            m = mem.next();
        } else if let Some(entry) = t.take() {
            out.push(entry);
            t = cursor.next(pager)?;
        }
    }
    Ok(out)
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
