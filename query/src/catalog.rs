//! The catalog: definitions of namespaces, databases, tables, fields and
//! indexes, stored as [`Value`] records under the reserved tables of
//! `keys.rs`, and the field types they check.
//!
//! A table is schemafull when `DEFINE TABLE` says `SCHEMAFULL`, or when it
//! says nothing and has fields (upstream zeroql); otherwise schemaless. A
//! table that was never defined is schemaless with no fields or indexes.
//! `VALUE` and `ASSERT` expressions are stored as their canonical text and
//! parsed again when loaded.

use std::fmt;

use crate::ast::{Expr, SchemaMode, TypeKind, TypeSig};
use crate::exec::ExecError;
use crate::value::{Object, Value};
use crate::vector::hnsw::HnswOptions;

/// The types a field may declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// `any`: every value.
    Any,
    /// `bool`
    Bool,
    /// `int` (also `i64`)
    Int,
    /// `u8`, `u16`, `u32`, `u64`, `i8`, `i16`, `i32`: an int in the range.
    SizedInt(IntWidth),
    /// `float`
    Float,
    /// `number`: int or float.
    Number,
    /// `string`
    String,
    /// `bytes`
    Bytes,
    /// `datetime`
    Datetime,
    /// `duration`
    Duration,
    /// `object`
    Object,
    /// `record` or `record[table]`
    Record(Option<String>),
    /// `array`, `[T]`, `array[T]`
    Array(Box<FieldType>),
    /// `option[T]` or `T?`: none, null, or a T.
    Option(Box<FieldType>),
}

impl FieldType {
    /// The type a signature names; unknown names are an error at their span.
    pub fn from_signature(signature: &TypeSig) -> Result<FieldType, ExecError> {
        let inner = match &signature.kind {
            TypeKind::List(item) | TypeKind::Array(item, _) => {
                FieldType::Array(Box::new(FieldType::from_signature(item)?))
            }
            TypeKind::Tuple(_) => {
                return Err(ExecError::unsupported("a tuple type", signature.span))
            }
            TypeKind::Named { path, arguments } => {
                let name = path
                    .iter()
                    .map(|segment| segment.name.to_lowercase())
                    .collect::<Vec<_>>()
                    .join("::");
                let argument = |index: usize| arguments.get(index).map(FieldType::from_signature);
                match (name.as_str(), arguments.len()) {
                    ("any", 0) => FieldType::Any,
                    ("bool", 0) => FieldType::Bool,
                    ("int" | "i64", 0) => FieldType::Int,
                    (name, 0) if IntWidth::from_name(name).is_some() => {
                        FieldType::SizedInt(IntWidth::from_name(name).expect("checked"))
                    }
                    ("float" | "f64" | "f32", 0) => FieldType::Float,
                    ("number", 0) => FieldType::Number,
                    ("string", 0) => FieldType::String,
                    ("bytes", 0) => FieldType::Bytes,
                    ("datetime" | "time", 0) => FieldType::Datetime,
                    ("duration", 0) => FieldType::Duration,
                    ("object", 0) => FieldType::Object,
                    ("record", 0) => FieldType::Record(None),
                    ("record", 1) => match &arguments[0].kind {
                        TypeKind::Named { path, arguments }
                            if path.len() == 1 && arguments.is_empty() =>
                        {
                            FieldType::Record(Some(path[0].name.clone()))
                        }
                        _ => {
                            return Err(ExecError::unsupported("this record type", signature.span))
                        }
                    },
                    ("array", 0) => FieldType::Array(Box::new(FieldType::Any)),
                    ("array", 1) => FieldType::Array(Box::new(argument(0).expect("one argument")?)),
                    ("option", 1) => {
                        FieldType::Option(Box::new(argument(0).expect("one argument")?))
                    }
                    _ => {
                        return Err(ExecError::unsupported(
                            format!("the type `{signature}`"),
                            signature.span,
                        ))
                    }
                }
            }
        };
        Ok(if signature.optional {
            FieldType::Option(Box::new(inner))
        } else {
            inner
        })
    }

