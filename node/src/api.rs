//! What travels between nodes around the transaction protocol. What clients send and get back is
//! `zerodb_proto::api`, re-exported here.
//!
//! Nodes exchange [`NodeMessage`]s: the transaction protocol's messages and
//! a [`NodeMessage::Hello`] each node sends its peers when it starts, so that
//! a peer holding a stale connection to the previous process replaces it at
//! once instead of waiting for the idle timeout.

use bincode::{Decode, Encode};
use zerodb_txn::Message;

pub use zerodb_proto::api::*;
pub use zerodb_proto::ServiceError;

/// A one-way message between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum NodeMessage {
    /// A transaction protocol message (boxed: it is far larger than the
    /// other variant).
    Txn(Box<Message>),
    /// Sent to every peer when a node process starts; `boot` differs on
    /// every start of the process.
    Hello {
        /// A number unique to this start of the process.
        boot: u64,
    },
}
