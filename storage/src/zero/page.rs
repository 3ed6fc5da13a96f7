//! Page layout: the common header with its CRC32C, and the leaf, branch,
//! overflow and free-list page bodies (FORMAT.md, "Pages").

use super::codec::{corrupt, Reader};
use crate::StorageResult;

/// Bytes per page. 8 KiB so that a branch page always holds a separator of
/// the largest key (4 KiB + tag) with room to spare, and a leaf holds the
/// largest key with an inline value of up to [`INLINE_VALUE_MAX`].
pub const PAGE_SIZE: usize = 8192;
/// Bytes of the common page header.
pub(crate) const HEADER_LEN: usize = 32;
/// Bytes of a page available to its body.
pub(crate) const BODY_LEN: usize = PAGE_SIZE - HEADER_LEN;
/// Values longer than this go to overflow pages.
pub(crate) const INLINE_VALUE_MAX: usize = 2048;
/// A node filled below this many body bytes is merged with a neighbour.
pub(crate) const UNDERFLOW_BYTES: usize = BODY_LEN / 2;
/// Payload bytes per overflow page.
pub(crate) const OVERFLOW_PAYLOAD: usize = BODY_LEN;
/// Page ids per free-list page.
pub(crate) const FREELIST_IDS: usize = BODY_LEN / 8;

/// What a page holds (header byte 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageType {
    Superblock = 1,
    Leaf = 2,
    Branch = 3,
    Overflow = 4,
    FreeList = 5,
}

impl PageType {
    pub(crate) fn from_byte(b: u8) -> Option<PageType> {
        Some(match b {
            1 => PageType::Superblock,
            2 => PageType::Leaf,
            3 => PageType::Branch,
            4 => PageType::Overflow,
            5 => PageType::FreeList,
            _ => return None,
        })
    }
}

/// A page buffer.
pub(crate) type PageBuf = Box<[u8]>;

pub(crate) fn new_page(kind: PageType, id: u64, generation: u64, count: u16, aux: u64) -> PageBuf {
    let mut p = vec![0u8; PAGE_SIZE].into_boxed_slice();
    p[4] = kind as u8;
    p[6..8].copy_from_slice(&count.to_le_bytes());
    p[8..16].copy_from_slice(&id.to_le_bytes());
    p[16..24].copy_from_slice(&generation.to_le_bytes());
    p[24..32].copy_from_slice(&aux.to_le_bytes());
    p
}

/// Stamps the CRC32C of bytes 4.. into bytes 0..4.
pub(crate) fn seal(page: &mut [u8]) {
    let crc = crc32c::crc32c(&page[4..]);
    page[0..4].copy_from_slice(&crc.to_le_bytes());
}

fn le_u16(p: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([p[at], p[at + 1]])
}

fn le_u64(p: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&p[at..at + 8]);
    u64::from_le_bytes(a)
}

pub(crate) fn page_type(p: &[u8]) -> Option<PageType> {
    PageType::from_byte(p[4])
}

pub(crate) fn count(p: &[u8]) -> usize {
    le_u16(p, 6) as usize
}

pub(crate) fn aux(p: &[u8]) -> u64 {
    le_u64(p, 24)
}

/// The generation of the checkpoint that wrote the page (header bytes 16..24).
pub(crate) fn generation(p: &[u8]) -> u64 {
    le_u64(p, 16)
}

/// Checks a page read from disk: CRC, that it is the page asked for, and a
/// known type. Returns the type.
pub(crate) fn verify(p: &[u8], id: u64) -> StorageResult<PageType> {
    let what = || format!("page {id}");
    if p.len() != PAGE_SIZE {
        return Err(corrupt(
            what(),
            format!("is {} bytes, not {PAGE_SIZE}", p.len()),
        ));
    }
    let stored = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
    let actual = crc32c::crc32c(&p[4..]);
    if stored != actual {
        return Err(corrupt(
            what(),
            format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"),
        ));
    }
    let found = le_u64(p, 8);
    if found != id {
        return Err(corrupt(
            what(),
            format!("holds page id {found} (misplaced write)"),
        ));
    }
    page_type(p).ok_or_else(|| corrupt(what(), format!("unknown page type {}", p[4])))
}

fn slot_offset(p: &[u8], slots_at: usize, i: usize, id: u64) -> StorageResult<usize> {
    let at = slots_at + 2 * i;
    if at + 2 > PAGE_SIZE {
        return Err(corrupt(
            format!("page {id}"),
            format!("slot {i} out of the page"),
        ));
    }
    Ok(le_u16(p, at) as usize)
}

