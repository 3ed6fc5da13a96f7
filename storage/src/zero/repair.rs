//! `repair`: copies everything a damaged store still holds into a new
//! store and reports what could not be read.
//!
//! It walks the tree of the newest valid superblock; the key ranges of
//! subtrees it cannot read are then filled from any other intact leaf page
//! in the file (older copies left by copy-on-write), highest version per
//! key; finally the intact WAL records are replayed on top.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::btree::read_overflow;
use super::codec::{decode_record, Reader, ValueRef};
use super::page::{self, PageType, PAGE_SIZE};
use super::pager::Pager;
use super::superblock::Superblock;
use super::wal::Wal;
use super::{new_incarnation, EngineOptions, ZeroEngine, MAIN_FILE};
use crate::vfs::Vfs;
use crate::{Engine, Incarnation, Record, Space, StorageError, StorageResult, WriteBatch};

const DEPTH_MAX: usize = 64;
/// Records per batch written into the new store.
const BATCH_RECORDS: usize = 1024;

/// What [`ZeroEngine::repair`] recovered and lost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Records written to the new store.
    pub records_recovered: u64,
    /// Pages that could not be read or were not what they should be.
    pub pages_unreadable: Vec<u64>,
    /// Records known lost (a value whose overflow chain is damaged).
    pub records_lost: u64,
    /// Key ranges of the tree whose subtree could not be read.
    pub ranges_lost: u64,
    /// Records taken from older copies of pages to fill lost ranges.
    pub records_from_old_pages: u64,
    /// Generation of the superblock used, `None` when both were damaged.
    pub superblock_generation: Option<u64>,
    /// Intact WAL records replayed.
    pub wal_records_replayed: u64,
    /// WAL records cut from a damaged log.
    pub wal_records_dropped: u64,
    /// Whether anything that had been stored (or synced) may be missing.
    pub lost_data: bool,
    /// Each problem met, in words.
    pub problems: Vec<String>,
    /// The new store's incarnation: the old one when nothing was lost, a
    /// new one otherwise.
    pub incarnation: Incarnation,
}

type Range = (Option<Vec<u8>>, Option<Vec<u8>>);

struct Salvage<'a> {
    pager: &'a mut Pager,
    records: BTreeMap<Vec<u8>, Record>,
    visited: Vec<bool>,
    lost: Vec<Range>,
    report: RepairReport,
}

impl Salvage<'_> {
    fn unreadable(&mut self, id: u64, why: String) {
        self.report.pages_unreadable.push(id);
        self.report.problems.push(why);
    }

    fn mark(&mut self, id: u64) -> bool {
        match self.visited.get_mut(id as usize) {
            Some(v) if !*v => {
                *v = true;
                true
            }
            _ => false,
        }
    }

    fn node(&mut self, id: u64, low: Option<&[u8]>, high: Option<&[u8]>, depth: usize) {
        let range = (low.map(<[u8]>::to_vec), high.map(<[u8]>::to_vec));
        if depth > DEPTH_MAX || !self.mark(id) {
            self.report.problems.push(format!(
                "page {id}: reached twice or too deep; its range is lost"
            ));
            self.lost.push(range);
            return;
        }
        let (buf, kind) = match self.pager.read_uncached(id) {
            Ok(x) => x,
            Err(e) => {
                self.unreadable(id, e.to_string());
                self.lost.push(range);
                return;
            }
        };
        match kind {
            PageType::Leaf => match page::decode_leaf(&buf, id) {
                Ok(entries) => {
                    for (key, record) in entries {
                        self.take(key, &record, false);
                    }
                }
                Err(e) => {
                    self.unreadable(id, e.to_string());
                    self.lost.push(range);
                }
            },
            PageType::Branch => match page::decode_branch(&buf, id) {
                Ok(b) => {
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
                Err(e) => {
                    self.unreadable(id, e.to_string());
                    self.lost.push(range);
                }
            },
            other => {
                self.unreadable(
                    id,
                    format!("page {id}: expected a tree page, found {other:?}"),
                );
                self.lost.push(range);
            }
        }
    }

    /// Adds one stored entry; an older copy only fills a key not yet known
    /// or replaces a lower version.
    fn take(&mut self, key: Vec<u8>, stored: &[u8], old_copy: bool) {
        if key.is_empty() || Space::from_tag(key[0]).is_none() {
            return;
        }
        let rec = match decode_record(&mut Reader::new(stored, "leaf record")) {
            Ok(r) => r,
            Err(_) => {
                self.report.records_lost += 1;
                return;
            }
        };
        if old_copy {
            if let Some(existing) = self.records.get(&key) {
                if existing.version >= rec.version {
                    return;
                }
            }
        }
        let value = match rec.value {
            ValueRef::None => None,
            ValueRef::Inline(v) => Some(v.to_vec()),
            ValueRef::Overflow { len, first } => match read_overflow(self.pager, first, len) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.report.problems.push(format!("value lost: {e}"));
                    self.report.records_lost += 1;
                    return;
                }
            },
        };
        if old_copy {
            self.report.records_from_old_pages += 1;
        }
        self.records.insert(
            key,
            Record {
                version: rec.version,
                value,
                expires_at_ms: rec.expires_at_ms,
            },
        );
    }

    fn in_lost(&self, key: &[u8]) -> bool {
        self.lost.iter().any(|(lo, hi)| {
            lo.as_deref().is_none_or(|l| key >= l) && hi.as_deref().is_none_or(|h| key < h)
        })
    }

    /// Fills lost ranges from every other intact leaf page of the file.
    fn scan_old_pages(&mut self, pages: u64) {
        for id in 2..pages {
            if self.visited.get(id as usize).copied().unwrap_or(false) {
                continue;
            }
            let Ok((buf, PageType::Leaf)) = self.pager.read_uncached(id) else {
                continue;
            };
            let Ok(entries) = page::decode_leaf(&buf, id) else {
                continue;
            };
            for (key, record) in entries {
                if self.in_lost(&key) {
                    self.take(key, &record, true);
                }
            }
        }
    }
}

