//! ZeroDB cluster ring: tokens, placement, replica rings, partitioning and
//! range diffs (DESIGN.md section 3).
//!
//! Pure and deterministic: the ring is a function of the membership view.
//!
//! - [`Ring`]: built from [`Member`]s; a node token `t` owns `(previous, t]`;
//!   only normal members own data. [`Ring::replicas`] gives the replica ring
//!   (zones preferred, regions pinned), [`Ring::replicas_ref`] the same for
//!   all regions without allocating, [`Ring::failover`] the walk past it.
//! - [`RecordKey`]: the order-preserving storage key; [`partition_token`].
//! - [`TokenAllocator`] / [`allocate_tokens`]: balanced tokens for new nodes.
//! - [`Ownership`] / [`RangeDiff`]: which ranges move between two rings.
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