fn key_at(p: &[u8], off: usize, id: u64) -> StorageResult<(&[u8], usize)> {
    if off + 2 > PAGE_SIZE {
        return Err(corrupt(
            format!("page {id}"),
            format!("entry offset {off} out of the page"),
        ));
    }
    let len = le_u16(p, off) as usize;
    let end = off + 2 + len;
    if end > PAGE_SIZE {
        return Err(corrupt(
            format!("page {id}"),
            format!("key at {off} runs past the page"),
        ));
    }
    Ok((&p[off + 2..end], end))
}

/// The key of leaf entry `i` and the offset where its record starts.
pub(crate) fn leaf_key(p: &[u8], i: usize, id: u64) -> StorageResult<(&[u8], usize)> {
    let off = slot_offset(p, HEADER_LEN, i, id)?;
    key_at(p, off, id)
}

/// The record bytes of a leaf entry whose record starts at `at`.
pub(crate) fn leaf_record(p: &[u8], at: usize) -> Reader<'_> {
    Reader::new(&p[at..], "leaf record")
}

/// Binary search of a leaf: `Ok(i)` if entry `i` has `key`, else `Err(i)`
/// with the insertion point.
pub(crate) fn leaf_search(p: &[u8], key: &[u8], id: u64) -> StorageResult<Result<usize, usize>> {
    let (mut lo, mut hi) = (0, count(p));
    while lo < hi {
        let mid = (lo + hi) / 2;
        let (k, _) = leaf_key(p, mid, id)?;
        match k.cmp(key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(Ok(mid)),
        }
    }
    Ok(Err(lo))
}

/// Child `i` of a branch page.
pub(crate) fn branch_child(p: &[u8], i: usize, id: u64) -> StorageResult<u64> {
    let at = HEADER_LEN + 8 * i;
    if i >= count(p) || at + 8 > PAGE_SIZE {
        return Err(corrupt(
            format!("page {id}"),
            format!("child {i} out of the page"),
        ));
    }
    Ok(le_u64(p, at))
}

/// Separator `i` of a branch page: the lowest key of child `i + 1`'s range.
pub(crate) fn branch_separator(p: &[u8], i: usize, id: u64) -> StorageResult<&[u8]> {
    let slots_at = HEADER_LEN + 8 * count(p);
    let off = slot_offset(p, slots_at, i, id)?;
    Ok(key_at(p, off, id)?.0)
}

/// The index of the child of a branch whose range holds `key`.
pub(crate) fn branch_search(p: &[u8], key: &[u8], id: u64) -> StorageResult<usize> {
    let n = count(p);
    if n == 0 {
        return Err(corrupt(
            format!("page {id}"),
            "branch page with no children",
        ));
    }
    // Number of separators <= key.
    let (mut lo, mut hi) = (0, n - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if branch_separator(p, mid, id)? <= key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// A decoded leaf: keys with their encoded records.
pub(crate) type LeafEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// Body bytes a leaf entry takes (slot included).
pub(crate) fn leaf_entry_cost(key: &[u8], record: &[u8]) -> usize {
    2 + 2 + key.len() + record.len()
}

/// Body bytes a branch child takes (with its separator, if it has one).
pub(crate) fn branch_entry_cost(separator: Option<&[u8]>) -> usize {
    8 + separator.map_or(0, |s| 2 + 2 + s.len())
}

pub(crate) fn decode_leaf(p: &[u8], id: u64) -> StorageResult<LeafEntries> {
    let n = count(p);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (key, at) = leaf_key(p, i, id)?;
        let mut r = leaf_record(p, at);
        super::codec::decode_record(&mut r)?;
        out.push((key.to_vec(), p[at..at + r.pos()].to_vec()));
    }
    Ok(out)
}

pub(crate) fn encode_leaf(entries: &[(Vec<u8>, Vec<u8>)], id: u64, generation: u64) -> PageBuf {
    let mut p = new_page(PageType::Leaf, id, generation, entries.len() as u16, 0);
    let mut at = HEADER_LEN + 2 * entries.len();
    for (i, (key, record)) in entries.iter().enumerate() {
        let slot = HEADER_LEN + 2 * i;
        p[slot..slot + 2].copy_from_slice(&(at as u16).to_le_bytes());
        p[at..at + 2].copy_from_slice(&(key.len() as u16).to_le_bytes());
        p[at + 2..at + 2 + key.len()].copy_from_slice(key);
        at += 2 + key.len();
        p[at..at + record.len()].copy_from_slice(record);
        at += record.len();
    }
    seal(&mut p);
    p
}

/// A decoded branch: `children.len() == separators.len() + 1`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Branch {
    pub(crate) children: Vec<u64>,
    pub(crate) separators: Vec<Vec<u8>>,
}

