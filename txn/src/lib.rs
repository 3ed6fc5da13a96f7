//! ZeroDB replication and transaction protocol: HLC versions, messages,
//! and the coordinator and replica state machines (DESIGN.md sections 5-7).
//!
//! Owns: the strong protocol (fetch-and-lock transactions, decision
//! registers, recovery, read-time repair, lost-state copy) and eventual
//! mode (sloppy quorum, hints, read repair). Does not own: membership
//! (gossip), placement (ring), local storage (storage), transport (node).
//!
//! Sans-IO: no clock, no sockets, no threads; time and randomness come in.
//! The entry point is [`TxnNode`].
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
// `ClientError` is a wire type that carries the key and the value found;
// boxing it in every internal `Result` would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod codec;
mod coordinator;
pub mod error;
pub mod hlc;
pub mod membership;
pub mod message;
mod node;
mod options;
mod paxos;
mod recovery;
mod replica;
pub mod request;
pub mod types;

pub mod testing;

pub use coordinator::TXN_OPS_MAX;
pub use error::{ClientError, CodecError, Refusal};
pub use hlc::Hlc;
pub use membership::{Policies, View};
pub use message::Message;
pub use node::{Action, ReplicaStatus, Timer, TxnNode};
pub use options::TxnOptions;
pub use request::{ClientId, CompareOp, Condition, Level, Op, OpResult, Request, Response};
pub use types::{Attempt, Ballot, Decision, Epoch, Key, PartitionId, TxnId, Ver, Versioned};
