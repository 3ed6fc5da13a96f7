//! The memtable: changes written since the last checkpoint. Each change
//! lives once, in a slot of an append-only vector (a change of a key held
//! already replaces its slot's entry; slots are only dropped all together,
//! by `clear`). Point lookups find the slot through an open-addressing
//! table keyed by a 64-bit fingerprint of the key (xxh3): about one probe
//! of a compact table and one key comparison, however many changes are
//! held (an ordered map walk costs a pointer chase and a `memcmp` per
//! level, which dominated warm gets while the memtable held a few hundred
//! thousand keys). Scans and
//! checkpoints walk an ordered map from key to slot, so they never hash or
//! probe. Keys of up to [`INLINE_KEY_MAX`] bytes (nearly all) are stored
//! inline, in the slot and in the ordered map's nodes, so neither a lookup's
//! key comparison nor the ordered map's chase a pointer; longer keys share
//! one heap allocation.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::Record;

/// One change: the record now stored, or `None` when the key was removed.
pub(crate) type Entry = Option<Record>;

/// Longest key stored inline (32 bytes with the length and the variant).
const INLINE_KEY_MAX: usize = 30;

/// A tagged key: inline when short, else shared on the heap. Compares as
/// its bytes, so maps of it can be searched by `&[u8]`.
#[derive(Clone)]
enum Key {
    Inline {
        len: u8,
        bytes: [u8; INLINE_KEY_MAX],
    },
    Shared(Arc<[u8]>),
}

impl Key {
    fn new(key: Vec<u8>) -> Key {
        if key.len() <= INLINE_KEY_MAX {
            let mut bytes = [0u8; INLINE_KEY_MAX];
            bytes[..key.len()].copy_from_slice(&key);
            Key::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Key::Shared(key.into())
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Shared(bytes) => bytes,
        }
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.bytes().cmp(other.bytes())
    }
}

/// Index of a change in [`Memtable::slots`]. A memtable never holds 2^32
/// changes: the WAL passes its checkpoint threshold long before.
type Slot = u32;

/// Buckets the fingerprint table starts with.
const TABLE_BUCKETS_MIN: usize = 1024;

/// Tagged key to change, by fingerprint and in key order.
pub(crate) struct Memtable {
    /// The fingerprint function (xxh3; tests pass one that collides).
    fingerprint: fn(&[u8]) -> u64,
    /// Every change held, in the order its key first arrived.
    slots: Vec<(Key, Entry)>,
    /// Open addressing with linear probing, a power of two long and at most
    /// half full. A bucket holds 0 (empty) or, in its low 32 bits, a slot
    /// number plus one, and above them the top 32 bits of that key's
    /// fingerprint, so a probe touches a slot only when those bits match.
    /// Keys with equal fingerprints simply sit in later buckets. Only ever
    /// probed, never iterated, so its order cannot leak.
    table: Vec<u64>,
    /// Every key held, in order, with its slot.
    order: BTreeMap<Key, Slot>,
}

