//! The state of one running transaction and the dispatch of statements.

use std::collections::BTreeMap;

use super::eval::{evaluate, Scope};
use super::store::{Buffered, Commit, TxnStore};
use super::{Environment, ExecError, Session};
use crate::ast::{Span, Statement, StatementKind};
use crate::catalog::{FieldDefinition, FieldType, IndexDefinition, TableDefinition, TableSchema};
use crate::keys::DatabaseName;
use crate::plan::{self, Plan, Resolver};
use crate::value::{RecordId, Value};

/// One transaction in progress.
pub(crate) struct Runner<'s, 'e, 'i, S: TxnStore> {
    pub(super) store: Buffered<'s, S>,
    pub(super) session: &'s mut Session,
    pub(super) environment: &'e mut Environment<'i>,
    /// Schemas read so far; cleared by every definition change.
    schemas: BTreeMap<String, TableSchema>,
    /// The statement running, for errors that are about it as a whole.
    pub(super) span: Span,
    /// Compiled patterns by (pattern, flags), so a scan compiles once.
    regexes: BTreeMap<(String, String), regex::Regex>,
}

/// Most compiled regexes kept by one transaction.
const REGEX_CACHE_ENTRIES_MAX: usize = 64;

impl<'s, 'e, 'i, S: TxnStore> Runner<'s, 'e, 'i, S> {
    pub(crate) fn new(
        store: &'s mut S,
        session: &'s mut Session,
        environment: &'e mut Environment<'i>,
    ) -> Self {
        Runner {
            store: Buffered::new(store),
            session,
            environment,
            schemas: BTreeMap::new(),
            span: Span::default(),
            regexes: BTreeMap::new(),
        }
    }

    pub(crate) fn into_commit(self) -> Commit<S::Version> {
        self.store.into_commit()
    }

    /// Runs one statement and gives its value.
    pub(crate) fn run_statement(&mut self, statement: &Statement) -> Result<Value, ExecError> {
        let outer = self.span;
        self.span = statement.span;
        let result = self.run_inner(statement);
        self.span = outer;
        result
    }

    fn run_inner(&mut self, statement: &Statement) -> Result<Value, ExecError> {
        if let StatementKind::Explain(inner) = &statement.kind {
            let plan = plan::plan(inner, self)?;
            return Ok(Value::Array(plan::explain(&plan)));
        }
        match plan::plan(statement, self)? {
            Plan::Select(select) => self.select(&select),
            Plan::Create(create) => self.create(&create),
            Plan::Update { read, data } => self.update(&read, &data),
            Plan::Delete { read } => self.delete(&read),
            Plan::Direct(statement) => self.direct(&statement),
        }
    }

    fn direct(&mut self, statement: &Statement) -> Result<Value, ExecError> {
        let span = statement.span;
        match &statement.kind {
            StatementKind::Define(define) => {
                self.schemas.clear();
                self.define(define, span)?;
                Ok(Value::None)
            }
            StatementKind::Remove(target) => {
                self.schemas.clear();
                self.remove(target, span)?;
                Ok(Value::None)
            }
            StatementKind::Describe(target) => self.describe(target, span),
            StatementKind::Use {
                namespace,
                database,
            } => {
                self.use_names(namespace.as_ref(), database.as_ref())?;
                Ok(Value::None)
            }
            StatementKind::Let {
                name,
                value,
                type_sig,
            } => {
                let span = value.span;
                let value = evaluate(value, &Value::None, self)?;
                if let Some(signature) = type_sig {
                    let expected = FieldType::from_signature(signature)?;
                    if !expected.admits(&value) {
                        let message = format!(
                            "${} is declared {expected}, but the value is {value}",
                            name.name
                        );
                        return Err(ExecError::eval(message, span));
                    }
                }
                self.session.params.insert(name.name.clone(), value);
                Ok(Value::None)
            }
            StatementKind::SetParam { name, op, value } => {
                let current = super::eval::param(self, &name.name, name.span)?;
                let operand = evaluate(value, &Value::None, self)?;
                let updated = super::write::assign(*op, current, operand, value.span)?;
                self.session.params.insert(name.name.clone(), updated);
                Ok(Value::None)
            }
            StatementKind::Return(expr) => evaluate(expr, &Value::None, self),
            StatementKind::Expr(expr) => {
                let value = evaluate(expr, &Value::None, self)?;
                match value {
                    Value::RecordId(id) => self.fetch(&id),
                    other => Ok(other),
                }
            }
            StatementKind::Insert(insert) => self.insert(insert, span),
            StatementKind::Relate(relate) => self.relate(relate),
            StatementKind::Begin | StatementKind::Commit | StatementKind::Cancel => {
                Err(ExecError::Transaction {
                    message:
                        "BEGIN, COMMIT and CANCEL are handled by `transactions`, not inside one"
                            .into(),
                    span,
                })
            }
            _ => Err(ExecError::unsupported("this statement", span)),
        }
    }

    fn use_names(
        &mut self,
        namespace: Option<&crate::ast::Ident>,
        database: Option<&crate::ast::Ident>,
    ) -> Result<(), ExecError> {
        if let Some(namespace) = namespace {
            if self.session.strict {
                let key = crate::keys::namespace_definition_key(&namespace.name);
                if self.store.get(&key)?.is_none() {
                    return Err(unknown(
                        "namespace",
                        &namespace.name,
                        String::new(),
                        namespace.span,
                    ));
                }
            }
            self.session.namespace = Some(namespace.name.clone());
        }
        if let Some(database) = database {
            let namespace = self.namespace(database.span)?;
            if self.session.strict {
                let key = DatabaseName::new(&namespace, &database.name).definition_key();
                if self.store.get(&key)?.is_none() {
                    let context = format!(" in namespace `{namespace}`");
                    return Err(unknown("database", &database.name, context, database.span));
                }
            }
            self.session.database = Some(database.name.clone());
        }
        Ok(())
    }

