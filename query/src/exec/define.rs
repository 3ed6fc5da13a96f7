//! `DEFINE`, `REMOVE` and `DESCRIBE`: the catalog's records.

use super::runner::{unknown, Runner};
use super::store::{decode, TxnStore};
use super::ExecError;
use crate::ast::{self, DefineStatement, Ident, SchemaKind, SchemaTarget, Span};
use crate::catalog::{FieldDefinition, FieldType, IndexDefinition, TableDefinition};
use crate::keys::{namespace_definition_key, DatabaseName, KeyRange, StoreKey};
use crate::value::{Object, Value};

impl<S: TxnStore> Runner<'_, '_, '_, S> {
    /// The database `ON DB x` names, or the current one.
    fn database_on(&self, on: Option<&Ident>, span: Span) -> Result<DatabaseName, ExecError> {
        match on {
            Some(database) => Ok(DatabaseName::new(&self.namespace(span)?, &database.name)),
            None => self.database(span),
        }
    }

    /// Writes a definition; `Ok(false)` if it exists and `IF NOT EXISTS`
    /// was written.
    fn put_definition(
        &mut self,
        key: StoreKey,
        value: Value,
        name: &Ident,
        kind: &'static str,
        if_not_exists: bool,
    ) -> Result<bool, ExecError> {
        if self.store.get(&key)?.is_some() {
            if if_not_exists {
                return Ok(false);
            }
            return Err(ExecError::AlreadyDefined {
                kind,
                name: name.name.clone(),
                span: name.span,
            });
        }
        self.store.put_value(key, &value, self.span)?;
        Ok(true)
    }

    pub(super) fn define(&mut self, define: &DefineStatement, span: Span) -> Result<(), ExecError> {
        match define {
            DefineStatement::Namespace {
                name,
                if_not_exists,
            } => {
                let value = Value::Object(named(&name.name));
                self.put_definition(
                    namespace_definition_key(&name.name),
                    value,
                    name,
                    "namespace",
                    *if_not_exists,
                )?;
            }
            DefineStatement::Database {
                name,
                if_not_exists,
                on_namespace,
            } => {
                let namespace = match on_namespace {
                    Some(namespace) => namespace.name.clone(),
                    None => self.namespace(span)?,
                };
                let key = DatabaseName::new(&namespace, &name.name).definition_key();
                self.put_definition(
                    key,
                    Value::Object(named(&name.name)),
                    name,
                    "database",
                    *if_not_exists,
                )?;
            }
            DefineStatement::Table {
                name,
                edge,
                if_not_exists,
                on_database,
                fields,
                schema,
            } => {
                let database = self.database_on(on_database.as_ref(), span)?;
                let definition = TableDefinition {
                    name: name.name.clone(),
                    schema: *schema,
                    edge: *edge,
                };
                let key = database.table_definition_key(&name.name);
                let kind = if *edge { "edge" } else { "table" };
                if !self.put_definition(key, definition.to_value(), name, kind, *if_not_exists)? {
                    return Ok(());
                }
                for field in fields {
                    self.define_field(&database, &name.name, field, false)?;
                }
                self.rewrite_schema(&database, &name.name)?;
            }
            DefineStatement::Field {
                field,
                if_not_exists,
                table,
                on_database,
            } => {
                let database = self.database_on(on_database.as_ref(), span)?;
                let key = database.table_definition_key(&table.name);
                if self.store.get(&key)?.is_none() {
                    let implied = TableDefinition {
                        name: table.name.clone(),
                        schema: None,
                        edge: false,
                    };
                    self.store.put_value(key, &implied.to_value(), span)?;
                }
                if self.define_field(&database, &table.name, field, *if_not_exists)? {
                    self.rewrite_schema(&database, &table.name)?;
                }
            }
            DefineStatement::Index {
                name,
                if_not_exists,
                table,
                on_database,
                fields,
                unique,
                with,
            } => {
                let hnsw = match with {
                    Some(with) => Some(super::vectors::hnsw_options(with, fields, *unique)?),
                    None => None,
                };
                let database = self.database_on(on_database.as_ref(), span)?;
                let definition = IndexDefinition {
                    table: table.name.clone(),
                    name: name.name.clone(),
                    fields: fields.iter().map(|field| field.name.clone()).collect(),
                    unique: *unique,
                    hnsw,
                };
                if self.define_index(&database, definition, name, *if_not_exists)? {
                    self.rewrite_schema(&database, &table.name)?;
                }
            }
        }
        Ok(())
    }

    /// Stores a field's definition (and its unique index); `Ok(false)` if
    /// it exists and `IF NOT EXISTS` was written. The caller rewrites the
    /// table's schema.
    fn define_field(
        &mut self,
        database: &DatabaseName,
        table: &str,
        field: &ast::FieldDefinition,
        if_not_exists: bool,
    ) -> Result<bool, ExecError> {
        let definition = FieldDefinition {
            table: table.to_string(),
            name: field.name.name.clone(),
            field_type: field
                .type_sig
                .as_ref()
                .map(FieldType::from_signature)
                .transpose()?,
            value: field.value.clone(),
            asserts: field.asserts.clone(),
            readonly: field.readonly,
        };
        let key = database.field_definition_key(table, &field.name.name);
        if !self.put_definition(
            key,
            definition.to_value(),
            &field.name,
            "field",
            if_not_exists,
        )? {
            return Ok(false);
        }
        if field.unique {
            let index = IndexDefinition {
                table: table.to_string(),
                name: format!("unique_{}", field.name.name),
                fields: vec![field.name.name.clone()],
                unique: true,
                hnsw: None,
            };
            self.define_index(database, index, &field.name, false)?;
        }
        Ok(true)
    }

    /// Stores the definition and indexes the records already there;
    /// `Ok(false)` if it exists and `IF NOT EXISTS` was written. The caller
    /// rewrites the table's schema.
    fn define_index(
        &mut self,
        database: &DatabaseName,
        index: IndexDefinition,
        name: &Ident,
        if_not_exists: bool,
    ) -> Result<bool, ExecError> {
        let key = database.index_definition_key(&index.table, &index.name);
        if !self.put_definition(key, index.to_value(), name, "index", if_not_exists)? {
            return Ok(false);
        }
        // A vector index has no entries: the store builds its graph from
        // the records once the definition is committed.
        if index.hnsw.is_some() {
            return Ok(true);
        }
        let range = database.table_range(&index.table);
        for (key, bytes) in self.store.scan(&range, usize::MAX, self.span)? {
            let document = decode(&key, &bytes)?;
            let Value::RecordId(id) = document.field("id") else {
                return Err(ExecError::Store(format!("record {key:?} has no id")));
            };
            self.add_index_entry(&index, &id, &index.key_of(&document))?;
        }
        Ok(true)
    }

    pub(super) fn remove(&mut self, target: &SchemaTarget, span: Span) -> Result<(), ExecError> {
        let name = target
            .name
            .as_ref()
            .ok_or_else(|| ExecError::unsupported("REMOVE without a name", span))?;
        let database = || self.database_on(target.on_database.as_ref(), span);
        let table_of = || {
            target
                .on_table
                .as_ref()
                .map(|table| table.name.clone())
                .ok_or_else(|| ExecError::Invalid {
                    message: "REMOVE FIELD and REMOVE INDEX need ON TABLE name".into(),
                    span,
                })
        };
        // The table whose schema the removal changes, if any.
        let mut changed: Option<(DatabaseName, String)> = None;
        // A table whose records are deleted one by one first, with their
        // edges (`REMOVE TABLE|EDGE`).
        let mut cascade: Option<DatabaseName> = None;
        let (key, ranges): (StoreKey, Vec<KeyRange>) = match target.kind {
            SchemaKind::Namespace => (namespace_definition_key(&name.name), Vec::new()),
            SchemaKind::Database => {
                let namespace = match &target.on_namespace {
                    Some(namespace) => namespace.name.clone(),
                    None => self.namespace(span)?,
                };
                (
                    DatabaseName::new(&namespace, &name.name).definition_key(),
                    Vec::new(),
                )
            }
            SchemaKind::Table | SchemaKind::Edge => {
                let database = database()?;
                cascade = Some(database.clone());
                let mut ranges = vec![
                    database.table_range(&name.name),
                    database.field_definitions_range(&name.name),
                ];
                for index in self.table_schema(&name.name)?.indexes {
                    ranges.push(database.index_entries_range(&name.name, &index.name));
                }
                ranges.push(database.index_definitions_range(&name.name));
                let key = database.table_definition_key(&name.name);
                changed = Some((database, name.name.clone()));
                (key, ranges)
            }
            SchemaKind::Field => {
                let (database, table) = (database()?, table_of()?);
                let key = database.field_definition_key(&table, &name.name);
                changed = Some((database, table));
                (key, Vec::new())
            }
            SchemaKind::Index => {
                let (database, table) = (database()?, table_of()?);
                let entries = database.index_entries_range(&table, &name.name);
                let key = database.index_definition_key(&table, &name.name);
                changed = Some((database, table));
                (key, vec![entries])
            }
        };
        if self.store.get(&key)?.is_none() {
            if target.if_exists {
                return Ok(());
            }
            let kind = match target.kind {
                SchemaKind::Namespace => "namespace",
                SchemaKind::Database => "database",
                SchemaKind::Table => "table",
                SchemaKind::Edge => "edge",
                SchemaKind::Field => "field",
                SchemaKind::Index => "index",
            };
            return Err(unknown(
                kind,
                &name.name,
                " (write REMOVE ... IF EXISTS to skip)".into(),
                name.span,
            ));
        }
        if let Some(database) = cascade {
            self.remove_records(&database, target.kind, name, span)?;
        }
        self.store.delete(key, span)?;
        for range in ranges {
            for (key, _) in self.store.scan(&range, usize::MAX, span)? {
                self.store.delete(key, span)?;
            }
        }
        if let Some((database, table)) = changed {
            self.rewrite_schema(&database, &table)?;
        }
        Ok(())
    }
}

