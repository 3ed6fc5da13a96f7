//! Opening the main file: creating it, reading the two superblocks, and
//! checking the older one's state when the newer is damaged (FORMAT.md,
//! Recovery step 1).

use super::pager::Pager;
use super::superblock::Superblock;
use super::validate::{self, ValidationReport};
use super::{io_error, new_incarnation, EngineOptions, ZeroEngine, MAIN_FILE, PAGE_SIZE};
use crate::vfs::Vfs;
use crate::{StorageError, StorageResult};

/// A superblock slot that failed its checks on open.
#[derive(Debug)]
pub(super) struct DamagedSuperblock {
    pub(super) slot: u64,
    pub(super) problem: String,
}

impl ZeroEngine {
    pub(super) fn create(
        vfs: &dyn Vfs,
        dir: &str,
        file: &dyn crate::vfs::VfsFile,
        options: &EngineOptions,
    ) -> StorageResult<Superblock> {
        // A WAL without a main file belongs to no checkpoint: drop it.
        for name in vfs.list(dir).map_err(|e| io_error(dir, "", e))? {
            if name.starts_with("wal-") {
                vfs.remove(dir, &name)
                    .map_err(|e| io_error(dir, &name, e))?;
            }
        }
        let sb = Superblock {
            generation: 1,
            incarnation: new_incarnation(options.incarnation_seed, 0),
            root: 0,
            page_count: 2,
            freelist_head: 0,
            free_count: 0,
            records: 0,
            next_lsn: 1,
        };
        let older = Superblock {
            generation: 0,
            ..sb
        };
        let mut both = older.encode().to_vec();
        both.extend_from_slice(&sb.encode());
        let err = |e| io_error(dir, MAIN_FILE, e);
        file.set_len(0).map_err(err)?;
        file.write_at(0, &both).map_err(err)?;
        file.sync().map_err(err)?;
        Ok(sb)
    }

    /// The newest valid superblock, and the other slot when it is damaged.
    pub(super) fn read_superblocks(
        file: &dyn crate::vfs::VfsFile,
        dir: &str,
    ) -> StorageResult<(Superblock, Option<DamagedSuperblock>)> {
        let mut best: Option<Superblock> = None;
        let mut damaged = None;
        let mut problems = Vec::new();
        for slot in 0..2u64 {
            let mut buf = vec![0u8; PAGE_SIZE];
            file.read_at(slot * PAGE_SIZE as u64, &mut buf)
                .map_err(|e| io_error(dir, MAIN_FILE, e))?;
            match Superblock::decode(&buf, slot) {
                Ok(sb) if best.is_none_or(|b| sb.generation > b.generation) => best = Some(sb),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(dir, slot, error = %e, "superblock damaged; using the other");
                    problems.push(e.to_string());
                    damaged = Some(DamagedSuperblock {
                        slot,
                        problem: e.to_string(),
                    });
                }
            }
        }
        let best = best.ok_or_else(|| StorageError::Corruption {
            what: format!("{dir}/{MAIN_FILE}"),
            detail: format!(
                "both superblocks are damaged ({}); run repair to salvage the pages",
                problems.join("; ")
            ),
        })?;
        Ok((best, damaged))
    }

    /// With one superblock damaged, the intact one (`sb`, generation g) is
    /// either the newest (the damaged one held g - 1: nothing is lost) or
    /// the older of the two (the damaged one held g + 1). In the second
    /// case a later checkpoint may have written over pages of g's tree (the
    /// ones g + 1 released), so the state g names is used only if every
    /// page of it checks out and none was written after g. Whether the
    /// records since g are all still in the WAL is recovery's question
    /// (a gap after g's `next_lsn` is a loss).
    pub(super) fn check_fallback(
        pager: &mut Pager,
        dir: &str,
        sb: &Superblock,
        damaged: &DamagedSuperblock,
    ) -> StorageResult<()> {
        let need = sb.page_count * PAGE_SIZE as u64;
        if pager.file_len() < need {
            // Only a newer checkpoint cuts the file below g's page count,
            // and only free pages of g: give them back as zeros.
            pager.extend_to(need)?;
        }
        let report = validate::check_state(pager, sb, ValidationReport::default());
        if report.is_ok() {
            return Ok(());
        }
        let mut problems = report.problems[..report.problems.len().min(3)].join("; ");
        if report.problems.len() > 3 {
            problems += &format!("; {} more", report.problems.len() - 3);
        }
        Err(StorageError::Corruption {
            what: format!("{dir}/{MAIN_FILE}"),
            detail: format!(
                "superblock {} is damaged ({}) and the state of superblock {} (generation {}) \
                 does not check out ({}): the damaged one was newer; run repair to salvage the pages",
                damaged.slot,
                damaged.problem,
                sb.slot(),
                sb.generation,
                problems
            ),
        })
    }
}