/// What the fingerprint table holds for `slot` of a key with fingerprint
/// `fp`: the fingerprint's top 32 bits above the slot number plus one (so
/// that no used bucket is 0).
fn bucket_value(fp: u64, slot: Slot) -> u64 {
    (fp >> 32) << 32 | (u64::from(slot) + 1)
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
            slots: Vec::new(),
            table: vec![0; TABLE_BUCKETS_MIN],
            order: BTreeMap::new(),
        }
    }

    /// The slot holding `key` (whose fingerprint is `fp`), or the empty
    /// bucket where it would go.
    fn find(&self, key: &[u8], fp: u64) -> Result<Slot, usize> {
        let mask = self.table.len() - 1;
        let tag = fp >> 32;
        let mut at = fp as usize & mask;
        loop {
            let bucket = self.table[at];
            if bucket == 0 {
                return Err(at);
            }
            let slot = (bucket as u32).wrapping_sub(1);
            if bucket >> 32 == tag && self.slots[slot as usize].0.bytes() == key {
                return Ok(slot);
            }
            at = (at + 1) & mask;
        }
    }

    /// The change held for `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        let slot = self.find(key, (self.fingerprint)(key)).ok()?;
        Some(&self.slots[slot as usize].1)
    }

    /// Records a change of `key`; returns the change it replaces.
    pub(crate) fn insert(&mut self, key: Vec<u8>, entry: Entry) -> Option<Entry> {
        let fp = (self.fingerprint)(&key);
        let bucket = match self.find(&key, fp) {
            Ok(slot) => {
                return Some(std::mem::replace(&mut self.slots[slot as usize].1, entry));
            }
            Err(bucket) => bucket,
        };
        let slot = Slot::try_from(self.slots.len()).expect("fewer than 2^32 changes");
        self.table[bucket] = bucket_value(fp, slot);
        let key = Key::new(key);
        self.order.insert(key.clone(), slot);
        self.slots.push((key, entry));
        if self.slots.len() * 2 > self.table.len() {
            self.grow();
        }
        None
    }

    /// Doubles the fingerprint table and puts every slot back in it.
    fn grow(&mut self) {
        let buckets = self.table.len() * 2;
        self.table = vec![0; buckets];
        for (slot, (key, _)) in self.slots.iter().enumerate() {
            let fp = (self.fingerprint)(key.bytes());
            let mut at = fp as usize & (buckets - 1);
            while self.table[at] != 0 {
                at = (at + 1) & (buckets - 1);
            }
            self.table[at] = bucket_value(fp, slot as Slot);
        }
    }

    /// Changes within `range`, in key order (reversible).
    pub(crate) fn range<'a>(
        &'a self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> impl DoubleEndedIterator<Item = (&'a [u8], &'a Entry)> + 'a {
        self.order
            .range::<[u8], _>(range)
            .map(move |(key, &at)| (key.bytes(), &self.slots[at as usize].1))
    }

    /// Every change, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> + '_ {
        self.order
            .iter()
            .map(move |(key, &at)| (key.bytes(), &self.slots[at as usize].1))
    }

    /// Drops every change (a checkpoint holds them now).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.table.iter_mut().for_each(|bucket| *bucket = 0);
        self.order.clear();
    }

    /// Whether no change is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Keys held.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
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
    fn colliding_fingerprints_survive_the_table_growing() {
        // Every key gets fingerprint 0 or 1, and there are enough of them
        // to double the table twice.
        let mut m = Memtable::with_fingerprint(|k| u64::from(k[3] & 1));
        let n = 4 * TABLE_BUCKETS_MIN as u32;
        for i in 0..n {
            assert_eq!(
                m.insert(i.to_be_bytes().to_vec(), Some(record(i as u8))),
                None
            );
        }
        assert!(m.table.len() > 2 * TABLE_BUCKETS_MIN, "the table grew");
        for i in (0..n).step_by(7) {
            assert_eq!(
                m.get(&i.to_be_bytes()),
                Some(&Some(record(i as u8))),
                "key {i}"
            );
        }
        assert_eq!(m.get(&n.to_be_bytes()), None);
        assert_eq!(m.len(), n as usize);
    }

    #[test]
    fn long_and_short_keys_order_as_their_bytes() {
        // Keys on both sides of the inline limit, sharing prefixes.
        let mut m = Memtable::new();
        let mut model = BTreeMap::new();
        for len in [
            0,
            1,
            INLINE_KEY_MAX - 1,
            INLINE_KEY_MAX,
            INLINE_KEY_MAX + 1,
            4097,
        ] {
            for last in [0u8, 7, 255] {
                let mut key = vec![b'k'; len];
                key.push(last);
                m.insert(key.clone(), Some(record(last)));
                model.insert(key, Some(record(last)));
            }
        }
        let got: Vec<Vec<u8>> = m.iter().map(|(k, _)| k.to_vec()).collect();
        let want: Vec<Vec<u8>> = model.keys().cloned().collect();
        assert_eq!(got, want);
        for (k, v) in &model {
            assert_eq!(m.get(k), Some(v));
        }
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
