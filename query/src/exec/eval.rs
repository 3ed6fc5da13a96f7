//! The expression evaluator: expressions of the tree to values, against
//! the current document and the parameters of the transaction.
//!
//! Comparison operators use [`Value`]'s total order; `=`/`IS` and `==` are
//! both equality of that order (`1 = 1.0`). Integer arithmetic is checked:
//! overflow is an error, not a wrap. `AND`/`OR` short-circuit and give
//! booleans; `?:` gives its left side unless it is none or null.

use std::cmp::Ordering;

use super::functions;
use super::ExecError;
use crate::ast::{BinaryOp, Expr, ExprKind, Graph, Literal, RecordKey, Span, Statement, UnaryOp};
use crate::value::{Object, RecordId, Value};

/// What an expression can see besides the document.
pub(crate) trait Scope {
    /// The value of `$name`, if set.
    fn param(&self, name: &str) -> Option<Value>;
    /// The transaction's time, nanoseconds since the epoch.
    fn now(&self) -> i64;
    /// Runs a statement used as a value.
    fn subquery(&mut self, statement: &Statement) -> Result<Value, ExecError>;
    /// The document a record link points at (none if absent).
    fn follow(&mut self, id: &RecordId) -> Result<Value, ExecError>;
    /// `//pattern//flags` compiled (and cached by the scope).
    fn regex(&mut self, pattern: &str, flags: &str, span: Span) -> Result<regex::Regex, ExecError>;
    /// The records a traversal reaches, from `document` when it has no
    /// start.
    fn traverse(&mut self, graph: &Graph, document: &Value) -> Result<Value, ExecError>;
}

/// Evaluates `expr` with `document` as the current record (none if none).
pub(crate) fn evaluate(
    expr: &Expr,
    document: &Value,
    scope: &mut dyn Scope,
) -> Result<Value, ExecError> {
    let span = expr.span;
    Ok(match &expr.kind {
        ExprKind::Literal(literal) => Value::from_literal(literal)
            .ok_or_else(|| ExecError::unsupported("a regex value", span))?,
        ExprKind::Array(items) | ExprKind::Tuple(items) => Value::Array(
            items
                .iter()
                .map(|item| evaluate(item, document, scope))
                .collect::<Result<_, _>>()?,
        ),
        ExprKind::Object(entries) => {
            let mut object = Object::new();
            for (key, value) in entries {
                object.insert(key.name.clone(), evaluate(value, document, scope)?);
            }
            Value::Object(object)
        }
        ExprKind::Ident(ident) => document.field(&ident.name),
        ExprKind::Scoped(_) => {
            return Err(ExecError::unsupported("a scoped name as a value", span))
        }
        ExprKind::Param(name) => param(scope, &name.name, span)?,
        ExprKind::RecordId { table, key } => Value::RecordId(RecordId::new(
            table.name.clone(),
            record_key(key, document, scope, span)?,
        )),
        ExprKind::Field { base, field, .. } => {
            let base = evaluate(base, document, scope)?;
            field_of(&base, Some(&field.name), scope)?
        }
        ExprKind::AllFields(base) => {
            let base = evaluate(base, document, scope)?;
            field_of(&base, None, scope)?
        }
        ExprKind::Index { base, index } => {
            let base = evaluate(base, document, scope)?;
            let index = evaluate(index, document, scope)?;
            element(&base, &index)
        }
        ExprKind::Call {
            function,
            arguments,
        } => {
            let name: Vec<&str> = function
                .iter()
                .map(|segment| segment.name.as_str())
                .collect();
            let values = arguments
                .iter()
                .map(|argument| evaluate(&argument.value, document, scope))
                .collect::<Result<Vec<_>, _>>()?;
            functions::call(&name.join("::"), values, scope.now(), span)?
        }
        ExprKind::Unary { op, operand } => unary(*op, evaluate(operand, document, scope)?, span)?,
        ExprKind::Binary { op, left, right } => match op {
            BinaryOp::And => Value::Bool(
                evaluate(left, document, scope)?.is_truthy()
                    && evaluate(right, document, scope)?.is_truthy(),
            ),
            BinaryOp::Or => Value::Bool(
                evaluate(left, document, scope)?.is_truthy()
                    || evaluate(right, document, scope)?.is_truthy(),
            ),
            BinaryOp::NullCoalesce => match evaluate(left, document, scope)? {
                Value::None | Value::Null => evaluate(right, document, scope)?,
                value => value,
            },
            BinaryOp::Match | BinaryOp::NotMatch => {
                let matched = matches(left, right, document, scope)?;
                Value::Bool(matched == (*op == BinaryOp::Match))
            }
            op => {
                let left = evaluate(left, document, scope)?;
                let right = evaluate(right, document, scope)?;
                binary(*op, &left, &right, span)?
            }
        },
        ExprKind::Range { .. } => return Err(ExecError::unsupported("a range value", span)),
        ExprKind::Subquery(statement) => scope.subquery(statement)?,
        ExprKind::Graph(graph) => scope.traverse(graph, document)?,
    })
}

