//! Edges: `RELATE`, and deleting a record with its edges.
//!
//! An edge is a record of an edge table holding `in` and `out`, plus one
//! adjacency entry under each end (`#out` of `in`, `#in` of `out`, see
//! `keys.rs`). `RELATE` writes the edge, both entries and the edge's
//! index entries in the statement's transaction; deleting a record deletes
//! its edges the same way, so a committed edge always has both ends.

use std::collections::BTreeSet;

use super::eval::evaluate;
use super::runner::{unknown, Runner};
use super::store::{decode, TxnStore};
use super::ExecError;
use crate::ast::{Data, Ident, RelateStatement, Vertex, VertexKind};
use crate::catalog::{TableDefinition, TableSchema};
use crate::keys::Adjacency;
use crate::value::{Object, RecordId, Value};

impl<S: TxnStore> Runner<'_, '_, '_, S> {
    /// `RELATE from -> edge -> to`: one edge from each `from` record to
    /// each `to` record; both must exist.
    pub(super) fn relate(&mut self, relate: &RelateStatement) -> Result<Value, ExecError> {
        self.edge_table(&relate.edge, true)?;
        let from = self.relate_ends(&relate.from)?;
        let to = self.relate_ends(&relate.to)?;
        self.require_records(from.iter().chain(&to))?;
        let mut content = self.edge_content(relate.data.as_ref())?;
        content.remove("id");
        let mut created = Vec::new();
        for from in &from {
            for to in &to {
                let key = match &relate.key {
                    Some(key) => {
                        let span = relate.edge.span;
                        super::eval::record_key(key, &Value::None, self, span)?
                    }
                    None => self.environment.ids.generate(&relate.edge.name),
                };
                let id = RecordId::new(relate.edge.name.clone(), key);
                created.push(self.create_edge(&id, from, to, content.clone())?);
            }
        }
        Ok(Value::Array(created))
    }

    /// Every record must exist. Each is read before a missing one is
    /// reported, so that a store which fetches what a run asked for (the
    /// node) gets them all in one round.
    fn require_records<'a>(
        &mut self,
        ids: impl Iterator<Item = &'a RecordId>,
    ) -> Result<(), ExecError> {
        let mut missing = None;
        for id in ids {
            if self.fetch(id)? == Value::None {
                missing.get_or_insert_with(|| id.clone());
            }
        }
        match missing {
            None => Ok(()),
            Some(id) => Err(ExecError::Invalid {
                message: format!("cannot RELATE {id}: the record does not exist (create it first)"),
                span: self.span,
            }),
        }
    }

    /// The edge's fields from `SET` or `CONTENT`.
    fn edge_content(&mut self, data: Option<&Data>) -> Result<Object, ExecError> {
        Ok(match data {
            None => Object::new(),
            Some(Data::Set(assignments)) => self.apply_assignments(Object::new(), assignments)?,
            Some(Data::Content(expr) | Data::Merge(expr)) => {
                match evaluate(expr, &Value::None, self)? {
                    Value::Object(object) => object,
                    other => {
                        return Err(ExecError::eval(
                            format!("RELATE content must be an object, found {other}"),
                            expr.span,
                        ))
                    }
                }
            }
            Some(Data::Values { .. }) => {
                return Err(ExecError::unsupported(
                    "RELATE ... SET (..) VALUES",
                    self.span,
                ))
            }
        })
    }

    /// Writes edge `id` from `from` to `to` with its adjacency entries.
    fn create_edge(
        &mut self,
        id: &RecordId,
        from: &RecordId,
        to: &RecordId,
        mut content: Object,
    ) -> Result<Value, ExecError> {
        let database = self.database(self.span)?;
        if self
            .store
            .exists_expecting_absent(&database.record_key(&id.table, &id.key))?
        {
            return Err(ExecError::RecordExists {
                id: Box::new(Value::RecordId(id.clone())),
                span: self.span,
            });
        }
        content.insert("in".into(), Value::RecordId(from.clone()));
        content.insert("out".into(), Value::RecordId(to.clone()));
        let document = self.store_record(id, None, content)?;
        if document.field("in") != Value::RecordId(from.clone())
            || document.field("out") != Value::RecordId(to.clone())
        {
            return Err(ExecError::Invalid {
                message: format!(
                    "the field rules of `{}` changed the edge's `in` or `out`",
                    id.table
                ),
                span: self.span,
            });
        }
        let span = self.span;
        let out_entry = adjacency_value(id, to);
        let out_key = database.adjacency_key(Adjacency::Out, from, id);
        self.store.put_value(out_key, &out_entry, span)?;
        let in_entry = adjacency_value(id, from);
        let in_key = database.adjacency_key(Adjacency::In, to, id);
        self.store.put_value(in_key, &in_entry, span)?;
        Ok(document)
    }

    /// The records on one side of `RELATE`: record ids, lists of them,
    /// parameters, subqueries or traversals holding them.
    fn relate_ends(&mut self, vertex: &Vertex) -> Result<Vec<RecordId>, ExecError> {
        if vertex.condition.is_some() || vertex.alias.is_some() {
            return Err(ExecError::Invalid {
                message: "RELATE takes records, without WHERE or AS".into(),
                span: vertex.span,
            });
        }
        let not_records = |what: String| ExecError::Invalid {
            message: format!("RELATE connects records (such as person:alice), found {what}"),
            span: vertex.span,
        };
        let mut ids = Vec::new();
        match &vertex.kind {
            VertexKind::Record { table, key } => {
                let key = super::eval::record_key(key, &Value::None, self, vertex.span)?;
                ids.push(RecordId::new(table.name.clone(), key));
            }
            VertexKind::List(items) => {
                for item in items {
                    ids.extend(self.relate_ends(item)?);
                }
            }
            VertexKind::Table(table) => {
                return Err(not_records(format!("the table `{}`", table.name)))
            }
            VertexKind::Any => return Err(not_records("`*`".into())),
            VertexKind::Graph(graph) => {
                for walk in self.graph_vertices(graph)? {
                    ids.push(walk.vertex);
                }
            }
            VertexKind::Value(expr) => ids.extend(self.record_ids(expr)?),
        }
        Ok(ids)
    }

    /// The schema of the edge table `name`: an error if it is a plain
    /// table, or (in strict mode) undefined. With `define`, an undefined
    /// edge table is defined (schemaless), as `DEFINE FIELD` implies its
    /// table, so that its records are known as edges.
    pub(super) fn edge_table(
        &mut self,
        name: &Ident,
        define: bool,
    ) -> Result<TableSchema, ExecError> {
        let schema = self.table_schema(&name.name)?;
        match &schema.definition {
            Some(definition) if definition.edge => return Ok(schema),
            Some(_) => {
                return Err(ExecError::Invalid {
                    message: format!(
                        "`{}` is a table, not an edge table (edges live in tables made with DEFINE EDGE)",
                        name.name
                    ),
                    span: name.span,
                })
            }
            None => {}
        }
        if self.session.strict {
            let database = self.database(name.span)?;
            let context = format!(
                " in database `{}` (define it with DEFINE EDGE)",
                database.database
            );
            return Err(unknown("edge table", &name.name, context, name.span));
        }
        if !define {
            return Ok(schema);
        }
        let database = self.database(name.span)?;
        let implied = TableDefinition {
            name: name.name.clone(),
            schema: None,
            edge: true,
        };
        let key = database.table_definition_key(&name.name);
        self.store.put_value(key, &implied.to_value(), self.span)?;
        self.rewrite_schema(&database, &name.name)?;
        self.table_schema(&name.name)
    }

    /// On `UPDATE` of an edge: `in` and `out` stay as they were (a
    /// `CONTENT` without them keeps them); changing them is an error.
    pub(super) fn keep_edge_ends(
        &mut self,
        id: &RecordId,
        old: &Value,
        mut changed: Object,
    ) -> Result<Object, ExecError> {
        if !self.table_schema(&id.table)?.is_edge() {
            return Ok(changed);
        }
        for end in ["in", "out"] {
            let before = old.field(end);
            match changed.get(end) {
                None | Some(Value::None) => {
                    changed.insert(end.into(), before);
                }
                Some(after) if *after == before => {}
                Some(after) => {
                    return Err(ExecError::Invalid {
                        message: format!(
                            "the `{end}` of edge {id} cannot change from {before} to {after} \
                             (RELATE a new edge and DELETE this one)"
                        ),
                        span: self.span,
                    })
                }
            }
        }
        Ok(changed)
    }

    /// Deletes record `id` (its current `document`), its index entries,
    /// and its edges; an edge also leaves both ends' adjacency lists.
    /// Edges of edges go too, through a work list rather than recursion.
    pub(super) fn delete_record(
        &mut self,
        id: &RecordId,
        document: Value,
    ) -> Result<(), ExecError> {
        let mut pending = vec![(id.clone(), document)];
        let mut deleted: BTreeSet<RecordId> = BTreeSet::new();
        while let Some((id, document)) = pending.pop() {
            if !deleted.insert(id.clone()) {
                continue;
            }
            self.delete_one(&id, &document)?;
            if self.session.unsafe_skip_edge_cascade && !self.table_schema(&id.table)?.is_edge() {
                continue;
            }
            let database = self.database(self.span)?;
            let mut edges = Vec::new();
            for side in [Adjacency::Out, Adjacency::In] {
                let range = database.adjacency_range(side, &id, None);
                for (key, bytes) in self.store.scan(&range, usize::MAX, self.span)? {
                    match decode(&key, &bytes)?.field("edge") {
                        Value::RecordId(edge) => edges.push(edge),
                        _ => {
                            return Err(ExecError::Store(format!(
                                "adjacency entry {key:?} names no edge"
                            )))
                        }
                    }
                }
            }
            // Every edge is read before a missing one is reported (see
            // `require_records`).
            let mut missing = None;
            for edge in edges {
                if deleted.contains(&edge) {
                    continue;
                }
                match self.fetch(&edge)? {
                    Value::None => {
                        missing.get_or_insert_with(|| {
                            format!("an adjacency entry of {id} names missing edge {edge}")
                        });
                    }
                    edge_document => pending.push((edge, edge_document)),
                }
            }
            if let Some(message) = missing {
                return Err(ExecError::Store(message));
            }
        }
        Ok(())
    }

    /// One record's key and index entries, and its own adjacency entries
    /// if it is an edge.
    fn delete_one(&mut self, id: &RecordId, document: &Value) -> Result<(), ExecError> {
        let schema = self.table_schema(&id.table)?;
        let database = self.database(self.span)?;
        let span = self.span;
        for index in &schema.indexes {
            let values = index.key_of(document);
            let key = database.index_entry_key(&id.table, &index.name, &values, &id.key);
            self.store.delete(key, span)?;
        }
        self.store
            .delete(database.record_key(&id.table, &id.key), span)?;
        if let (true, Value::RecordId(from), Value::RecordId(to)) = (
            schema.is_edge(),
            document.field("in"),
            document.field("out"),
        ) {
            self.store
                .delete(database.adjacency_key(Adjacency::Out, &from, id), span)?;
            self.store
                .delete(database.adjacency_key(Adjacency::In, &to, id), span)?;
        }
        Ok(())
    }
}

/// What an adjacency entry holds: the edge and the record at its other end.
fn adjacency_value(edge: &RecordId, other_end: &RecordId) -> Value {
    let mut entry = Object::new();
    entry.insert("edge".into(), Value::RecordId(edge.clone()));
    entry.insert("vertex".into(), Value::RecordId(other_end.clone()));
    Value::Object(entry)
}
