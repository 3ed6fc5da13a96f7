//! The storage key layout of DESIGN.md section 12, and the
//! order-preserving encoding of values inside keys.
//!
//! A [`StoreKey`] is `(namespace, database, table, id bytes)`, the same
//! four parts as the node's `proto::Key`, which it maps onto one to one.
//! Keys order by namespace, database, table, then id bytes; a
//! [`KeyRange`] is a half-open range of id bytes inside one table.
//!
//! | what | table | id bytes |
//! |---|---|---|
//! | namespace definition | `#ns` (database `""`) | empty |
//! | database definition | `#db` (database `""`) | database name |
//! | table definition | `#tb` | name |
//! | field definition | `#fd` | table name, field name |
//! | index definition | `#ixd` | table name, index name |
//! | document | the table | the record key value |
//! | table schema (definition, fields, indexes in one value) | the table | `0xff` |
//! | index entry | `#ix` | table, index, indexed value, record key |
//! | adjacency: edges out of a record | `#out` | vertex table, vertex key, edge table, edge key |
//! | adjacency: edges into a record | `#in` | vertex table, vertex key, edge table, edge key |
//!
//! An adjacency entry's value is `{ edge, vertex }`: the edge's id and the
//! record at its other end, so a scan of a record's edges answers without
//! decoding keys. The edge itself is a record of its edge table holding
//! `in` and `out`.
//!
//! The table schema is a copy of the table's `#tb`, `#fd` and `#ixd`
//! records that every `DEFINE` and `REMOVE` of the table rewrites in the
//! same transaction. A statement reads it alone (one key, on the replica
//! ring of the table's records when the partition level is `table` or
//! `database`) instead of one key and two ranges. Its id `0xff` sorts after
//! every document, outside [`DatabaseName::table_range`].
//!
//! Reserved tables start with `#`, which zeroql names cannot contain. Names
//! inside id bytes are encoded like strings below, so a table's fields or an
//! index's entries are one contiguous range.
//!
//! Value encoding (`encode_value`): a tag per kind in the order of
//! [`Value`]'s kinds, then a body whose bytes compare like the values:
//! numbers as the order-preserving bits of the nearest `f64` followed by the
//! exact integer remainder (so `1` and `1.0` encode the same and `2^53 + 1`
//! sorts after `2^53`), strings and bytes with `0x00` escaped as `0x00
//! 0xff` and ended by `0x00`, arrays as their elements then `0x00`, objects
//! as `0x01 key value` per entry then `0x00`. Every encoding is
//! self-delimiting and a following element never starts with `0xff`, so
//! "the next element equals x" is the byte range `[p + x, p + x + 0xff)`.

use std::ops::Bound;

use crate::value::{RecordId, Value};

/// Table holding namespace definitions.
pub const NAMESPACE_DEFINITIONS: &str = "#ns";
/// Table holding database definitions.
pub const DATABASE_DEFINITIONS: &str = "#db";
/// Table holding table definitions.
pub const TABLE_DEFINITIONS: &str = "#tb";
/// Table holding field definitions.
pub const FIELD_DEFINITIONS: &str = "#fd";
/// Table holding index definitions.
pub const INDEX_DEFINITIONS: &str = "#ixd";
/// Table holding index entries.
pub const INDEX_ENTRIES: &str = "#ix";
/// Table holding the edges out of each record (adjacency).
pub const OUT_EDGES: &str = "#out";
/// Table holding the edges into each record (adjacency).
pub const IN_EDGES: &str = "#in";

/// Which of a record's adjacency lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjacency {
    /// Edges whose `in` is the record (`#out`).
    Out,
    /// Edges whose `out` is the record (`#in`).
    In,
}

impl Adjacency {
    fn table(self) -> &'static str {
        match self {
            Adjacency::Out => OUT_EDGES,
            Adjacency::In => IN_EDGES,
        }
    }
}

/// The id of a table's schema key: after every encoded value (their tags
/// are below `0xff`).
const SCHEMA_ID: u8 = 0xff;

/// Whether `key` is a table's schema key ([`DatabaseName::schema_key`]).
pub fn is_schema_key(key: &StoreKey) -> bool {
    !key.table.starts_with('#') && key.id == [SCHEMA_ID]
}

