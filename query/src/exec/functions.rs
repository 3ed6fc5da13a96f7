//! The built-in functions: `string::`, `array::`, `math::`, `time::`,
//! `duration::`.

use super::ExecError;
use crate::ast::Span;
use crate::value::Value;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Calls `name` (such as `string::len`) with evaluated arguments; `now` is
/// the transaction's time in nanoseconds since the epoch.
pub(crate) fn call(
    name: &str,
    arguments: Vec<Value>,
    now: i64,
    span: Span,
) -> Result<Value, ExecError> {
    let wrong = |expected: &str| {
        let found: Vec<String> = arguments
            .iter()
            .map(|value| format!("{} {value}", value.kind_name()))
            .collect();
        ExecError::eval(
            format!("{name}() takes {expected}, got ({})", found.join(", ")),
            span,
        )
    };
    let lowercase = name.to_lowercase();
    if lowercase.starts_with("vector::") {
        return super::vectors::call(&lowercase, &arguments, span);
    }
    Ok(match (lowercase.as_str(), arguments.as_slice()) {
        ("string::len", [Value::Str(text)]) => Value::Int(text.chars().count() as i64),
        ("string::len", _) => return Err(wrong("one string")),
        ("string::lowercase", [Value::Str(text)]) => Value::Str(text.to_lowercase()),
        ("string::lowercase", _) => return Err(wrong("one string")),
        ("string::uppercase", [Value::Str(text)]) => Value::Str(text.to_uppercase()),
        ("string::uppercase", _) => return Err(wrong("one string")),
        ("string::trim", [Value::Str(text)]) => Value::Str(text.trim().to_string()),
        ("string::trim", _) => return Err(wrong("one string")),
        ("string::concat", values) => Value::Str(
            values
                .iter()
                .map(|value| match value {
                    Value::Str(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        ("math::abs", [Value::Int(int)]) => Value::Int(
            int.checked_abs()
                .ok_or_else(|| ExecError::eval(format!("math::abs({int}) overflows"), span))?,
        ),
        ("math::abs", [Value::Float(float)]) => Value::Float(float.abs()),
        ("math::abs", _) => return Err(wrong("one number")),
        ("math::floor", [Value::Int(int)]) | ("math::ceil", [Value::Int(int)]) => Value::Int(*int),
        ("math::floor", [Value::Float(float)]) => Value::Float(float.floor()),
        ("math::ceil", [Value::Float(float)]) => Value::Float(float.ceil()),
        ("math::floor" | "math::ceil", _) => return Err(wrong("one number")),
        ("math::max" | "math::min", values) => {
            let values = match values {
                [Value::Array(items)] => items.as_slice(),
                values => values,
            };
            if values
                .iter()
                .any(|value| !matches!(value, Value::Int(_) | Value::Float(_)))
            {
                return Err(wrong("numbers, or one array of numbers"));
            }
            let pick = if name.eq_ignore_ascii_case("math::max") {
                values.iter().max()
            } else {
                values.iter().min()
            };
            pick.cloned().unwrap_or(Value::None)
        }
        ("string::contains", [Value::Str(text), Value::Str(part)]) => {
            Value::Bool(text.contains(part.as_str()))
        }
        ("string::contains", _) => return Err(wrong("two strings")),
        ("array::len", [Value::Array(items)]) => Value::Int(items.len() as i64),
        ("array::len", _) => return Err(wrong("one array")),
        ("array::distinct", [Value::Array(items)]) => {
            let mut seen = std::collections::BTreeSet::new();
            Value::Array(
                items
                    .iter()
                    .filter(|item| seen.insert(*item))
                    .cloned()
                    .collect(),
            )
        }
        ("array::distinct", _) => return Err(wrong("one array")),
        ("array::sort", [Value::Array(items)]) => {
            let mut sorted = items.clone();
            sorted.sort();
            Value::Array(sorted)
        }
        ("array::sort", _) => return Err(wrong("one array")),
        ("time::now", []) => Value::Datetime(now),
        ("time::now", _) => return Err(wrong("no arguments")),
        ("duration::secs", [Value::Duration(nanos)]) => {
            Value::Int((nanos / NANOS_PER_SECOND) as i64)
        }
        ("duration::mins", [Value::Duration(nanos)]) => {
            Value::Int((nanos / NANOS_PER_SECOND / 60) as i64)
        }
        ("duration::hours", [Value::Duration(nanos)]) => {
            Value::Int((nanos / NANOS_PER_SECOND / 3600) as i64)
        }
        ("duration::days", [Value::Duration(nanos)]) => {
            Value::Int((nanos / NANOS_PER_SECOND / 86_400) as i64)
        }
        ("duration::secs" | "duration::mins" | "duration::hours" | "duration::days", _) => {
            return Err(wrong("one duration"))
        }
        ("duration::from_secs", [Value::Int(seconds)]) => Value::Duration(
            u64::try_from(*seconds)
                .ok()
                .and_then(|seconds| seconds.checked_mul(NANOS_PER_SECOND))
                .ok_or_else(|| wrong("a non-negative number of seconds"))?,
        ),
        ("duration::from_secs", _) => return Err(wrong("one int")),
        _ => {
            return Err(ExecError::Unknown {
                kind: "function",
                name: format!("{name}()"),
                context: String::new(),
                span,
            })
        }
    })
}

/// Largest compiled regex, so a query cannot make the node build a huge
/// automaton.
const REGEX_BYTES_MAX: usize = 1024 * 1024;

/// Compiles `//pattern//flags`: `i` case-insensitive, `m` multi-line, `s`
/// `.` matches newlines, `x` verbose, `u` Unicode (the default), `g`
/// ignored (matching asks only whether there is a match).
pub(crate) fn compile_regex(
    pattern: &str,
    flags: &str,
    span: Span,
) -> Result<regex::Regex, ExecError> {
    let mut builder = regex::RegexBuilder::new(pattern);
    builder.size_limit(REGEX_BYTES_MAX);
    for flag in flags.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            'u' => builder.unicode(true),
            'g' => &mut builder,
            other => {
                return Err(ExecError::eval(
                    format!("unknown regex flag `{other}`"),
                    span,
                ))
            }
        };
    }
    builder
        .build()
        .map_err(|error| ExecError::eval(format!("invalid regex //{pattern}//: {error}"), span))
}
