//! The memtable: changes written since the last checkpoint, in key order for
//! scans and checkpoints, with a set of key fingerprints so that a point
//! lookup of a key the memtable does not hold (most lookups, once the data
//! set is much larger than one checkpoint interval) costs one hash probe
//! instead of a walk down an ordered map of heap-allocated keys.

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasherDefault;
use std::ops::RangeBounds;

use super::pager::IdHasher;
use crate::Record;

/// One change: the record now stored, or `None` when the key was removed.
pub(crate) type Entry = Option<Record>;

/// Tagged key to change, plus fingerprints of every key held.
#[derive(Default)]
pub(crate) struct Memtable {
    entries: BTreeMap<Vec<u8>, Entry>,
    /// 64-bit hashes of the keys in `entries`: a key whose hash is absent is
    /// not held. Only ever probed, never iterated, so its order cannot leak.
    fingerprints: HashSet<u64, BuildHasherDefault<IdHasher>>,
}

fn fingerprint(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

impl Memtable {
    /// An empty memtable.
    pub(crate) fn new() -> Memtable {
        Memtable::default()
    }

    /// The change held for `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        if !self.fingerprints.contains(&fingerprint(key)) {
            return None;
        }
        self.entries.get(key)
    }

    /// Records a change of `key`; returns the change it replaces.
    pub(crate) fn insert(&mut self, key: Vec<u8>, entry: Entry) -> Option<Entry> {
        self.fingerprints.insert(fingerprint(&key));
        self.entries.insert(key, entry)
    }

    /// Changes within `range`, in key order.
    pub(crate) fn range<R: RangeBounds<Vec<u8>>>(
        &self,
        range: R,
    ) -> std::collections::btree_map::Range<'_, Vec<u8>, Entry> {
        self.entries.range(range)
    }

    /// Every change, in key order.
    pub(crate) fn iter(&self) -> std::collections::btree_map::Iter<'_, Vec<u8>, Entry> {
        self.entries.iter()
    }

    /// Drops every change (a checkpoint holds them now).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.fingerprints.clear();
    }

    /// Whether no change is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;

    fn record(n: u8) -> Record {
        let version = Version {
            physical_ms: 1,
            logical: 0,
            node: 1,
        };
        Record::value(version, vec![n])
    }

    #[test]
    fn lookups_see_every_insert_and_nothing_after_clear() {
        let mut m = Memtable::new();
        for i in 0..1000u32 {
            assert_eq!(m.insert(i.to_be_bytes().to_vec(), Some(record(1))), None);
        }
        assert_eq!(
            m.insert(7u32.to_be_bytes().to_vec(), None),
            Some(Some(record(1)))
        );
        for i in 0..1000u32 {
            let want = if i == 7 { None } else { Some(record(1)) };
            assert_eq!(m.get(&i.to_be_bytes()), Some(&want), "key {i}");
        }
        assert_eq!(m.get(&1000u32.to_be_bytes()), None);
        assert_eq!(m.len(), 1000);
        m.clear();
        assert!(m.is_empty());
        assert_eq!(m.get(&3u32.to_be_bytes()), None);
    }
}
