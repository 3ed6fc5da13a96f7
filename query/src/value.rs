//! The `Value` tree: what documents, parameters and expression results are.
//!
//! Ordering and equality are total and agree with each other (`a == b`
//! exactly when `a.cmp(b)` is `Equal`), so values can be sorted, used as
//! map keys and compared by the index encoding of `keys.rs`:
//!
//! - Values of different kinds order by kind: none < null < bool < number
//!   < string < bytes < duration < datetime < record id < array < object.
//! - Integers and floats are one kind, *number*, compared by their exact
//!   mathematical value: `1 == 1.0`, `2^53 + 1 > 2^53 as f64`. `-0.0 ==
//!   0.0`. NaN equals NaN and is greater than every other number.
//! - Strings and bytes compare bytewise; arrays element by element then by
//!   length; objects as their sorted `(key, value)` sequences; record ids
//!   by table then key.
//!
//! Comparison operators of zeroql (`<`, `>=`, ...) use this order, so
//! `'a' > 5` is true (strings sort after numbers), as in SurrealQL.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use crate::ast::Literal;

pub mod codec;

/// An object: keys in sorted order.
pub type Object = BTreeMap<String, Value>;

/// A value of zeroql.
#[derive(Debug, Clone)]
pub enum Value {
    /// No value (an absent field).
    None,
    /// The null value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A duration in nanoseconds.
    Duration(u64),
    /// A point in time: nanoseconds since the Unix epoch (UTC).
    Datetime(i64),
    /// A record id `table:key`.
    RecordId(RecordId),
    /// A list.
    Array(Vec<Value>),
    /// A document.
    Object(Object),
}

/// A record id `table:key`. The key is any value except none; in practice
/// a string, an integer, or an array/object for compound keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordId {
    /// The table.
    pub table: String,
    /// The key inside the table.
    pub key: Box<Value>,
}

impl RecordId {
    /// `table:key`.
    pub fn new(table: impl Into<String>, key: Value) -> RecordId {
        RecordId {
            table: table.into(),
            key: Box::new(key),
        }
    }
}

impl Value {
    /// Rank of the value's kind in the total order.
    pub(crate) fn kind_rank(&self) -> u8 {
        match self {
            Value::None => 0,
            Value::Null => 1,
            Value::Bool(_) => 2,
            Value::Int(_) | Value::Float(_) => 3,
            Value::Str(_) => 4,
            Value::Bytes(_) => 5,
            Value::Duration(_) => 6,
            Value::Datetime(_) => 7,
            Value::RecordId(_) => 8,
            Value::Array(_) => 9,
            Value::Object(_) => 10,
        }
    }

    /// The kind's name, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::None => "none",
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Duration(_) => "duration",
            Value::Datetime(_) => "datetime",
            Value::RecordId(_) => "record",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Truthiness, as `WHERE` and `AND`/`OR` use it: none, null, false, 0,
    /// NaN and empty strings, arrays and objects are false.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::None | Value::Null => false,
            Value::Bool(value) => *value,
            Value::Int(value) => *value != 0,
            Value::Float(value) => *value != 0.0 && !value.is_nan(),
            Value::Str(value) => !value.is_empty(),
            Value::Bytes(value) => !value.is_empty(),
            Value::Duration(value) => *value != 0,
            Value::Datetime(_) | Value::RecordId(_) => true,
            Value::Array(items) => !items.is_empty(),
            Value::Object(entries) => !entries.is_empty(),
        }
    }

    /// The field `name` of an object; none for anything else.
    pub fn field(&self, name: &str) -> Value {
        match self {
            Value::Object(entries) => entries.get(name).cloned().unwrap_or(Value::None),
            _ => Value::None,
        }
    }

    /// The value of a literal. Regex literals have no value yet.
    pub fn from_literal(literal: &Literal) -> Option<Value> {
        Some(match literal {
            Literal::None => Value::None,
            Literal::Null => Value::Null,
            Literal::Bool(value) => Value::Bool(*value),
            Literal::Int(value) => Value::Int(*value),
            Literal::Float(value) => Value::Float(*value),
            Literal::Str(value) => Value::Str(value.clone()),
            Literal::Bytes(value) => Value::Bytes(value.clone()),
            Literal::Duration(value) => Value::Duration(*value),
            Literal::Regex { .. } => return None,
        })
    }
}

/// Exact comparison of an integer with a float (NaN is greatest).
fn cmp_int_float(int: i64, float: f64) -> Ordering {
    // 2^63 as f64; every float at or above it is above every i64.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if float.is_nan() || float >= TWO_POW_63 {
        return Ordering::Less;
    }
    if float < -TWO_POW_63 {
        return Ordering::Greater;
    }
    let truncated = float.trunc();
    // In range, so the cast is exact.
    match int.cmp(&(truncated as i64)) {
        Ordering::Equal => 0.0f64.partial_cmp(&(float - truncated)).expect("finite"),
        other => other,
    }
}

