//! Loading the durable free list: the chain of free-list pages a
//! superblock names, checked against the superblock's count.

use std::collections::BTreeSet;

use super::codec;
use super::page;
use super::pager::Pager;
use super::superblock::Superblock;
use crate::StorageResult;

/// The pages free in the durable state of `sb`, and the pages of the
/// chain that lists them.
pub(super) fn load_freelist(
    pager: &mut Pager,
    sb: &Superblock,
) -> StorageResult<(BTreeSet<u64>, Vec<u64>)> {
    let mut free = BTreeSet::new();
    let mut chain = Vec::new();
    let mut id = sb.freelist_head;
    while id != 0 {
        if chain.len() as u64 > sb.page_count {
            return Err(codec::corrupt("free list", "chain loops"));
        }
        let p = pager.get(id)?;
        if page::page_type(p) != Some(page::PageType::FreeList) {
            return Err(codec::corrupt(
                format!("page {id}"),
                "expected a free-list page",
            ));
        }
        let (ids, next) = page::freelist_ids(p, id)?;
        for x in ids {
            if x < 2 || x >= sb.page_count || !free.insert(x) {
                return Err(codec::corrupt(
                    format!("free list page {id}"),
                    format!("bad or repeated page id {x}"),
                ));
            }
        }
        chain.push(id);
        id = next;
    }
    if free.len() as u64 != sb.free_count {
        return Err(codec::corrupt(
            "free list",
            format!(
                "holds {} ids, superblock says {}",
                free.len(),
                sb.free_count
            ),
        ));
    }
    Ok((free, chain))
}
