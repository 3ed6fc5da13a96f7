//! Small protocol types shared by messages, the replica and the coordinator:
//! transaction ids, ballots, partitions, keys, versions on the wire.

use bincode::{Decode, Encode};
use zerodb_storage::Version;

use crate::membership::{NodeId, RecordKey};

/// A [`Version`] as it travels on the wire. `storage::Version` has no bincode
/// derive, so this newtype carries the manual encoding (three integers in
/// field order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ver(pub Version);

impl Ver {
    /// Below every real write.
    pub const ZERO: Ver = Ver(Version::ZERO);
}

impl From<Version> for Ver {
    fn from(v: Version) -> Ver {
        Ver(v)
    }
}

impl Encode for Ver {
    fn encode<En: bincode::enc::Encoder>(
        &self,
        encoder: &mut En,
    ) -> Result<(), bincode::error::EncodeError> {
        self.0.physical_ms.encode(encoder)?;
        self.0.logical.encode(encoder)?;
        self.0.node.encode(encoder)
    }
}

impl<C> Decode<C> for Ver {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        decoder: &mut D,
    ) -> Result<Ver, bincode::error::DecodeError> {
        Ok(Ver(Version {
            physical_ms: u64::decode(decoder)?,
            logical: u32::decode(decoder)?,
            node: u32::decode(decoder)?,
        }))
    }
}
bincode::impl_borrow_decode!(Ver);

/// A transaction's identity: its first HLC timestamp and its coordinator.
/// Retries keep the id (and therefore the age); a smaller id is older, and
/// wait-die lets only older transactions wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct TxnId {
    /// HLC timestamp of the first attempt.
    pub timestamp: Ver,
    /// The coordinating node's id.
    pub coordinator: u32,
}

impl TxnId {
    /// Encoded length of [`TxnId::to_bytes`].
    pub const ENCODED_LEN: usize = Version::ENCODED_LEN + 4;

    /// Order-preserving bytes, used inside system-space keys.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = self.timestamp.0.to_bytes().to_vec();
        out.extend_from_slice(&self.coordinator.to_be_bytes());
        out
    }
}

impl std::fmt::Display for TxnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.timestamp.0;
        write!(
            f,
            "txn({}.{}.{}@n{})",
            v.physical_ms, v.logical, v.node, self.coordinator
        )
    }
}

/// The try number of a transaction; locks and decision registers belong to
/// `(txn, attempt)`.
pub type Attempt = u32;

/// A Paxos ballot. Unique because it carries the proposer's node id; the
/// coordinator owns `(0, coordinator)` for each attempt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Ballot {
    /// Round number; recoveries use rounds above every round they saw.
    pub round: u64,
    /// The proposer.
    pub node: u32,
}

/// One partition: a namespace (whose policy gives RF and regions) and the
/// partition token. Its replica ring is `ring.replicas(token, rf, regions)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct PartitionId {
    /// The namespace the partition belongs to.
    pub namespace: String,
    /// The partition token.
    pub token: u64,
}

impl std::fmt::Display for PartitionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{:016x}", self.namespace, self.token)
    }
}

/// A record's address as clients give it: namespace, database, table, id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Key {
    /// The tenant.
    pub namespace: String,
    /// Database inside the namespace.
    pub database: String,
    /// Table inside the database.
    pub table: String,
    /// Record id.
    pub id: Vec<u8>,
}

impl Key {
    /// A key from its four parts.
    pub fn new(namespace: &str, database: &str, table: &str, id: impl Into<Vec<u8>>) -> Key {
        Key {
            namespace: namespace.to_string(),
            database: database.to_string(),
            table: table.to_string(),
            id: id.into(),
        }
    }

    /// The ring's view of this key.
    pub fn record_key(&self) -> RecordKey {
        RecordKey {
            namespace: self.namespace.clone(),
            database: self.database.clone(),
            table: self.table.clone(),
            id: self.id.clone(),
        }
    }

    /// The bytes the key is stored under in `Space::Data`.
    pub fn storage_key(&self) -> Vec<u8> {
        self.record_key().encode()
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.namespace,
            self.database,
            self.table,
            String::from_utf8_lossy(&self.id)
        )
    }
}

/// `(ring epoch, policy version)` carried by every strong message; a replica
/// refuses a mismatch so the coordinator refreshes its view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Epoch {
    /// Ring epoch.
    pub ring: u64,
    /// Namespace policy version.
    pub policy: u64,
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

/// A value with its version; `value: None` is a tombstone.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Versioned {
    /// Version of the write.
    pub version: Ver,
    /// The value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
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
