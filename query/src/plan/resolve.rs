//! Name resolution that is not index choice: parameters must be set, and
//! on a schemafull table every field named must be defined. Errors point
//! at the name as written.

use super::Resolver;
use crate::ast::*;
use crate::exec::ExecError;

/// Calls `check` on `expr` and every expression inside it, except inside
/// subqueries: they are resolved when they run, in their own scope.
fn visit(
    expr: &Expr,
    check: &mut dyn FnMut(&Expr) -> Result<(), ExecError>,
) -> Result<(), ExecError> {
    check(expr)?;
    match &expr.kind {
        ExprKind::RecordId {
            key: RecordKey::Value(value),
            ..
        } => visit(value, check),
        ExprKind::Array(items) | ExprKind::Tuple(items) => {
            items.iter().try_for_each(|item| visit(item, check))
        }
        ExprKind::Object(entries) => entries
            .iter()
            .try_for_each(|(_, value)| visit(value, check)),
        ExprKind::Field { base, .. } | ExprKind::AllFields(base) => visit(base, check),
        ExprKind::Index { base, index } => visit(base, check).and_then(|_| visit(index, check)),
        ExprKind::Call { arguments, .. } => arguments
            .iter()
            .try_for_each(|argument| visit(&argument.value, check)),
        ExprKind::Unary { operand, .. } => visit(operand, check),
        ExprKind::Binary { left, right, .. } => {
            visit(left, check).and_then(|_| visit(right, check))
        }
        ExprKind::Range { start, end, .. } => visit(start, check).and_then(|_| visit(end, check)),
        _ => Ok(()),
    }
}

/// The expressions of a statement that run in its own scope; with
/// `targets`, also what it reads from or writes to (`FROM`, `CREATE x`).
fn expressions(statement: &Statement, targets: bool) -> Vec<&Expr> {
    let mut expressions: Vec<&Expr> = Vec::new();
    match &statement.kind {
        StatementKind::Select(select) => {
            for field in &select.fields {
                if let SelectField::Expr { expr, .. } = field {
                    expressions.push(expr);
                }
            }
            if targets {
                expressions.extend(&select.from);
            }
            expressions.extend(&select.condition);
            expressions.extend(select.order_by.iter().map(|item| &item.expr));
            expressions.extend(&select.start);
            expressions.extend(&select.limit);
        }
        StatementKind::Create(create) => {
            if targets {
                expressions.push(&create.target);
            }
            expressions.extend(data_expressions(create.data.as_ref()));
        }
        StatementKind::Update(update) => {
            if targets {
                expressions.push(&update.target);
            }
            expressions.extend(&update.condition);
            expressions.extend(data_expressions(Some(&update.data)));
        }
        StatementKind::Delete(delete) => {
            if targets {
                expressions.push(&delete.target);
            }
            expressions.extend(&delete.condition);
        }
        StatementKind::Return(expr)
        | StatementKind::Expr(expr)
        | StatementKind::Let { value: expr, .. }
        | StatementKind::SetParam { value: expr, .. } => expressions.push(expr),
        StatementKind::Insert(insert) => expressions.push(&insert.value),
        _ => {}
    }
    expressions
}

fn data_expressions(data: Option<&Data>) -> Vec<&Expr> {
    match data {
        None => Vec::new(),
        Some(Data::Set(assignments)) => assignments
            .iter()
            .map(|assignment| &assignment.value)
            .collect(),
        Some(Data::Content(expr)) | Some(Data::Merge(expr)) => vec![expr],
        Some(Data::Values { rows, .. }) => rows.iter().flatten().collect(),
    }
}

/// Checks that every `$param` the statement reads outside subqueries is
/// set.
pub(super) fn check_params(
    statement: &Statement,
    resolver: &dyn Resolver,
) -> Result<(), ExecError> {
    let unknown = |name: &Ident| ExecError::Unknown {
        kind: "parameter",
        name: format!("${}", name.name),
        context: " (set it with LET or pass it with the query)".into(),
        span: name.span,
    };
    let mut check = |expr: &Expr| match &expr.kind {
        ExprKind::Param(name) if !resolver.has_param(&name.name) => Err(unknown(name)),
        ExprKind::RecordId {
            key: RecordKey::Param(name),
            ..
        } if !resolver.has_param(&name.name) => Err(unknown(name)),
        _ => Ok(()),
    };
    expressions(statement, true)
        .into_iter()
        .try_for_each(|expr| visit(expr, &mut check))
}

/// The one table a statement reads or writes, if it names one.
fn target_table(statement: &Statement) -> Option<&Ident> {
    let target = match &statement.kind {
        StatementKind::Select(select) if select.from.len() == 1 => &select.from[0],
        StatementKind::Create(create) => &create.target,
        StatementKind::Update(update) => &update.target,
        StatementKind::Delete(delete) => &delete.target,
        _ => return None,
    };
    match &target.kind {
        ExprKind::Ident(table) | ExprKind::RecordId { table, .. } => Some(table),
        _ => None,
    }
}

/// On a schemafull table, every field the statement names (outside
/// subqueries, besides `id` and `SELECT` aliases) must be defined. A
/// statement that names no field does not read the schema here.
pub(super) fn check_fields(
    statement: &Statement,
    resolver: &mut dyn Resolver,
) -> Result<(), ExecError> {
    let Some(table) = target_table(statement) else {
        return Ok(());
    };
    let mut aliases: Vec<&str> = Vec::new();
    let mut named: Vec<&Ident> = Vec::new();
    match &statement.kind {
        StatementKind::Select(select) => {
            for field in &select.fields {
                if let SelectField::Expr {
                    alias: Some(alias), ..
                } = field
                {
                    aliases.push(&alias.name);
                }
            }
            for omitted in &select.omit {
                if let ExprKind::Ident(ident) = &omitted.kind {
                    named.push(ident);
                }
            }
        }
        StatementKind::Create(CreateStatement {
            data: Some(data), ..
        })
        | StatementKind::Update(UpdateStatement { data, .. }) => match data {
            Data::Set(assignments) => {
                named.extend(assignments.iter().map(|assignment| &assignment.field))
            }
            Data::Values { columns, .. } => named.extend(columns),
            _ => {}
        },
        _ => {}
    }
    let mut used: Vec<Ident> = Vec::new();
    let mut collect = |expr: &Expr| {
        if let ExprKind::Ident(ident) = &expr.kind {
            used.push(ident.clone());
        }
        Ok(())
    };
    expressions(statement, false)
        .into_iter()
        .try_for_each(|expr| visit(expr, &mut collect))?;
    if named.is_empty() && used.is_empty() {
        return Ok(());
    }
    let schema = resolver.schema(&table.name, table.span)?;
    if !schema.is_schemafull() {
        return Ok(());
    }
    let defined = |name: &str| aliases.contains(&name) || schema.allows_field(name);
    let unknown = |ident: &Ident| ExecError::Unknown {
        kind: "field",
        name: ident.name.clone(),
        context: format!(" on schemafull table `{}`", table.name),
        span: ident.span,
    };
    match named
        .into_iter()
        .chain(used.iter())
        .find(|ident| !defined(&ident.name))
    {
        Some(ident) => Err(unknown(ident)),
        None => Ok(()),
    }
}
