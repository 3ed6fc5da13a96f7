//! `validate`: walks every page of the durable state and reports every
//! problem found, never stopping at the first and never panicking.

use super::codec::{decode_record, Reader, ValueRef};
use super::page::{self, PageType, PAGE_SIZE};
use super::pager::Pager;
use super::superblock::Superblock;

/// Deepest tree walked; a deeper one is reported as a cycle.
const DEPTH_MAX: usize = 64;

/// What [`super::ZeroEngine::validate`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationReport {
    /// Pages read and checked (superblocks included).
    pub pages_checked: u64,
    /// Records found in the tree.
    pub records: u64,
    /// Depth of the tree (0 when empty).
    pub depth: usize,
    /// Every problem, each naming the page or structure and what is wrong.
    pub problems: Vec<String>,
}

impl ValidationReport {
    /// Whether no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Use {
    Unseen,
    Tree,
    Overflow,
    FreeListPage,
    Free,
}

struct Walk<'a> {
    pager: &'a mut Pager,
    uses: Vec<Use>,
    report: ValidationReport,
    leaf_depth: Option<usize>,
    /// The superblock's generation: no page of its state can be newer (a
    /// newer one was written over it by a later checkpoint).
    generation: u64,
}

impl Walk<'_> {
    fn claim(&mut self, id: u64, what: Use) -> bool {
        match self.uses.get_mut(id as usize) {
            None => {
                self.report.problems.push(format!(
                    "page {id} ({what:?}) is outside the file's {} pages",
                    self.uses.len()
                ));
                false
            }
            Some(u) if *u != Use::Unseen => {
                let before = *u;
                self.report.problems.push(format!(
                    "page {id} is used twice: as {before:?} and as {what:?}"
                ));
                false
            }
            Some(u) => {
                *u = what;
                true
            }
        }
    }

    /// Whether page `id` (intact) was written by the superblock's checkpoint
    /// or an earlier one; reports it if not.
    fn not_newer(&mut self, id: u64, buf: &[u8]) -> bool {
        let written = page::generation(buf);
        if written > self.generation {
            self.report.problems.push(format!(
                "page {id}: written by generation {written}, after the superblock's {} \
                 (overwritten by a later checkpoint)",
                self.generation
            ));
            return false;
        }
        true
    }

    fn read(&mut self, id: u64, expect: PageType) -> Option<page::PageBuf> {
        self.report.pages_checked += 1;
        match self.pager.read_uncached(id) {
            Ok((buf, kind)) if kind == expect => self.not_newer(id, &buf).then_some(buf),
            Ok((_, kind)) => {
                self.report.problems.push(format!(
                    "page {id}: expected a {expect:?} page, found {kind:?}"
                ));
                None
            }
            Err(e) => {
                self.report.problems.push(e.to_string());
                None
            }
        }
    }

    fn node(&mut self, id: u64, low: Option<&[u8]>, high: Option<&[u8]>, depth: usize) {
        if depth > DEPTH_MAX {
            self.report.problems.push(format!(
                "page {id}: tree deeper than {DEPTH_MAX} levels (a cycle?)"
            ));
            return;
        }
        if !self.claim(id, Use::Tree) {
            return;
        }
        self.report.pages_checked += 1;
        let (buf, kind) = match self.pager.read_uncached(id) {
            Ok(x) => x,
            Err(e) => {
                self.report.problems.push(e.to_string());
                return;
            }
        };
        if !self.not_newer(id, &buf) {
            return;
        }
        let in_fence = |k: &[u8]| low.is_none_or(|l| k >= l) && high.is_none_or(|h| k < h);
        match kind {
            PageType::Leaf => self.leaf(id, &buf, depth, &in_fence),
            PageType::Branch => {
                let b = match page::decode_branch(&buf, id) {
                    Ok(b) => b,
                    Err(e) => return self.report.problems.push(e.to_string()),
                };
                if b.children.is_empty() {
                    self.report
                        .problems
                        .push(format!("page {id}: branch with no children"));
                }
                for (i, s) in b.separators.iter().enumerate() {
                    if !in_fence(s) || (i > 0 && b.separators[i - 1] >= *s) {
                        self.report.problems.push(format!(
                            "page {id}: separator {i} out of order or outside the parent's fence"
                        ));
                    }
                }
                for (i, child) in b.children.iter().enumerate() {
                    let lo = if i == 0 {
                        low
                    } else {
                        b.separators.get(i - 1).map(|s| &s[..])
                    };
                    let hi = b.separators.get(i).map(|s| &s[..]).or(high);
                    self.node(*child, lo, hi, depth + 1);
                }
            }
            other => self
                .report
                .problems
                .push(format!("page {id}: expected a tree page, found {other:?}")),
        }
    }

    fn leaf(&mut self, id: u64, buf: &[u8], depth: usize, in_fence: &dyn Fn(&[u8]) -> bool) {
        match self.leaf_depth {
            None => self.leaf_depth = Some(depth),
            Some(d) if d != depth => self.report.problems.push(format!(
                "page {id}: leaf at depth {depth}, others at depth {d} (unbalanced)"
            )),
            Some(_) => {}
        }
        let entries = match page::decode_leaf(buf, id) {
            Ok(e) => e,
            Err(e) => return self.report.problems.push(e.to_string()),
        };
        for (i, (key, record)) in entries.iter().enumerate() {
            if key.is_empty() || crate::Space::from_tag(key[0]).is_none() {
                self.report
                    .problems
                    .push(format!("page {id}: entry {i} has no space tag"));
            }
            if i > 0 && entries[i - 1].0 >= *key {
                self.report
                    .problems
                    .push(format!("page {id}: keys {} and {i} out of order", i - 1));
            }
            if !in_fence(key) {
                self.report.problems.push(format!(
                    "page {id}: entry {i} outside the parent's fence keys"
                ));
            }
            self.report.records += 1;
            if let Ok(rec) = decode_record(&mut Reader::new(record, "leaf record")) {
                if let ValueRef::Overflow { len, first } = rec.value {
                    self.overflow(id, first, len);
                }
            }
        }
    }

    fn overflow(&mut self, leaf: u64, first: u64, len: u32) {
        let mut id = first;
        let mut total = 0usize;
        while id != 0 {
            if !self.claim(id, Use::Overflow) {
                return;
            }
            let Some(buf) = self.read(id, PageType::Overflow) else {
                return;
            };
            match page::overflow_payload(&buf, id) {
                Ok((data, next)) => {
                    total += data.len();
                    id = next;
                }
                Err(e) => return self.report.problems.push(e.to_string()),
            }
        }
        if total != len as usize {
            self.report.problems.push(format!(
                "overflow chain of leaf {leaf} from page {first} holds {total} bytes, record says {len}"
            ));
        }
    }

    fn freelist(&mut self, sb: &Superblock) {
        let mut id = sb.freelist_head;
        let mut count = 0u64;
        while id != 0 {
            if !self.claim(id, Use::FreeListPage) {
                return;
            }
            let Some(buf) = self.read(id, PageType::FreeList) else {
                return;
            };
            let Ok((ids, next)) = page::freelist_ids(&buf, id) else {
                return self
                    .report
                    .problems
                    .push(format!("page {id}: bad free-list page"));
            };
            for x in ids {
                count += 1;
                if x < 2 {
                    self.report
                        .problems
                        .push(format!("free list page {id} lists superblock page {x}"));
                } else {
                    self.claim(x, Use::Free);
                }
            }
            id = next;
        }
        if count != sb.free_count {
            self.report.problems.push(format!(
                "free list holds {count} ids, superblock says {}",
                sb.free_count
            ));
        }
    }
}

