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
/// overridden by the memtable's changes. Keys come back without their
/// space tag (every bound is in one space, so they all share it).
pub(super) fn merged_scan(
    pager: &mut Pager,
    root: u64,
    memtable: &Memtable,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    direction: Direction,
    limit: usize,
) -> StorageResult<Vec<(Vec<u8>, Record)>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let range = memtable.range((as_slice(&lo), as_slice(&hi)));
    // Pre-sized up to the records the range can hold at most, capped so a
    // huge limit over a small range does not reserve memory it never uses.
    let mut out = Vec::with_capacity(limit.min(OUT_RESERVE_MAX));
    let mut cursor = Cursor::new(pager, root, direction, lo.clone(), hi.clone(), TAG_BYTES)?;
    match direction {
        Direction::Forward => merge(pager, &mut cursor, range, true, limit, &mut out)?,
        Direction::Reverse => merge(pager, &mut cursor, range.rev(), false, limit, &mut out)?,
    }
    Ok(out)
}

/// Bytes of the space tag that starts every tagged key.
const TAG_BYTES: usize = 1;

/// Most records reserved up front for one scan's output.
const OUT_RESERVE_MAX: usize = 4_096;

/// Walks the tree cursor and the memtable's changes (both already in scan
/// order) side by side once, appending up to `limit` live records to `out`.
fn merge<'a>(
    pager: &mut Pager,
    cursor: &mut Cursor,
    mut mem: impl Iterator<Item = (&'a [u8], &'a Option<Record>)>,
    forward: bool,
    limit: usize,
    out: &mut Vec<(Vec<u8>, Record)>,
) -> StorageResult<()> {
    let mut m = mem.next().map(|(k, v)| (&k[TAG_BYTES..], v));
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
            m = mem.next().map(|(k, v)| (&k[TAG_BYTES..], v));
        } else if let Some(entry) = t.take() {
            out.push(entry);
            t = cursor.next(pager)?;
        }
    }
    Ok(())
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
