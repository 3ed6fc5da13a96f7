//! The transactional key-value interface the executor reads through, and
//! the buffer that turns one statement or block into one [`Commit`].

use std::collections::BTreeMap;
use std::fmt;

use super::ExecError;
use crate::ast::Span;
use crate::keys::{KeyRange, StoreKey};
use crate::value::{codec, Value};
use crate::vector::{Candidates, VectorIndexId};

/// Most keys one scan may return; a larger table or index range is
/// refused rather than read into memory.
pub const SCAN_KEYS_MAX: usize = 100_000;
/// Most distinct keys one transaction may write.
pub const WRITE_KEYS_MAX: usize = 100_000;

/// Reads of one transaction's snapshot. The node implements it over its
/// transaction API (reads that take shared locks, or record versions for
/// validation); [`super::MemoryStore`] implements it for tests.
///
/// Writes are not part of the trait: the executor buffers them and hands
/// them back in a [`Commit`] for the caller to commit atomically.
pub trait TxnStore {
    /// The version a key was read at.
    type Version: Clone + fmt::Debug + PartialEq;

    /// The value and version of `key`, or `None` if absent.
    fn get(&mut self, key: &StoreKey) -> Result<Option<Stored<Self::Version>>, String>;

    /// [`TxnStore::get`] of a key the statement needs absent (a `CREATE`
    /// of a given id). A store that checks every read at commit may answer
    /// absent without reading: the commit then checks that the key is
    /// absent, and a wrong guess fails it like any changed read.
    fn get_expecting_absent(
        &mut self,
        key: &StoreKey,
    ) -> Result<Option<Stored<Self::Version>>, String> {
        self.get(key)
    }

    /// Up to `limit` keys of `range` in key order, with values and versions.
    /// The executor never asks for an empty range (`range.is_empty()`).
    fn scan(
        &mut self,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<Scanned<Self::Version>>, String>;

    /// Candidates for the `count` records nearest to `query` from the
    /// vector index `index`, if the store keeps one
    /// ([`crate::vector::VectorIndexes`]): the graph's nearest and every
    /// record it has not indexed. The executor reads each candidate with
    /// [`TxnStore::get`] and ranks them on their values. `None` (the
    /// default): the executor reads the whole table and measures every
    /// record, which gives the same answer, exactly.
    fn nearest(
        &mut self,
        index: &VectorIndexId,
        query: &[f64],
        count: usize,
    ) -> Result<Option<Candidates>, String> {
        let _ = (index, query, count);
        Ok(None)
    }
}

/// A key found by a scan, with its value and version.
pub type Scanned<V> = (StoreKey, Stored<V>);

/// A value as stored, with the version of its last write.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<V> {
    /// The bytes.
    pub value: Vec<u8>,
    /// The version.
    pub version: V,
}

/// Everything one statement or `BEGIN ... COMMIT` block read and wants to
/// write. `reads` and `writes` are sorted by key, one entry per key. The caller commits it as ONE strictly serializable transaction:
/// apply every write if and only if, at the commit point,
///
/// - every key in `reads` still has the version read (`None`: still absent),
/// - and every range in `ranges` holds exactly the keys of `reads` that lie
///   in it (no key inserted into a scanned range: no phantoms).
///
/// With locks instead of validation: shared locks on `reads` and shared
/// range locks on `ranges`, exclusive locks on `writes`, held to commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit<V> {
    /// Keys read from the store with the version seen (`None`: absent).
    pub reads: Vec<(StoreKey, Option<V>)>,
    /// Ranges scanned (every key in them is also in `reads`).
    pub ranges: Vec<KeyRange>,
    /// New values (`None`: delete), one per key.
    pub writes: Vec<(StoreKey, Option<Vec<u8>>)>,
}

impl<V> Commit<V> {
    /// Whether the transaction writes nothing.
    pub fn is_read_only(&self) -> bool {
        self.writes.is_empty()
    }
}

/// Reads through to the store, recording what was read; keeps writes in a
/// buffer that later reads of the same transaction see.
pub(crate) struct Buffered<'s, S: TxnStore> {
    store: &'s mut S,
    reads: BTreeMap<StoreKey, Option<S::Version>>,
    ranges: Vec<KeyRange>,
    writes: BTreeMap<StoreKey, Option<Vec<u8>>>,
}

impl<'s, S: TxnStore> Buffered<'s, S> {
    pub(crate) fn new(store: &'s mut S) -> Self {
        Buffered {
            store,
            reads: BTreeMap::new(),
            ranges: Vec::new(),
            writes: BTreeMap::new(),
        }
    }

    pub(crate) fn into_commit(self) -> Commit<S::Version> {
        Commit {
            reads: self.reads.into_iter().collect(),
            ranges: self.ranges,
            writes: self.writes.into_iter().collect(),
        }
    }

    /// The bytes under `key` as this transaction sees them.
    pub(crate) fn get(&mut self, key: &StoreKey) -> Result<Option<Vec<u8>>, ExecError> {
        if let Some(written) = self.writes.get(key) {
            return Ok(written.clone());
        }
        let found = self.store.get(key).map_err(ExecError::Store)?;
        let version = found.as_ref().map(|stored| stored.version.clone());
        self.reads.entry(key.clone()).or_insert(version);
        Ok(found.map(|stored| stored.value))
    }

