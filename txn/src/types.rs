//! Small protocol types shared by messages, the replica and the coordinator:
//! transaction ids, ballots, partitions, keys, versions on the wire.

use bincode::{Decode, Encode};
use zerodb_storage::{Record, Version};

use crate::membership::{NodeId, RecordKey};

pub use zerodb_proto::types::{Epoch, Key, PartitionId, TxnId, Ver, Versioned};

/// The wire form of a storage version (the same three fields).
pub fn ver(version: Version) -> Ver {
    Ver {
        physical_ms: version.physical_ms,
        logical: version.logical,
        node: version.node,
    }
}

/// The storage form of a wire version (the same three fields).
pub fn version(ver: Ver) -> Version {
    Version {
        physical_ms: ver.physical_ms,
        logical: ver.logical,
        node: ver.node,
    }
}

/// The wire form of a stored record.
pub fn versioned(record: Record) -> Versioned {
    Versioned {
        version: ver(record.version),
        value: record.value,
        expires_at_ms: record.expires_at_ms,
    }
}

/// The storage form of a wire record.
pub fn record(versioned: &Versioned) -> Record {
    Record {
        version: version(versioned.version),
        value: versioned.value.clone(),
        expires_at_ms: versioned.expires_at_ms,
    }
}

/// The try number of a transaction; locks and decision registers belong to
/// `(txn, attempt)`.
pub type Attempt = u32;

/// A Paxos ballot. Unique because it carries the proposer's node id and
/// life; the coordinator owns `(0, coordinator, 0)` for each attempt (an
/// attempt never outlives its coordinator's life).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Ballot {
    /// Round number; recoveries use rounds above every round they saw.
    pub round: u64,
    /// The proposer.
    pub node: u32,
    /// The proposer's life (`TxnNode::life_id`): a node that restarts,
    /// with or without its disk, forgets the rounds it used, and must not
    /// propose another value with a ballot an earlier life used (review
    /// of issue 14's ring-of-two fence: a restarted recovery re-used
    /// `(1, N)`, and two values at one ballot let a later recovery adopt
    /// the wrong one). Zero for the coordinator's ballot 0.
    pub life: u64,
}

/// Where a client's [`Key`] lives: the ring's view of it and the bytes it
/// is stored under. (`Key` is a wire type of `zerodb_proto`, which knows
/// nothing of the ring or the engine.)
pub trait KeyExt {
    /// The ring's view of this key.
    fn record_key(&self) -> RecordKey;
    /// The bytes the key is stored under in `Space::Data`.
    fn storage_key(&self) -> Vec<u8>;
}

impl KeyExt for Key {
    fn record_key(&self) -> RecordKey {
        RecordKey {
            namespace: self.namespace.clone(),
            database: self.database.clone(),
            table: self.table.clone(),
            id: self.id.clone(),
        }
    }

    fn storage_key(&self) -> Vec<u8> {
        self.record_key().encode()
    }
}

/// A lock mode: shared for reads, exclusive for writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum LockMode {
    /// Readers share.
    Shared,
    /// One writer, no readers.
    Exclusive,
}

impl LockMode {
    /// Whether two holders in these modes conflict.
    pub fn conflicts(self, other: LockMode) -> bool {
        self == LockMode::Exclusive || other == LockMode::Exclusive
    }
}

/// One write of a committed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Write {
    /// The partition of the key.
    pub partition: PartitionId,
    /// The storage key (`Key::storage_key`).
    pub key: Vec<u8>,
    /// New value, or `None` to delete (tombstone).
    pub value: Option<Vec<u8>>,
    /// When the value expires (ms since the Unix epoch), for a write with a
    /// TTL.
    pub expires_at_ms: Option<u64>,
}

/// The value of a decision register.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Decision {
    /// The attempt committed: its writes at `version`.
    Committed {
        /// Commit version, above every version the transaction read.
        version: Ver,
        /// Every write of the transaction.
        writes: Vec<Write>,
        /// Every partition the attempt locked, read-only ones included.
        participants: Vec<PartitionId>,
    },
    /// The attempt aborted: release its locks.
    Aborted,
}

impl Write {
    /// The record this write leaves when it commits at `version`.
    pub fn at(&self, version: Ver) -> Versioned {
        Versioned {
            version,
            value: self.value.clone(),
            expires_at_ms: self.expires_at_ms,
        }
    }
}

impl Decision {
    /// Whether the decision is a commit.
    pub fn is_committed(&self) -> bool {
        matches!(self, Decision::Committed { .. })
    }
}

/// A node id as carried on the wire (the ring's `NodeId` has no bincode
/// derive).
pub fn wire_node(node: NodeId) -> u32 {
    node.0
}
