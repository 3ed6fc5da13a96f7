//! What clients send a coordinator and what they get back.

use bincode::{Decode, Encode};

use crate::error::ClientError;
use crate::types::{Key, Ver, Versioned};

/// Identifies one in-flight client request at its coordinator. The driver
/// picks it (unique among the requests it has outstanding at this node) and
/// gets it back in `Action::Reply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct ClientId(pub u64);

/// How many replicas an eventual read or write waits for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub enum Level {
    /// One replica (the default).
    #[default]
    One,
    /// `floor(RF/2) + 1` replicas.
    Quorum,
    /// Every replica.
    All,
}

impl Level {
    /// The number of replies needed for replication factor `rf`.
    pub fn needed(self, rf: usize) -> usize {
        match self {
            Level::One => 1.min(rf),
            Level::Quorum => rf / 2 + 1,
            Level::All => rf,
        }
    }
}

/// Integer comparison of an `IntCompare` condition: `stored OP value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// Evaluates `left OP right`.
    pub fn holds(self, left: i64, right: i64) -> bool {
        match self {
            CompareOp::Eq => left == right,
            CompareOp::Ne => left != right,
            CompareOp::Lt => left < right,
            CompareOp::Le => left <= right,
            CompareOp::Gt => left > right,
            CompareOp::Ge => left >= right,
        }
    }
}

/// A condition an `Assert` checks; a failed one aborts the transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Condition {
    /// The key holds a live value.
    Exists,
    /// The key holds no live value.
    NotExists,
    /// The key's value equals these bytes.
    ValueEquals(Vec<u8>),
    /// The key's version equals this one (`Ver::ZERO` for never written).
    VersionEquals(Ver),
    /// The key's integer (see [`decode_int`]; absent is 0) compares so.
    IntCompare {
        /// The comparison.
        op: CompareOp,
        /// The right-hand side.
        value: i64,
    },
    /// The key holds a live value whose expiry time has passed on the clock
    /// of every replica whose read the transaction used (a quorum), so no
    /// single clock decides an expiry (DESIGN.md 6.3).
    Expired,
}

/// One operation of a transaction. Operations run in order and see the
/// transaction's own earlier writes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Op {
    /// Read the key.
    Get(Key),
    /// Write a value.
    Put(Key, Vec<u8>),
    /// Delete (write a tombstone).
    Delete(Key),
    /// Add to the key's integer (absent counts as 0); returns the new value.
    Incr(Key, i64),
    /// Check a condition; abort the transaction when it does not hold.
    Assert(Key, Condition),
    /// Check that a range of one table holds exactly the expected live
    /// records; abort the transaction when it does not. The range is
    /// share-locked until the transaction ends, so no key can be written
    /// into it meanwhile (no phantoms, DESIGN.md 6.1 step 1).
    AssertRange(RangeAssert),
    /// Write a value that expires `ttl_ms` after the commit (its commit
    /// version's physical time plus the TTL); 1 to [`TTL_MS_MAX`].
    PutTtl(Key, Vec<u8>, u64),
}

/// The longest TTL a write may carry: 100 years, in ms.
pub const TTL_MS_MAX: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Checks a TTL a request carries (see [`TTL_MS_MAX`]).
pub fn check_ttl(ttl_ms: u64) -> Result<(), String> {
    if ttl_ms == 0 {
        return Err("a TTL must be at least 1 ms".to_string());
    }
    if ttl_ms > TTL_MS_MAX {
        return Err(format!(
            "a TTL of {ttl_ms} ms is longer than the longest allowed, {TTL_MS_MAX} ms (100 years)"
        ));
    }
    Ok(())
}

/// The live records a range of one table must hold (see [`Op::AssertRange`]).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RangeAssert {
    /// The first key of the range (included); its namespace, database and
    /// table name the table.
    pub start: Key,
    /// The first record id after the range (excluded).
    pub end_id: Vec<u8>,
    /// Every live record the range holds: `(record id, version)`, ids
    /// strictly increasing. At most [`RANGE_ASSERT_RECORDS_MAX`].
    pub expect: Vec<(Vec<u8>, Ver)>,
}

