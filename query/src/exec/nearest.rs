//! Running a nearest-neighbour read ([`NearestPlan`]).
//!
//! Exact: read every record of the table, measure each one's vector
//! against the query, keep the `k` nearest (ties by record id).
//!
//! With an `index::hnsw` index, when the store keeps its graph
//! ([`TxnStore::nearest`](super::TxnStore::nearest)): the candidates are
//! the graph's nearest, every record the graph has not indexed yet, and
//! every record this transaction wrote; each is read in the transaction and
//! measured on its value as read, as above. So the answer reflects the
//! records (not the graph's copy of them), a record committed but not yet
//! indexed is measured like any other, and the reads are the records of the
//! answer (a concurrent change to one of them conflicts with the
//! statement). What is approximate is only which indexed records the graph
//! offers: a record it never reached, or one inserted concurrently and not
//! read, can be missing (an exact search scans, and locks, the table).

use std::collections::BTreeSet;

use super::eval::evaluate;
use super::runner::Runner;
use super::store::{decode, TxnStore};
use super::{ExecError, SCAN_KEYS_MAX};
use crate::plan::NearestPlan;
use crate::value::Value;
use crate::vector::{self, VectorError, VectorIndexId, KNN_NEIGHBOURS_MAX};

impl<S: TxnStore> Runner<'_, '_, '_, S> {
    /// The records of the plan, nearest first.
    pub(super) fn nearest_rows(&mut self, plan: &NearestPlan) -> Result<Vec<Value>, ExecError> {
        let span = plan.span;
        let query = evaluate(&plan.query, &Value::None, self)?;
        let query = vector::to_vector(&query, "the query vector")
            .map_err(|error| ExecError::Vector { error, span })?;
        let count = self.neighbour_count(plan)?;
        if count == Some(0) {
            return Ok(Vec::new());
        }
        let documents = match (&plan.index, count) {
            (Some(index), Some(count)) => {
                match self.indexed_candidates(plan, index, &query, count)? {
                    Some(documents) => documents,
                    None => self.table_documents(plan)?,
                }
            }
            _ => self.table_documents(plan)?,
        };
        let mut ranked = Vec::with_capacity(documents.len());
        for document in documents {
            if let Some(filter) = &plan.filter {
                if !evaluate(filter, &document, self)?.is_truthy() {
                    continue;
                }
            }
            let value = document.field(&plan.field);
            // A record without the field has no place in the order.
            if matches!(value, Value::None | Value::Null) {
                continue;
            }
            let what = format!("field `{}` of {}", plan.field, document.field("id"));
            let vector = vector::to_vector(&value, &what)
                .and_then(|vector| {
                    vector::same_dimensions(&query, "the query vector", &vector, &what)?;
                    Ok(vector)
                })
                .map_err(|error| ExecError::Vector { error, span })?;
            ranked.push((plan.metric.distance(&query, &vector), document));
        }
        ranked.sort_by(|(a, first), (b, second)| {
            a.total_cmp(b)
                .then_with(|| first.field("id").cmp(&second.field("id")))
        });
        ranked.truncate(count.unwrap_or(usize::MAX));
        Ok(ranked.into_iter().map(|(_, document)| document).collect())
    }

    /// `k` (plus `START` when planned from `ORDER BY`); `None` for a count
    /// above [`KNN_NEIGHBOURS_MAX`] from `ORDER BY ... LIMIT`, which then
    /// ranks the whole table.
    fn neighbour_count(&mut self, plan: &NearestPlan) -> Result<Option<usize>, ExecError> {
        let count = evaluate(&plan.count, &Value::None, self)?;
        let skip = match &plan.skip {
            Some(skip) => evaluate(skip, &Value::None, self)?,
            None => Value::Int(0),
        };
        let refused = |found: &Value| ExecError::Vector {
            error: VectorError::NeighbourCount {
                found: found.to_string(),
                max: KNN_NEIGHBOURS_MAX,
            },
            span: plan.span,
        };
        let (Value::Int(count_int), Value::Int(skip)) = (&count, &skip) else {
            return Err(refused(&count));
        };
        let total = usize::try_from(*count_int)
            .ok()
            .zip(usize::try_from(*skip).ok())
            .map(|(count, skip)| count.saturating_add(skip));
        match total {
            Some(total) if plan.ordered && total > KNN_NEIGHBOURS_MAX => Ok(None),
            Some(total) if plan.ordered || (1..=KNN_NEIGHBOURS_MAX).contains(&total) => {
                Ok(Some(total))
            }
            _ => Err(refused(&count)),
        }
    }

    /// Every record of the table.
    fn table_documents(&mut self, plan: &NearestPlan) -> Result<Vec<Value>, ExecError> {
        let range = self.database(plan.span)?.table_range(&plan.table);
        self.store
            .scan(&range, usize::MAX, plan.span)?
            .into_iter()
            .map(|(key, bytes)| decode(&key, &bytes))
            .collect()
    }

    /// The candidates of the index as this transaction reads them; `None`
    /// when the store keeps no graph for it or too many records wait to
    /// be indexed (the caller then reads the table).
    fn indexed_candidates(
        &mut self,
        plan: &NearestPlan,
        index: &str,
        query: &[f64],
        count: usize,
    ) -> Result<Option<Vec<Value>>, ExecError> {
        let database = self.database(plan.span)?;
        let id = VectorIndexId {
            namespace: database.namespace.clone(),
            database: database.database.clone(),
            table: plan.table.clone(),
            index: index.to_string(),
        };
        let Some(candidates) = self.store.nearest(&id, query, count)? else {
            return Ok(None);
        };
        if candidates.unindexed.len() > SCAN_KEYS_MAX {
            return Ok(None);
        }
        let range = database.table_range(&plan.table);
        let mut keys: BTreeSet<_> = candidates.near.into_iter().collect();
        keys.extend(candidates.unindexed);
        keys.extend(self.store.written_keys(&range));
        let mut documents = Vec::with_capacity(keys.len());
        for key in keys.into_iter().filter(|key| range.contains(key)) {
            if let Some(document) = self.store.get_value(&key)? {
                documents.push(document);
            }
        }
        Ok(Some(documents))
    }
}
