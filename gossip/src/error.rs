//! The gossip crate's error type.

use std::net::SocketAddr;

use thiserror::Error;
use zerodb_ring::NodeId;

/// Everything that can go wrong inside the gossip state machine.
///
/// Bad input from the network is an ordinary error (the datagram is dropped
/// and the node keeps running); nothing here is a reason to stop the node.
#[derive(Debug, Error)]
pub enum GossipError {
    /// A datagram was shorter than the two-byte frame header.
    #[error("gossip datagram from {from} is {len} bytes long, shorter than the 2-byte frame header; dropped")]
    Truncated {
        /// Transport address the datagram came from.
        from: SocketAddr,
        /// Its length in bytes.
        len: usize,
    },
    /// A datagram exceeded the configured datagram limit.
    #[error("gossip datagram from {from} is {len} bytes, above the datagram limit of {limit} bytes; dropped (check datagram_limit_bytes on both sides)")]
    TooLarge {
        /// Transport address the datagram came from.
        from: SocketAddr,
        /// Its length in bytes.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The frame carried a protocol version this node does not speak.
    #[error("gossip datagram from {from} has protocol version {version}, this node speaks {expected}; upgrade the older node")]
    ProtocolVersion {
        /// Transport address the datagram came from.
        from: SocketAddr,
        /// Version byte found.
        version: u8,
        /// Version byte this build speaks.
        expected: u8,
    },
    /// The frame kind byte is unknown.
    #[error("gossip datagram from {from} has unknown frame kind {kind}; dropped")]
    UnknownFrameKind {
        /// Transport address the datagram came from.
        from: SocketAddr,
        /// Kind byte found.
        kind: u8,
    },
    /// The payload did not decode.
    #[error("gossip payload could not be decoded: {reason}")]
    Decode {
        /// What the decoder said.
        reason: String,
    },
    /// A value could not be encoded (a bug or an oversized value).
    #[error("gossip value could not be encoded: {reason}")]
    Encode {
        /// What the encoder said.
        reason: String,
    },
    /// foca rejected an input or failed while handling it.
    #[error("SWIM layer (foca) error: {0}")]
    Swim(#[from] foca::Error),
    /// The local metadata does not fit into one gossip broadcast.
    #[error("metadata of {node} encodes to {len} bytes, above the {limit}-byte broadcast budget; use fewer tokens or raise datagram_limit_bytes")]
    MetadataTooLarge {
        /// The local node.
        node: NodeId,
        /// Encoded size.
        len: usize,
        /// Budget derived from the datagram limit.
        limit: usize,
    },
    /// A configuration value is out of range.
    #[error("gossip setting {key} = {value} is invalid: {expected}")]
    Config {
        /// Setting name.
        key: &'static str,
        /// Offending value, rendered.
        value: String,
        /// What is expected instead.
        expected: &'static str,
    },
    /// The node has left the cluster; it must be recreated to join again.
    #[error("this gossip instance has left the cluster; create a new one (with a higher generation) to rejoin")]
    Left,
}

/// Shorthand for results of this crate.
pub type GossipResult<T> = Result<T, GossipError>;