/// Most records one [`Op::AssertRange`] may expect, and most records (live
/// or deleted) a replica reads for one locked range.
pub const RANGE_ASSERT_RECORDS_MAX: usize = 100_000;

impl RangeAssert {
    /// Whether record id `id` of the range's table lies in the range.
    pub fn contains_id(&self, id: &[u8]) -> bool {
        self.start.id.as_slice() <= id && id < self.end_id.as_slice()
    }

    /// The key of record `id` of the range's table.
    pub fn key_of(&self, id: &[u8]) -> Key {
        Key {
            namespace: self.start.namespace.clone(),
            database: self.start.database.clone(),
            table: self.start.table.clone(),
            id: id.to_vec(),
        }
    }

    /// The key just past the range.
    pub fn end_key(&self) -> Key {
        self.key_of(&self.end_id)
    }
}

impl Op {
    /// The key the operation touches (for a range, its first key).
    pub fn key(&self) -> &Key {
        match self {
            Op::Get(k)
            | Op::Put(k, _)
            | Op::PutTtl(k, _, _)
            | Op::Delete(k)
            | Op::Incr(k, _)
            | Op::Assert(k, _) => k,
            Op::AssertRange(range) => &range.start,
        }
    }

    /// Whether the operation writes its key.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Op::Put(..) | Op::PutTtl(..) | Op::Delete(_) | Op::Incr(..)
        )
    }
}

/// A client request.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Request {
    /// Single-key read: linearizable in strong namespaces (DESIGN 6.2),
    /// `level` replicas in eventual ones.
    Get {
        /// The key.
        key: Key,
        /// Eventual namespaces only.
        level: Level,
    },
    /// Single-key write (a one-operation transaction in strong namespaces).
    Put {
        /// The key.
        key: Key,
        /// The value.
        value: Vec<u8>,
        /// Eventual namespaces only.
        level: Level,
        /// Expire the record this many ms after the write (see
        /// [`Op::PutTtl`]); `None` keeps it until it is overwritten.
        ttl_ms: Option<u64>,
    },
    /// Single-key delete.
    Delete {
        /// The key.
        key: Key,
        /// Eventual namespaces only.
        level: Level,
    },
    /// A transaction; strong namespaces only, all keys in one consistency.
    Txn {
        /// The operations, in order.
        ops: Vec<Op>,
    },
}

/// The result of one transaction operation.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum OpResult {
    /// A `Get`: the live value, if any.
    Value(Option<Versioned>),
    /// An `Incr`: the new integer.
    Int(i64),
    /// A `Put` or `Delete`.
    Written,
    /// An `Assert` or `AssertRange` that held.
    Checked,
}

/// A coordinator's answer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Response {
    /// Answer to `Get`: the live value with its version, or `None`.
    Value(Option<Versioned>),
    /// Answer to `Put`/`Delete`: the version written.
    Written {
        /// The write's version.
        version: Ver,
    },
    /// Answer to a committed `Txn`.
    Committed {
        /// The commit version.
        version: Ver,
        /// One result per operation.
        results: Vec<OpResult>,
    },
    /// The request failed.
    Error(ClientError),
}

/// Integers are stored as 8 bytes, big-endian two's complement. `None` for
/// other lengths.
pub fn decode_int(bytes: &[u8]) -> Option<i64> {
    let arr: [u8; 8] = bytes.try_into().ok()?;
    Some(i64::from_be_bytes(arr))
}

/// The stored form of an integer (see [`decode_int`]).
pub fn encode_int(value: i64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_count_replies() {
        assert_eq!(Level::One.needed(3), 1);
        assert_eq!(Level::Quorum.needed(3), 2);
        assert_eq!(Level::Quorum.needed(5), 3);
        assert_eq!(Level::All.needed(3), 3);
    }

    #[test]
    fn ints_round_trip_and_reject_other_lengths() {
        assert_eq!(decode_int(&encode_int(-42)), Some(-42));
        assert_eq!(decode_int(b"abc"), None);
    }
}