/// A storage key: `(namespace, database, table, id)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreKey {
    /// The tenant.
    pub namespace: String,
    /// Database inside the namespace; empty for namespace definitions.
    pub database: String,
    /// A table, or a reserved table starting with `#`.
    pub table: String,
    /// The id bytes (see the module documentation).
    pub id: Vec<u8>,
}

/// The keys of one table whose id bytes lie in `start..end`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRange {
    /// The tenant.
    pub namespace: String,
    /// Database inside the namespace.
    pub database: String,
    /// The table scanned.
    pub table: String,
    /// First id included.
    pub start: Vec<u8>,
    /// First id excluded.
    pub end: Vec<u8>,
}

impl KeyRange {
    /// Whether no key can lie in the range (`start >= end`), as for
    /// `WHERE v > 5 AND v < 2`.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &StoreKey) -> bool {
        key.namespace == self.namespace
            && key.database == self.database
            && key.table == self.table
            && key.id >= self.start
            && key.id < self.end
    }

    /// The first key of the range.
    pub fn start_key(&self) -> StoreKey {
        self.key(self.start.clone())
    }

    /// The first key after the range.
    pub fn end_key(&self) -> StoreKey {
        self.key(self.end.clone())
    }

    fn key(&self, id: Vec<u8>) -> StoreKey {
        StoreKey {
            namespace: self.namespace.clone(),
            database: self.database.clone(),
            table: self.table.clone(),
            id,
        }
    }
}

/// The database a key or range lives in; the prefix of every key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseName {
    /// The namespace.
    pub namespace: String,
    /// The database.
    pub database: String,
}

impl DatabaseName {
    /// `(namespace, database)`.
    pub fn new(namespace: &str, database: &str) -> DatabaseName {
        DatabaseName {
            namespace: namespace.to_string(),
            database: database.to_string(),
        }
    }

    fn key(&self, table: &str, id: Vec<u8>) -> StoreKey {
        StoreKey {
            namespace: self.namespace.clone(),
            database: self.database.clone(),
            table: table.to_string(),
            id,
        }
    }

    fn range(&self, table: &str, start: Vec<u8>, end: Vec<u8>) -> KeyRange {
        KeyRange {
            namespace: self.namespace.clone(),
            database: self.database.clone(),
            table: table.to_string(),
            start,
            end,
        }
    }

    /// Where the database's definition is stored: under the namespace
    /// (database `""`), so a namespace's databases are one range.
    pub fn definition_key(&self) -> StoreKey {
        StoreKey {
            namespace: self.namespace.clone(),
            database: String::new(),
            table: DATABASE_DEFINITIONS.to_string(),
            id: name_bytes(&[&self.database]),
        }
    }

    /// Where a document is stored.
    pub fn record_key(&self, table: &str, key: &Value) -> StoreKey {
        let mut id = Vec::new();
        encode_value(&mut id, key);
        self.key(table, id)
    }

    /// Every document of a table.
    pub fn table_range(&self, table: &str) -> KeyRange {
        // Every encoded value starts with a tag below 0xff.
        self.range(table, Vec::new(), vec![SCHEMA_ID])
    }

    /// Where a table's schema is stored: in the table itself, after every
    /// document (see the module documentation).
    pub fn schema_key(&self, table: &str) -> StoreKey {
        self.key(table, vec![SCHEMA_ID])
    }

    /// Where a table's definition is stored.
    pub fn table_definition_key(&self, table: &str) -> StoreKey {
        self.key(TABLE_DEFINITIONS, name_bytes(&[table]))
    }

    /// Every table definition of the database.
    pub fn table_definitions_range(&self) -> KeyRange {
        self.range(TABLE_DEFINITIONS, Vec::new(), vec![0xff])
    }

    /// Where a field's definition is stored.
    pub fn field_definition_key(&self, table: &str, field: &str) -> StoreKey {
        self.key(FIELD_DEFINITIONS, name_bytes(&[table, field]))
    }

    /// Every field definition of a table.
    pub fn field_definitions_range(&self, table: &str) -> KeyRange {
        let prefix = name_bytes(&[table]);
        self.range(FIELD_DEFINITIONS, prefix.clone(), element_end(prefix))
    }