/// `text ~ //pattern//flags` (or a pattern given as a string): whether the
/// pattern matches somewhere in the text; anything but a string never
/// matches.
fn matches(
    left: &Expr,
    right: &Expr,
    document: &Value,
    scope: &mut dyn Scope,
) -> Result<bool, ExecError> {
    let regex = match &right.kind {
        ExprKind::Literal(Literal::Regex { pattern, flags }) => {
            scope.regex(pattern, flags, right.span)?
        }
        _ => match evaluate(right, document, scope)? {
            Value::Str(pattern) => scope.regex(&pattern, "", right.span)?,
            other => {
                return Err(ExecError::eval(
                    format!("`~` takes a regex or a string pattern, found {other}"),
                    right.span,
                ))
            }
        },
    };
    Ok(match evaluate(left, document, scope)? {
        Value::Str(text) => regex.is_match(&text),
        _ => false,
    })
}

/// `$name`, or an error naming it.
pub(crate) fn param(scope: &dyn Scope, name: &str, span: Span) -> Result<Value, ExecError> {
    scope.param(name).ok_or_else(|| ExecError::Unknown {
        kind: "parameter",
        name: format!("${name}"),
        context: " (set it with LET or pass it with the query)".into(),
        span,
    })
}

/// The key of `table:key` as a value.
pub(crate) fn record_key(
    key: &RecordKey,
    document: &Value,
    scope: &mut dyn Scope,
    span: Span,
) -> Result<Value, ExecError> {
    Ok(match key {
        RecordKey::Ident(ident) => Value::Str(ident.name.clone()),
        RecordKey::Int(int) => Value::Int(*int),
        RecordKey::Str(text) => Value::Str(text.clone()),
        RecordKey::Param(name) => param(scope, &name.name, name.span)?,
        RecordKey::Value(expr) => evaluate(expr, document, scope)?,
        RecordKey::Any => return Err(ExecError::unsupported("`table:*` here", span)),
    })
}

/// `value.name` (or `value.*` when `name` is none): over an array, the
/// field of each element; through a record link, the field of the record
/// it points at.
fn field_of(value: &Value, name: Option<&str>, scope: &mut dyn Scope) -> Result<Value, ExecError> {
    Ok(match (value, name) {
        (Value::Array(items), _) => Value::Array(
            items
                .iter()
                .map(|item| field_of(item, name, scope))
                .collect::<Result<_, _>>()?,
        ),
        (Value::RecordId(id), name) => {
            let record = scope.follow(id)?;
            match name {
                Some(name) => record.field(name),
                None => record,
            }
        }
        (other, Some(name)) => other.field(name),
        (other, None) => other.clone(),
    })
}

fn element(base: &Value, index: &Value) -> Value {
    match (base, index) {
        (Value::Array(items), Value::Int(at)) => usize::try_from(*at)
            .ok()
            .and_then(|at| items.get(at).cloned())
            .unwrap_or(Value::None),
        (Value::Object(entries), Value::Str(key)) => {
            entries.get(key).cloned().unwrap_or(Value::None)
        }
        _ => Value::None,
    }
}