pub(crate) fn validate(pager: &mut Pager, sb: &Superblock) -> ValidationReport {
    let mut report = ValidationReport::default();
    for slot in 0..2u64 {
        report.pages_checked += 1;
        match pager.read_raw(slot) {
            Ok(buf) => {
                if let Err(e) = Superblock::decode(&buf, slot) {
                    report.problems.push(e.to_string());
                }
            }
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    check_state(pager, sb, report)
}

/// Checks the state `sb` names (its tree, overflow chains and free list),
/// without looking at the superblock pages themselves: what open needs to
/// know before it trusts the one intact superblock of two.
pub(crate) fn check_state(
    pager: &mut Pager,
    sb: &Superblock,
    mut report: ValidationReport,
) -> ValidationReport {
    let file_pages = pager.file_len() / PAGE_SIZE as u64;
    if file_pages < sb.page_count {
        report.problems.push(format!(
            "main file holds {file_pages} pages, superblock says {}",
            sb.page_count
        ));
    }
    let mut uses = vec![Use::Unseen; sb.page_count as usize];
    for u in uses.iter_mut().take(2) {
        *u = Use::Tree;
    }
    let mut walk = Walk {
        pager,
        uses,
        report,
        leaf_depth: None,
        generation: sb.generation,
    };
    if sb.root != 0 {
        walk.node(sb.root, None, None, 1);
    }
    walk.freelist(sb);
    let mut report = walk.report;
    report.depth = walk.leaf_depth.unwrap_or(0);
    if report.records != sb.records {
        report.problems.push(format!(
            "tree holds {} records, superblock says {}",
            report.records, sb.records
        ));
    }
    for (id, u) in walk.uses.iter().enumerate() {
        if *u == Use::Unseen {
            report.problems.push(format!(
                "page {id} is neither in the tree nor free (leaked)"
            ));
        }
    }
    report
}