fn cmp_floats(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        // Neither is NaN; `partial_cmp` makes -0.0 equal 0.0.
        (false, false) => a.partial_cmp(&b).expect("not NaN"),
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        use Value::*;
        match (self, other) {
            (Int(a), Int(b)) => a.cmp(b),
            (Int(a), Float(b)) => cmp_int_float(*a, *b),
            (Float(a), Int(b)) => cmp_int_float(*b, *a).reverse(),
            (Float(a), Float(b)) => cmp_floats(*a, *b),
            (Bool(a), Bool(b)) => a.cmp(b),
            (Str(a), Str(b)) => a.cmp(b),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (Duration(a), Duration(b)) => a.cmp(b),
            (Datetime(a), Datetime(b)) => a.cmp(b),
            (RecordId(a), RecordId(b)) => a.cmp(b),
            (Array(a), Array(b)) => a.cmp(b),
            (Object(a), Object(b)) => a.cmp(b),
            _ => self.kind_rank().cmp(&other.kind_rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl From<RecordId> for Value {
    fn from(id: RecordId) -> Value {
        Value::RecordId(id)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Str(text.to_string())
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Int(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

/// Writes a string in single quotes with zeroql escapes.
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("'")?;
    for character in text.chars() {
        match character {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            other if other.is_control() => write!(f, "\\u{:04x}", other as u32)?,
            other => write!(f, "{other}")?,
        }
    }
    f.write_str("'")
}

fn is_plain_key(text: &str) -> bool {
    let mut characters = text.chars();
    matches!(characters.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && characters.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes a duration as zeroql duration units, largest first.
fn write_duration(f: &mut fmt::Formatter<'_>, nanos: u64) -> fmt::Result {
    const UNITS: [(&str, u64); 9] = [
        ("y", 365 * 86_400_000_000_000),
        ("w", 7 * 86_400_000_000_000),
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    if nanos == 0 {
        return f.write_str("0ns");
    }
    let mut rest = nanos;
    for (unit, size) in UNITS {
        if rest >= size {
            write!(f, "{}{unit}", rest / size)?;
            rest %= size;
        }
    }
    Ok(())
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes nanoseconds since the epoch as an RFC 3339 UTC time.
fn write_datetime(f: &mut fmt::Formatter<'_>, nanos: i64) -> fmt::Result {
    const NANOS_PER_DAY: i64 = 86_400_000_000_000;
    let days = nanos.div_euclid(NANOS_PER_DAY);
    let in_day = nanos.rem_euclid(NANOS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let seconds = in_day / 1_000_000_000;
    let fraction = in_day % 1_000_000_000;
    write!(
        f,
        "d'{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )?;
    if fraction != 0 {
        write!(f, ".{fraction:09}")?;
    }
    f.write_str("Z'")
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.table)?;
        match &*self.key {
            Value::Str(text) if is_plain_key(text) => f.write_str(text),
            other => other.fmt(f),
        }
    }
}

impl fmt::Display for Value {
    /// SurrealQL-like text: strings quoted, objects `{ a: 1 }`, record ids
    /// `table:key`, datetimes `d'...Z'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("NONE"),
            Value::Null => f.write_str("NULL"),
            Value::Bool(value) => write!(f, "{value}"),
            Value::Int(value) => write!(f, "{value}"),
            Value::Float(value) if value.is_finite() && value.fract() == 0.0 => {
                write!(f, "{value:.1}")
            }
            Value::Float(value) => write!(f, "{value}"),
            Value::Str(text) => write_quoted(f, text),
            Value::Bytes(bytes) => {
                f.write_str("b'")?;
                for byte in bytes {
                    write!(f, "\\x{byte:02x}")?;
                }
                f.write_str("'")
            }
            Value::Duration(nanos) => write_duration(f, *nanos),
            Value::Datetime(nanos) => write_datetime(f, *nanos),
            Value::RecordId(id) => id.fmt(f),
            Value::Array(items) => {
                f.write_str("[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    item.fmt(f)?;
                }
                f.write_str("]")
            }
            Value::Object(entries) => {
                if entries.is_empty() {
                    return f.write_str("{}");
                }
                f.write_str("{ ")?;
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    if is_plain_key(key) {
                        f.write_str(key)?;
                    } else {
                        write_quoted(f, key)?;
                    }
                    write!(f, ": {value}")?;
                }
                f.write_str(" }")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_exact_value_across_int_and_float() {
        assert_eq!(Value::Int(1), Value::Float(1.0));
        assert!(Value::Int(1) < Value::Float(1.5));
        assert!(Value::Float(-0.5) < Value::Int(0));
        assert_eq!(Value::Float(-0.0), Value::Float(0.0));
        let big = 1i64 << 53;
        assert!(Value::Int(big + 1) > Value::Float(big as f64));
        assert!(Value::Int(i64::MAX) < Value::Float(9.3e18));
        assert!(Value::Float(f64::NAN) > Value::Float(f64::INFINITY));
        assert!(Value::Float(f64::NAN) > Value::Int(i64::MAX));
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
    }

    #[test]
    fn kinds_order_none_null_bool_number_string() {
        let ordered = [
            Value::None,
            Value::Null,
            Value::Bool(true),
            Value::Int(-5),
            Value::Str(String::new()),
            Value::Bytes(vec![]),
            Value::Duration(0),
            Value::Datetime(0),
            Value::RecordId(RecordId::new("a", Value::Int(1))),
            Value::Array(vec![]),
            Value::Object(Object::new()),
        ];
        assert!(ordered.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn display_reads_like_zeroql() {
        let mut object = Object::new();
        object.insert("name".into(), Value::from("Tobie"));
        object.insert("id".into(), RecordId::new("person", "tobie".into()).into());
        assert_eq!(
            Value::Object(object).to_string(),
            "{ id: person:tobie, name: 'Tobie' }"
        );
        assert_eq!(Value::Duration(5_400_000_000_000).to_string(), "1h30m");
        assert_eq!(Value::Datetime(0).to_string(), "d'1970-01-01T00:00:00Z'");
        assert_eq!(
            Value::Datetime(951_782_400_000_000_000).to_string(),
            "d'2000-02-29T00:00:00Z'"
        );
    }
}
