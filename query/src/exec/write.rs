//! Writing records: `CREATE`, `INSERT`, `UPDATE`, `DELETE`, the field
//! rules of the schema, and index maintenance in the same transaction.

use std::ops::Bound;

use super::eval::{binary, evaluate, record_key};
use super::read::index_entry_value;
use super::runner::Runner;
use super::store::{decode, TxnStore};
use super::ExecError;
use crate::ast::{AssignOp, Assignment, BinaryOp, Data, InsertStatement, Span};
use crate::catalog::{IndexDefinition, TableSchema};
use crate::plan::{CreatePlan, NewKey, ReadPlan};
use crate::value::{Object, RecordId, Value};

impl<S: TxnStore> Runner<'_, '_, '_, S> {
    /// `CREATE`: one record, or one per row of `SET (..) VALUES`.
    pub(super) fn create(&mut self, plan: &CreatePlan) -> Result<Value, ExecError> {
        let mut created = Vec::new();
        if let Some(Data::Values { columns, rows }) = &plan.data {
            for row in rows {
                let mut document = Object::new();
                for (column, expr) in columns.iter().zip(row) {
                    let value = evaluate(expr, &Value::None, self)?;
                    document.insert(column.name.clone(), value);
                }
                created.push(self.create_one(&plan.table, &NewKey::Generated, document)?);
            }
            return Ok(Value::Array(created));
        }
        let document = match &plan.data {
            None => Object::new(),
            Some(Data::Set(assignments)) => self.apply_assignments(Object::new(), assignments)?,
            Some(Data::Content(expr)) | Some(Data::Merge(expr)) => {
                match evaluate(expr, &Value::None, self)? {
                    Value::Object(object) => object,
                    other => {
                        return Err(ExecError::eval(
                            format!("CREATE content must be an object, found {other}"),
                            expr.span,
                        ))
                    }
                }
            }
            Some(Data::Values { .. }) => unreachable!("handled above"),
        };
        created.push(self.create_one(&plan.table, &plan.key, document)?);
        Ok(Value::Array(created))
    }

    /// `INSERT INTO table {..} | [{..}, ..]`: each object is created, with
    /// its `id` field as key when it has one.
    pub(super) fn insert(
        &mut self,
        insert: &InsertStatement,
        _span: Span,
    ) -> Result<Value, ExecError> {
        let items = match evaluate(&insert.value, &Value::None, self)? {
            Value::Array(items) => items,
            other => vec![other],
        };
        let mut created = Vec::new();
        for item in items {
            let Value::Object(document) = item else {
                return Err(ExecError::eval(
                    format!("INSERT takes objects, found {item}"),
                    insert.value.span,
                ));
            };
            created.push(self.create_one(&insert.table.name, &NewKey::Generated, document)?);
        }
        Ok(Value::Array(created))
    }

    fn create_one(
        &mut self,
        table: &str,
        key: &NewKey,
        mut document: Object,
    ) -> Result<Value, ExecError> {
        let given_id = document.remove("id");
        let key = match (key, given_id) {
            (NewKey::Given(key), _) => {
                let span = self.span;
                record_key(key, &Value::None, self, span)?
            }
            (NewKey::Generated, Some(Value::RecordId(id))) if id.table == table => *id.key,
            (NewKey::Generated, Some(Value::None) | None) => self.environment.ids.generate(table),
            (NewKey::Generated, Some(other @ Value::RecordId(_))) => {
                return Err(ExecError::eval(
                    format!("the id {other} belongs to another table than `{table}`"),
                    self.span,
                ))
            }
            (NewKey::Generated, Some(other)) => other,
        };
        if self.table_schema(table)?.is_edge() {
            return Err(ExecError::Invalid {
                message: format!(
                    "`{table}` is an edge table: its records are made by RELATE, not CREATE or INSERT"
                ),
                span: self.span,
            });
        }
        let id = RecordId::new(table, key);
        let record_key = self.database(self.span)?.record_key(table, &id.key);
        if self.store.exists_expecting_absent(&record_key)? {
            return Err(ExecError::RecordExists {
                id: Box::new(Value::RecordId(id)),
                span: self.span,
            });
        }
        self.store_record(&id, None, document)
    }

    /// `UPDATE`: change each record read; missing records are skipped.
    pub(super) fn update(&mut self, read: &ReadPlan, data: &Data) -> Result<Value, ExecError> {
        let mut updated = Vec::new();
        for document in self.read(read)? {
            let Value::RecordId(id) = document.field("id") else {
                continue;
            };
            let Value::Object(current) = document.clone() else {
                continue;
            };
            let changed = match data {
                Data::Set(assignments) => self.apply_assignments(current, assignments)?,
                Data::Content(expr) => match evaluate(expr, &document, self)? {
                    Value::Object(object) => object,
                    other => {
                        return Err(ExecError::eval(
                            format!("CONTENT must be an object, found {other}"),
                            expr.span,
                        ))
                    }
                },
                Data::Merge(expr) => match evaluate(expr, &document, self)? {
                    Value::Object(patch) => merge(current, patch),
                    other => {
                        return Err(ExecError::eval(
                            format!("MERGE takes an object, found {other}"),
                            expr.span,
                        ))
                    }
                },
                Data::Values { .. } => {
                    return Err(ExecError::unsupported(
                        "UPDATE ... SET (..) VALUES",
                        self.span,
                    ));
                }
            };
            let changed = self.keep_edge_ends(&id, &document, changed)?;
            updated.push(self.store_record(&id, Some(&document), changed)?);
        }
        Ok(Value::Array(updated))
    }

    /// `DELETE`: each record read, with its index entries and its edges
    /// ([`Self::delete_record`]).
    pub(super) fn delete(&mut self, read: &ReadPlan) -> Result<Value, ExecError> {
        for document in self.read(read)? {
            let Value::RecordId(id) = document.field("id") else {
                continue;
            };
            self.delete_record(&id, document)?;
        }
        Ok(Value::Array(Vec::new()))
    }

    pub(super) fn apply_assignments(
        &mut self,
        mut document: Object,
        assignments: &[Assignment],
    ) -> Result<Object, ExecError> {
        for assignment in assignments {
            let current_document = Value::Object(document.clone());
            let operand = evaluate(&assignment.value, &current_document, self)?;
            let current = document
                .remove(&assignment.field.name)
                .unwrap_or(Value::None);
            let value = assign(assignment.op, current, operand, assignment.value.span)?;
            if value != Value::None {
                document.insert(assignment.field.name.clone(), value);
            }
        }
        Ok(document)
    }

    /// Applies the schema to `document`, writes it as record `id`, and
    /// moves its index entries from `old`'s values to its own.
    pub(super) fn store_record(
        &mut self,
        id: &RecordId,
        old: Option<&Value>,
        mut document: Object,
    ) -> Result<Value, ExecError> {
        let schema = self.table_schema(&id.table)?;
        document.insert("id".into(), Value::RecordId(id.clone()));
        self.apply_fields(&schema, &id.table, old, &mut document)?;
        let document = Value::Object(document);
        // Field rules never touch `id`: the stored document names itself.
        assert_eq!(
            document.field("id"),
            Value::RecordId(id.clone()),
            "record id changed by field rules"
        );
        let database = self.database(self.span)?;
        for index in schema.indexes.iter().filter(|index| index.hnsw.is_none()) {
            let old_values = old.map(|old| index.key_of(old));
            let new_values = index.key_of(&document);
            if old_values.as_ref() == Some(&new_values) {
                continue;
            }
            if let Some(old_values) = old_values {
                let key = database.index_entry_key(&id.table, &index.name, &old_values, &id.key);
                self.store.delete(key, self.span)?;
            }
            self.add_index_entry(index, id, &new_values)?;
        }
        let key = database.record_key(&id.table, &id.key);
        self.store.put_value(key, &document, self.span)?;
        Ok(document)
    }

    /// Writes the entry of `id` in `index`, refusing a duplicate in a
    /// unique index (none and null values are exempt).
    pub(super) fn add_index_entry(
        &mut self,
        index: &IndexDefinition,
        id: &RecordId,
        values: &[Value],
    ) -> Result<(), ExecError> {
        assert_eq!(
            values.len(),
            index.fields.len(),
            "one value per indexed field"
        );
        let database = self.database(self.span)?;
        let exempt = values
            .iter()
            .all(|value| matches!(value, Value::None | Value::Null));
        if index.unique && !exempt {
            let range = database.index_range(
                &id.table,
                &index.name,
                Bound::Included(values),
                Bound::Included(values),
            );
            for (key, bytes) in self.store.scan(&range, 2, self.span)? {
                let existing = decode(&key, &bytes)?;
                if existing != Value::RecordId(id.clone()) {
                    let value = match values {
                        [only] => only.clone(),
                        many => Value::Array(many.to_vec()),
                    };
                    return Err(ExecError::UniqueViolation {
                        table: id.table.clone(),
                        index: index.name.clone(),
                        value: Box::new(value),
                        existing: Box::new(existing),
                        span: self.span,
                    });
                }
            }
        }
        let key = database.index_entry_key(&id.table, &index.name, values, &id.key);
        self.store.put(key, index_entry_value(id)?, self.span)
    }

    /// Field `VALUE`, `TYPE`, `ASSERT`, `READONLY`, and schemafull checks.
    fn apply_fields(
        &mut self,
        schema: &TableSchema,
        table: &str,
        old: Option<&Value>,
        document: &mut Object,
    ) -> Result<(), ExecError> {
        let span = self.span;
        let rule = |field: &str, message: String| ExecError::FieldRule {
            table: table.to_string(),
            field: field.to_string(),
            message,
            span,
        };
        for field in &schema.fields {
            let mut value = document.get(&field.name).cloned().unwrap_or(Value::None);
            // A READONLY field of an existing record keeps its value: its
            // VALUE clause is not run again, and a change is an error.
            if let (true, Some(old)) = (field.readonly, old) {
                let before = old.field(&field.name);
                if before != value {
                    return Err(rule(
                        &field.name,
                        format!("is READONLY and cannot change from {before} to {value}"),
                    ));
                }
                continue;
            }
            if let Some(expr) = &field.value {
                let current = Value::Object(document.clone());
                value = self.with_value_param(value, |runner| evaluate(expr, &current, runner))?;
            }
            if let Some(field_type) = &field.field_type {
                if !field_type.admits(&value) {
                    return Err(ExecError::FieldType {
                        table: table.to_string(),
                        field: field.name.clone(),
                        expected: field_type.to_string(),
                        found: Box::new(value),
                        span,
                    });
                }
            }
            for assert in &field.asserts {
                let current = Value::Object(document.clone());
                let holds = self
                    .with_value_param(value.clone(), |runner| evaluate(assert, &current, runner))?;
                if !holds.is_truthy() {
                    return Err(rule(
                        &field.name,
                        format!("ASSERT {assert} does not hold for {value}"),
                    ));
                }
            }
            match value {
                Value::None => document.remove(&field.name),
                value => document.insert(field.name.clone(), value),
            };
        }
        if schema.is_schemafull() {
            let undefined = document.keys().find(|key| !schema.allows_field(key));
            if let Some(field) = undefined {
                return Err(ExecError::UndefinedField {
                    table: table.to_string(),
                    field: field.clone(),
                    span,
                });
            }
        }
        Ok(())
    }
}