pub(crate) fn decode_branch(p: &[u8], id: u64) -> StorageResult<Branch> {
    let n = count(p);
    let mut b = Branch::default();
    for i in 0..n {
        b.children.push(branch_child(p, i, id)?);
    }
    for i in 0..n.saturating_sub(1) {
        b.separators.push(branch_separator(p, i, id)?.to_vec());
    }
    Ok(b)
}

pub(crate) fn encode_branch(b: &Branch, id: u64, generation: u64) -> PageBuf {
    let n = b.children.len();
    let mut p = new_page(PageType::Branch, id, generation, n as u16, 0);
    for (i, c) in b.children.iter().enumerate() {
        let at = HEADER_LEN + 8 * i;
        p[at..at + 8].copy_from_slice(&c.to_le_bytes());
    }
    let slots_at = HEADER_LEN + 8 * n;
    let mut at = slots_at + 2 * b.separators.len();
    for (i, s) in b.separators.iter().enumerate() {
        let slot = slots_at + 2 * i;
        p[slot..slot + 2].copy_from_slice(&(at as u16).to_le_bytes());
        p[at..at + 2].copy_from_slice(&(s.len() as u16).to_le_bytes());
        p[at + 2..at + 2 + s.len()].copy_from_slice(s);
        at += 2 + s.len();
    }
    seal(&mut p);
    p
}

/// The payload of an overflow page and the next page of its chain (0 ends).
pub(crate) fn overflow_payload(p: &[u8], id: u64) -> StorageResult<(&[u8], u64)> {
    let n = count(p);
    if n > OVERFLOW_PAYLOAD {
        return Err(corrupt(
            format!("page {id}"),
            format!("overflow length {n} too large"),
        ));
    }
    Ok((&p[HEADER_LEN..HEADER_LEN + n], aux(p)))
}

/// The page ids listed in a free-list page and the next page of the list.
pub(crate) fn freelist_ids(p: &[u8], id: u64) -> StorageResult<(Vec<u64>, u64)> {
    let n = count(p);
    if n > FREELIST_IDS {
        return Err(corrupt(
            format!("page {id}"),
            format!("free-list count {n} too large"),
        ));
    }
    let ids = (0..n).map(|i| le_u64(p, HEADER_LEN + 8 * i)).collect();
    Ok((ids, aux(p)))
}

pub(crate) fn encode_freelist(ids: &[u64], next: u64, id: u64, generation: u64) -> PageBuf {
    let mut p = new_page(PageType::FreeList, id, generation, ids.len() as u16, next);
    for (i, x) in ids.iter().enumerate() {
        let at = HEADER_LEN + 8 * i;
        p[at..at + 8].copy_from_slice(&x.to_le_bytes());
    }
    seal(&mut p);
    p
}

pub(crate) fn encode_overflow(data: &[u8], next: u64, id: u64, generation: u64) -> PageBuf {
    let mut p = new_page(PageType::Overflow, id, generation, data.len() as u16, next);
    p[HEADER_LEN..HEADER_LEN + data.len()].copy_from_slice(data);
    seal(&mut p);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_and_branch_round_trip_and_search() {
        let entries: LeafEntries = (0..10u8)
            .map(|i| {
                let mut rec = Vec::new();
                let r = crate::Record::value(crate::Version::ZERO, vec![i; 3]);
                crate::zero::codec::encode_record(&r, None, &mut rec);
                (vec![b'd', i * 2], rec)
            })
            .collect();
        let p = encode_leaf(&entries, 7, 1);
        assert_eq!(verify(&p, 7).unwrap(), PageType::Leaf);
        assert!(verify(&p, 8).is_err());
        assert_eq!(decode_leaf(&p, 7).unwrap(), entries);
        assert_eq!(leaf_search(&p, &[b'd', 4], 7).unwrap(), Ok(2));
        assert_eq!(leaf_search(&p, &[b'd', 5], 7).unwrap(), Err(3));
        let b = Branch {
            children: vec![10, 11, 12],
            separators: vec![b"m".to_vec(), b"t".to_vec()],
        };
        let p = encode_branch(&b, 9, 1);
        assert_eq!(branch_search(&p, b"a", 9).unwrap(), 0);
        assert_eq!(branch_search(&p, b"m", 9).unwrap(), 1);
        assert_eq!(branch_search(&p, b"z", 9).unwrap(), 2);
        let mut bad = p.clone();
        bad[100] ^= 1;
        assert!(verify(&bad, 9).is_err());
    }
}
