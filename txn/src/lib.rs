//! ZeroDB replication and transaction protocol: HLC versions, messages,
//! and the coordinator and replica state machines (DESIGN.md sections 5-7).
//!
//! Owns: the strong protocol (fetch-and-lock transactions, decision
//! registers, lock recovery, read-time repair, lost-state copy) and eventual
//! mode (sloppy quorum, hints, read repair). Does not own: membership
//! (gossip), placement (ring), local storage (storage), transport (node).
//!
//! Sans-IO: no clock, no sockets, no threads; time and randomness come in.
//!
//! # Driving a [`TxnNode`]
//! ```text
//! let view = View::new(ring, down_set, policies); // the membership, always known
//! let mut node = TxnNode::open(id, engine, seed, TxnOptions::default(), bootstrap, view)?;
//! actions = node.start(now_ms);                  // arms the first Tick
//! loop over inputs:
//!     actions += node.handle_message(now_ms, from, msg)      // decoded with codec::decode
//!     actions += node.handle_request(now_ms, client_id, req) // reply comes as Action::Reply
//!     actions += node.handle_timer(now_ms, Timer::Tick)      // when a SetTimer is due
//!     node.engine_mut().sync()?                  // once per batch, BEFORE releasing actions
//!     release actions: Send -> codec::encode + transport; Reply; SetTimer
//! ```
//! - `bootstrap = true` only for the first members of a new cluster. A node
//!   whose stored incarnation marker is missing or differs from the engine's
//!   comes up [`ReplicaStatus::Recovering`] and copies its ranges from peers
//!   before it votes.
//! - After a crash, open a new `TxnNode` over the same engine and call
//!   `start` again: locks are reloaded and their leases re-armed.
//! - `ClientId`s must be unique among a node's in-flight requests.
//! - [`TxnOptions`] holds the timeouts and the `unsafe_*` switches, which
//!   exist only so checkers can be validated on known-bad runs.
//! - [`testing::Cluster`] is a small deterministic harness showing all of
//!   the above; [`model`] checks the replica state machines exhaustively
//!   on small configurations.
//!
//! # Wire and storage formats
//! Every frame is one protocol version byte plus bincode ([`codec`]).
//! Durable protocol state lives in the engine's `Space::System` (see the
//! replica module): locks `L`, finished markers `F`, decision registers `D`,
//! hints `H`, remembered namespace policies `P`, incarnation marker `M`,
//! HLC floor `Mh`. Integers for `Incr` and `IntCompare` are 8-byte
//! big-endian ([`request::encode_int`]).
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
// `ClientError` is a wire type that carries the key and the value found;
// boxing it in every internal `Result` would buy nothing measurable.
#![allow(clippy::result_large_err)]

mod audit;
pub mod codec;
mod coordinator;
mod dispatch;
pub mod error;
pub mod hlc;
pub mod membership;
pub mod message;
pub mod model;
mod node;
mod options;
mod paxos;
pub mod quorum;
mod recovery;
mod replica;
pub mod types;

pub use zerodb_proto::request;
mod watermark;

pub mod testing;

pub use audit::Audit;
pub use coordinator::{CommitPaths, TXN_OPS_MAX};
pub use error::{ClientError, CodecError, Refusal};
pub use hlc::Hlc;
pub use membership::{Policies, View};
pub use message::Message;
pub use node::{Action, ReplicaStatus, Timer, TxnNode};
pub use options::TxnOptions;
pub use request::{
    ClientId, CompareOp, Condition, Level, Op, OpResult, RangeAssert, Request, Response,
    RANGE_ASSERT_RECORDS_MAX,
};
pub use types::{
    record, ver, version, versioned, Attempt, Ballot, Decision, Epoch, Key, KeyExt, PartitionId,
    TxnId, Ver, Versioned,
};
