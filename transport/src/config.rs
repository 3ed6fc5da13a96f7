//! Limits and timeouts of the transport; every one is a named field with
//! its unit last, and `Default` gives values fit for a LAN cluster.

use std::sync::Arc;
use std::time::Duration;

use crate::codec::FRAME_BODY_BYTES_MAX_DEFAULT;

/// Transport settings shared by nodes and clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// Largest frame body sent or accepted; larger frames are refused with
    /// an error frame and the stream is stopped.
    pub max_frame_bytes: u32,
    /// How long dialing a peer (QUIC and TLS handshake plus hello) may take.
    pub connect_timeout: Duration,
    /// How long a request waits for its response.
    pub request_timeout: Duration,
    /// How long an accepted node connection may take to send its hello.
    pub hello_timeout: Duration,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Keep-alive packets keep idle connections open and notice dead peers.
    pub keep_alive_interval: Duration,
    /// Capacity of the incoming event channel; when full, reading from
    /// peers pauses (QUIC flow control pushes back on them).
    pub incoming_queue_len: usize,
    /// Bytes of received datagrams buffered before new ones are dropped.
    pub datagram_receive_buffer_bytes: usize,
    /// Streams of each direction a peer may have open at once.
    pub max_concurrent_streams: u32,
    /// How long `close` waits for connections to finish closing.
    pub close_timeout: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_frame_bytes: FRAME_BODY_BYTES_MAX_DEFAULT,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            hello_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            keep_alive_interval: Duration::from_secs(5),
            incoming_queue_len: 1024,
            datagram_receive_buffer_bytes: 1024 * 1024,
            max_concurrent_streams: 256,
            close_timeout: Duration::from_secs(2),
        }
    }
}

impl TransportConfig {
    /// The quinn transport parameters for these settings.
    pub(crate) fn quinn(&self) -> Arc<quinn::TransportConfig> {
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(quinn::IdleTimeout::try_from(self.idle_timeout).ok())
            .keep_alive_interval(Some(self.keep_alive_interval))
            .datagram_receive_buffer_size(Some(self.datagram_receive_buffer_bytes))
            .max_concurrent_bidi_streams(self.max_concurrent_streams.into())
            .max_concurrent_uni_streams(self.max_concurrent_streams.into());
        Arc::new(transport)
    }
}
