//! ZeroDB cluster ring: tokens, placement, replica rings, partitioning and
//! range diffs (DESIGN.md section 3).
//!
//! Pure and deterministic: the ring is a function of the membership view.
//! Owns: where data lives. Does not own: membership itself (gossip), moving
//! data (node), or the meaning of a key's value (txn, storage).
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod allocate;
mod diff;
mod error;
mod key;
mod placement;
mod ring;
mod types;

pub use allocate::{allocate_tokens, TokenAllocator, TOKENS_PER_NODE_MAX};
pub use diff::{Ownership, RangeDiff, RangeMove, TokenRange};
pub use error::RingError;
pub use key::{partition_token, RecordKey};
pub use placement::PRECOMPUTED_REPLICAS_MAX;
pub use ring::Ring;
pub use types::{Member, NodeId, NodeStatus, Token};
pub use zerodb_config::{Consistency, NamespacePolicy, PartitionLevel};
