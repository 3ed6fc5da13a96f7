//! Record keys, their order-preserving encoding and partition tokens
//! (DESIGN.md section 2).
//!
//! Encoding: each component (namespace, database, table, id) is written with
//! every `0x00` byte escaped as `0x00 0xFF` and closed by the terminator
//! `0x00 0x01`. Comparing encoded keys bytewise therefore compares the
//! components in order, each one bytewise, and the encoding of a key's prefix
//! up to a partition level is a prefix of the key's encoding.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;
use zerodb_config::PartitionLevel;

use crate::error::RingError;
use crate::types::Token;

/// Escape byte: follows a `0x00` that is part of the data.
const ESCAPED_ZERO: u8 = 0xFF;
/// Terminator byte: follows a `0x00` that closes a component.
const TERMINATOR: u8 = 0x01;

/// The full key of a record: `(namespace, database, table, record id)`.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct RecordKey {
    /// The tenant.
    pub namespace: String,
    /// The database inside the namespace.
    pub database: String,
    /// The table inside the database.
    pub table: String,
    /// The record id inside the table (opaque bytes).
    pub id: Vec<u8>,
}

impl RecordKey {
    /// A key from its four components.
    pub fn new(
        namespace: impl Into<String>,
        database: impl Into<String>,
        table: impl Into<String>,
        id: impl Into<Vec<u8>>,
    ) -> RecordKey {
        RecordKey {
            namespace: namespace.into(),
            database: database.into(),
            table: table.into(),
            id: id.into(),
        }
    }

    /// The order-preserving encoding of the key (used as the storage key):
    /// `a < b` as keys exactly when `a.encode() < b.encode()` bytewise.
    pub fn encode(&self) -> Vec<u8> {
        self.partition_key(PartitionLevel::Record)
    }

    /// Decodes bytes made by [`RecordKey::encode`]; anything else is an error.
    pub fn decode(bytes: &[u8]) -> Result<RecordKey, RingError> {
        let mut offset = 0;
        let namespace = utf8(read_component(bytes, &mut offset)?, offset)?;
        let database = utf8(read_component(bytes, &mut offset)?, offset)?;
        let table = utf8(read_component(bytes, &mut offset)?, offset)?;
        let id = read_component(bytes, &mut offset)?;
        if offset != bytes.len() {
            return Err(RingError::KeyDecode {
                offset,
                reason: "trailing bytes after the record id",
            });
        }
        Ok(RecordKey {
            namespace,
            database,
            table,
            id,
        })
    }

    /// The encoded prefix of the key up to `level`: the partition key. It is
    /// a prefix of [`RecordKey::encode`].
    pub fn partition_key(&self, level: PartitionLevel) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        write_component(&mut out, self.namespace.as_bytes());
        write_component(&mut out, self.database.as_bytes());
        if matches!(level, PartitionLevel::Table | PartitionLevel::Record) {
            write_component(&mut out, self.table.as_bytes());
        }
        if level == PartitionLevel::Record {
            write_component(&mut out, &self.id);
        }
        out
    }

    /// The encoding every key of `namespace` starts with (and no key of
    /// another namespace does).
    pub fn namespace_prefix(namespace: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(namespace.len() + 2);
        write_component(&mut out, namespace.as_bytes());
        out
    }

    fn encoded_len_hint(&self) -> usize {
        self.namespace.len() + self.database.len() + self.table.len() + self.id.len() + 8
    }
}

/// The ring position of `key`'s partition under `level`: xxh3_64 of the
/// encoded partition key.
pub fn partition_token(key: &RecordKey, level: PartitionLevel) -> Token {
    Token(xxh3_64(&key.partition_key(level)))
}

fn write_component(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        out.push(byte);
        if byte == 0 {
            out.push(ESCAPED_ZERO);
        }
    }
    out.push(0);
    out.push(TERMINATOR);
}

