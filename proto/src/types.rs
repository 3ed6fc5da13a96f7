//! The small values every request and answer is built from: versions,
//! keys, transaction ids, partitions, epochs, versioned values.

use bincode::{Decode, Encode};

/// A hybrid logical clock timestamp as it travels on the wire:
/// `(physical ms, logical counter, node id)`, totally ordered by those three
/// fields in that order (DESIGN.md section 5). The storage engine has the
/// same triple as `zerodb_storage::Version`; `zerodb_txn` converts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Ver {
    /// Milliseconds of the writer's physical clock.
    pub physical_ms: u64,
    /// Logical counter that orders events within one millisecond.
    pub logical: u32,
    /// The node that issued the timestamp; breaks the last tie.
    pub node: u32,
}

impl Ver {
    /// Below every real write.
    pub const ZERO: Ver = Ver {
        physical_ms: 0,
        logical: 0,
        node: 0,
    };

    /// Encoded size of [`Ver::to_bytes`].
    pub const ENCODED_LEN: usize = 16;

    /// Big-endian encoding, so that byte order equals version order.
    pub fn to_bytes(self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.physical_ms.to_be_bytes());
        out[8..12].copy_from_slice(&self.logical.to_be_bytes());
        out[12..].copy_from_slice(&self.node.to_be_bytes());
        out
    }

    /// The inverse of [`Ver::to_bytes`]; `None` unless `bytes` is exactly
    /// [`Ver::ENCODED_LEN`] long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Ver> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        let (physical, rest) = bytes.split_at(8);
        let (logical, node) = rest.split_at(4);
        Some(Ver {
            physical_ms: u64::from_be_bytes(physical.try_into().ok()?),
            logical: u32::from_be_bytes(logical.try_into().ok()?),
            node: u32::from_be_bytes(node.try_into().ok()?),
        })
    }
}

impl std::fmt::Display for Ver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.physical_ms, self.logical, self.node)
    }
}

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
    pub const ENCODED_LEN: usize = Ver::ENCODED_LEN + 4;

    /// Order-preserving bytes, used inside system-space keys.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = self.timestamp.to_bytes().to_vec();
        out.extend_from_slice(&self.coordinator.to_be_bytes());
        out
    }

    /// The inverse of [`TxnId::to_bytes`]; `None` unless `bytes` is
    /// exactly [`TxnId::ENCODED_LEN`] long.
    pub fn from_bytes(bytes: &[u8]) -> Option<TxnId> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let (timestamp, coordinator) = bytes.split_at(Ver::ENCODED_LEN);
        Some(TxnId {
            timestamp: Ver::from_bytes(timestamp)?,
            coordinator: u32::from_be_bytes(coordinator.try_into().ok()?),
        })
    }
}

impl std::fmt::Display for TxnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.timestamp;
        write!(
            f,
            "txn({}.{}.{}@n{})",
            v.physical_ms, v.logical, v.node, self.coordinator
        )
    }
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

/// A value with its version; `value: None` is a tombstone.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Versioned {
    /// Version of the write.
    pub version: Ver,
    /// The value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// When the record expires, in ms since the Unix epoch (set by a write
    /// with a TTL: its commit version's physical time plus the TTL).
    /// Eventual reads treat an expired record as absent; strong reads see
    /// it until the conditional delete that expires it commits (DESIGN.md
    /// 6.3).
    pub expires_at_ms: Option<u64>,
}

impl Versioned {
    /// A record that never expires.
    pub fn new(version: Ver, value: Option<Vec<u8>>) -> Versioned {
        Versioned {
            version,
            value,
            expires_at_ms: None,
        }
    }

    /// Whether the record has expired at `now_ms`.
    pub fn expired_at(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_bytes_order_like_versions() {
        let a = Ver {
            physical_ms: 5,
            logical: u32::MAX,
            node: 9,
        };
        let b = Ver {
            physical_ms: 6,
            logical: 0,
            node: 1,
        };
        assert!(a < b);
        assert!(a.to_bytes() < b.to_bytes());
        assert!(Ver::ZERO < a);
    }

    #[test]
    fn txn_ids_order_by_timestamp_then_coordinator() {
        let t = |ms, c| TxnId {
            timestamp: Ver {
                physical_ms: ms,
                logical: 0,
                node: c,
            },
            coordinator: c,
        };
        assert!(t(1, 9) < t(2, 1));
        assert!(t(1, 1).to_bytes() < t(1, 2).to_bytes());
        assert_eq!(t(1, 1).to_bytes().len(), TxnId::ENCODED_LEN);
    }

    #[test]
    fn txn_id_bytes_decode_back_and_wrong_lengths_are_refused() {
        let id = TxnId {
            timestamp: Ver {
                physical_ms: 1_700_000_000_123,
                logical: 7,
                node: 3,
            },
            coordinator: 4,
        };
        let bytes = id.to_bytes();
        assert_eq!(TxnId::from_bytes(&bytes), Some(id));
        assert_eq!(TxnId::from_bytes(&bytes[1..]), None);
        assert_eq!(
            Ver::from_bytes(&bytes[..Ver::ENCODED_LEN]),
            Some(id.timestamp)
        );
        assert_eq!(Ver::from_bytes(&bytes), None);
    }
}