    /// Whether `value` has this type.
    pub fn admits(&self, value: &Value) -> bool {
        match (self, value) {
            (FieldType::Any, _) => true,
            (FieldType::Option(_), Value::None | Value::Null) => true,
            (FieldType::Option(inner), other) => inner.admits(other),
            (FieldType::Bool, Value::Bool(_))
            | (FieldType::Int, Value::Int(_))
            | (FieldType::Float, Value::Float(_))
            | (FieldType::Number, Value::Int(_) | Value::Float(_))
            | (FieldType::String, Value::Str(_))
            | (FieldType::Bytes, Value::Bytes(_))
            | (FieldType::Datetime, Value::Datetime(_))
            | (FieldType::Duration, Value::Duration(_))
            | (FieldType::Object, Value::Object(_)) => true,
            (FieldType::SizedInt(width), Value::Int(int)) => {
                let (min, max) = width.range();
                (min..=max).contains(int)
            }
            (FieldType::Record(table), Value::RecordId(id)) => {
                table.as_ref().is_none_or(|table| *table == id.table)
            }
            (FieldType::Array(item), Value::Array(items)) => {
                items.iter().all(|each| item.admits(each))
            }
            _ => false,
        }
    }

    /// Parses the text written by `Display`.
    pub fn parse(text: &str) -> Option<FieldType> {
        if let Some(rest) = text.strip_suffix('>') {
            let (outer, inner) = rest.split_once('<')?;
            return match outer {
                "array" => Some(FieldType::Array(Box::new(FieldType::parse(inner)?))),
                "option" => Some(FieldType::Option(Box::new(FieldType::parse(inner)?))),
                "record" => Some(FieldType::Record(Some(inner.to_string()))),
                _ => None,
            };
        }
        Some(match text {
            "any" => FieldType::Any,
            "bool" => FieldType::Bool,
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "number" => FieldType::Number,
            "string" => FieldType::String,
            "bytes" => FieldType::Bytes,
            "datetime" => FieldType::Datetime,
            "duration" => FieldType::Duration,
            "object" => FieldType::Object,
            "record" => FieldType::Record(None),
            name => FieldType::SizedInt(IntWidth::from_name(name)?),
        })
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Any => f.write_str("any"),
            FieldType::Bool => f.write_str("bool"),
            FieldType::Int => f.write_str("int"),
            FieldType::SizedInt(width) => f.write_str(width.name()),
            FieldType::Float => f.write_str("float"),
            FieldType::Number => f.write_str("number"),
            FieldType::String => f.write_str("string"),
            FieldType::Bytes => f.write_str("bytes"),
            FieldType::Datetime => f.write_str("datetime"),
            FieldType::Duration => f.write_str("duration"),
            FieldType::Object => f.write_str("object"),
            FieldType::Record(None) => f.write_str("record"),
            FieldType::Record(Some(table)) => write!(f, "record<{table}>"),
            FieldType::Array(item) => write!(f, "array<{item}>"),
            FieldType::Option(inner) => write!(f, "option<{inner}>"),
        }
    }
}

