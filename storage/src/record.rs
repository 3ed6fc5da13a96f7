//! The unit the engine stores: a versioned value or tombstone with an
//! optional expiry.

/// Which keyspace a key lives in. `System` is reserved for the transaction
/// layer's durable locks, decision records and hints; it is never visible to
/// user reads or scans of `Data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// User records.
    Data,
    /// Locks, decision records, hints and other protocol state.
    System,
}

impl Space {
    /// The one-byte tag engines put in front of a key to keep the spaces
    /// apart in a single ordered keyspace.
    pub fn tag(self) -> u8 {
        match self {
            Space::Data => b'd',
            Space::System => b's',
        }
    }

    /// The space for a tag byte, if it names one.
    pub fn from_tag(tag: u8) -> Option<Space> {
        match tag {
            b'd' => Some(Space::Data),
            b's' => Some(Space::System),
            _ => None,
        }
    }
}

/// A hybrid logical clock timestamp: `(physical ms, logical counter, node id)`.
/// Versions are totally ordered by those three fields in that order
/// (DESIGN.md section 5). `Version::ZERO` is below every real write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Milliseconds of the writer's physical clock.
    pub physical_ms: u64,
    /// Logical counter that orders events within one millisecond.
    pub logical: u32,
    /// The node that issued the timestamp; breaks the last tie.
    pub node: u32,
}

impl Version {
    /// Below every real write.
    pub const ZERO: Version = Version {
        physical_ms: 0,
        logical: 0,
        node: 0,
    };

    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 16;

    /// Big-endian encoding, so that byte order equals version order.
    pub fn to_bytes(self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.physical_ms.to_be_bytes());
        out[8..12].copy_from_slice(&self.logical.to_be_bytes());
        out[12..].copy_from_slice(&self.node.to_be_bytes());
        out
    }

    /// Inverse of [`Version::to_bytes`].
    pub fn from_bytes(bytes: [u8; Self::ENCODED_LEN]) -> Version {
        let mut physical = [0u8; 8];
        physical.copy_from_slice(&bytes[..8]);
        let mut logical = [0u8; 4];
        logical.copy_from_slice(&bytes[8..12]);
        let mut node = [0u8; 4];
        node.copy_from_slice(&bytes[12..]);
        Version {
            physical_ms: u64::from_be_bytes(physical),
            logical: u32::from_be_bytes(logical),
            node: u32::from_be_bytes(node),
        }
    }
}

/// One stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The version of the write that produced this record.
    pub version: Version,
    /// The value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Milliseconds (on the clock the caller passes as `now_ms`) after which
    /// the record is invisible to reads; `None` never expires.
    pub expires_at_ms: Option<u64>,
}

impl Record {
    /// A live value with no expiry.
    pub fn value(version: Version, value: impl Into<Vec<u8>>) -> Record {
        Record {
            version,
            value: Some(value.into()),
            expires_at_ms: None,
        }
    }

    /// A tombstone.
    pub fn tombstone(version: Version) -> Record {
        Record {
            version,
            value: None,
            expires_at_ms: None,
        }
    }

    /// Whether this record is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    /// Whether the record has expired at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }
}

/// Identifies one life of an engine's storage. A new, repaired-with-losses or
/// tail-cut store gets a new incarnation, which tells the transaction layer
/// that this replica may have forgotten locks and votes (DESIGN.md 6.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Incarnation(pub u64);
