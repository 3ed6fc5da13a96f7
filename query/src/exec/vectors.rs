//! The vector functions (`vector::distance::euclidean`, ...), the
//! similarity operator `<>`, and the options of `index::hnsw`.

use super::ExecError;
use crate::ast::{Expr, ExprKind, Ident, Literal, Span};
use crate::value::Value;
use crate::vector::hnsw::{HnswOptions, HNSW_EF_MAX, HNSW_M_MAX, HNSW_M_MIN};
use crate::vector::{self, Metric, VectorError};

/// `m` when `index::hnsw` does not say (upstream's example).
const HNSW_M_DEFAULT: usize = 16;
/// `ef` when `index::hnsw` does not say (upstream's example).
const HNSW_EF_DEFAULT: usize = 64;

fn vector_error(error: VectorError, span: Span) -> ExecError {
    ExecError::Vector { error, span }
}

/// Two vectors of one dimension from the arguments of `name`.
fn two_vectors(
    name: &str,
    arguments: &[Value],
    span: Span,
) -> Result<(Vec<f64>, Vec<f64>), ExecError> {
    let [a, b] = arguments else {
        return Err(ExecError::eval(
            format!(
                "{name}() takes two vectors (arrays of numbers), got {} arguments",
                arguments.len()
            ),
            span,
        ));
    };
    let first = format!("the first argument of {name}()");
    let second = format!("the second argument of {name}()");
    let a = vector::to_vector(a, &first).map_err(|error| vector_error(error, span))?;
    let b = vector::to_vector(b, &second).map_err(|error| vector_error(error, span))?;
    vector::same_dimensions(&a, &first, &b, &second).map_err(|error| vector_error(error, span))?;
    Ok((a, b))
}

/// Calls a `vector::` function (`name` in lowercase).
pub(super) fn call(name: &str, arguments: &[Value], span: Span) -> Result<Value, ExecError> {
    let result = match name {
        "vector::distance::euclidean" => {
            let (a, b) = two_vectors(name, arguments, span)?;
            vector::euclidean(&a, &b)
        }
        "vector::distance::cosine" => {
            let (a, b) = two_vectors(name, arguments, span)?;
            Metric::Cosine.distance(&a, &b)
        }
        "vector::similarity::cosine" => {
            let (a, b) = two_vectors(name, arguments, span)?;
            vector::cosine_similarity(&a, &b)
        }
        "vector::dot" => {
            let (a, b) = two_vectors(name, arguments, span)?;
            vector::dot(&a, &b)
        }
        "vector::knn" => {
            return Err(ExecError::Invalid {
                message: "the nearest-neighbour operator `<|k|>` (vector::knn) picks records of \
                          a table: write it as a condition of a SELECT's WHERE on one table, \
                          such as SELECT * FROM t WHERE embedding <|3|> $query"
                    .into(),
                span,
            })
        }
        _ => {
            return Err(ExecError::eval(
                format!(
                    "unknown function {name}(): the vector functions are \
                     vector::distance::euclidean, vector::distance::cosine, \
                     vector::similarity::cosine and vector::dot"
                ),
                span,
            ))
        }
    };
    Ok(Value::Float(result))
}

/// `a <> b`: the cosine similarity of two vectors.
pub(super) fn similarity(left: &Value, right: &Value, span: Span) -> Result<Value, ExecError> {
    let left_what = "the left side of `<>`";
    let right_what = "the right side of `<>`";
    let a = vector::to_vector(left, left_what).map_err(|error| vector_error(error, span))?;
    let b = vector::to_vector(right, right_what).map_err(|error| vector_error(error, span))?;
    vector::same_dimensions(&a, left_what, &b, right_what)
        .map_err(|error| vector_error(error, span))?;
    Ok(Value::Float(vector::cosine_similarity(&a, &b)))
}

/// The options of `DEFINE INDEX ... FIELDS f WITH index::hnsw(m = 16, ef =
/// 64[, distance = cosine])`: one field, not unique, `m` and `ef` integer
/// literals within their limits.
pub(super) fn hnsw_options(
    with: &Expr,
    fields: &[Ident],
    unique: bool,
) -> Result<HnswOptions, ExecError> {
    let invalid = |message: String, span: Span| ExecError::Invalid { message, span };
    let ExprKind::Call {
        function,
        arguments,
    } = &with.kind
    else {
        return Err(invalid(
            "WITH takes an index function such as index::hnsw(m = 16, ef = 64)".into(),
            with.span,
        ));
    };
    let path: Vec<String> = function
        .iter()
        .map(|segment| segment.name.to_ascii_lowercase())
        .collect();
    if path != ["index", "hnsw"] {
        return Err(ExecError::unsupported(
            format!("the index kind {}", with),
            with.span,
        ));
    }
    if fields.len() != 1 || unique {
        return Err(invalid(
            "an index::hnsw index covers exactly one field, holding vectors, and cannot be UNIQUE"
                .into(),
            with.span,
        ));
    }
    let mut options = HnswOptions {
        m: HNSW_M_DEFAULT,
        ef: HNSW_EF_DEFAULT,
        metric: Metric::Euclidean,
    };
    for argument in arguments {
        let Some(name) = &argument.name else {
            return Err(invalid(
                "index::hnsw takes named options: m = 16, ef = 64, distance = euclidean".into(),
                argument.value.span,
            ));
        };
        let value = &argument.value;
        match name.name.to_ascii_lowercase().as_str() {
            "m" => options.m = bounded_count(value, "m", HNSW_M_MIN, HNSW_M_MAX)?,
            "ef" => options.ef = bounded_count(value, "ef", 1, HNSW_EF_MAX)?,
            "distance" => {
                let metric = match &value.kind {
                    ExprKind::Ident(ident) => Metric::from_name(&ident.name),
                    ExprKind::Literal(Literal::Str(text)) => Metric::from_name(text),
                    _ => None,
                };
                options.metric = metric.ok_or_else(|| {
                    invalid(
                        format!("unknown distance {value}: write euclidean, cosine or dot"),
                        value.span,
                    )
                })?;
            }
            other => {
                return Err(invalid(
                    format!(
                        "unknown index::hnsw option `{other}`: the options are m, ef and distance"
                    ),
                    name.span,
                ))
            }
        }
    }
    Ok(options)
}

/// An integer literal in `low..=high`.
fn bounded_count(value: &Expr, name: &str, low: usize, high: usize) -> Result<usize, ExecError> {
    match &value.kind {
        ExprKind::Literal(Literal::Int(count))
            if usize::try_from(*count).is_ok_and(|count| (low..=high).contains(&count)) =>
        {
            Ok(*count as usize)
        }
        _ => Err(ExecError::Invalid {
            message: format!(
                "index::hnsw option {name} must be an integer from {low} to {high}, found {value}"
            ),
            span: value.span,
        }),
    }
}
