//! The live record count (`EngineStats::records`): the last checkpoint's
//! count, adjusted by each memtable change according to whether the key was
//! stored before and is stored after.

use super::btree;
use super::pager::Pager;

/// Whether the tree holds `key`, for the record count. A failed lookup (a
/// damaged page) counts as absent and marks the count unsure (`exact`):
/// the write being counted is whole in the WAL and memtable, reads of that
/// page report the damage, and the next checkpoint recounts.
pub(super) fn tree_contains(pager: &mut Pager, root: u64, key: &[u8], exact: &mut bool) -> bool {
    match btree::contains(pager, root, key) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "record count unsure: tree lookup failed");
            *exact = false;
            false
        }
    }
}

/// A record count after one key went from stored (`was`) or not to stored
/// (`now`) or not.
pub(super) fn adjust(records: u64, was: bool, now: bool) -> u64 {
    match (was, now) {
        (false, true) => records + 1,
        (true, false) => records.saturating_sub(1),
        _ => records,
    }
}

#[cfg(test)]
mod tests {
    use super::adjust;

    #[test]
    fn only_a_key_appearing_or_disappearing_changes_the_count() {
        assert_eq!(adjust(5, false, true), 6);
        assert_eq!(adjust(5, true, false), 4);
        assert_eq!(adjust(5, true, true), 5);
        assert_eq!(adjust(5, false, false), 5);
        assert_eq!(adjust(0, true, false), 0, "never below zero");
    }
}
