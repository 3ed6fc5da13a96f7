//! The vector indexes a store keeps beside its committed records.
//!
//! A vector index is derived data: not keys of the transaction, but graphs
//! in memory rebuilt from committed records. The store that applies
//! commits calls [`VectorIndexes::observe`] with each commit's writes: a
//! schema that gains an `index::hnsw` index registers it with every record
//! of its table pending; a record written to an indexed table becomes
//! pending. [`VectorIndexes::catch_up`] later reads pending records as
//! committed and moves them into the graph (removing their old point).
//!
//! So the index may lag the records, but never silently: every answer
//! ([`Candidates`]) lists the records not in the graph (pending, or whose
//! field is not a vector the graph can hold) for the executor to measure
//! exactly, and the executor re-ranks the graph's candidates on the
//! records as its transaction reads them. A committed record is therefore
//! never missed because the graph has not caught up; it can only be missed
//! the way any approximate search misses (the graph did not reach it).

use std::collections::{BTreeMap, BTreeSet};

use super::hnsw::{Hnsw, HnswOptions, PointId};
use crate::catalog::TableSchema;
use crate::keys::{is_schema_key, DatabaseName, KeyRange, StoreKey};
use crate::value::{codec, Value};

/// Seed of every graph's levels: a graph rebuilt from the same records in
/// the same order is the same graph.
const GRAPH_SEED: u64 = 0x0005_eed0_fa11_9a9b;
/// Removed points a graph may carry before it is rebuilt (when they also
/// outnumber the live ones).
const GRAPH_REMOVED_POINTS_MIN: usize = 64;

/// Which index: `(namespace, database, table, index)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VectorIndexId {
    /// The namespace.
    pub namespace: String,
    /// The database.
    pub database: String,
    /// The table.
    pub table: String,
    /// The index.
    pub index: String,
}

/// What an index answers for a query: records to re-rank on their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    /// The records the graph found nearest, nearest first (by the graph's
    /// `f32` distances).
    pub near: Vec<StoreKey>,
    /// Records the graph does not hold as committed: written since it last
    /// caught up, or whose field is not a vector it can hold. The caller
    /// measures each of them exactly.
    pub unindexed: Vec<StoreKey>,
}

/// One index's graph and what it knows of its table.
#[derive(Debug, Clone)]
struct Index {
    field: String,
    options: HnswOptions,
    /// Made with the dimension of the first vector indexed.
    graph: Option<Hnsw>,
    /// The point of each record in the graph.
    points: BTreeMap<StoreKey, PointId>,
    /// The record of each point (removed points keep theirs).
    records: Vec<StoreKey>,
    pending: BTreeSet<StoreKey>,
    /// Records whose field is present but not a vector of the graph's
    /// dimension: searched exactly, so that they give the error an exact
    /// search gives.
    rejected: BTreeSet<StoreKey>,
}

impl Index {
    fn new(field: String, options: HnswOptions, pending: BTreeSet<StoreKey>) -> Index {
        Index {
            field,
            options,
            graph: None,
            points: BTreeMap::new(),
            records: Vec::new(),
            pending,
            rejected: BTreeSet::new(),
        }
    }

    /// Puts `key`'s record (`None`: deleted) in the graph as it is now.
    fn refresh(&mut self, key: StoreKey, document: Option<Value>) {
        self.rejected.remove(&key);
        if let Some(point) = self.points.remove(&key) {
            if let Some(graph) = &mut self.graph {
                graph.remove(point);
            }
        }
        let value = document.map_or(Value::None, |document| document.field(&self.field));
        if matches!(value, Value::None | Value::Null) {
            return;
        }
        let Ok(vector) = super::to_vector(&value, &self.field) else {
            self.rejected.insert(key);
            return;
        };
        let options = self.options;
        let graph = self
            .graph
            .get_or_insert_with(|| Hnsw::new(options, vector.len(), GRAPH_SEED));
        if graph.dimensions() != vector.len() {
            self.rejected.insert(key);
            return;
        }
        let point = graph.insert(&vector);
        debug_assert_eq!(point as usize, self.records.len());
        self.records.push(key.clone());
        self.points.insert(key, point);
    }

    /// Starts over from the records when removed points outnumber live
    /// ones: searches through tombstones cost time and miss more.
    fn compact_if_worn(&mut self) {
        let Some(graph) = &self.graph else {
            return;
        };
        if graph.removed_count() < GRAPH_REMOVED_POINTS_MIN || graph.removed_count() <= graph.len()
        {
            return;
        }
        self.pending.extend(self.points.keys().cloned());
        self.points.clear();
        self.records.clear();
        self.graph = None;
    }
}

/// Every vector index of one store.
#[derive(Debug, Clone, Default)]
pub struct VectorIndexes {
    indexes: BTreeMap<VectorIndexId, Index>,
}

