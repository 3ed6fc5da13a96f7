//! Reading: sources, filter, sort, start/limit and projection.

use std::cmp::Ordering;
use std::ops::Bound;

use super::eval::{evaluate, record_key};
use super::runner::Runner;
use super::store::{decode, TxnStore};
use super::ExecError;
use crate::ast::{Direction, Expr, ExprKind, SelectField};
use crate::plan::{ReadPlan, SelectPlan, Source};
use crate::value::{codec, Object, RecordId, Value};

impl<S: TxnStore> Runner<'_, '_, '_, S> {
    /// The document of `id`, or none.
    pub(super) fn fetch(&mut self, id: &RecordId) -> Result<Value, ExecError> {
        let key = self.database(self.span)?.record_key(&id.table, &id.key);
        Ok(self.store.get_value(&key)?.unwrap_or(Value::None))
    }

    /// The records of the plan's sources that pass its filter.
    pub(super) fn read(&mut self, plan: &ReadPlan) -> Result<Vec<Value>, ExecError> {
        self.read_at_most(plan, usize::MAX)
    }

    /// [`Self::read`], reading at most `cap` keys per scan; only correct
    /// when the caller wants the first `cap` records of a single source
    /// without a filter (a `LIMIT` pushed down to the scan, which then
    /// also reads and locks less).
    fn read_at_most(&mut self, plan: &ReadPlan, cap: usize) -> Result<Vec<Value>, ExecError> {
        let mut documents = Vec::new();
        for source in &plan.sources {
            documents.extend(self.read_source(source, cap)?);
        }
        let Some(filter) = &plan.filter else {
            return Ok(documents);
        };
        let mut kept = Vec::with_capacity(documents.len());
        for document in documents {
            if evaluate(filter, &document, self)?.is_truthy() {
                kept.push(document);
            }
        }
        Ok(kept)
    }

    fn read_source(&mut self, source: &Source, cap: usize) -> Result<Vec<Value>, ExecError> {
        let span = self.span;
        match source {
            Source::GetById { table, key, span } => {
                let key = record_key(key, &Value::None, self, *span)?;
                let document = self.fetch(&RecordId::new(table.clone(), key))?;
                Ok(present(document))
            }
            Source::TableScan { table } => {
                let range = self.database(span)?.table_range(table);
                self.store
                    .scan(&range, cap, span)?
                    .into_iter()
                    .map(|(key, bytes)| decode(&key, &bytes))
                    .collect()
            }
            Source::IndexScan {
                table,
                index,
                lower,
                upper,
                ..
            } => {
                let lower = self.bound(lower)?;
                let upper = self.bound(upper)?;
                let database = self.database(span)?;
                let range = database.index_range(table, index, as_slice(&lower), as_slice(&upper));
                let mut documents = Vec::new();
                // Every record is read before a missing one is reported, so
                // that a store which fetches what a run asked for gets all
                // of the range's records in one round.
                let mut missing = None;
                for (key, bytes) in self.store.scan(&range, cap, span)? {
                    let Value::RecordId(id) = decode(&key, &bytes)? else {
                        return Err(ExecError::Store(format!(
                            "index entry {key:?} does not hold a record id"
                        )));
                    };
                    match self.fetch(&id)? {
                        Value::None => {
                            missing.get_or_insert(format!(
                                "index entry {key:?} names missing record {id}"
                            ));
                        }
                        document => documents.push(document),
                    }
                }
                match missing {
                    Some(message) => Err(ExecError::Store(message)),
                    None => Ok(documents),
                }
            }
            Source::Traverse { graph, edges } => self.traversal_rows(graph, *edges),
            Source::Nearest(nearest) => self.nearest_rows(nearest),
            Source::Values(expr) => {
                let value = evaluate(expr, &Value::None, self)?;
                let items = match value {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                let mut documents = Vec::new();
                for item in items {
                    match item {
                        Value::RecordId(id) => documents.extend(present(self.fetch(&id)?)),
                        other => documents.push(other),
                    }
                }
                Ok(documents)
            }
        }
    }

    fn bound(&mut self, bound: &Bound<Expr>) -> Result<Bound<Value>, ExecError> {
        Ok(match bound {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included(expr) => Bound::Included(evaluate(expr, &Value::None, self)?),
            Bound::Excluded(expr) => Bound::Excluded(evaluate(expr, &Value::None, self)?),
        })
    }

    /// `SELECT`: read, filter, sort, start, limit, project.
    pub(super) fn select(&mut self, plan: &SelectPlan) -> Result<Value, ExecError> {
        let start = self.count(plan.start.as_ref())?.unwrap_or(0);
        let limit = self.count(plan.limit.as_ref())?.unwrap_or(usize::MAX);
        let pushed_down =
            plan.read.filter.is_none() && plan.order.is_empty() && plan.read.sources.len() == 1;
        let cap = if pushed_down {
            start.saturating_add(limit)
        } else {
            usize::MAX
        };
        let documents = self.read_at_most(&plan.read, cap)?;
        let documents = self.sort(documents, plan)?;
        let mut rows = Vec::new();
        for document in documents.into_iter().skip(start).take(limit) {
            rows.push(self.project(&document, &plan.fields, &plan.omit)?);
        }
        Ok(Value::Array(rows))
    }

    fn sort(&mut self, documents: Vec<Value>, plan: &SelectPlan) -> Result<Vec<Value>, ExecError> {
        if plan.order.is_empty() {
            return Ok(documents);
        }
        let mut keyed = Vec::with_capacity(documents.len());
        for document in documents {
            let mut keys = Vec::with_capacity(plan.order.len());
            for item in &plan.order {
                keys.push(evaluate(&item.expr, &document, self)?);
            }
            keyed.push((keys, document));
        }
        // Stable, so equal keys keep the source order.
        keyed.sort_by(|(a, _), (b, _)| {
            for ((left, right), item) in a.iter().zip(b).zip(&plan.order) {
                let ordering = match item.direction {
                    Direction::Ascending => left.cmp(right),
                    Direction::Descending => right.cmp(left),
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            Ordering::Equal
        });
        Ok(keyed.into_iter().map(|(_, document)| document).collect())
    }

    /// `START` / `LIMIT`: a non-negative integer.
    fn count(&mut self, expr: Option<&Expr>) -> Result<Option<usize>, ExecError> {
        let Some(expr) = expr else {
            return Ok(None);
        };
        match evaluate(expr, &Value::None, self)? {
            Value::Int(count) if count >= 0 => {
                Ok(Some(usize::try_from(count).unwrap_or(usize::MAX)))
            }
            other => Err(ExecError::eval(
                format!("START and LIMIT take a non-negative int, found {other}"),
                expr.span,
            )),
        }
    }

    fn project(
        &mut self,
        document: &Value,
        fields: &[SelectField],
        omit: &[Expr],
    ) -> Result<Value, ExecError> {
        let mut row = Object::new();
        for field in fields {
            match field {
                SelectField::All(_) => {
                    if let Value::Object(entries) = document {
                        row.extend(entries.clone());
                    }
                }
                SelectField::Expr { expr, alias } => {
                    // `a.b` projects to `{ a: { b } }`, as SurrealQL; an
                    // alias or any other expression names one field.
                    let path = match alias {
                        Some(alias) => vec![alias.name.clone()],
                        None => field_path(expr).unwrap_or_else(|| vec![expr.to_string()]),
                    };
                    let value = evaluate(expr, document, self)?;
                    // None is an absent field: left out, as in documents.
                    if value != Value::None {
                        insert_path(&mut row, &path, value);
                    }
                }
            }
        }
        for path in omit {
            omit_path(&mut row, path);
        }
        Ok(Value::Object(row))
    }
}

/// `a.b.c` as `["a", "b", "c"]`; none for anything but names and fields.
fn field_path(expr: &Expr) -> Option<Vec<String>> {
    match &expr.kind {
        ExprKind::Ident(ident) => Some(vec![ident.name.clone()]),
        ExprKind::Field { base, field, .. } => {
            let mut path = field_path(base)?;
            path.push(field.name.clone());
            Some(path)
        }
        _ => None,
    }
}

/// Sets `row.a.b.c = value`, creating (or replacing non-objects with)
/// objects on the way.
fn insert_path(row: &mut Object, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            row.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = row
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Object::new()));
            if !matches!(entry, Value::Object(_)) {
                *entry = Value::Object(Object::new());
            }
            if let Value::Object(inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Removes `a` or `a.b.c` from `row`.
fn omit_path(row: &mut Object, path: &Expr) {
    match &path.kind {
        ExprKind::Ident(ident) => {
            row.remove(&ident.name);
        }
        ExprKind::Field { base, field, .. } => {
            if let Some(Value::Object(inner)) = object_at(row, base) {
                inner.remove(&field.name);
            }
        }
        _ => {}
    }
}

fn object_at<'a>(row: &'a mut Object, path: &Expr) -> Option<&'a mut Value> {
    match &path.kind {
        ExprKind::Ident(ident) => row.get_mut(&ident.name),
        ExprKind::Field { base, field, .. } => match object_at(row, base)? {
            Value::Object(inner) => inner.get_mut(&field.name),
            _ => None,
        },
        _ => None,
    }
}

fn present(document: Value) -> Vec<Value> {
    match document {
        Value::None => Vec::new(),
        document => vec![document],
    }
}

/// The stored bytes of an index entry: the record id it points at.
pub(super) fn index_entry_value(id: &RecordId) -> Result<Vec<u8>, ExecError> {
    codec::encode(&Value::RecordId(id.clone())).map_err(ExecError::Encode)
}

fn as_slice(bound: &Bound<Value>) -> Bound<&[Value]> {
    bound.as_ref().map(std::slice::from_ref)
}