    /// Where an index's definition is stored.
    pub fn index_definition_key(&self, table: &str, index: &str) -> StoreKey {
        self.key(INDEX_DEFINITIONS, name_bytes(&[table, index]))
    }

    /// Every index definition of a table.
    pub fn index_definitions_range(&self, table: &str) -> KeyRange {
        let prefix = name_bytes(&[table]);
        self.range(INDEX_DEFINITIONS, prefix.clone(), element_end(prefix))
    }

    /// The entry of record `key` with indexed value `value` in `index`.
    ///
    /// A compound index has one value per field, encoded one after the
    /// other, so a range on the first field is a byte range too.
    pub fn index_entry_key(
        &self,
        table: &str,
        index: &str,
        values: &[Value],
        key: &Value,
    ) -> StoreKey {
        let mut id = name_bytes(&[table, index]);
        for value in values {
            encode_value(&mut id, value);
        }
        encode_value(&mut id, key);
        self.key(INDEX_ENTRIES, id)
    }

    /// The entries of `index` whose leading values lie between the bounds:
    /// a bound of `n` values compares the first `n` fields of the index.
    pub fn index_range(
        &self,
        table: &str,
        index: &str,
        lower: Bound<&[Value]>,
        upper: Bound<&[Value]>,
    ) -> KeyRange {
        let prefix = name_bytes(&[table, index]);
        let with = |values: &[Value]| {
            let mut bytes = prefix.clone();
            for value in values {
                encode_value(&mut bytes, value);
            }
            bytes
        };
        let start = match lower {
            Bound::Unbounded => prefix.clone(),
            Bound::Included(value) => with(value),
            Bound::Excluded(value) => element_end(with(value)),
        };
        let end = match upper {
            Bound::Unbounded => element_end(prefix.clone()),
            Bound::Included(value) => element_end(with(value)),
            Bound::Excluded(value) => with(value),
        };
        self.range(INDEX_ENTRIES, start, end)
    }

    /// Every entry of `index`.
    pub fn index_entries_range(&self, table: &str, index: &str) -> KeyRange {
        self.index_range(table, index, Bound::Unbounded, Bound::Unbounded)
    }

    /// The entry of `edge` in `vertex`'s adjacency list `side`.
    pub fn adjacency_key(&self, side: Adjacency, vertex: &RecordId, edge: &RecordId) -> StoreKey {
        let mut id = vertex_prefix(vertex);
        encode_escaped(&mut id, edge.table.as_bytes());
        encode_value(&mut id, &edge.key);
        self.key(side.table(), id)
    }

    /// `vertex`'s adjacency list `side`: the edges of `edge_table`, or of
    /// every edge table.
    pub fn adjacency_range(
        &self,
        side: Adjacency,
        vertex: &RecordId,
        edge_table: Option<&str>,
    ) -> KeyRange {
        let mut prefix = vertex_prefix(vertex);
        if let Some(edge_table) = edge_table {
            encode_escaped(&mut prefix, edge_table.as_bytes());
        }
        self.range(side.table(), prefix.clone(), element_end(prefix))
    }
}

/// A vertex's table and key, the start of its adjacency entries.
fn vertex_prefix(vertex: &RecordId) -> Vec<u8> {
    let mut id = name_bytes(&[&vertex.table]);
    encode_value(&mut id, &vertex.key);
    id
}

/// Every database definition of a namespace.
pub fn database_definitions_range(namespace: &str) -> KeyRange {
    KeyRange {
        namespace: namespace.to_string(),
        database: String::new(),
        table: DATABASE_DEFINITIONS.to_string(),
        start: Vec::new(),
        end: vec![0xff],
    }
}

/// Where a namespace's definition is stored.
pub fn namespace_definition_key(namespace: &str) -> StoreKey {
    StoreKey {
        namespace: namespace.to_string(),
        database: String::new(),
        table: NAMESPACE_DEFINITIONS.to_string(),
        id: Vec::new(),
    }
}

/// The end of the range of keys that start with `prefix` followed by
/// further elements: no element's encoding starts with 0xff.
fn element_end(mut prefix: Vec<u8>) -> Vec<u8> {
    prefix.push(0xff);
    prefix
}

