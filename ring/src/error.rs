//! The errors of the ring crate.

use crate::types::NodeId;

/// Everything that can go wrong in placement, key encoding, token allocation
/// and range diffs. Messages name the offending value and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// A replication factor of zero was asked for.
    #[error("replication factor 0: must be at least 1")]
    ZeroReplicationFactor,

    /// Fewer normal nodes than the replication factor in the allowed regions.
    #[error(
        "{scope} has {available} normal node(s) but replication factor {needed} needs {needed}: \
         add normal nodes there or lower the replication factor"
    )]
    NotEnoughNodes {
        /// Which nodes were eligible: `the cluster`, `region "eu"` or `regions ["eu", "us"]`.
        scope: String,
        /// How many distinct normal nodes the scope holds.
        available: usize,
        /// The replication factor asked for.
        needed: usize,
    },

    /// An encoded record key could not be decoded.
    #[error("cannot decode record key at byte {offset}: {reason}")]
    KeyDecode {
        /// Byte offset in the encoded key where decoding failed.
        offset: usize,
        /// What was wrong there.
        reason: &'static str,
    },

    /// Token allocation was asked for an unusable number of tokens.
    #[error("tokens = {count}: must be between 1 and {max}")]
    TokenCount {
        /// The number asked for.
        count: usize,
        /// The largest number allowed.
        max: usize,
    },

    /// The node asking for tokens already holds tokens in the view.
    #[error("node {node} already holds tokens on the ring; allocate tokens only for a new node")]
    AlreadyPlaced {
        /// The node.
        node: NodeId,
    },

    /// No range of the ring is wide enough to split further.
    #[error("the ring has no range wide enough to place another token; the ring is full")]
    RingFull,

    /// A range diff did not match the ownership it was applied to.
    #[error(
        "range diff does not fit this ownership: range {start:#x}..={end:#x} is held by \
         {found:?}, the diff expected {expected:?}; compute the diff from this ownership"
    )]
    DiffMismatch {
        /// First token of the mismatching range.
        start: u64,
        /// Last token of the mismatching range.
        end: u64,
        /// Replicas the ownership holds there.
        found: Vec<NodeId>,
        /// Replicas the diff expected there.
        expected: Vec<NodeId>,
    },
}