fn read_component(bytes: &[u8], offset: &mut usize) -> Result<Vec<u8>, RingError> {
    let mut out = Vec::new();
    let mut at = *offset;
    loop {
        let Some(&byte) = bytes.get(at) else {
            return Err(RingError::KeyDecode {
                offset: at,
                reason: "key ends inside a component (missing terminator)",
            });
        };
        if byte != 0 {
            out.push(byte);
            at += 1;
            continue;
        }
        match bytes.get(at + 1) {
            Some(&ESCAPED_ZERO) => {
                out.push(0);
                at += 2;
            }
            Some(&TERMINATOR) => {
                *offset = at + 2;
                return Ok(out);
            }
            Some(_) => {
                return Err(RingError::KeyDecode {
                    offset: at + 1,
                    reason: "zero byte followed by neither 0xFF (escape) nor 0x01 (terminator)",
                })
            }
            None => {
                return Err(RingError::KeyDecode {
                    offset: at + 1,
                    reason: "key ends after a zero byte",
                })
            }
        }
    }
}

fn utf8(bytes: Vec<u8>, offset: usize) -> Result<String, RingError> {
    String::from_utf8(bytes).map_err(|_| RingError::KeyDecode {
        offset,
        reason: "namespace, database and table names must be UTF-8",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, db: &str, table: &str, id: &[u8]) -> RecordKey {
        RecordKey::new(ns, db, table, id.to_vec())
    }

    #[test]
    fn encode_decode_round_trips_with_zero_bytes() {
        let k = key("n\0s", "", "t", &[0, 0xFF, 0, 1, 0]);
        assert_eq!(RecordKey::decode(&k.encode()).unwrap(), k);
    }

    #[test]
    fn encoding_preserves_order() {
        let keys = [
            key("a", "", "", b""),
            key("a", "", "", b"\0"),
            key("a", "", "x", b""),
            key("a", "b", "", b""),
            key("a\0", "", "", b""),
            key("ab", "", "", b""),
        ];
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].encode() < pair[1].encode(), "{pair:?}");
        }
    }

    #[test]
    fn namespace_prefix_covers_its_namespace_only() {
        let prefix = RecordKey::namespace_prefix("a");
        assert!(key("a", "db", "t", b"x").encode().starts_with(&prefix));
        assert!(key("a", "", "", b"").encode().starts_with(&prefix));
        assert!(!key("a\0", "db", "t", b"x").encode().starts_with(&prefix));
        assert!(!key("ab", "db", "t", b"x").encode().starts_with(&prefix));
    }

    #[test]
    fn partition_keys_are_prefixes_of_the_encoding() {
        let k = key("ns", "db", "users", b"42");
        let full = k.encode();
        for level in [
            PartitionLevel::Database,
            PartitionLevel::Table,
            PartitionLevel::Record,
        ] {
            assert!(full.starts_with(&k.partition_key(level)));
        }
        assert_eq!(k.partition_key(PartitionLevel::Record), full);
        assert!(
            k.partition_key(PartitionLevel::Database).len()
                < k.partition_key(PartitionLevel::Table).len()
        );
    }

    #[test]
    fn partition_token_depends_only_on_the_level_prefix() {
        let a = key("ns", "db", "users", b"1");
        let b = key("ns", "db", "orders", b"2");
        let level = PartitionLevel::Database;
        assert_eq!(partition_token(&a, level), partition_token(&b, level));
        assert_ne!(
            partition_token(&a, PartitionLevel::Table),
            partition_token(&b, PartitionLevel::Table)
        );
        assert_eq!(
            partition_token(&a, PartitionLevel::Record),
            Token(xxh3_64(&a.encode()))
        );
    }

    #[test]
    fn decode_rejects_bad_bytes() {
        let good = key("a", "b", "c", b"d").encode();
        assert!(matches!(
            RecordKey::decode(&good[..good.len() - 1]),
            Err(RingError::KeyDecode { .. })
        ));
        let mut trailing = good.clone();
        trailing.push(7);
        assert!(matches!(
            RecordKey::decode(&trailing),
            Err(RingError::KeyDecode { reason, .. }) if reason.contains("trailing")
        ));
        assert!(RecordKey::decode(&[b'a', 0, 5]).is_err());
        let bad_utf8 = [0xC3, 0, 1, 0, 1, 0, 1, 0, 1];
        assert!(RecordKey::decode(&bad_utf8).is_err());
    }
}
