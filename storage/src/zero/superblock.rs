//! The two superblocks (pages 0 and 1): the root of everything a
//! checkpoint made durable. The valid one with the highest generation wins.

use super::codec::{corrupt, Reader};
use super::page::{self, PageType, HEADER_LEN};
use crate::StorageResult;

const MAGIC: &[u8; 8] = b"ZERODB\0\x01";
/// Version of the on-disk format described in FORMAT.md.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// What a superblock records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Superblock {
    /// Increases by one per checkpoint; slot = generation % 2.
    pub(crate) generation: u64,
    /// The store's incarnation.
    pub(crate) incarnation: u64,
    /// Root page of the B+Tree, 0 when the tree is empty.
    pub(crate) root: u64,
    /// Pages in the main file (the next never-used id).
    pub(crate) page_count: u64,
    /// First page of the free list chain, 0 when there is none.
    pub(crate) freelist_head: u64,
    /// Page ids the free list holds.
    pub(crate) free_count: u64,
    /// Records in the tree.
    pub(crate) records: u64,
    /// First WAL sequence number not yet in the tree.
    pub(crate) next_lsn: u64,
}

impl Superblock {
    pub(crate) fn slot(&self) -> u64 {
        self.generation % 2
    }

    pub(crate) fn encode(&self) -> page::PageBuf {
        let mut p = page::new_page(PageType::Superblock, self.slot(), self.generation, 0, 0);
        let mut body = Vec::with_capacity(80);
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        body.extend_from_slice(&(page::PAGE_SIZE as u32).to_le_bytes());
        for v in [
            self.generation,
            self.incarnation,
            self.root,
            self.page_count,
            self.freelist_head,
            self.free_count,
            self.records,
            self.next_lsn,
        ] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        p[HEADER_LEN..HEADER_LEN + body.len()].copy_from_slice(&body);
        page::seal(&mut p);
        p
    }

    /// Decodes and checks the superblock in slot `slot`.
    pub(crate) fn decode(p: &[u8], slot: u64) -> StorageResult<Superblock> {
        let what = format!("superblock {slot}");
        let kind = page::verify(p, slot).map_err(|e| corrupt(what.clone(), e.to_string()))?;
        if kind != PageType::Superblock {
            return Err(corrupt(what, format!("has page type {kind:?}")));
        }
        let mut r = Reader::new(&p[HEADER_LEN..], "superblock");
        if r.bytes(8)? != MAGIC {
            return Err(corrupt(what, "bad magic: not a ZeroDB file"));
        }
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(corrupt(
                what,
                format!("format version {version}; this build reads {FORMAT_VERSION}"),
            ));
        }
        let page_size = r.u32()?;
        if page_size as usize != page::PAGE_SIZE {
            return Err(corrupt(
                what,
                format!("page size {page_size}; this build uses {}", page::PAGE_SIZE),
            ));
        }
        let sb = Superblock {
            generation: r.u64()?,
            incarnation: r.u64()?,
            root: r.u64()?,
            page_count: r.u64()?,
            freelist_head: r.u64()?,
            free_count: r.u64()?,
            records: r.u64()?,
            next_lsn: r.u64()?,
        };
        if sb.slot() != slot {
            return Err(corrupt(
                what,
                format!("generation {} in the wrong slot", sb.generation),
            ));
        }
        Ok(sb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_flips() {
        let sb = Superblock {
            generation: 5,
            incarnation: 9,
            root: 3,
            page_count: 10,
            freelist_head: 4,
            free_count: 2,
            records: 100,
            next_lsn: 77,
        };
        let p = sb.encode();
        assert_eq!(Superblock::decode(&p, 1).unwrap(), sb);
        assert!(Superblock::decode(&p, 0).is_err());
        let mut bad = p.clone();
        bad[HEADER_LEN + 20] ^= 4;
        assert!(Superblock::decode(&bad, 1).is_err());
    }
}
