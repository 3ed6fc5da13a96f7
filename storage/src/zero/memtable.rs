//! The memtable: changes written since the last checkpoint. Point lookups
//! go through a hash map keyed by a 64-bit fingerprint of the key (xxh3):
//! one probe and one key comparison, however many changes are held (an
//! ordered map walk costs a pointer chase and a `memcmp` per level, which
//! dominated warm gets while the memtable held a few hundred thousand keys).
//! The keys are also kept in an ordered set for scans and checkpoints; both
//! share one allocation per key.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::ops::Bound;
use std::sync::Arc;

use super::pager::IdHasher;
use crate::Record;

/// One change: the record now stored, or `None` when the key was removed.
pub(crate) type Entry = Option<Record>;

type Key = Arc<[u8]>;

/// Tagged key to change, by fingerprint and in key order.
pub(crate) struct Memtable {
    /// The fingerprint function (xxh3; tests pass one that collides).
    fingerprint: fn(&[u8]) -> u64,
    /// Fingerprint to the first key that had it and its change. Only ever
    /// probed, never iterated, so its order cannot leak.
    by_fingerprint: HashMap<u64, (Key, Entry), BuildHasherDefault<IdHasher>>,
    /// Keys whose fingerprint an earlier, different key already holds (a
    /// 64-bit collision: in practice empty).
    collided: BTreeMap<Key, Entry>,
    /// Every key held, in order.
    order: BTreeSet<Key>,
}

fn fingerprint(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

impl Memtable {
    /// An empty memtable.
    pub(crate) fn new() -> Memtable {
        Memtable::with_fingerprint(fingerprint)
    }

    fn with_fingerprint(fingerprint: fn(&[u8]) -> u64) -> Memtable {
        Memtable {
            fingerprint,
            by_fingerprint: HashMap::default(),
            collided: BTreeMap::new(),
            order: BTreeSet::new(),
        }
    }

    /// The change held for `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        match self.by_fingerprint.get(&(self.fingerprint)(key)) {
            Some((k, entry)) if **k == *key => Some(entry),
            Some(_) => self.collided.get(key),
            None => None,
        }
    }

    /// Records a change of `key`; returns the change it replaces.
    pub(crate) fn insert(&mut self, key: Vec<u8>, entry: Entry) -> Option<Entry> {
        use std::collections::hash_map::Entry as Slot;
        match self.by_fingerprint.entry((self.fingerprint)(&key)) {
            Slot::Occupied(mut held) if *held.get().0 == *key => {
                Some(std::mem::replace(&mut held.get_mut().1, entry))
            }
            Slot::Occupied(_) => {
                let key: Key = key.into();
                let previous = self.collided.insert(Arc::clone(&key), entry);
                if previous.is_none() {
                    self.order.insert(key);
                }
                previous
            }
            Slot::Vacant(slot) => {
                let key: Key = key.into();
                slot.insert((Arc::clone(&key), entry));
                self.order.insert(key);
                None
            }
        }
    }

    fn held<'a>(&'a self, key: &'a Key) -> (&'a [u8], &'a Entry) {
        let entry = self
            .get(key)
            .expect("every key in the order set has a change");
        (key, entry)
    }

    /// Changes within `range`, in key order (reversible).
    pub(crate) fn range<'a>(
        &'a self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> impl DoubleEndedIterator<Item = (&'a [u8], &'a Entry)> + 'a {
        self.order
            .range::<[u8], _>(range)
            .map(move |key| self.held(key))
    }

    /// Every change, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> + '_ {
        self.order.iter().map(move |key| self.held(key))
    }

    /// Drops every change (a checkpoint holds them now).
    pub(crate) fn clear(&mut self) {
        self.by_fingerprint.clear();
        self.collided.clear();
        self.order.clear();
    }

    /// Whether no change is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Keys held.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
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

    /// Inserts keys 0..n (big-endian u32) into `m`, then checks point
    /// lookups, ordered iteration and reversed ranges against a BTreeMap.
    fn check_against_btreemap(mut m: Memtable) {
        let mut model = BTreeMap::new();
        for i in (0..500u32).rev().chain(0..250) {
            let key = (i * 7 % 500).to_be_bytes().to_vec();
            let entry = if i % 5 == 0 {
                None
            } else {
                Some(record(i as u8))
            };
            assert_eq!(
                m.insert(key.clone(), entry.clone()),
                model.insert(key, entry),
                "insert {i}"
            );
        }
        for (k, v) in &model {
            assert_eq!(m.get(k), Some(v));
        }
        assert_eq!(m.get(&9999u32.to_be_bytes()), None);
        let got: Vec<(Vec<u8>, Entry)> = m.iter().map(|(k, v)| (k.to_vec(), v.clone())).collect();
        let want: Vec<(Vec<u8>, Entry)> = model.clone().into_iter().collect();
        assert_eq!(got, want);
        let lo = 100u32.to_be_bytes();
        let hi = 200u32.to_be_bytes();
        let got: Vec<Vec<u8>> = m
            .range((Bound::Excluded(&lo[..]), Bound::Included(&hi[..])))
            .rev()
            .map(|(k, _)| k.to_vec())
            .collect();
        let want: Vec<Vec<u8>> = model
            .range::<[u8], _>((Bound::Excluded(&lo[..]), Bound::Included(&hi[..])))
            .rev()
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(got, want);
        assert_eq!(m.len(), model.len());
    }

    #[test]
    fn matches_an_ordered_map() {
        check_against_btreemap(Memtable::new());
    }

    #[test]
    fn colliding_fingerprints_keep_every_key_apart() {
        // Every key gets fingerprint 0 or 1: nearly all of them collide.
        check_against_btreemap(Memtable::with_fingerprint(|k| u64::from(k[3] & 1)));
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
