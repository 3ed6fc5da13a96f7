//! An in-memory engine for unit tests and the simulator. It keeps what was
//! synced apart from what was only written, so [`MemoryEngine::crash`] can
//! lose exactly the unsynced batches, as a real disk would.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::{
    Direction, Engine, EngineStats, Incarnation, Record, ScanRange, Space, StorageError,
    StorageResult, WriteBatch, WriteOp,
};

type Map = BTreeMap<(Space, Vec<u8>), Record>;

/// Records in a `BTreeMap`, with crash semantics. A clone keeps what was
/// synced apart from what was only written, as the original does.
#[derive(Clone, Debug, Default)]
pub struct MemoryEngine {
    live: Map,
    durable: Map,
    unsynced: Vec<WriteBatch>,
    incarnation: Incarnation,
    syncs: u64,
    closed: bool,
}

/// Bytes of one stored key and record: the key, the value, the version and
/// the expiry (what the engine must keep to hold it).
fn record_bytes(key: &[u8], record: &Record) -> u64 {
    let expiry = if record.expires_at_ms.is_some() { 8 } else { 0 };
    (key.len() + record.value.as_ref().map_or(0, Vec::len) + crate::Version::ENCODED_LEN + expiry)
        as u64
}

impl MemoryEngine {
    /// An empty engine with incarnation `incarnation`.
    pub fn new(incarnation: Incarnation) -> MemoryEngine {
        MemoryEngine {
            incarnation,
            ..MemoryEngine::default()
        }
    }

    /// Simulates a crash and restart: every batch written since the last
    /// `sync` is lost; synced batches survive whole.
    pub fn crash(&mut self) {
        self.unsynced.clear();
        self.live = self.durable.clone();
        self.closed = false;
    }

    /// The batches written since the last `sync`, oldest first: what a
    /// crash would lose.
    pub fn unsynced(&self) -> &[WriteBatch] {
        &self.unsynced
    }

    /// Simulates the loss of the whole disk: everything is gone and the
    /// store comes back with a new incarnation.
    pub fn wipe(&mut self, incarnation: Incarnation) {
        *self = MemoryEngine::new(incarnation);
    }

    fn check_open(&self) -> StorageResult<()> {
        if self.closed {
            return Err(StorageError::Closed);
        }
        Ok(())
    }
}

fn apply(map: &mut Map, batch: &WriteBatch) {
    for (space, key, op) in &batch.ops {
        match op {
            WriteOp::Put(record) => {
                map.insert((*space, key.clone()), record.clone());
            }
            WriteOp::Remove => {
                map.remove(&(*space, key.clone()));
            }
        }
    }
}

fn bound(
    space: Space,
    b: &Bound<Vec<u8>>,
    unbounded: Bound<(Space, Vec<u8>)>,
) -> Bound<(Space, Vec<u8>)> {
    match b {
        Bound::Included(k) => Bound::Included((space, k.clone())),
        Bound::Excluded(k) => Bound::Excluded((space, k.clone())),
        Bound::Unbounded => unbounded,
    }
}

/// Whether `(lo, hi)` is empty because its start lies past its end (or at
/// it with either end excluded).
fn is_inverted<T: Ord>(lo: &Bound<T>, hi: &Bound<T>) -> bool {
    match (lo, hi) {
        (Bound::Included(l), Bound::Included(h)) => l > h,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(h) | Bound::Excluded(h)) => {
            l >= h
        }
        _ => false,
    }
}

impl Engine for MemoryEngine {
    fn get(&mut self, space: Space, key: &[u8]) -> StorageResult<Option<Record>> {
        self.check_open()?;
        Ok(self.live.get(&(space, key.to_vec())).cloned())
    }

    fn scan(
        &mut self,
        range: &ScanRange,
        direction: Direction,
        limit: usize,
    ) -> StorageResult<Vec<(Vec<u8>, Record)>> {
        self.check_open()?;
        let space = range.space;
        let lo = bound(space, &range.start, Bound::Included((space, Vec::new())));
        let hi = bound(space, &range.end, Bound::Unbounded);
        if is_inverted(&lo, &hi) {
            // BTreeMap::range panics on an inverted range; it holds nothing.
            return Ok(Vec::new());
        }
        let iter = self
            .live
            .range((lo, hi))
            .take_while(|((s, _), _)| *s == space);
        let collect = |it: &mut dyn Iterator<Item = (&(Space, Vec<u8>), &Record)>| {
            it.take(limit)
                .map(|((_, k), r)| (k.clone(), r.clone()))
                .collect::<Vec<_>>()
        };
        Ok(match direction {
            Direction::Forward => collect(&mut iter.into_iter()),
            Direction::Reverse => {
                let all: Vec<_> = iter.collect();
                collect(&mut all.into_iter().rev())
            }
        })
    }

    fn write(&mut self, batch: WriteBatch) -> StorageResult<()> {
        self.check_open()?;
        apply(&mut self.live, &batch);
        self.unsynced.push(batch);
        Ok(())
    }

    fn sync(&mut self) -> StorageResult<()> {
        self.check_open()?;
        for batch in self.unsynced.drain(..) {
            apply(&mut self.durable, &batch);
        }
        self.syncs += 1;
        Ok(())
    }

    fn checkpoint(&mut self) -> StorageResult<()> {
        self.sync()
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            records: self.live.len() as u64,
            live_bytes: self.live.iter().map(|((_, k), r)| record_bytes(k, r)).sum(),
            syncs: self.syncs,
            ..EngineStats::default()
        }
    }

    fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    fn close(&mut self) -> StorageResult<()> {
        self.sync()?;
        self.closed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;

    fn v(n: u64) -> Version {
        Version {
            physical_ms: n,
            logical: 0,
            node: 1,
        }
    }

    #[test]
    fn crash_loses_exactly_the_unsynced_batches() {
        let mut e = MemoryEngine::new(Incarnation(1));
        let mut b = WriteBatch::new();
        b.put(
            Space::Data,
            b"a".to_vec(),
            Record::value(v(1), b"1".to_vec()),
        );
        e.write(b).unwrap();
        e.sync().unwrap();
        let mut b = WriteBatch::new();
        b.put(
            Space::Data,
            b"b".to_vec(),
            Record::value(v(2), b"2".to_vec()),
        );
        e.write(b).unwrap();
        assert!(e.get(Space::Data, b"b").unwrap().is_some());
        e.crash();
        assert!(e.get(Space::Data, b"a").unwrap().is_some());
        assert!(e.get(Space::Data, b"b").unwrap().is_none());
    }

    #[test]
    fn spaces_do_not_mix_in_scans() {
        let mut e = MemoryEngine::new(Incarnation(1));
        let mut b = WriteBatch::new();
        b.put(
            Space::System,
            b"a".to_vec(),
            Record::value(v(1), b"lock".to_vec()),
        );
        b.put(
            Space::Data,
            b"b".to_vec(),
            Record::value(v(1), b"x".to_vec()),
        );
        e.write(b).unwrap();
        let data = e
            .scan(&ScanRange::all(Space::Data), Direction::Reverse, 10)
            .unwrap();
        assert_eq!(data.len(), 1);
        assert_eq!(data[0].0, b"b".to_vec());
    }
}