fn name_bytes(names: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in names {
        encode_escaped(&mut out, name.as_bytes());
    }
    out
}

mod tag {
    pub(super) const END: u8 = 0x00;
    pub(super) const OBJECT_KEY: u8 = 0x01;
    pub(super) const NONE: u8 = 0x02;
    pub(super) const NULL: u8 = 0x03;
    pub(super) const FALSE: u8 = 0x04;
    pub(super) const TRUE: u8 = 0x05;
    pub(super) const NUMBER: u8 = 0x06;
    pub(super) const STRING: u8 = 0x07;
    pub(super) const BYTES: u8 = 0x08;
    pub(super) const DURATION: u8 = 0x09;
    pub(super) const DATETIME: u8 = 0x0a;
    pub(super) const RECORD_ID: u8 = 0x0b;
    pub(super) const ARRAY: u8 = 0x0c;
    pub(super) const OBJECT: u8 = 0x0d;
}

/// Bytes with 0x00 escaped as 0x00 0xff, ended by 0x00.
fn encode_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        out.push(byte);
        if byte == 0 {
            out.push(0xff);
        }
    }
    out.push(tag::END);
}

/// A float's bits, flipped so unsigned byte order is numeric order.
fn ordered_float_bits(float: f64) -> u64 {
    let float = if float.is_nan() {
        f64::NAN
    } else if float == 0.0 {
        0.0 // -0.0 == 0.0
    } else {
        float
    };
    let bits = float.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    }
}

fn ordered_signed(value: i64) -> [u8; 8] {
    ((value as u64) ^ (1 << 63)).to_be_bytes()
}

/// A number as (nearest f64, exact remainder): equal numbers encode the
/// same whatever their kind, and the remainder orders integers that share
/// their nearest float.
fn encode_number(out: &mut Vec<u8>, value: &Value) {
    let (approximation, remainder) = match value {
        Value::Int(int) => {
            let approximation = *int as f64;
            // The approximation is an integer within 2^63 of zero, so the
            // i128 cast is exact and the remainder is at most 2^10.
            let remainder = i128::from(*int) - approximation as i128;
            (approximation, remainder as i64)
        }
        Value::Float(float) => (*float, 0),
        _ => unreachable!("encode_number is called on numbers only"),
    };
    out.push(tag::NUMBER);
    out.extend_from_slice(&ordered_float_bits(approximation).to_be_bytes());
    out.extend_from_slice(&ordered_signed(remainder));
}

