//! An in-memory [`TxnStore`] for tests and examples: a `BTreeMap` with a
//! version counter, and a commit that validates reads and ranges. It keeps
//! the graphs of `index::hnsw` indexes beside the records
//! ([`VectorIndexes`]), fed after each commit; by default they catch up at
//! once, and [`MemoryStore::defer_vector_indexing`] lets them lag so that
//! tests can check that answers do not.

use std::collections::{BTreeMap, BTreeSet};

use super::store::{Commit, Scanned, Stored, TxnStore};
use crate::keys::{KeyRange, StoreKey};
use crate::vector::{Candidates, VectorIndexId, VectorIndexes};

/// Keys with values and the version of their last write.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    entries: BTreeMap<StoreKey, (Vec<u8>, u64)>,
    last_version: u64,
    vectors: VectorIndexes,
    /// Leave committed records pending in the vector indexes until
    /// [`MemoryStore::index_vectors`].
    vector_indexing_deferred: bool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The decoded value under `key`, if any.
    pub fn value_of(&self, key: &StoreKey) -> Option<crate::value::Value> {
        let (bytes, _) = self.entries.get(key)?;
        crate::value::codec::decode(bytes).ok()
    }

    /// Every key in `range`, in order.
    pub fn keys_in(&self, range: &KeyRange) -> Vec<StoreKey> {
        if range.is_empty() {
            return Vec::new();
        }
        self.entries
            .range(range.start_key()..range.end_key())
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Leaves records committed from now on out of the vector indexes'
    /// graphs until [`MemoryStore::index_vectors`] (`false`: index them
    /// at each commit, the default).
    pub fn defer_vector_indexing(&mut self, deferred: bool) {
        self.vector_indexing_deferred = deferred;
    }

    /// Moves up to `budget` records waiting for the vector indexes into
    /// their graphs; returns how many.
    pub fn index_vectors(&mut self, budget: usize) -> usize {
        let entries = &self.entries;
        self.vectors.catch_up(budget, |key| {
            let (bytes, _) = entries.get(key)?;
            crate::value::codec::decode(bytes).ok()
        })
    }

    /// The vector indexes kept beside the records.
    pub fn vector_indexes(&self) -> &VectorIndexes {
        &self.vectors
    }

    /// Applies `commit` if its reads and ranges are still what it saw
    /// (see [`Commit`]); otherwise changes nothing and says what conflicted.
    pub fn apply(&mut self, commit: &Commit<u64>) -> Result<(), String> {
        for (key, version) in &commit.reads {
            let now = self.entries.get(key).map(|(_, version)| *version);
            if now != *version {
                return Err(format!(
                    "conflict: {key:?} was read at {version:?}, is now {now:?}"
                ));
            }
        }
        let read: BTreeSet<&StoreKey> = commit.reads.iter().map(|(key, _)| key).collect();
        for range in &commit.ranges {
            for key in self.keys_in(range) {
                if !read.contains(&key) {
                    return Err(format!("conflict: {key:?} appeared in a scanned range"));
                }
            }
        }
        self.last_version += 1;
        for (key, value) in &commit.writes {
            match value {
                Some(value) => {
                    self.entries
                        .insert(key.clone(), (value.clone(), self.last_version));
                }
                None => {
                    self.entries.remove(key);
                }
            }
        }
        let entries = &self.entries;
        self.vectors.observe(&commit.writes, |range| {
            entries
                .range(range.start_key()..range.end_key())
                .map(|(key, _)| key.clone())
                .collect()
        });
        if !self.vector_indexing_deferred {
            self.index_vectors(usize::MAX);
        }
        Ok(())
    }
}

impl TxnStore for MemoryStore {
    type Version = u64;

    fn get(&mut self, key: &StoreKey) -> Result<Option<Stored<u64>>, String> {
        Ok(self.entries.get(key).map(|(value, version)| Stored {
            value: value.clone(),
            version: *version,
        }))
    }

    fn scan(&mut self, range: &KeyRange, limit: usize) -> Result<Vec<Scanned<u64>>, String> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .entries
            .range(range.start_key()..range.end_key())
            .take(limit)
            .map(|(key, (value, version))| {
                let stored = Stored {
                    value: value.clone(),
                    version: *version,
                };
                (key.clone(), stored)
            })
            .collect())
    }

    fn nearest(
        &mut self,
        index: &VectorIndexId,
        query: &[f64],
        count: usize,
    ) -> Result<Option<Candidates>, String> {
        Ok(self.vectors.nearest(index, query, count))
    }
}