fn unary(op: UnaryOp, value: Value, span: Span) -> Result<Value, ExecError> {
    Ok(match (op, value) {
        (UnaryOp::Not, value) => Value::Bool(!value.is_truthy()),
        (UnaryOp::Negate, Value::Int(int)) => Value::Int(
            int.checked_neg()
                .ok_or_else(|| ExecError::eval(format!("-({int}) overflows an int"), span))?,
        ),
        (UnaryOp::Negate, Value::Float(float)) => Value::Float(-float),
        (UnaryOp::Plus, value @ (Value::Int(_) | Value::Float(_))) => value,
        (UnaryOp::BitNot, Value::Int(int)) => Value::Int(!int),
        (op, value) => {
            return Err(ExecError::eval(
                format!("cannot apply {op:?} to {} {value}", value.kind_name()),
                span,
            ))
        }
    })
}

fn as_float(value: &Value) -> Option<f64> {
    match value {
        Value::Int(int) => Some(*int as f64),
        Value::Float(float) => Some(*float),
        _ => None,
    }
}

fn overflow(op: BinaryOp, left: &Value, right: &Value, span: Span) -> ExecError {
    ExecError::eval(format!("{left} {op:?} {right} overflows"), span)
}

/// Arithmetic on two numbers: checked on ints, IEEE on floats.
fn arithmetic(
    op: BinaryOp,
    left: &Value,
    right: &Value,
    span: Span,
) -> Result<Option<Value>, ExecError> {
    if let (Value::Int(a), Value::Int(b)) = (left, right) {
        let (a, b) = (*a, *b);
        let result = match op {
            BinaryOp::Add => a.checked_add(b),
            BinaryOp::Subtract => a.checked_sub(b),
            BinaryOp::Multiply => a.checked_mul(b),
            BinaryOp::Divide | BinaryOp::Modulo if b == 0 => {
                return Err(ExecError::eval(
                    format!("{a} {op:?} 0: division by zero"),
                    span,
                ))
            }
            // Exact quotients stay ints; others become floats, as SurrealQL.
            BinaryOp::Divide if a.checked_rem(b) == Some(0) => a.checked_div(b),
            BinaryOp::Divide => return Ok(Some(Value::Float(a as f64 / b as f64))),
            BinaryOp::Modulo => a.checked_rem(b),
            BinaryOp::Power if b >= 0 => u32::try_from(b).ok().and_then(|b| a.checked_pow(b)),
            BinaryOp::Power => return Ok(Some(Value::Float((a as f64).powf(b as f64)))),
            _ => return Ok(None),
        };
        return result
            .map(|value| Some(Value::Int(value)))
            .ok_or_else(|| overflow(op, left, right, span));
    }
    let (Some(a), Some(b)) = (as_float(left), as_float(right)) else {
        return Ok(None);
    };
    Ok(Some(Value::Float(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Subtract => a - b,
        BinaryOp::Multiply => a * b,
        BinaryOp::Divide => a / b,
        BinaryOp::Modulo => a % b,
        BinaryOp::Power => a.powf(b),
        _ => return Ok(None),
    })))
}

/// Time arithmetic: durations with durations and datetimes.
fn time_arithmetic(
    op: BinaryOp,
    left: &Value,
    right: &Value,
    span: Span,
) -> Result<Option<Value>, ExecError> {
    let too_big = || overflow(op, left, right, span);
    Ok(Some(match (op, left, right) {
        (BinaryOp::Add, Value::Duration(a), Value::Duration(b)) => {
            Value::Duration(a.checked_add(*b).ok_or_else(too_big)?)
        }
        (BinaryOp::Subtract, Value::Duration(a), Value::Duration(b)) => {
            Value::Duration(a.checked_sub(*b).ok_or_else(too_big)?)
        }
        (BinaryOp::Add, Value::Datetime(at), Value::Duration(by))
        | (BinaryOp::Add, Value::Duration(by), Value::Datetime(at)) => Value::Datetime(
            i64::try_from(*by)
                .ok()
                .and_then(|by| at.checked_add(by))
                .ok_or_else(too_big)?,
        ),
        (BinaryOp::Subtract, Value::Datetime(at), Value::Duration(by)) => Value::Datetime(
            i64::try_from(*by)
                .ok()
                .and_then(|by| at.checked_sub(by))
                .ok_or_else(too_big)?,
        ),
        (BinaryOp::Subtract, Value::Datetime(a), Value::Datetime(b)) => Value::Duration(
            a.checked_sub(*b)
                .and_then(|gap| u64::try_from(gap).ok())
                .ok_or_else(too_big)?,
        ),
        _ => return Ok(None),
    }))
}

