//! ZeroDB's transport (DESIGN.md section 10), used by nodes and clients.
//!
//! What it owns: one QUIC endpoint per node (quinn over tokio), mutual TLS
//! against the cluster CA ([`tls`], certificates in [`certs`]), one pooled
//! connection per peer
//! node, length-prefixed bincode frames ([`codec`]), and the channel of
//! [`Incoming`] events the node's event loop consumes. What it does not
//! own: deciding what to send or how to answer; that is the node state
//! machine's job.
//!
//! On one connection:
//!
//! - **one-way messages** ([`Transport::send`]) travel on a new
//!   unidirectional stream each, so a slow message never blocks another;
//! - **requests** ([`Transport::request`]) use a bidirectional stream: one
//!   request frame, one response frame (or an error frame);
//! - **datagrams** ([`Transport::send_datagram`]) carry gossip, prefixed
//!   with the protocol version byte, unreliable and unordered; keep them
//!   under [`Transport::max_datagram_size`].
//!
//! A bad frame (undecodable, oversized, other version) closes only its
//! stream: a request stream gets an error frame back, a message stream is
//! stopped with the matching [`ErrorCode`]. The connection and the node
//! keep running. Every event carries the peer's [`PeerIdentity`] from its
//! certificate; a node connection starts with a hello whose claimed node id
//! must match that certificate ([`handshake`]).
//!
//! Clients use [`rpc::RpcClient`] to reach a node with a client certificate.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod certs;
pub mod codec;
pub mod config;
pub mod error;
pub mod handshake;
pub mod rpc;
pub mod tls;

mod endpoint;
mod inbound;
mod pool;
mod streams;

pub use codec::{ErrorCode, ErrorFrame, Frame, FrameError, PROTOCOL_VERSION};
pub use config::TransportConfig;
pub use endpoint::Transport;
pub use error::TransportError;
pub use inbound::{Incoming, Responder};

pub use tls::{NodeId, PeerIdentity};

/// A type that can travel in a frame.
pub trait Wire: bincode::Encode + bincode::Decode<()> + Send + Sync + 'static {}

impl<T: bincode::Encode + bincode::Decode<()> + Send + Sync + 'static> Wire for T {}

/// The message types a transport carries; the node defines one
/// implementation naming its protocol's types.
pub trait Protocol: Send + Sync + 'static {
    /// One-way protocol messages between nodes.
    type Message: Wire;
    /// Requests (from clients or nodes) that expect one response.
    type Request: Wire;
    /// Responses to requests.
    type Response: Wire;
}
