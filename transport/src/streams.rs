//! Frame exchanges over the streams of one QUIC connection, shared by the
//! node transport and the client RPC helper.

use std::time::Duration;

use bincode::{Decode, Encode};

use crate::codec::{encode_frame, read_frame, write_frame, Frame, FrameError};
use crate::error::TransportError;

fn connection_lost(peer: &str, source: quinn::ConnectionError) -> TransportError {
    TransportError::Connection {
        peer: peer.to_string(),
        source,
    }
}

fn write_failed(peer: &str, error: quinn::WriteError) -> TransportError {
    match error {
        quinn::WriteError::ConnectionLost(source) => connection_lost(peer, source),
        other => TransportError::Stream {
            peer: peer.to_string(),
            reason: other.to_string(),
        },
    }
}

fn frame_failed(peer: &str, source: FrameError) -> TransportError {
    match source {
        FrameError::Io(error) => TransportError::Stream {
            peer: peer.to_string(),
            reason: error.to_string(),
        },
        source => TransportError::Frame {
            peer: peer.to_string(),
            source,
        },
    }
}

/// When a stream operation fails because the whole connection closed (for
/// example the node refused our certificate after the handshake), report the
/// connection's close reason, which says why, rather than the stream error.
fn prefer_close_reason(
    connection: &quinn::Connection,
    peer: &str,
    error: TransportError,
) -> TransportError {
    match (connection.close_reason(), &error) {
        (_, TransportError::Connection { .. } | TransportError::Remote { .. }) => error,
        (Some(source), _) => connection_lost(peer, source),
        (None, _) => error,
    }
}

/// Encodes a message frame once, so that a retry does not encode again.
pub(crate) fn encode_message<T: Encode>(
    message: &T,
    max_frame_bytes: u32,
    peer: &str,
) -> Result<Vec<u8>, TransportError> {
    encode_frame(&Frame::Message(message), max_frame_bytes)
        .map_err(|source| frame_failed(peer, source))
}

/// Sends already-encoded frame bytes on a new unidirectional stream.
pub(crate) async fn send_on_uni(
    connection: &quinn::Connection,
    frame: &[u8],
    peer: &str,
) -> Result<(), TransportError> {
    send_on_uni_inner(connection, frame, peer)
        .await
        .map_err(|error| prefer_close_reason(connection, peer, error))
}

async fn send_on_uni_inner(
    connection: &quinn::Connection,
    frame: &[u8],
    peer: &str,
) -> Result<(), TransportError> {
    let mut send = connection
        .open_uni()
        .await
        .map_err(|source| connection_lost(peer, source))?;
    send.write_all(frame)
        .await
        .map_err(|error| write_failed(peer, error))?;
    // Finishing only fails if the stream was already reset or stopped.
    send.finish().map_err(|error| TransportError::Stream {
        peer: peer.to_string(),
        reason: error.to_string(),
    })
}

/// Sends a request on a new bidirectional stream and waits for one
/// response frame.
pub(crate) async fn request_on_bi<Resp: Decode<()>>(
    connection: &quinn::Connection,
    frame: &[u8],
    max_frame_bytes: u32,
    timeout: Duration,
    peer: &str,
) -> Result<Resp, TransportError> {
    let exchange = async {
        let (mut send, mut recv) = connection
            .open_bi()
            .await
            .map_err(|source| connection_lost(peer, source))?;
        let written = send.write_all(frame).await;
        if let Err(error) = written {
            // A receiver that refuses the frame stops our stream but may
            // still have sent an error frame explaining why: prefer that.
            if !matches!(error, quinn::WriteError::Stopped(_)) {
                return Err(write_failed(peer, error));
            }
            return match read_frame::<Resp, _>(&mut recv, max_frame_bytes).await {
                Ok(Some(Frame::Error(refusal))) => Err(TransportError::Remote {
                    peer: peer.to_string(),
                    error: refusal,
                }),
                _ => Err(write_failed(peer, error)),
            };
        }
        let _ = send.finish();
        match read_frame::<Resp, _>(&mut recv, max_frame_bytes).await {
            Ok(Some(Frame::Message(response))) => Ok(response),
            Ok(Some(Frame::Error(error))) => Err(TransportError::Remote {
                peer: peer.to_string(),
                error,
            }),
            Ok(None) => Err(TransportError::NoResponse {
                peer: peer.to_string(),
            }),
            Err(source) => Err(frame_failed(peer, source)),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| TransportError::Timeout {
            what: "request",
            peer: peer.to_string(),
            after: timeout,
        })?
        .map_err(|error| prefer_close_reason(connection, peer, error))
}

/// Writes one frame and finishes the stream.
pub(crate) async fn reply_and_finish<T: Encode>(
    send: &mut quinn::SendStream,
    frame: &Frame<T>,
    max_frame_bytes: u32,
    peer: &str,
) -> Result<(), TransportError> {
    write_frame(send, frame, max_frame_bytes)
        .await
        .map_err(|source| frame_failed(peer, source))?;
    send.finish().map_err(|error| TransportError::Stream {
        peer: peer.to_string(),
        reason: error.to_string(),
    })
}
