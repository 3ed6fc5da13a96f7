//! Planning nearest-neighbour reads: `WHERE field <|k|> $query` (the
//! `vector::knn` call), and `ORDER BY` a distance to a constant vector with
//! `LIMIT` over a table with an `index::hnsw` index on that field.

use super::{conjuncts, is_constant, ReadPlan, SelectPlan, Source};
use crate::ast::*;
use crate::catalog::TableSchema;
use crate::exec::ExecError;
use crate::vector::Metric;

/// The records of one table nearest to a vector.
#[derive(Debug, Clone, PartialEq)]
pub struct NearestPlan {
    /// The table.
    pub table: String,
    /// The field holding the vectors.
    pub field: String,
    /// The vector searched for, evaluated once.
    pub query: Expr,
    /// How many records (`k`).
    pub count: Expr,
    /// Records skipped after them (`START`, with `ORDER BY ... LIMIT`):
    /// the search finds `count + skip`.
    pub skip: Option<Expr>,
    /// The distance.
    pub metric: Metric,
    /// The rest of the `WHERE`: records failing it are not candidates.
    pub filter: Option<Expr>,
    /// The `index::hnsw` index used, if any (never with a filter: the
    /// graph's nearest may all fail it).
    pub index: Option<String>,
    /// Planned from `ORDER BY ... LIMIT`: a count above the limit of a
    /// nearest-neighbour search reads the table exactly rather than failing.
    pub ordered: bool,
    /// The operator or `ORDER BY` item, for errors.
    pub span: Span,
}

/// The `vector::knn` call among the conjuncts of `condition`, planned over
/// `table`; the other conjuncts become its filter. `None` when there is
/// none (a `vector::knn` elsewhere fails when evaluated).
pub(super) fn knn_condition(
    table: &str,
    schema: &TableSchema,
    condition: Option<&Expr>,
    hint: Option<&IndexHint>,
) -> Result<Option<NearestPlan>, ExecError> {
    let Some(condition) = condition else {
        return Ok(None);
    };
    let all = conjuncts(condition);
    let Some(at) = all.iter().position(|conjunct| is_knn(conjunct)) else {
        return Ok(None);
    };
    let knn = all[at];
    let ExprKind::Call { arguments, .. } = &knn.kind else {
        unreachable!("is_knn matched a call");
    };
    let invalid = |message: &str, span: Span| ExecError::Invalid {
        message: message.to_string(),
        span,
    };
    let (field, query, count, metric) = match arguments.as_slice() {
        [field, query, count] => (field, query, count, None),
        [field, query, count, metric] => (field, query, count, Some(metric)),
        _ => {
            return Err(invalid(
                "vector::knn takes (field, query vector, k[, 'euclidean'|'cosine'|'dot'])",
                knn.span,
            ))
        }
    };
    let ExprKind::Ident(field) = &field.value.kind else {
        return Err(invalid(
            "the left side of `<|k|>` must be the name of a field holding vectors",
            field.value.span,
        ));
    };
    if !is_constant(&query.value) || !is_constant(&count.value) {
        return Err(invalid(
            "the query vector and k of `<|k|>` must not depend on the record (use literals or $parameters)",
            knn.span,
        ));
    }
    let metric = match metric {
        None => Metric::Euclidean,
        Some(argument) => match &argument.value.kind {
            ExprKind::Literal(Literal::Str(name)) => Metric::from_name(name),
            _ => None,
        }
        .ok_or_else(|| {
            invalid(
                "unknown distance: write euclidean, cosine or dot",
                argument.value.span,
            )
        })?,
    };
    let rest: Vec<&Expr> = all
        .iter()
        .enumerate()
        .filter(|(position, _)| *position != at)
        .map(|(_, conjunct)| *conjunct)
        .collect();
    let filter = rest.into_iter().cloned().reduce(|left, right| {
        let span = left.span.to(right.span);
        Expr {
            kind: ExprKind::Binary {
                op: BinaryOp::And,
                left: Box::new(left),
                right: Box::new(right),
            },
            span,
        }
    });
    let index = match filter {
        Some(_) => None,
        None => vector_index(schema, &field.name, metric, hint),
    };
    Ok(Some(NearestPlan {
        table: table.to_string(),
        field: field.name.clone(),
        query: query.value.clone(),
        count: count.value.clone(),
        skip: None,
        metric,
        filter,
        index,
        ordered: false,
        span: knn.span,
    }))
}

