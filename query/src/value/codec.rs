//! The one binary codec of [`Value`]: how documents and definitions are
//! stored.
//!
//! Layout: a version byte ([`CODEC_VERSION`]) then one value. A value is a
//! tag byte then its body; integers little-endian:
//!
//! | tag | kind | body |
//! |---|---|---|
//! | 0 | none | - |
//! | 1 | null | - |
//! | 2 / 3 | false / true | - |
//! | 4 | int | i64 |
//! | 5 | float | f64 bits |
//! | 6 | string | u32 length, UTF-8 bytes |
//! | 7 | bytes | u32 length, bytes |
//! | 8 | duration | u64 nanoseconds |
//! | 9 | datetime | i64 nanoseconds since the epoch |
//! | 10 | record id | table as a string body, then the key value |
//! | 11 | array | u32 count, values |
//! | 12 | object | u32 count, (string body, value) with keys strictly increasing |
//!
//! Decoding checks every length against the bytes left and the limits
//! below before allocating, so malformed input gives a [`CodecError`] and
//! never a panic or a huge allocation. Object keys must be strictly
//! increasing so each value has exactly one encoding.

use super::{Object, RecordId, Value};

/// Version of the layout above; the first byte of every encoding.
pub const CODEC_VERSION: u8 = 1;
/// Largest encoding accepted by [`decode`] and produced by [`encode`].
pub const ENCODED_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Deepest nesting of arrays, objects and record keys.
pub const NESTING_DEPTH_MAX: usize = 64;
/// Most elements of one array or entries of one object.
pub const COLLECTION_LENGTH_MAX: usize = 1_000_000;

/// Why bytes are not a value, or a value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The first byte is not a known version.
    #[error("value encoding has version {found}, this build reads version {CODEC_VERSION}")]
    UnknownVersion {
        /// The version byte found.
        found: u8,
    },
    /// The input is empty.
    #[error("value encoding is empty")]
    Empty,
    /// The input ended inside a value.
    #[error("value encoding ends early at byte {offset}: {what} needs {needed} more bytes")]
    Truncated {
        /// Where the missing bytes should start.
        offset: usize,
        /// What was being read.
        what: &'static str,
        /// How many bytes were missing.
        needed: usize,
    },
    /// An unknown tag byte.
    #[error("unknown value tag {tag} at byte {offset}")]
    UnknownTag {
        /// The tag.
        tag: u8,
        /// Where.
        offset: usize,
    },
    /// A string is not UTF-8.
    #[error("string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where its body starts.
        offset: usize,
    },
    /// Object keys out of order or repeated.
    #[error("object key {key:?} at byte {offset} is not greater than the key before it")]
    UnorderedKey {
        /// The offending key.
        key: String,
        /// Where.
        offset: usize,
    },
    /// A limit was exceeded.
    #[error("{what} is {found}, more than the limit {limit}")]
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// The size found.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// Bytes after the value.
    #[error("{count} bytes left over after the value")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

mod tag {
    pub(super) const NONE: u8 = 0;
    pub(super) const NULL: u8 = 1;
    pub(super) const FALSE: u8 = 2;
    pub(super) const TRUE: u8 = 3;
    pub(super) const INT: u8 = 4;
    pub(super) const FLOAT: u8 = 5;
    pub(super) const STRING: u8 = 6;
    pub(super) const BYTES: u8 = 7;
    pub(super) const DURATION: u8 = 8;
    pub(super) const DATETIME: u8 = 9;
    pub(super) const RECORD_ID: u8 = 10;
    pub(super) const ARRAY: u8 = 11;
    pub(super) const OBJECT: u8 = 12;
}

/// Encodes a value with the version byte in front.
pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![CODEC_VERSION];
    encode_into(&mut out, value, 0)?;
    if out.len() > ENCODED_BYTES_MAX {
        return Err(CodecError::TooLarge {
            what: "encoded value",
            found: out.len(),
            limit: ENCODED_BYTES_MAX,
        });
    }
    Ok(out)
}

fn too_deep(depth: usize) -> Result<(), CodecError> {
    if depth > NESTING_DEPTH_MAX {
        return Err(CodecError::TooLarge {
            what: "nesting depth",
            found: depth,
            limit: NESTING_DEPTH_MAX,
        });
    }
    Ok(())
}

fn encode_length(out: &mut Vec<u8>, length: usize, what: &'static str) -> Result<(), CodecError> {
    let limit = if what == "string" || what == "bytes" {
        ENCODED_BYTES_MAX
    } else {
        COLLECTION_LENGTH_MAX
    };
    if length > limit {
        return Err(CodecError::TooLarge {
            what,
            found: length,
            limit,
        });
    }
    out.extend_from_slice(&(length as u32).to_le_bytes());
    Ok(())
}