/// Whether `container` holds `item`: an array element, a substring, or an
/// object key.
fn holds(container: &Value, item: &Value) -> bool {
    match (container, item) {
        (Value::Array(items), item) => items.contains(item),
        (Value::Str(text), Value::Str(part)) => text.contains(part.as_str()),
        (Value::Object(entries), Value::Str(key)) => entries.contains_key(key),
        _ => false,
    }
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

/// A binary operator other than `AND`, `OR` and `?:`.
pub(crate) fn binary(
    op: BinaryOp,
    left: &Value,
    right: &Value,
    span: Span,
) -> Result<Value, ExecError> {
    use BinaryOp::*;
    let ordering = || left.cmp(right);
    Ok(match op {
        Equal | Is => Value::Bool(left == right),
        IsNot => Value::Bool(left != right),
        LessThan => Value::Bool(ordering() == Ordering::Less),
        LessOrEqual => Value::Bool(ordering() != Ordering::Greater),
        GreaterThan => Value::Bool(ordering() == Ordering::Greater),
        GreaterOrEqual => Value::Bool(ordering() != Ordering::Less),
        In => Value::Bool(holds(right, left)),
        NotIn => Value::Bool(!holds(right, left)),
        Contains => Value::Bool(holds(left, right)),
        NotContains => Value::Bool(!holds(left, right)),
        ContainsAll => Value::Bool(items(right).iter().all(|item| holds(left, item))),
        ContainsAny => Value::Bool(items(right).iter().any(|item| holds(left, item))),
        ContainsNone => Value::Bool(!items(right).iter().any(|item| holds(left, item))),
        Add | Subtract | Multiply | Divide | Modulo | Power => {
            if let Some(value) = arithmetic(op, left, right, span)? {
                return Ok(value);
            }
            if let Some(value) = time_arithmetic(op, left, right, span)? {
                return Ok(value);
            }
            match (op, left, right) {
                (Add, Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
                (Add, Value::Array(a), Value::Array(b)) => {
                    Value::Array(a.iter().chain(b).cloned().collect())
                }
                _ => return Err(mismatch(op, left, right, span)),
            }
        }
        BitAnd | BitOr | BitXor | ShiftLeft | ShiftRight => match (left, right) {
            (Value::Int(a), Value::Int(b)) => Value::Int(match op {
                BitAnd => a & b,
                BitOr => a | b,
                BitXor => a ^ b,
                ShiftLeft => u32::try_from(*b)
                    .ok()
                    .and_then(|b| a.checked_shl(b))
                    .ok_or_else(|| overflow(op, left, right, span))?,
                _ => u32::try_from(*b)
                    .ok()
                    .and_then(|b| a.checked_shr(b))
                    .ok_or_else(|| overflow(op, left, right, span))?,
            }),
            _ => return Err(mismatch(op, left, right, span)),
        },
        Match | NotMatch => unreachable!("matching is evaluated by `evaluate`"),
        Similar => super::vectors::similarity(left, right, span)?,
        And | Or | NullCoalesce => {
            unreachable!("short-circuit operators are evaluated by `evaluate`")
        }
    })
}

fn mismatch(op: BinaryOp, left: &Value, right: &Value, span: Span) -> ExecError {
    ExecError::eval(
        format!(
            "cannot apply {op:?} to {} {left} and {} {right}",
            left.kind_name(),
            right.kind_name()
        ),
        span,
    )
}