/// Replaces a table scan sorted by one distance with a `LIMIT` by a
/// nearest-neighbour search, when an `index::hnsw` index of that distance
/// covers the field (without one, sorting every record is as good).
pub(super) fn ordered_by_distance(
    plan: &mut SelectPlan,
    schema: &TableSchema,
    hint: Option<&IndexHint>,
) {
    let ([Source::TableScan { table }], None, [item], Some(limit)) = (
        plan.read.sources.as_slice(),
        &plan.read.filter,
        plan.order.as_slice(),
        &plan.limit,
    ) else {
        return;
    };
    let Some((metric, field, query)) = distance_order(item) else {
        return;
    };
    let Some(index) = vector_index(schema, &field, metric, hint) else {
        return;
    };
    let nearest = NearestPlan {
        table: table.clone(),
        field,
        query,
        count: limit.clone(),
        skip: plan.start.clone(),
        metric,
        filter: None,
        index: Some(index),
        ordered: true,
        span: item.expr.span,
    };
    plan.read = ReadPlan {
        sources: vec![Source::Nearest(Box::new(nearest))],
        filter: None,
    };
}

fn is_knn(expr: &Expr) -> bool {
    matches!(&expr.kind, ExprKind::Call { function, .. } if function_is(function, &["vector", "knn"]))
}

fn function_is(function: &[Ident], path: &[&str]) -> bool {
    function.len() == path.len()
        && function
            .iter()
            .zip(path)
            .all(|(segment, name)| segment.name.eq_ignore_ascii_case(name))
}

/// The `index::hnsw` index on `field` measuring `metric`, allowed by the
/// hint; the first by name.
fn vector_index(
    schema: &TableSchema,
    field: &str,
    metric: Metric,
    hint: Option<&IndexHint>,
) -> Option<String> {
    let allowed = |name: &str| match hint {
        None => true,
        Some(IndexHint::NoIndex) => false,
        Some(IndexHint::Indexes(names)) => names.iter().any(|allowed| allowed.name == name),
    };
    schema
        .indexes
        .iter()
        .find(|index| {
            index.fields.first().is_some_and(|first| first == field)
                && index.hnsw.is_some_and(|options| options.metric == metric)
                && allowed(&index.name)
        })
        .map(|index| index.name.clone())
}

/// `(metric, field, query)` when `item` sorts nearest first by a distance
/// between a field and a constant: `vector::distance::euclidean(f, q)` or
/// `vector::distance::cosine(f, q)` ascending, `vector::similarity::cosine(f,
/// q)`, `f <> q` or `vector::dot(f, q)` descending.
fn distance_order(item: &OrderItem) -> Option<(Metric, String, Expr)> {
    let (metric, ascending, a, b) = match &item.expr.kind {
        ExprKind::Binary {
            op: BinaryOp::Similar,
            left,
            right,
        } => (Metric::Cosine, false, &**left, &**right),
        ExprKind::Call {
            function,
            arguments,
        } => {
            let [a, b] = arguments.as_slice() else {
                return None;
            };
            let (metric, ascending) = if function_is(function, &["vector", "distance", "euclidean"])
            {
                (Metric::Euclidean, true)
            } else if function_is(function, &["vector", "distance", "cosine"]) {
                (Metric::Cosine, true)
            } else if function_is(function, &["vector", "similarity", "cosine"]) {
                (Metric::Cosine, false)
            } else if function_is(function, &["vector", "dot"]) {
                (Metric::Dot, false)
            } else {
                return None;
            };
            (metric, ascending, &a.value, &b.value)
        }
        _ => return None,
    };
    if ascending != (item.direction == Direction::Ascending) {
        return None;
    }
    let (field, query) = match (&a.kind, &b.kind) {
        (ExprKind::Ident(field), _) if is_constant(b) => (field, b),
        (_, ExprKind::Ident(field)) if is_constant(a) => (field, a),
        _ => return None,
    };
    Some((metric, field.name.clone(), query.clone()))
}