fn encode_str(out: &mut Vec<u8>, text: &str) -> Result<(), CodecError> {
    encode_length(out, text.len(), "string")?;
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn encode_into(out: &mut Vec<u8>, value: &Value, depth: usize) -> Result<(), CodecError> {
    too_deep(depth)?;
    match value {
        Value::None => out.push(tag::NONE),
        Value::Null => out.push(tag::NULL),
        Value::Bool(false) => out.push(tag::FALSE),
        Value::Bool(true) => out.push(tag::TRUE),
        Value::Int(int) => {
            out.push(tag::INT);
            out.extend_from_slice(&int.to_le_bytes());
        }
        Value::Float(float) => {
            out.push(tag::FLOAT);
            out.extend_from_slice(&float.to_bits().to_le_bytes());
        }
        Value::Str(text) => {
            out.push(tag::STRING);
            encode_str(out, text)?;
        }
        Value::Bytes(bytes) => {
            out.push(tag::BYTES);
            encode_length(out, bytes.len(), "bytes")?;
            out.extend_from_slice(bytes);
        }
        Value::Duration(nanos) => {
            out.push(tag::DURATION);
            out.extend_from_slice(&nanos.to_le_bytes());
        }
        Value::Datetime(nanos) => {
            out.push(tag::DATETIME);
            out.extend_from_slice(&nanos.to_le_bytes());
        }
        Value::RecordId(id) => {
            out.push(tag::RECORD_ID);
            encode_str(out, &id.table)?;
            encode_into(out, &id.key, depth + 1)?;
        }
        Value::Array(items) => {
            out.push(tag::ARRAY);
            encode_length(out, items.len(), "array length")?;
            for item in items {
                encode_into(out, item, depth + 1)?;
            }
        }
        Value::Object(entries) => {
            out.push(tag::OBJECT);
            encode_length(out, entries.len(), "object length")?;
            for (key, item) in entries {
                encode_str(out, key)?;
                encode_into(out, item, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// Decodes bytes made by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    let (&version, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != CODEC_VERSION {
        return Err(CodecError::UnknownVersion { found: version });
    }
    if bytes.len() > ENCODED_BYTES_MAX {
        return Err(CodecError::TooLarge {
            what: "encoded value",
            found: bytes.len(),
            limit: ENCODED_BYTES_MAX,
        });
    }
    let mut reader = Reader {
        bytes: rest,
        offset: 0,
    };
    let value = reader.value(0)?;
    if reader.offset != rest.len() {
        return Err(CodecError::TrailingBytes {
            count: rest.len() - reader.offset,
        });
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        let left = self.bytes.len() - self.offset;
        if count > left {
            return Err(CodecError::Truncated {
                offset: self.offset + 1,
                what,
                needed: count - left,
            });
        }
        let slice = &self.bytes[self.offset..self.offset + count];
        self.offset += count;
        Ok(slice)
    }

    fn fixed8(&mut self, what: &'static str) -> Result<[u8; 8], CodecError> {
        let slice = self.take(8, what)?;
        Ok(slice.try_into().expect("took 8 bytes"))
    }

    fn length(&mut self, what: &'static str, limit: usize) -> Result<usize, CodecError> {
        let slice = self.take(4, what)?;
        let length = u32::from_le_bytes(slice.try_into().expect("took 4 bytes")) as usize;
        if length > limit {
            return Err(CodecError::TooLarge {
                what,
                found: length,
                limit,
            });
        }
        Ok(length)
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let length = self.length("string", ENCODED_BYTES_MAX)?;
        let start = self.offset + 1;
        let body = self.take(length, "string")?;
        String::from_utf8(body.to_vec()).map_err(|_| CodecError::InvalidUtf8 { offset: start })
    }

    fn value(&mut self, depth: usize) -> Result<Value, CodecError> {
        too_deep(depth)?;
        let at = self.offset + 1;
        let tag = self.take(1, "tag")?[0];
        Ok(match tag {
            tag::NONE => Value::None,
            tag::NULL => Value::Null,
            tag::FALSE => Value::Bool(false),
            tag::TRUE => Value::Bool(true),
            tag::INT => Value::Int(i64::from_le_bytes(self.fixed8("int")?)),
            tag::FLOAT => Value::Float(f64::from_bits(u64::from_le_bytes(self.fixed8("float")?))),
            tag::STRING => Value::Str(self.string()?),
            tag::BYTES => {
                let length = self.length("bytes", ENCODED_BYTES_MAX)?;
                Value::Bytes(self.take(length, "bytes")?.to_vec())
            }
            tag::DURATION => Value::Duration(u64::from_le_bytes(self.fixed8("duration")?)),
            tag::DATETIME => Value::Datetime(i64::from_le_bytes(self.fixed8("datetime")?)),
            tag::RECORD_ID => {
                let table = self.string()?;
                let key = self.value(depth + 1)?;
                Value::RecordId(RecordId::new(table, key))
            }
            tag::ARRAY => {
                let count = self.length("array length", COLLECTION_LENGTH_MAX)?;
                // Every element takes at least one byte: bound the
                // allocation by the bytes left, not by the claimed count.
                let mut items = Vec::with_capacity(count.min(self.bytes.len() - self.offset));
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            tag::OBJECT => Value::Object(self.object(depth)?),
            tag => return Err(CodecError::UnknownTag { tag, offset: at }),
        })
    }

    fn object(&mut self, depth: usize) -> Result<Object, CodecError> {
        let count = self.length("object length", COLLECTION_LENGTH_MAX)?;
        let mut entries = Object::new();
        let mut previous: Option<String> = None;
        for _ in 0..count {
            let at = self.offset + 1;
            let key = self.string()?;
            if previous.as_ref().is_some_and(|before| *before >= key) {
                return Err(CodecError::UnorderedKey { key, offset: at });
            }
            let item = self.value(depth + 1)?;
            previous = Some(key.clone());
            entries.insert(key, item);
        }
        Ok(entries)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arbitrary_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::None),
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            ".{0,8}".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
            any::<u64>().prop_map(Value::Duration),
            any::<i64>().prop_map(Value::Datetime),
            ("[a-z]{1,4}", any::<i64>())
                .prop_map(|(table, key)| Value::RecordId(RecordId::new(table, Value::Int(key)))),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{0,4}", inner, 0..6).prop_map(Value::Object),
            ]
        })
    }

    /// Bitwise equality: `Value`'s `==` treats 1 and 1.0 as equal, but the
    /// codec must keep the kind and the exact float bits.
    fn same(a: &Value, b: &Value) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    proptest! {
        #[test]
        fn encode_then_decode_gives_the_same_value(value in arbitrary_value()) {
            let bytes = encode(&value).unwrap();
            let back = decode(&bytes).unwrap();
            prop_assert!(same(&value, &back), "{value:?} came back as {back:?}");
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
            let mut versioned = vec![CODEC_VERSION];
            versioned.extend_from_slice(&bytes);
            let _ = decode(&versioned);
        }

        #[test]
        fn a_truncated_encoding_is_an_error(value in arbitrary_value(), cut in any::<usize>()) {
            let bytes = encode(&value).unwrap();
            let cut = cut % bytes.len();
            prop_assert!(decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn malformed_inputs_name_the_problem() {
        assert_eq!(decode(&[]), Err(CodecError::Empty));
        assert_eq!(decode(&[9]), Err(CodecError::UnknownVersion { found: 9 }));
        assert_eq!(
            decode(&[1, 200]),
            Err(CodecError::UnknownTag {
                tag: 200,
                offset: 1
            })
        );
        let huge_array = [1, tag::ARRAY, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            decode(&huge_array),
            Err(CodecError::TooLarge { .. })
        ));
        let claimed_but_missing = [1, tag::ARRAY, 10, 0, 0, 0];
        assert!(matches!(
            decode(&claimed_but_missing),
            Err(CodecError::Truncated { .. })
        ));
        let repeated_key = [
            1,
            tag::OBJECT,
            2,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            b'a',
            tag::NULL,
            1,
            0,
            0,
            0,
            b'a',
            tag::NULL,
        ];
        assert!(matches!(
            decode(&repeated_key),
            Err(CodecError::UnorderedKey { .. })
        ));
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_both_ways() {
        let mut value = Value::Null;
        for _ in 0..=NESTING_DEPTH_MAX + 1 {
            value = Value::Array(vec![value]);
        }
        assert!(matches!(encode(&value), Err(CodecError::TooLarge { .. })));
        let mut bytes = vec![CODEC_VERSION];
        for _ in 0..=NESTING_DEPTH_MAX + 1 {
            bytes.extend_from_slice(&[tag::ARRAY, 1, 0, 0, 0]);
        }
        bytes.push(tag::NULL);
        assert!(matches!(decode(&bytes), Err(CodecError::TooLarge { .. })));
    }
}
