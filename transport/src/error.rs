//! The transport's error type.

use std::net::SocketAddr;
use std::time::Duration;

use crate::codec::{ErrorFrame, FrameError};
use crate::tls::{IdentityError, NodeId, TlsError};

/// Why a transport operation failed. None of these stop the node: they
/// concern one peer, one connection or one stream.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// TLS credentials or configuration are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The UDP socket could not be bound.
    #[error("cannot bind QUIC endpoint to {addr}: {source}; pick a free address or port")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No address is known for the node.
    #[error("no address known for node {0}; add it with Transport::add_peer")]
    UnknownPeer(NodeId),
    /// Dialing failed (unreachable, TLS refused, wrong certificate, ALPN).
    #[error("cannot connect to {peer} at {addr}: {reason}")]
    Connect {
        /// Who we dialed.
        peer: String,
        /// Where.
        addr: SocketAddr,
        /// Why it failed.
        reason: String,
    },
    /// The peer's certificate does not name the identity we expected.
    #[error(
        "peer at {addr} presented a certificate for {found}, expected {expected}; refusing it"
    )]
    WrongPeer {
        /// Where we dialed.
        addr: SocketAddr,
        /// The identity we dialed.
        expected: String,
        /// The identity its certificate names.
        found: String,
    },
    /// The peer's identity is unusable or inconsistent with its claim.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The connection broke or was closed.
    #[error("connection to {peer} lost: {source}")]
    Connection {
        /// The peer.
        peer: String,
        /// Why.
        source: quinn::ConnectionError,
    },
    /// Writing to or reading from a stream failed.
    #[error("stream to {peer} failed: {reason}")]
    Stream {
        /// The peer.
        peer: String,
        /// What failed.
        reason: String,
    },
    /// A frame could not be encoded or decoded.
    #[error("frame from or to {peer}: {source}")]
    Frame {
        /// The peer.
        peer: String,
        /// What was wrong with the frame.
        source: FrameError,
    },
    /// The peer answered with an error frame.
    #[error("{peer} refused the frame ({:?}): {}", .error.code, .error.message)]
    Remote {
        /// The peer.
        peer: String,
        /// What it said.
        error: ErrorFrame,
    },
    /// The peer closed the request stream without a response.
    #[error("{peer} closed the request without a response")]
    NoResponse {
        /// The peer.
        peer: String,
    },
    /// An operation took too long.
    #[error("{what} with {peer} timed out after {after:?}")]
    Timeout {
        /// What was being done.
        what: &'static str,
        /// The peer.
        peer: String,
        /// The limit.
        after: Duration,
    },
    /// A datagram is larger than the connection can carry.
    #[error("datagram of {bytes} bytes exceeds the {max}-byte limit of the connection to {peer}; keep gossip packets under Transport::max_datagram_size")]
    DatagramTooLarge {
        /// The peer.
        peer: String,
        /// Payload size.
        bytes: usize,
        /// What fits.
        max: usize,
    },
    /// The peer does not accept datagrams.
    #[error("{peer} does not accept QUIC datagrams")]
    DatagramsUnsupported {
        /// The peer.
        peer: String,
    },
    /// The transport was closed.
    #[error("transport is closed")]
    Closed,
}