impl<S: TxnStore> Runner<'_, '_, '_, S> {
    /// Before `REMOVE TABLE|EDGE`: deletes each record as `DELETE` does,
    /// so that the edges of the table's records (and, for an edge table,
    /// the adjacency entries of its edges) go too. `REMOVE EDGE` of a
    /// plain table and `REMOVE TABLE` of an edge table are refused, so
    /// the statement says what it removes.
    fn remove_records(
        &mut self,
        database: &DatabaseName,
        kind: SchemaKind,
        name: &Ident,
        span: Span,
    ) -> Result<(), ExecError> {
        let schema = self.table_schema(&name.name)?;
        if schema.definition.is_some() && schema.is_edge() != (kind == SchemaKind::Edge) {
            let (is, write) = match kind {
                SchemaKind::Edge => ("a table, not an edge table", "REMOVE TABLE"),
                _ => ("an edge table", "REMOVE EDGE"),
            };
            return Err(ExecError::Invalid {
                message: format!("`{}` is {is}: write {write} {}", name.name, name.name),
                span: name.span,
            });
        }
        let range = database.table_range(&name.name);
        for (key, bytes) in self.store.scan(&range, usize::MAX, span)? {
            let document = decode(&key, &bytes)?;
            if let Value::RecordId(id) = document.field("id") {
                self.delete_record(&id, document)?;
            }
        }
        Ok(())
    }
}

/// `{ name: name }`, the start of every definition.
pub(super) fn named(name: &str) -> Object {
    let mut object = Object::new();
    object.insert("name".into(), Value::Str(name.to_string()));
    object
}