    /// The current namespace.
    pub(super) fn namespace(&self, span: Span) -> Result<String, ExecError> {
        self.session.namespace.clone().ok_or(ExecError::NoDatabase {
            what: "namespace",
            span,
        })
    }

    /// The current database.
    pub(super) fn database(&self, span: Span) -> Result<DatabaseName, ExecError> {
        let namespace = self.namespace(span)?;
        let database = self
            .session
            .database
            .as_ref()
            .ok_or(ExecError::NoDatabase {
                what: "database",
                span,
            })?;
        Ok(DatabaseName::new(&namespace, database))
    }

    /// The schema of `table`, read in this transaction: one key, the copy
    /// of the definitions that every `DEFINE` and `REMOVE` rewrites
    /// ([`Self::rewrite_schema`]).
    pub(super) fn table_schema(&mut self, table: &str) -> Result<TableSchema, ExecError> {
        if let Some(schema) = self.schemas.get(table) {
            return Ok(schema.clone());
        }
        let database = self.database(self.span)?;
        let schema = match self.store.get_value(&database.schema_key(table))? {
            None => TableSchema::default(),
            Some(value) => TableSchema::from_value(&value).map_err(|message| {
                ExecError::Store(format!("schema of table `{table}`: {message}"))
            })?,
        };
        self.schemas.insert(table.to_string(), schema.clone());
        Ok(schema)
    }

    /// Rewrites the schema key of `table` from its definition records, as
    /// this transaction sees them (after a `DEFINE` or `REMOVE`). Never
    /// deletes it: a table whose definitions were all removed gets an empty
    /// schema, so that a schema key read as absent was never written (the
    /// node relies on it to check a read-only statement by reading again).
    pub(super) fn rewrite_schema(
        &mut self,
        database: &DatabaseName,
        table: &str,
    ) -> Result<(), ExecError> {
        self.schemas.clear();
        let corrupt =
            |message: String| ExecError::Store(format!("catalog of table `{table}`: {message}"));
        let definition = self
            .store
            .get_value(&database.table_definition_key(table))?
            .map(|value| TableDefinition::from_value(&value).map_err(corrupt))
            .transpose()?;
        let mut schema = TableSchema {
            definition,
            ..TableSchema::default()
        };
        let span = self.span;
        let range = database.field_definitions_range(table);
        for (key, bytes) in self.store.scan(&range, usize::MAX, span)? {
            let value = super::store::decode(&key, &bytes)?;
            schema
                .fields
                .push(FieldDefinition::from_value(&value).map_err(corrupt)?);
        }
        let range = database.index_definitions_range(table);
        for (key, bytes) in self.store.scan(&range, usize::MAX, span)? {
            let value = super::store::decode(&key, &bytes)?;
            schema
                .indexes
                .push(IndexDefinition::from_value(&value).map_err(corrupt)?);
        }
        self.store
            .put_value(database.schema_key(table), &schema.to_value(), span)
    }

    /// Evaluates with `$value` bound, for field `VALUE` and `ASSERT`.
    pub(super) fn with_value_param<T>(
        &mut self,
        value: Value,
        run: impl FnOnce(&mut Self) -> Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        let saved = self.session.params.insert("value".into(), value);
        let result = run(self);
        match saved {
            Some(saved) => self.session.params.insert("value".into(), saved),
            None => self.session.params.remove("value"),
        };
        result
    }
}

pub(super) fn unknown(kind: &'static str, name: &str, context: String, span: Span) -> ExecError {
    ExecError::Unknown {
        kind,
        name: name.to_string(),
        context,
        span,
    }
}

impl<S: TxnStore> Resolver for Runner<'_, '_, '_, S> {
    fn schema(&mut self, table: &str, span: Span) -> Result<TableSchema, ExecError> {
        let outer = self.span;
        self.span = span;
        let schema = self.table_schema(table);
        self.span = outer;
        let schema = schema?;
        if self.session.strict && schema.definition.is_none() {
            let database = self.database(span)?;
            let context = format!(" in database `{}`", database.database);
            return Err(unknown("table", table, context, span));
        }
        Ok(schema)
    }

    fn require_table(&mut self, table: &str, span: Span) -> Result<(), ExecError> {
        if self.session.strict {
            self.schema(table, span)?;
        }
        Ok(())
    }

    fn has_param(&self, name: &str) -> bool {
        self.session.params.contains_key(name)
    }
}

impl<S: TxnStore> Scope for Runner<'_, '_, '_, S> {
    fn param(&self, name: &str) -> Option<Value> {
        self.session.params.get(name).cloned()
    }

    fn now(&self) -> i64 {
        self.environment.now
    }

    fn subquery(&mut self, statement: &Statement) -> Result<Value, ExecError> {
        self.run_statement(statement)
    }

    fn follow(&mut self, id: &RecordId) -> Result<Value, ExecError> {
        self.fetch(id)
    }

    fn regex(&mut self, pattern: &str, flags: &str, span: Span) -> Result<regex::Regex, ExecError> {
        let key = (pattern.to_string(), flags.to_string());
        if let Some(regex) = self.regexes.get(&key) {
            return Ok(regex.clone());
        }
        let regex = super::functions::compile_regex(pattern, flags, span)?;
        if self.regexes.len() >= REGEX_CACHE_ENTRIES_MAX {
            self.regexes.clear();
        }
        self.regexes.insert(key, regex.clone());
        Ok(regex)
    }

    fn traverse(
        &mut self,
        graph: &crate::ast::Graph,
        document: &Value,
    ) -> Result<Value, ExecError> {
        self.traversal_value(graph, document)
    }
}