    /// Whether `key` holds a value, for a key the statement needs absent
    /// ([`TxnStore::get_expecting_absent`]).
    pub(crate) fn exists_expecting_absent(&mut self, key: &StoreKey) -> Result<bool, ExecError> {
        if let Some(written) = self.writes.get(key) {
            return Ok(written.is_some());
        }
        let found = self
            .store
            .get_expecting_absent(key)
            .map_err(ExecError::Store)?;
        let version = found.as_ref().map(|stored| stored.version.clone());
        self.reads.entry(key.clone()).or_insert(version);
        Ok(found.is_some())
    }

    /// The decoded value under `key`.
    pub(crate) fn get_value(&mut self, key: &StoreKey) -> Result<Option<Value>, ExecError> {
        self.get(key)?.map(|bytes| decode(key, &bytes)).transpose()
    }

    /// Up to `limit` keys of `range` as this transaction sees them. Records
    /// the range actually covered: up to the last key returned when the
    /// store stopped at the limit.
    pub(crate) fn scan(
        &mut self,
        range: &KeyRange,
        limit: usize,
        span: Span,
    ) -> Result<Vec<(StoreKey, Vec<u8>)>, ExecError> {
        // An empty range holds no key now or later: nothing to read or lock.
        if range.is_empty() {
            return Ok(Vec::new());
        }
        // Buffered deletes may hide up to that many of the store's keys:
        // ask for more so that `limit` keys remain when the range has them.
        let start = range.start_key();
        let hidden = self
            .writes
            .range(start..range.end_key())
            .filter(|(_, written)| written.is_none())
            .count();
        let asked = limit.saturating_add(hidden).min(SCAN_KEYS_MAX + 1);
        let found = self.store.scan(range, asked).map_err(ExecError::Store)?;
        let mut covered = range.clone();
        if found.len() >= asked {
            if let Some((last, _)) = found.last() {
                assert!(
                    range.contains(last),
                    "the store returned {last:?} outside {range:?}"
                );
                covered.end = last.id.clone();
                covered.end.push(0);
            }
        }
        if limit > SCAN_KEYS_MAX && found.len() > SCAN_KEYS_MAX {
            return Err(ExecError::TooLarge {
                what: format!("the scan of {}", range.table),
                limit: SCAN_KEYS_MAX,
                span,
            });
        }
        let mut merged: BTreeMap<StoreKey, Vec<u8>> = BTreeMap::new();
        for (key, stored) in found {
            self.reads
                .entry(key.clone())
                .or_insert(Some(stored.version));
            merged.insert(key, stored.value);
        }
        for (key, written) in self.writes.range(covered.start_key()..covered.end_key()) {
            match written {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        self.ranges.push(covered);
        Ok(merged.into_iter().take(limit).collect())
    }

    /// [`TxnStore::nearest`], passed through.
    pub(crate) fn nearest(
        &mut self,
        index: &VectorIndexId,
        query: &[f64],
        count: usize,
    ) -> Result<Option<Candidates>, ExecError> {
        self.store
            .nearest(index, query, count)
            .map_err(ExecError::Store)
    }

    /// The keys of `range` this transaction wrote (or deleted).
    pub(crate) fn written_keys(&self, range: &KeyRange) -> Vec<StoreKey> {
        if range.is_empty() {
            return Vec::new();
        }
        self.writes
            .range(range.start_key()..range.end_key())
            .map(|(key, _)| key.clone())
            .collect()
    }

    pub(crate) fn put(
        &mut self,
        key: StoreKey,
        value: Vec<u8>,
        span: Span,
    ) -> Result<(), ExecError> {
        self.write(key, Some(value), span)
    }

    pub(crate) fn put_value(
        &mut self,
        key: StoreKey,
        value: &Value,
        span: Span,
    ) -> Result<(), ExecError> {
        let bytes = codec::encode(value).map_err(ExecError::Encode)?;
        self.put(key, bytes, span)
    }

    pub(crate) fn delete(&mut self, key: StoreKey, span: Span) -> Result<(), ExecError> {
        self.write(key, None, span)
    }

    fn write(
        &mut self,
        key: StoreKey,
        value: Option<Vec<u8>>,
        span: Span,
    ) -> Result<(), ExecError> {
        if self.writes.len() >= WRITE_KEYS_MAX && !self.writes.contains_key(&key) {
            return Err(ExecError::TooLarge {
                what: "the number of keys written by one transaction".into(),
                limit: WRITE_KEYS_MAX,
                span,
            });
        }
        self.writes.insert(key, value);
        Ok(())
    }
}

/// Decodes stored bytes, naming the key when they are corrupt.
pub(crate) fn decode(key: &StoreKey, bytes: &[u8]) -> Result<Value, ExecError> {
    codec::decode(bytes).map_err(|error| ExecError::Corrupt {
        key: format!("{key:?}"),
        error,
    })
}