/// Appends the order-preserving encoding of `value`.
pub fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::None => out.push(tag::NONE),
        Value::Null => out.push(tag::NULL),
        Value::Bool(false) => out.push(tag::FALSE),
        Value::Bool(true) => out.push(tag::TRUE),
        Value::Int(_) | Value::Float(_) => encode_number(out, value),
        Value::Str(text) => {
            out.push(tag::STRING);
            encode_escaped(out, text.as_bytes());
        }
        Value::Bytes(bytes) => {
            out.push(tag::BYTES);
            encode_escaped(out, bytes);
        }
        Value::Duration(nanos) => {
            out.push(tag::DURATION);
            out.extend_from_slice(&nanos.to_be_bytes());
        }
        Value::Datetime(nanos) => {
            out.push(tag::DATETIME);
            out.extend_from_slice(&ordered_signed(*nanos));
        }
        Value::RecordId(id) => {
            out.push(tag::RECORD_ID);
            encode_escaped(out, id.table.as_bytes());
            encode_value(out, &id.key);
        }
        Value::Array(items) => {
            out.push(tag::ARRAY);
            for item in items {
                encode_value(out, item);
            }
            out.push(tag::END);
        }
        Value::Object(entries) => {
            out.push(tag::OBJECT);
            for (key, item) in entries {
                out.push(tag::OBJECT_KEY);
                encode_escaped(out, key.as_bytes());
                encode_value(out, item);
            }
            out.push(tag::END);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::codec::tests::arbitrary_value;
    use proptest::prelude::*;
    use std::ops::RangeBounds;

    fn encoded(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(&mut out, value);
        out
    }

    fn as_slice(bound: &Bound<Value>) -> Bound<&[Value]> {
        bound.as_ref().map(std::slice::from_ref)
    }

    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            (-3i64..3).prop_map(Value::Int),
            (-3i64..3).prop_map(|int| Value::Float(int as f64 / 2.0)),
            (-2048i64..2048).prop_map(|delta| Value::Int((1i64 << 60).wrapping_add(delta))),
            Just(Value::Float((1u64 << 60) as f64)),
            Just(Value::Int(i64::MAX)),
            Just(Value::Int(i64::MIN)),
        ]
    }

    proptest! {
        #[test]
        fn encoded_order_is_value_order(a in arbitrary_value(), b in arbitrary_value()) {
            prop_assert_eq!(encoded(&a).cmp(&encoded(&b)), a.cmp(&b), "{:?} vs {:?}", a, b);
        }

        #[test]
        fn encoded_order_is_number_order(a in number(), b in number()) {
            prop_assert_eq!(encoded(&a).cmp(&encoded(&b)), a.cmp(&b), "{:?} vs {:?}", a, b);
        }

        #[test]
        fn an_index_range_holds_exactly_the_values_between_its_bounds(
            low in number(), high in number(), probe in number(), key in any::<i64>(),
            low_inclusive in any::<bool>(), high_inclusive in any::<bool>(),
        ) {
            let database = DatabaseName::new("n", "d");
            let bound = |value: &Value, inclusive: bool| {
                if inclusive { Bound::Included(value.clone()) } else { Bound::Excluded(value.clone()) }
            };
            let lower = bound(&low, low_inclusive);
            let upper = bound(&high, high_inclusive);
            let range = database.index_range("t", "i", as_slice(&lower), as_slice(&upper));
            let entry = database.index_entry_key("t", "i", std::slice::from_ref(&probe), &Value::Int(key));
            let expected = (lower.as_ref(), upper.as_ref()).contains(&probe);
            prop_assert_eq!(range.contains(&entry), expected);
        }
    }

    #[test]
    fn equal_numbers_encode_the_same() {
        assert_eq!(encoded(&Value::Int(1)), encoded(&Value::Float(1.0)));
        assert_eq!(encoded(&Value::Float(-0.0)), encoded(&Value::Float(0.0)));
    }

    #[test]
    fn an_equality_range_excludes_longer_strings_with_a_zero_byte() {
        let database = DatabaseName::new("n", "d");
        let a = [Value::from("a")];
        let range = database.index_range("t", "i", Bound::Included(&a), Bound::Included(&a));
        let key = Value::RecordId(RecordId::new("t", Value::Int(1)));
        assert!(range.contains(&database.index_entry_key("t", "i", &a, &key)));
        let longer = [Value::from("a\0")];
        assert!(!range.contains(&database.index_entry_key("t", "i", &longer, &key)));
    }

    #[test]
    fn an_adjacency_range_holds_a_records_edges_and_no_other_records() {
        let database = DatabaseName::new("n", "d");
        let alice = RecordId::new("person", Value::from("alice"));
        let alicia = RecordId::new("person", Value::from("alice\0x"));
        let edge = RecordId::new("likes", Value::Int(7));
        let other = RecordId::new("likes_a_lot", Value::Int(7));
        let all = database.adjacency_range(Adjacency::Out, &alice, None);
        let likes = database.adjacency_range(Adjacency::Out, &alice, Some("likes"));
        let entry = database.adjacency_key(Adjacency::Out, &alice, &edge);
        assert!(all.contains(&entry) && likes.contains(&entry));
        let longer_table = database.adjacency_key(Adjacency::Out, &alice, &other);
        assert!(all.contains(&longer_table) && !likes.contains(&longer_table));
        assert!(!all.contains(&database.adjacency_key(Adjacency::Out, &alicia, &edge)));
        assert!(!all.contains(&database.adjacency_key(Adjacency::In, &alice, &edge)));
    }

    #[test]
    fn a_table_range_holds_its_records_and_no_other_table() {
        let database = DatabaseName::new("n", "d");
        let range = database.table_range("person");
        assert!(range.contains(&database.record_key("person", &Value::from("tobie"))));
        assert!(!range.contains(&database.record_key("personal", &Value::from("x"))));
    }
}
