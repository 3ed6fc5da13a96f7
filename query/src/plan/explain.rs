//! `EXPLAIN`: a plan as rows, one object per step in the order they run.
//! Each row has `operation` and the step's details as strings.

use std::ops::Bound;

use super::{NewKey, Plan, ReadPlan, SelectPlan, Source};
use crate::ast::{Direction, Expr, SelectField, StatementKind};
use crate::value::{Object, Value};

fn row(operation: &str, details: &[(&str, String)]) -> Value {
    let mut object = Object::new();
    object.insert("operation".into(), Value::from(operation));
    for (key, value) in details {
        object.insert((*key).to_string(), Value::Str(value.clone()));
    }
    Value::Object(object)
}

fn bound_text(field: &str, bound: &Bound<Expr>, lower: bool) -> Option<String> {
    let (op, value) = match (bound, lower) {
        (Bound::Unbounded, _) => return None,
        (Bound::Included(value), true) => (">=", value),
        (Bound::Excluded(value), true) => (">", value),
        (Bound::Included(value), false) => ("<=", value),
        (Bound::Excluded(value), false) => ("<", value),
    };
    Some(format!("{field} {op} {value}"))
}

fn source_row(source: &Source) -> Value {
    match source {
        Source::GetById {
            table,
            span: _,
            key,
        } => {
            let id = Expr {
                kind: crate::ast::ExprKind::RecordId {
                    table: crate::ast::Ident {
                        name: table.clone(),
                        span: Default::default(),
                    },
                    key: key.clone(),
                },
                span: Default::default(),
            };
            row(
                "GetById",
                &[("table", table.clone()), ("id", id.to_string())],
            )
        }
        Source::TableScan { table } => row("TableScan", &[("table", table.clone())]),
        Source::IndexScan {
            table,
            index,
            field,
            lower,
            upper,
        } => {
            let range = match (lower, upper) {
                (Bound::Included(low), Bound::Included(high)) if low == high => {
                    format!("{field} = {low}")
                }
                _ => {
                    let parts: Vec<String> = [
                        bound_text(field, lower, true),
                        bound_text(field, upper, false),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    parts.join(" AND ")
                }
            };
            row(
                "IndexScan",
                &[
                    ("table", table.clone()),
                    ("index", index.clone()),
                    ("range", range),
                ],
            )
        }
        Source::Values(expr) => row("Values", &[("expr", expr.to_string())]),
        Source::Nearest(nearest) => {
            let mut details = vec![
                ("table", nearest.table.clone()),
                ("field", nearest.field.clone()),
                ("distance", nearest.metric.name().to_string()),
                ("query", nearest.query.to_string()),
                ("k", nearest.count.to_string()),
            ];
            if let Some(index) = &nearest.index {
                details.push(("index", index.clone()));
            }
            if let Some(filter) = &nearest.filter {
                details.push(("filter", filter.to_string()));
            }
            row("NearestScan", &details)
        }
        Source::Traverse { graph, edges } => {
            let yields = if *edges { "edges" } else { "records" };
            row(
                "Traverse",
                &[("graph", graph.to_string()), ("yields", yields.into())],
            )
        }
    }
}

fn read_rows(read: &ReadPlan, rows: &mut Vec<Value>) {
    rows.extend(read.sources.iter().map(source_row));
    if let Some(filter) = &read.filter {
        rows.push(row("Filter", &[("condition", filter.to_string())]));
    }
}

fn select_rows(select: &SelectPlan, rows: &mut Vec<Value>) {
    read_rows(&select.read, rows);
    if !select.order.is_empty() {
        let keys: Vec<String> = select
            .order
            .iter()
            .map(|item| match item.direction {
                Direction::Ascending => format!("{} ASC", item.expr),
                Direction::Descending => format!("{} DESC", item.expr),
            })
            .collect();
        rows.push(row("Sort", &[("by", keys.join(", "))]));
    }
    if let Some(start) = &select.start {
        rows.push(row("Start", &[("count", start.to_string())]));
    }
    if let Some(limit) = &select.limit {
        rows.push(row("Limit", &[("count", limit.to_string())]));
    }
    let fields: Vec<String> = select
        .fields
        .iter()
        .map(|field| match field {
            SelectField::All(_) => "*".to_string(),
            SelectField::Expr {
                expr,
                alias: Some(alias),
            } => format!("{expr} AS {}", alias.name),
            SelectField::Expr { expr, alias: None } => expr.to_string(),
        })
        .collect();
    let mut details = vec![("fields", fields.join(", "))];
    if !select.omit.is_empty() {
        let omit: Vec<String> = select.omit.iter().map(ToString::to_string).collect();
        details.push(("omit", omit.join(", ")));
    }
    rows.push(row("Project", &details));
}

/// The rows `EXPLAIN` returns for `plan`.
pub fn explain(plan: &Plan) -> Vec<Value> {
    let mut rows = Vec::new();
    match plan {
        Plan::Select(select) => select_rows(select, &mut rows),
        Plan::Create(create) => {
            let key = match &create.key {
                NewKey::Given(_) => "given",
                NewKey::Generated => "generated",
            };
            rows.push(row(
                "Create",
                &[("table", create.table.clone()), ("id", key.into())],
            ));
            rows.push(row("MaintainIndexes", &[]));
        }
        Plan::Update { read, data: _ } => {
            read_rows(read, &mut rows);
            rows.push(row("Update", &[]));
            rows.push(row("MaintainIndexes", &[]));
        }
        Plan::Delete { read } => {
            read_rows(read, &mut rows);
            rows.push(row("Delete", &[]));
            rows.push(row("MaintainIndexes", &[]));
        }
        Plan::Direct(statement) => {
            let name = match &statement.kind {
                StatementKind::Define(_) => "Define",
                StatementKind::Remove(_) => "Remove",
                StatementKind::Describe(_) => "Describe",
                StatementKind::Use { .. } => "Use",
                StatementKind::Let { .. } => "Let",
                StatementKind::Relate(_) => "Relate",
                _ => "Evaluate",
            };
            rows.push(row(name, &[("statement", statement.to_string())]));
        }
    }
    rows
}
