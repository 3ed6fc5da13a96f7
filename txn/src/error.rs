//! Why a replica refused a request ([`Refusal`]). What a client can act on
//! ([`ClientError`]) and frame errors ([`CodecError`]) are wire types of
//! `zerodb_proto`, re-exported here.

use bincode::{Decode, Encode};

pub use zerodb_proto::{ClientError, CodecError};

use crate::types::{Epoch, Ver};

/// Why a replica refused a strong request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Encode, Decode)]
pub enum Refusal {
    /// Epoch mismatch; the sender must refresh.
    #[error("wrong epoch: replica has {replica:?}")]
    WrongEpoch {
        /// The replica's view.
        replica: Epoch,
    },
    /// The attempt was already released or decided (late duplicate).
    #[error("attempt already released or decided")]
    Finished,
    /// The replica lost its state and is copying it back; it casts no vote.
    #[error("replica is recovering lost state")]
    Recovering,
    /// The replica's storage failed.
    #[error("replica storage error: {0}")]
    Storage(String),
    /// The replica does not replicate the key's partition in its view.
    #[error("replica does not own the partition")]
    NotOwner,
    /// The transaction is older than the low the replica reported (see
    /// `crate::watermark`); the coordinator starts over under a fresh id.
    #[error("transaction older than the replica's reported low {low:?}")]
    TooOld {
        /// The replica's bound.
        low: Ver,
    },
    /// A range to lock holds more records (deleted ones included) than a
    /// replica reads for one range.
    #[error("a locked range holds more than {records_max} records")]
    RangeTooLarge {
        /// The most records a replica reads for one range.
        records_max: u64,
    },
    /// A blind transaction's commit version is not above the version a
    /// replica stores for one of its keys (DESIGN.md 6.1 I8): the attempt
    /// is refused for good and the transaction retries above `stored`.
    #[error("commit version not above the stored version {stored:?}")]
    StaleVersion {
        /// The highest stored version among the transaction's keys.
        stored: Ver,
    },
    /// The transaction is below the released watermark (see
    /// `crate::watermark`): it is over everywhere and its decision record
    /// may be deleted, so nothing about it is answered (neither "never
    /// accepted" nor a vote). A reader that met its lock reads again.
    #[error("transaction is below the released watermark {released:?}: it is over everywhere and its decision is forgotten; read again")]
    Forgotten {
        /// The replica's released watermark.
        released: Ver,
    },
}
