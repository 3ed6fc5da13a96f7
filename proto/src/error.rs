//! Errors a client can act on: a failed data request ([`ClientError`]), a
//! node-level failure ([`ServiceError`]), and frame decoding
//! ([`CodecError`]).

use bincode::{Decode, Encode};

use crate::request::Condition;
use crate::types::{Epoch, Key, PartitionId, TxnId, Ver, Versioned};

/// A failed client request, with what the client can do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Encode, Decode)]
pub enum ClientError {
    /// Another transaction held a lock after every retry; retry later.
    #[error("conflict on {key}: held by {holder}; retry later")]
    Conflict {
        /// The contended key.
        key: Key,
        /// The transaction holding it.
        holder: TxnId,
    },
    /// An `Assert` did not hold; the transaction aborted and wrote nothing.
    #[error("condition {condition:?} on {key} failed: found {found:?}")]
    ConditionFailed {
        /// The key checked.
        key: Key,
        /// The condition.
        condition: Condition,
        /// The value found (`None`: absent or deleted).
        found: Option<Versioned>,
    },
    /// An `AssertRange` did not hold: a record of the range is not the one
    /// expected (inserted, deleted or updated since it was read); the
    /// transaction aborted and wrote nothing.
    #[error("range assert failed at {key}: expected version {expected:?}, found {found:?} (none: absent or deleted)")]
    RangeChanged {
        /// The first record of the range, in key order, that differs.
        key: Key,
        /// The version expected (`Ver::ZERO`: absent).
        expected: Ver,
        /// The live version found (`None`: absent or deleted).
        found: Option<Ver>,
    },
    /// Too few replicas of a partition are reachable for a quorum.
    #[error("partition {partition} unavailable: replicas {missing:?} unreachable, need {needed} of {replicas}")]
    Unavailable {
        /// The partition.
        partition: PartitionId,
        /// Node ids of the replicas that are down or did not answer.
        missing: Vec<u32>,
        /// Replies needed.
        needed: usize,
        /// Replica count.
        replicas: usize,
    },
    /// No answer in time. `outcome_unknown`: a commit may have happened
    /// (read the data before retrying a non-idempotent write).
    #[error("timed out (outcome unknown: {outcome_unknown}); retry, reading first if the outcome is unknown")]
    Timeout {
        /// Whether the write may have committed.
        outcome_unknown: bool,
    },
    /// The coordinator and a replica disagree on the ring epoch or policy
    /// version; refresh membership and retry.
    #[error("epoch mismatch: coordinator has {coordinator:?}, replica has {replica:?}; refresh membership and retry")]
    WrongEpoch {
        /// The coordinator's view.
        coordinator: Epoch,
        /// The replica's view.
        replica: Epoch,
    },
    /// The request is malformed or not allowed; fix it.
    #[error("bad request: {reason}")]
    BadRequest {
        /// What is wrong.
        reason: String,
    },
}

/// A frame that could not be decoded or encoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The frame had no bytes.
    #[error("empty frame: expected a protocol version byte")]
    Empty,
    /// The frame's protocol version is not the one this node speaks.
    #[error("protocol version {found} not supported: this node speaks {expected}; upgrade the older side")]
    UnsupportedVersion {
        /// The byte found.
        found: u8,
        /// The version expected.
        expected: u8,
    },
    /// The frame exceeds the size limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Frame length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body did not decode.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The body decoded but bytes were left over.
    #[error("frame has {0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The value could not be encoded.
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// A node-level failure (data operations report theirs inside
/// [`crate::Response::Error`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Encode, Decode)]
pub enum ServiceError {
    /// The node is shutting down; the request was not applied if it had
    /// not been started, otherwise its outcome is unknown.
    #[error("node is shutting down (outcome unknown: {outcome_unknown}); retry on another node")]
    ShuttingDown {
        /// Whether the request may have been applied.
        outcome_unknown: bool,
    },
    /// The node cannot do this (bad arguments, unsupported engine, ...).
    #[error("refused: {reason}")]
    Refused {
        /// Why.
        reason: String,
    },
    /// Too few nodes answered a scan for it to be complete.
    #[error("scan incomplete: {answered} of {members} nodes answered, need {needed}; retry")]
    ScanIncomplete {
        /// Nodes that answered.
        answered: u32,
        /// Nodes needed.
        needed: u32,
        /// Members.
        members: u32,
    },
    /// The storage engine failed.
    #[error("storage error: {0}")]
    Storage(String),
}