/// `current op= operand`: `+=` appends to arrays (each element of an array
/// operand) and adds otherwise; `-=` removes from arrays and subtracts
/// otherwise; an absent value takes the operand.
pub(super) fn assign(
    op: AssignOp,
    current: Value,
    operand: Value,
    span: Span,
) -> Result<Value, ExecError> {
    let binary_op = match op {
        AssignOp::Set => return Ok(operand),
        AssignOp::Add => BinaryOp::Add,
        AssignOp::Subtract => BinaryOp::Subtract,
        AssignOp::Multiply => BinaryOp::Multiply,
        AssignOp::Divide => BinaryOp::Divide,
        AssignOp::Modulo => BinaryOp::Modulo,
        AssignOp::Power => BinaryOp::Power,
        AssignOp::BitAnd => BinaryOp::BitAnd,
        AssignOp::BitOr => BinaryOp::BitOr,
        AssignOp::BitXor => BinaryOp::BitXor,
        AssignOp::ShiftLeft => BinaryOp::ShiftLeft,
        AssignOp::ShiftRight => BinaryOp::ShiftRight,
        AssignOp::BitNot => return Err(ExecError::unsupported("`~=`", span)),
    };
    Ok(match (binary_op, current, operand) {
        (BinaryOp::Add, Value::None, operand) => operand,
        (BinaryOp::Add, Value::Array(mut items), Value::Array(more)) => {
            items.extend(more);
            Value::Array(items)
        }
        (BinaryOp::Add, Value::Array(mut items), item) => {
            items.push(item);
            Value::Array(items)
        }
        (BinaryOp::Subtract, Value::Array(items), Value::Array(gone)) => Value::Array(
            items
                .into_iter()
                .filter(|item| !gone.contains(item))
                .collect(),
        ),
        (BinaryOp::Subtract, Value::Array(items), gone) => {
            Value::Array(items.into_iter().filter(|item| *item != gone).collect())
        }
        (op, current, operand) => binary(op, &current, &operand, span)?,
    })
}

/// `MERGE`: the patch's fields replace the document's, objects merging
/// recursively; a field set to none is removed.
fn merge(mut document: Object, patch: Object) -> Object {
    for (key, value) in patch {
        match (document.remove(&key), value) {
            (_, Value::None) => {}
            (Some(Value::Object(inner)), Value::Object(patch)) => {
                document.insert(key, Value::Object(merge(inner, patch)));
            }
            (_, value) => {
                document.insert(key, value);
            }
        }
    }
    document
}