fn read_best_superblock(pager: &Pager, report: &mut RepairReport) -> Option<Superblock> {
    let mut best: Option<Superblock> = None;
    for slot in 0..2 {
        match pager
            .read_raw(slot)
            .and_then(|b| Superblock::decode(&b, slot))
        {
            Ok(sb) if best.is_none_or(|b| sb.generation > b.generation) => best = Some(sb),
            Ok(_) => {}
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    best
}

pub(crate) fn repair(
    src_vfs: Arc<dyn Vfs>,
    src_dir: &str,
    dst_vfs: Arc<dyn Vfs>,
    dst_dir: &str,
    options: EngineOptions,
) -> StorageResult<RepairReport> {
    let io = |e| StorageError::Io {
        path: std::path::Path::new(src_dir).join(MAIN_FILE),
        source: e,
    };
    let mut report = RepairReport::default();
    let file = src_vfs.open(src_dir, MAIN_FILE, false).map_err(io)?;
    let pages = file.len().map_err(io)? / PAGE_SIZE as u64;
    let mut pager = Pager::new(file, format!("{src_dir}/{MAIN_FILE}"), 1024 * 1024, pages);
    let superblock = read_best_superblock(&pager, &mut report);
    report.superblock_generation = superblock.map(|s| s.generation);
    let mut salvage = Salvage {
        pager: &mut pager,
        records: BTreeMap::new(),
        visited: vec![false; pages as usize],
        lost: Vec::new(),
        report,
    };
    match superblock {
        Some(sb) if sb.root != 0 => salvage.node(sb.root, None, None, 1),
        Some(_) => {}
        None => salvage.lost.push((None, None)),
    }
    if !salvage.lost.is_empty() {
        salvage.report.ranges_lost = salvage.lost.len() as u64;
        salvage.scan_old_pages(pages);
    }
    let Salvage {
        mut records,
        mut report,
        ..
    } = salvage;
    let wal_from = superblock.map_or(0, |s| s.next_lsn);
    let wal = Wal::read_only(&*src_vfs, src_dir, wal_from, |ops| {
        for (key, record) in ops {
            match record {
                Some(r) => records.insert(key, r),
                None => records.remove(&key),
            };
        }
    })?;
    report.wal_records_replayed = wal.replayed;
    report.wal_records_dropped = wal.dropped;
    report.lost_data = superblock.is_none()
        || report.ranges_lost > 0
        || report.records_lost > 0
        || wal.synced_lost;
    let (mut dst, opened) = ZeroEngine::open(dst_vfs, dst_dir, options.clone())?;
    if !opened.created {
        return Err(StorageError::Corruption {
            what: format!("{dst_dir}/{MAIN_FILE}"),
            detail: "repair destination already holds a store; give an empty directory".into(),
        });
    }
    let mut batch = WriteBatch::new();
    for (key, record) in records {
        let Some(space) = Space::from_tag(key[0]) else {
            continue;
        };
        batch.put(space, key[1..].to_vec(), record);
        report.records_recovered += 1;
        if batch.ops.len() >= BATCH_RECORDS {
            dst.write(std::mem::take(&mut batch))?;
        }
    }
    dst.write(batch)?;
    let old = superblock.map_or(0, |s| s.incarnation);
    let incarnation = if report.lost_data || old == 0 {
        new_incarnation(options.incarnation_seed ^ 0x5245_5041_4952, old)
    } else {
        old
    };
    dst.set_incarnation(incarnation);
    dst.checkpoint()?;
    dst.close()?;
    report.incarnation = Incarnation(incarnation);
    Ok(report)
}