impl VectorIndexes {
    /// No index.
    pub fn new() -> VectorIndexes {
        VectorIndexes::default()
    }

    /// Takes note of a commit's writes, after the store applied them:
    /// schema changes register or drop indexes (a new index has every
    /// record of its table pending, listed by `table_keys`), and records
    /// written to indexed tables become pending.
    pub fn observe(
        &mut self,
        writes: &[(StoreKey, Option<Vec<u8>>)],
        mut table_keys: impl FnMut(&KeyRange) -> Vec<StoreKey>,
    ) {
        for (key, value) in writes {
            if is_schema_key(key) {
                self.schema_written(key, value.as_deref(), &mut table_keys);
            }
        }
        for (key, _) in writes {
            if key.table.starts_with('#') || is_schema_key(key) {
                continue;
            }
            for (_, index) in self.indexes_of_table_mut(key) {
                index.pending.insert(key.clone());
            }
        }
    }

    /// Moves up to `budget` pending records into their graphs, reading
    /// each as committed now with `read`; returns how many it moved.
    pub fn catch_up(
        &mut self,
        budget: usize,
        mut read: impl FnMut(&StoreKey) -> Option<Value>,
    ) -> usize {
        let mut done = 0;
        for index in self.indexes.values_mut() {
            while done < budget {
                let Some(key) = index.pending.pop_first() else {
                    break;
                };
                let document = read(&key);
                index.refresh(key, document);
                done += 1;
            }
            index.compact_if_worn();
        }
        done
    }

    /// Records waiting to be indexed, over all indexes.
    pub fn pending_count(&self) -> usize {
        self.indexes.values().map(|index| index.pending.len()).sum()
    }

    /// The indexes registered.
    pub fn ids(&self) -> Vec<VectorIndexId> {
        self.indexes.keys().cloned().collect()
    }

    /// Up to `count` records the graph of `id` finds nearest to `query`,
    /// and the records it does not hold. `None` when the index is not
    /// registered or its vectors have another dimension than `query`
    /// (the caller then searches exactly, and reports the mismatch).
    pub fn nearest(&self, id: &VectorIndexId, query: &[f64], count: usize) -> Option<Candidates> {
        let index = self.indexes.get(id)?;
        let near = match &index.graph {
            None => Vec::new(),
            Some(graph) if graph.dimensions() != query.len() => return None,
            Some(graph) => graph
                .search(query, count, index.options.ef)
                .into_iter()
                .map(|(point, _)| index.records[point as usize].clone())
                .collect(),
        };
        let unindexed = index.pending.union(&index.rejected).cloned().collect();
        Some(Candidates { near, unindexed })
    }

    /// Heap bytes of the graphs (vectors and links).
    pub fn memory_bytes(&self) -> usize {
        self.indexes
            .values()
            .filter_map(|index| index.graph.as_ref())
            .map(Hnsw::memory_bytes)
            .sum()
    }

    fn indexes_of_table_mut<'a>(
        &'a mut self,
        key: &'a StoreKey,
    ) -> impl Iterator<Item = (&'a VectorIndexId, &'a mut Index)> + 'a {
        self.indexes.iter_mut().filter(move |(id, _)| {
            id.namespace == key.namespace && id.database == key.database && id.table == key.table
        })
    }

    fn schema_written(
        &mut self,
        key: &StoreKey,
        value: Option<&[u8]>,
        table_keys: &mut impl FnMut(&KeyRange) -> Vec<StoreKey>,
    ) {
        // A schema that does not decode declares no vector index: the
        // executor refuses such a table before it would ask for one.
        let schema = value
            .and_then(|bytes| codec::decode(bytes).ok())
            .and_then(|value| TableSchema::from_value(&value).ok())
            .unwrap_or_default();
        let id_of = |index: &str| VectorIndexId {
            namespace: key.namespace.clone(),
            database: key.database.clone(),
            table: key.table.clone(),
            index: index.to_string(),
        };
        let wanted: BTreeMap<VectorIndexId, (String, HnswOptions)> = schema
            .indexes
            .iter()
            .filter_map(|index| {
                let options = index.hnsw?;
                Some((id_of(&index.name), (index.fields.first()?.clone(), options)))
            })
            .collect();
        self.indexes.retain(|id, index| {
            let same_table = id.namespace == key.namespace
                && id.database == key.database
                && id.table == key.table;
            !same_table
                || wanted.get(id).is_some_and(|(field, options)| {
                    *field == index.field && *options == index.options
                })
        });
        for (id, (field, options)) in wanted {
            if self.indexes.contains_key(&id) {
                continue;
            }
            let range = DatabaseName::new(&id.namespace, &id.database).table_range(&id.table);
            let pending = table_keys(&range).into_iter().collect();
            self.indexes.insert(id, Index::new(field, options, pending));
        }
    }
}
