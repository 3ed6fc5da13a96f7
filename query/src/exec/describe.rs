//! `DESCRIBE` (also written `INFO FOR`): definitions as values.

use super::define::named;
use super::runner::{unknown, Runner};
use super::store::{decode, TxnStore};
use super::ExecError;
use crate::ast::{Ident, SchemaKind, SchemaTarget, Span};
use crate::catalog::{FieldDefinition, IndexDefinition};
use crate::keys::{database_definitions_range, DatabaseName, KeyRange};
use crate::value::Value;

impl<S: TxnStore> Runner<'_, '_, '_, S> {
    /// `DESCRIBE NAMESPACE [n]`: its databases; `DATABASE [d]`: its tables;
    /// `TABLE t`: its mode, fields and indexes; `FIELD f ON TABLE t` and
    /// `INDEX i ON TABLE t`: the definition. Missing: none with `IF
    /// EXISTS`, an error otherwise.
    pub(super) fn describe(
        &mut self,
        target: &SchemaTarget,
        span: Span,
    ) -> Result<Value, ExecError> {
        let missing = |kind: &'static str, name: &Ident| {
            if target.if_exists {
                Ok(Value::None)
            } else {
                Err(unknown(kind, &name.name, String::new(), name.span))
            }
        };
        let name = target.name.as_ref();
        match (target.kind, name) {
            (SchemaKind::Namespace, _) => {
                let namespace = match name {
                    Some(name) => name.name.clone(),
                    None => self.namespace(span)?,
                };
                let range = database_definitions_range(&namespace);
                let databases = self.names_in(&range, span)?;
                Ok(with_list(&namespace, "databases", databases))
            }
            (SchemaKind::Database, _) => {
                let database = match (name, &target.on_namespace) {
                    (Some(name), Some(namespace)) => DatabaseName::new(&namespace.name, &name.name),
                    (Some(name), None) => DatabaseName::new(&self.namespace(span)?, &name.name),
                    (None, _) => self.database(span)?,
                };
                let tables = self.names_in(&database.table_definitions_range(), span)?;
                Ok(with_list(&database.database, "tables", tables))
            }
            (SchemaKind::Table | SchemaKind::Edge, Some(name)) => {
                let schema = self.table_schema(&name.name)?;
                let edge = target.kind == SchemaKind::Edge;
                if schema.definition.is_none() || (edge && !schema.is_edge()) {
                    return missing(if edge { "edge table" } else { "table" }, name);
                }
                let mut object = named(&name.name);
                let kind = if schema.is_edge() { "edge" } else { "table" };
                object.insert("kind".into(), Value::from(kind));
                let mode = if schema.is_schemafull() {
                    "schemafull"
                } else {
                    "schemaless"
                };
                object.insert("schema".into(), Value::from(mode));
                let fields = schema
                    .fields
                    .iter()
                    .map(FieldDefinition::to_value)
                    .collect();
                object.insert("fields".into(), Value::Array(fields));
                let indexes = schema
                    .indexes
                    .iter()
                    .map(IndexDefinition::to_value)
                    .collect();
                object.insert("indexes".into(), Value::Array(indexes));
                Ok(Value::Object(object))
            }
            (SchemaKind::Field | SchemaKind::Index, Some(name)) => {
                let Some(table) = &target.on_table else {
                    return Err(ExecError::Invalid {
                        message: "DESCRIBE FIELD and DESCRIBE INDEX need ON TABLE name".into(),
                        span,
                    });
                };
                let schema = self.table_schema(&table.name)?;
                let found = if target.kind == SchemaKind::Field {
                    let field = schema.fields.iter().find(|field| field.name == name.name);
                    field.map(FieldDefinition::to_value)
                } else {
                    schema.index(&name.name).map(IndexDefinition::to_value)
                };
                let kind = if target.kind == SchemaKind::Field {
                    "field"
                } else {
                    "index"
                };
                found.map_or_else(|| missing(kind, name), Ok)
            }
            _ => Err(ExecError::unsupported("DESCRIBE without a name here", span)),
        }
    }

    /// The `name` field of every definition in `range`.
    fn names_in(&mut self, range: &KeyRange, span: Span) -> Result<Vec<Value>, ExecError> {
        let mut names = Vec::new();
        for (key, bytes) in self.store.scan(range, usize::MAX, span)? {
            names.push(decode(&key, &bytes)?.field("name"));
        }
        Ok(names)
    }
}

fn with_list(name: &str, key: &str, items: Vec<Value>) -> Value {
    let mut object = named(name);
    object.insert(key.to_string(), Value::Array(items));
    Value::Object(object)
}
