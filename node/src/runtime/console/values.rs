//! zeroql values as JSON and back: what `zerodb sql --json` prints and what
//! the console's query endpoint answers are the same conversion.

use serde_json::{json, Map, Value as Json};
use zerodb_query::value::Value;

/// A JSON value as a zeroql value (numbers that fit an `i64` are ints).
pub fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        Json::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), from_json(value)))
                .collect(),
        ),
    }
}

/// A zeroql value as JSON: numbers, strings, arrays and objects as
/// themselves; none and null as null; record ids, datetimes and durations
/// as their zeroql text; bytes as a hex string; NaN and infinities as text.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::None | Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(f.to_string())),
        Value::Str(s) => json!(s),
        Value::Bytes(bytes) => Json::String(hex(bytes)),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Object(map) => Json::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), to_json(value)))
                .collect::<Map<String, Json>>(),
        ),
        other => Json::String(other.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("0x{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_converts_both_ways_and_bytes_become_hex() {
        let json = json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}});
        assert_eq!(to_json(&from_json(&json)), json);
        assert_eq!(to_json(&Value::Bytes(vec![0, 255])), json!("0x00ff"));
        assert_eq!(to_json(&Value::Float(f64::NAN)), json!("NaN"));
    }
}