/// The sized integer types of upstream zeroql; all are stored as i64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntWidth {
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`: non-negative i64 (values above `i64::MAX` do not exist here).
    U64,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
}

impl IntWidth {
    const ALL: [IntWidth; 7] = [
        IntWidth::U8,
        IntWidth::U16,
        IntWidth::U32,
        IntWidth::U64,
        IntWidth::I8,
        IntWidth::I16,
        IntWidth::I32,
    ];

    /// `u8`, `i32`, ...
    pub fn name(self) -> &'static str {
        match self {
            IntWidth::U8 => "u8",
            IntWidth::U16 => "u16",
            IntWidth::U32 => "u32",
            IntWidth::U64 => "u64",
            IntWidth::I8 => "i8",
            IntWidth::I16 => "i16",
            IntWidth::I32 => "i32",
        }
    }

    fn from_name(name: &str) -> Option<IntWidth> {
        IntWidth::ALL.into_iter().find(|width| width.name() == name)
    }

    /// Smallest and largest value.
    pub fn range(self) -> (i64, i64) {
        match self {
            IntWidth::U8 => (0, u8::MAX.into()),
            IntWidth::U16 => (0, u16::MAX.into()),
            IntWidth::U32 => (0, u32::MAX.into()),
            IntWidth::U64 => (0, i64::MAX),
            IntWidth::I8 => (i8::MIN.into(), i8::MAX.into()),
            IntWidth::I16 => (i16::MIN.into(), i16::MAX.into()),
            IntWidth::I32 => (i32::MIN.into(), i32::MAX.into()),
        }
    }
}

/// `DEFINE TABLE`
#[derive(Debug, Clone, PartialEq)]
pub struct TableDefinition {
    /// The table.
    pub name: String,
    /// `SCHEMAFULL` / `SCHEMALESS` if written.
    pub schema: Option<SchemaMode>,
    /// `DEFINE EDGE` (or implied by `RELATE`): its records are edges.
    pub edge: bool,
}

/// `DEFINE FIELD`
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDefinition {
    /// The table.
    pub table: String,
    /// The field.
    pub name: String,
    /// `TYPE`, if written.
    pub field_type: Option<FieldType>,
    /// `VALUE`: computed on every write, with `$value` the value given.
    pub value: Option<Expr>,
    /// `ASSERT`s: each must be truthy on every write, with `$value`.
    pub asserts: Vec<Expr>,
    /// `READONLY`: may be set on create, never changed after.
    pub readonly: bool,
}

/// `DEFINE INDEX`
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDefinition {
    /// The table.
    pub table: String,
    /// The index.
    pub name: String,
    /// Indexed fields, in key order.
    pub fields: Vec<String>,
    /// At most one record per value (none and null are exempt).
    pub unique: bool,
    /// `WITH index::hnsw(...)`: an approximate vector index, kept in memory
    /// beside the records ([`crate::vector::VectorIndexes`]) rather than as
    /// index entries.
    pub hnsw: Option<HnswOptions>,
}

/// What the executor knows of one table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableSchema {
    /// The definition, if the table was defined.
    pub definition: Option<TableDefinition>,
    /// Its fields in name order.
    pub fields: Vec<FieldDefinition>,
    /// Its indexes in name order.
    pub indexes: Vec<IndexDefinition>,
}

impl TableSchema {
    /// Whether the table rejects fields it does not define.
    pub fn is_schemafull(&self) -> bool {
        match self
            .definition
            .as_ref()
            .and_then(|definition| definition.schema)
        {
            Some(mode) => mode == SchemaMode::Full,
            None => !self.fields.is_empty(),
        }
    }

    /// Whether the table holds edges (`DEFINE EDGE`, or made by `RELATE`).
    pub fn is_edge(&self) -> bool {
        self.definition
            .as_ref()
            .is_some_and(|definition| definition.edge)
    }

    /// Whether `field` may be stored: defined, or one every record has
    /// (`id`, and an edge's `in` and `out`).
    pub fn allows_field(&self, field: &str) -> bool {
        field == "id"
            || (self.is_edge() && (field == "in" || field == "out"))
            || self.fields.iter().any(|defined| defined.name == field)
    }

    /// The index named `name`.
    pub fn index(&self, name: &str) -> Option<&IndexDefinition> {
        self.indexes.iter().find(|index| index.name == name)
    }
}

impl TableSchema {
    /// As stored under the table's schema key: `{ table, fields, indexes }`
    /// with each definition as its own record stores it.
    pub fn to_value(&self) -> Value {
        let mut object = Object::new();
        let table = self
            .definition
            .as_ref()
            .map_or(Value::None, TableDefinition::to_value);
        object.insert("table".into(), table);
        let fields = self.fields.iter().map(FieldDefinition::to_value).collect();
        object.insert("fields".into(), Value::Array(fields));
        let indexes = self.indexes.iter().map(IndexDefinition::to_value).collect();
        object.insert("indexes".into(), Value::Array(indexes));
        Value::Object(object)
    }

    /// From what [`TableSchema::to_value`] stored.
    pub fn from_value(value: &Value) -> Result<TableSchema, String> {
        let object = object(value, "schema")?;
        let list = |name: &str| match object.get(name) {
            Some(Value::Array(items)) => Ok(items.clone()),
            None => Ok(Vec::new()),
            Some(other) => Err(format!(
                "the schema's {name} are a {}, not an array",
                other.kind_name()
            )),
        };
        let definition = match object.get("table") {
            None | Some(Value::None) => None,
            Some(table) => Some(TableDefinition::from_value(table)?),
        };
        Ok(TableSchema {
            definition,
            fields: list("fields")?
                .iter()
                .map(FieldDefinition::from_value)
                .collect::<Result<_, _>>()?,
            indexes: list("indexes")?
                .iter()
                .map(IndexDefinition::from_value)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether nothing is defined for the table.
    pub fn is_empty(&self) -> bool {
        self.definition.is_none() && self.fields.is_empty() && self.indexes.is_empty()
    }
}

fn text(object: &Object, key: &str) -> Option<String> {
    match object.get(key) {
        Some(Value::Str(text)) => Some(text.clone()),
        _ => None,
    }
}

fn object(value: &Value, what: &str) -> Result<Object, String> {
    match value {
        Value::Object(object) => Ok(object.clone()),
        other => Err(format!(
            "{what} definition is a {}, not an object",
            other.kind_name()
        )),
    }
}

impl TableDefinition {
    /// As stored.
    pub fn to_value(&self) -> Value {
        let mut object = Object::new();
        object.insert("name".into(), Value::Str(self.name.clone()));
        let schema = match self.schema {
            Some(SchemaMode::Full) => Value::from("full"),
            Some(SchemaMode::Less) => Value::from("less"),
            None => Value::None,
        };
        object.insert("schema".into(), schema);
        if self.edge {
            object.insert("kind".into(), Value::from("edge"));
        }
        Value::Object(object)
    }

    /// From what [`TableDefinition::to_value`] stored.
    pub fn from_value(value: &Value) -> Result<TableDefinition, String> {
        let object = object(value, "table")?;
        let schema = match text(&object, "schema").as_deref() {
            Some("full") => Some(SchemaMode::Full),
            Some("less") => Some(SchemaMode::Less),
            _ => None,
        };
        Ok(TableDefinition {
            name: text(&object, "name").ok_or("table definition has no name")?,
            schema,
            edge: text(&object, "kind").as_deref() == Some("edge"),
        })
    }
}

impl FieldDefinition {
    /// As stored: expressions as their canonical text.
    pub fn to_value(&self) -> Value {
        let mut object = Object::new();
        object.insert("table".into(), Value::Str(self.table.clone()));
        object.insert("name".into(), Value::Str(self.name.clone()));
        let field_type = self.field_type.as_ref();
        object.insert(
            "type".into(),
            field_type.map_or(Value::None, |field_type| Value::Str(field_type.to_string())),
        );
        let value = self.value.as_ref();
        object.insert(
            "value".into(),
            value.map_or(Value::None, |value| Value::Str(value.to_string())),
        );
        let asserts = self
            .asserts
            .iter()
            .map(|assert| Value::Str(assert.to_string()));
        object.insert("asserts".into(), Value::Array(asserts.collect()));
        object.insert("readonly".into(), Value::Bool(self.readonly));
        Value::Object(object)
    }

    /// From what [`FieldDefinition::to_value`] stored.
    pub fn from_value(value: &Value) -> Result<FieldDefinition, String> {
        let object = object(value, "field")?;
        let expression = |text: &str| {
            crate::parse_expression(text)
                .map_err(|error| format!("stored expression `{text}`: {error}"))
        };
        let field_type = match text(&object, "type") {
            Some(text) => Some(FieldType::parse(&text).ok_or(format!("stored type `{text}`"))?),
            None => None,
        };
        let asserts = match object.get("asserts") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Str(text) => expression(text),
                    other => Err(format!("stored assert {other}")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        Ok(FieldDefinition {
            table: text(&object, "table").ok_or("field definition has no table")?,
            name: text(&object, "name").ok_or("field definition has no name")?,
            field_type,
            value: text(&object, "value")
                .map(|text| expression(&text))
                .transpose()?,
            asserts,
            readonly: object.get("readonly") == Some(&Value::Bool(true)),
        })
    }
}

impl IndexDefinition {
    /// As stored.
    pub fn to_value(&self) -> Value {
        let mut object = Object::new();
        object.insert("table".into(), Value::Str(self.table.clone()));
        object.insert("name".into(), Value::Str(self.name.clone()));
        let fields = self.fields.iter().map(|field| Value::Str(field.clone()));
        object.insert("fields".into(), Value::Array(fields.collect()));
        object.insert("unique".into(), Value::Bool(self.unique));
        if let Some(options) = &self.hnsw {
            object.insert("hnsw".into(), options.to_value());
        }
        Value::Object(object)
    }

    /// From what [`IndexDefinition::to_value`] stored.
    pub fn from_value(value: &Value) -> Result<IndexDefinition, String> {
        let object = object(value, "index")?;
        let fields = match object.get("fields") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Str(text) => Ok(text.clone()),
                    other => Err(format!("stored index field {other}")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err("index definition has no fields".into()),
        };
        Ok(IndexDefinition {
            table: text(&object, "table").ok_or("index definition has no table")?,
            name: text(&object, "name").ok_or("index definition has no name")?,
            fields,
            unique: object.get("unique") == Some(&Value::Bool(true)),
            hnsw: object
                .get("hnsw")
                .map(HnswOptions::from_value)
                .transpose()?,
        })
    }

    /// The values this index keys `document` by, one per field.
    pub fn key_of(&self, document: &Value) -> Vec<Value> {
        self.fields
            .iter()
            .map(|field| document.field(field))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_round_trip_through_values() {
        let field = FieldDefinition {
            table: "person".into(),
            name: "age".into(),
            field_type: Some(FieldType::Option(Box::new(FieldType::Array(Box::new(
                FieldType::Record(Some("person".into())),
            ))))),
            value: Some(crate::parse_expression("$value + 1").unwrap()),
            asserts: vec![crate::parse_expression("$value > 0").unwrap()],
            readonly: true,
        };
        let back = FieldDefinition::from_value(&field.to_value()).unwrap();
        assert_eq!(back.to_value(), field.to_value());
        let index = IndexDefinition {
            table: "person".into(),
            name: "by_age".into(),
            fields: vec!["age".into(), "name".into()],
            unique: true,
            hnsw: None,
        };
        let vectors = IndexDefinition {
            table: "person".into(),
            name: "by_embedding".into(),
            fields: vec!["embedding".into()],
            unique: false,
            hnsw: Some(HnswOptions {
                m: 12,
                ef: 40,
                metric: crate::vector::Metric::Cosine,
            }),
        };
        assert_eq!(
            IndexDefinition::from_value(&vectors.to_value()).unwrap(),
            vectors
        );
        assert_eq!(
            IndexDefinition::from_value(&index.to_value()).unwrap(),
            index
        );
        let table = TableDefinition {
            name: "person".into(),
            schema: Some(SchemaMode::Full),
            edge: false,
        };
        let edge = TableDefinition {
            name: "likes".into(),
            schema: None,
            edge: true,
        };
        assert_eq!(TableDefinition::from_value(&edge.to_value()).unwrap(), edge);
        assert_eq!(
            TableDefinition::from_value(&table.to_value()).unwrap(),
            table
        );
        let schema = TableSchema {
            definition: Some(table),
            fields: vec![field],
            indexes: vec![index],
        };
        let back = TableSchema::from_value(&schema.to_value()).unwrap();
        assert_eq!(back.to_value(), schema.to_value());
        assert_eq!(back.indexes, schema.indexes);
        assert!(TableSchema::from_value(&TableSchema::default().to_value())
            .unwrap()
            .is_empty());
        assert!(TableSchema::from_value(&Value::Int(3))
            .unwrap_err()
            .contains("not an object"));
    }

    #[test]
    fn types_admit_their_values() {
        let optional_int = FieldType::Option(Box::new(FieldType::Int));
        assert!(optional_int.admits(&Value::None));
        assert!(optional_int.admits(&Value::Int(3)));
        assert!(!optional_int.admits(&Value::from("3")));
        assert!(FieldType::Number.admits(&Value::Float(1.5)));
        assert!(!FieldType::Int.admits(&Value::Float(1.0)));
    }
}
