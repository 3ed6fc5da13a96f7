//! The frame codec: the only place that knows the wire layout and bincode.
//!
//! A frame is a 6-byte header followed by a body:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | body length in bytes, big-endian `u32` (header excluded) |
//! | 4 | 1 | protocol version, [`PROTOCOL_VERSION`] |
//! | 5 | 1 | kind: 0 = message, 1 = error |
//! | 6 | n | body: bincode (standard configuration) of the message or of an [`ErrorFrame`] |
//!
//! The reader checks the length against the configured maximum before it
//! allocates anything, checks the version, and requires the body to decode
//! to exactly its length. The layout of error frames is frozen across
//! versions, so a peer speaking another version can still read why it was
//! refused: error frames are decoded whatever their version byte says.

use bincode::{Decode, Encode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version this build speaks (one number for the whole wire,
/// kept by `zerodb_proto`).
pub const PROTOCOL_VERSION: u8 = zerodb_proto::PROTOCOL_VERSION;
/// Size of the frame header in bytes.
pub const FRAME_HEADER_BYTES: usize = 6;
/// Default largest frame body accepted or sent (16 MiB).
pub const FRAME_BODY_BYTES_MAX_DEFAULT: u32 = 16 * 1024 * 1024;
/// Most memory bincode may reserve while decoding one frame. Length prefixes
/// inside a body are checked against this before anything is allocated, so
/// a tiny hostile frame cannot make the node allocate gigabytes.
pub const DECODE_ALLOCATION_BYTES_MAX: usize = 256 * 1024 * 1024;

const KIND_MESSAGE: u8 = 0;
const KIND_ERROR: u8 = 1;

/// What went wrong with a frame; stream-level, never fatal for the node.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The header announces a body larger than the configured maximum.
    #[error("frame body of {bytes} bytes exceeds the maximum of {max} bytes; split the payload or raise max_frame_bytes on both sides")]
    TooLarge {
        /// Announced (or, when sending, actual) body size.
        bytes: u64,
        /// The configured maximum.
        max: u32,
    },
    /// The frame was written by another protocol version.
    #[error("frame has protocol version {got} but this node speaks version {expected}; upgrade the older side")]
    VersionMismatch {
        /// Version byte found.
        got: u8,
        /// Version this node speaks.
        expected: u8,
    },
    /// The kind byte is neither message nor error.
    #[error("frame kind {0} is unknown (expected 0 = message or 1 = error)")]
    UnknownKind(u8),
    /// The body is not a valid encoding of the expected type.
    #[error("frame body does not decode as {type_name}: {reason}")]
    Decode {
        /// The expected type.
        type_name: &'static str,
        /// What bincode reported.
        reason: String,
    },
    /// The body decoded but left bytes unread.
    #[error("frame body of {body} bytes decoded as {type_name} using only {used} bytes")]
    TrailingBytes {
        /// The expected type.
        type_name: &'static str,
        /// Body length.
        body: usize,
        /// Bytes the decoder consumed.
        used: usize,
    },
    /// The message could not be encoded.
    #[error("cannot encode {type_name}: {reason}")]
    Encode {
        /// The type being encoded.
        type_name: &'static str,
        /// What bincode reported.
        reason: String,
    },
    /// The input ended inside a frame.
    #[error("input ended inside a frame: needed {needed} bytes, had {available}")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// Reading or writing the stream failed.
    #[error("stream I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Codes carried by [`ErrorFrame`]; also used as QUIC stream error codes
/// when a stream is stopped or reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum ErrorCode {
    /// The frame could not be decoded.
    BadFrame,
    /// The frame was larger than the receiver accepts.
    FrameTooLarge,
    /// The frame had another protocol version.
    VersionMismatch,
    /// The peer's identity was refused (for example it claimed another node id).
    Refused,
    /// The receiver dropped the request without answering it.
    NoResponse,
    /// The receiver is shutting down.
    ShuttingDown,
}

impl ErrorCode {
    /// The code as a QUIC application error code.
    pub fn as_quic(self) -> quinn::VarInt {
        quinn::VarInt::from_u32(match self {
            ErrorCode::BadFrame => 1,
            ErrorCode::FrameTooLarge => 2,
            ErrorCode::VersionMismatch => 3,
            ErrorCode::Refused => 4,
            ErrorCode::NoResponse => 5,
            ErrorCode::ShuttingDown => 6,
        })
    }

    /// The code a [`FrameError`] met while reading is answered with.
    pub fn for_read_error(error: &FrameError) -> ErrorCode {
        match error {
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::VersionMismatch { .. } => ErrorCode::VersionMismatch,
            _ => ErrorCode::BadFrame,
        }
    }
}

/// An error sent back to the peer in place of a message.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ErrorFrame {
    /// What kind of failure.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

/// One frame: a message of type `T`, or an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<T> {
    /// A protocol message.
    Message(T),
    /// The peer reports an error instead of a message.
    Error(ErrorFrame),
}

/// A decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Body length in bytes.
    pub body_bytes: u32,
    /// Protocol version byte.
    pub version: u8,
    /// Kind byte (0 message, 1 error).
    pub kind: u8,
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_ALLOCATION_BYTES_MAX>()
}

/// Encodes a frame: header and body. Fails if the body would exceed `max_body_bytes`.
pub fn encode_frame<T: Encode>(
    frame: &Frame<T>,
    max_body_bytes: u32,
) -> Result<Vec<u8>, FrameError> {
    let mut bytes = vec![0u8; FRAME_HEADER_BYTES];
    let (kind, encoded) = match frame {
        Frame::Message(message) => (
            KIND_MESSAGE,
            bincode::encode_into_std_write(message, &mut bytes, bincode_config())
                .map_err(encode_error::<T>),
        ),
        Frame::Error(error) => (
            KIND_ERROR,
            bincode::encode_into_std_write(error, &mut bytes, bincode_config())
                .map_err(encode_error::<ErrorFrame>),
        ),
    };
    let body = encoded?;
    if body > max_body_bytes as usize {
        return Err(FrameError::TooLarge {
            bytes: body as u64,
            max: max_body_bytes,
        });
    }
    bytes[0..4].copy_from_slice(&(body as u32).to_be_bytes());
    bytes[4] = PROTOCOL_VERSION;
    bytes[5] = kind;
    Ok(bytes)
}

fn encode_error<T>(error: bincode::error::EncodeError) -> FrameError {
    FrameError::Encode {
        type_name: std::any::type_name::<T>(),
        reason: error.to_string(),
    }
}

/// Decodes and checks a header: the length against `max_body_bytes`, the
/// kind, and the version (except for error frames, whose layout is frozen).
pub fn decode_header(
    header: [u8; FRAME_HEADER_BYTES],
    max_body_bytes: u32,
) -> Result<FrameHeader, FrameError> {
    let body_bytes = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let decoded = FrameHeader {
        body_bytes,
        version: header[4],
        kind: header[5],
    };
    if body_bytes > max_body_bytes {
        return Err(FrameError::TooLarge {
            bytes: u64::from(body_bytes),
            max: max_body_bytes,
        });
    }
    if decoded.kind != KIND_MESSAGE && decoded.kind != KIND_ERROR {
        return Err(FrameError::UnknownKind(decoded.kind));
    }
    if decoded.kind == KIND_MESSAGE && decoded.version != PROTOCOL_VERSION {
        return Err(FrameError::VersionMismatch {
            got: decoded.version,
            expected: PROTOCOL_VERSION,
        });
    }
    Ok(decoded)
}

fn decode_exact<T: Decode<()>>(body: &[u8]) -> Result<T, FrameError> {
    let type_name = std::any::type_name::<T>();
    let (value, used) =
        bincode::decode_from_slice(body, bincode_config()).map_err(|error| FrameError::Decode {
            type_name,
            reason: error.to_string(),
        })?;
    if used != body.len() {
        return Err(FrameError::TrailingBytes {
            type_name,
            body: body.len(),
            used,
        });
    }
    Ok(value)
}

/// Decodes a body whose header was accepted by [`decode_header`].
pub fn decode_body<T: Decode<()>>(
    header: FrameHeader,
    body: &[u8],
) -> Result<Frame<T>, FrameError> {
    if header.kind == KIND_ERROR {
        decode_exact(body).map(Frame::Error)
    } else {
        decode_exact(body).map(Frame::Message)
    }
}

/// Decodes one frame from the front of `bytes`; returns it and the number of
/// bytes it took. Never panics, whatever the input.
pub fn decode_frame<T: Decode<()>>(
    bytes: &[u8],
    max_body_bytes: u32,
) -> Result<(Frame<T>, usize), FrameError> {
    let header: [u8; FRAME_HEADER_BYTES] = bytes
        .get(..FRAME_HEADER_BYTES)
        .and_then(|slice| slice.try_into().ok())
        .ok_or(FrameError::Truncated {
            needed: FRAME_HEADER_BYTES,
            available: bytes.len(),
        })?;
    let header = decode_header(header, max_body_bytes)?;
    let total = FRAME_HEADER_BYTES + header.body_bytes as usize;
    let body = bytes
        .get(FRAME_HEADER_BYTES..total)
        .ok_or(FrameError::Truncated {
            needed: total,
            available: bytes.len(),
        })?;
    Ok((decode_body(header, body)?, total))
}

/// Writes one frame to `writer`.
pub async fn write_frame<T: Encode, W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &Frame<T>,
    max_body_bytes: u32,
) -> Result<(), FrameError> {
    let bytes = encode_frame(frame, max_body_bytes)?;
    writer.write_all(&bytes).await?;
    Ok(())
}

/// Reads one frame from `reader`. Returns `Ok(None)` when the stream ends
/// cleanly before a frame starts. An oversized or mis-versioned header is
/// rejected before its body is read.
pub async fn read_frame<T: Decode<()>, R: AsyncRead + Unpin>(
    reader: &mut R,
    max_body_bytes: u32,
) -> Result<Option<Frame<T>>, FrameError> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    let mut filled = 0;
    while filled < FRAME_HEADER_BYTES {
        let read = reader.read(&mut header[filled..]).await?;
        if read == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(FrameError::Truncated {
                needed: FRAME_HEADER_BYTES,
                available: filled,
            });
        }
        filled += read;
    }
    let header = decode_header(header, max_body_bytes)?;
    // Grow the buffer as bytes arrive rather than reserving the announced
    // size up front: a peer announcing a large frame and sending nothing
    // costs no memory.
    let wanted = header.body_bytes as usize;
    let mut body = Vec::new();
    (&mut *reader)
        .take(u64::from(header.body_bytes))
        .read_to_end(&mut body)
        .await?;
    if body.len() != wanted {
        return Err(FrameError::Truncated {
            needed: FRAME_HEADER_BYTES + wanted,
            available: FRAME_HEADER_BYTES + body.len(),
        });
    }
    decode_body(header, &body).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Encode, Decode)]
    struct Ping {
        sequence: u64,
        note: String,
    }

    fn ping() -> Frame<Ping> {
        Frame::Message(Ping {
            sequence: 7,
            note: "hello".into(),
        })
    }

    #[test]
    fn frames_round_trip() {
        let bytes = encode_frame(&ping(), 1024).unwrap();
        assert_eq!(bytes[4], PROTOCOL_VERSION);
        let (frame, used) = decode_frame::<Ping>(&bytes, 1024).unwrap();
        assert_eq!((frame, used), (ping(), bytes.len()));
        let error = Frame::<Ping>::Error(ErrorFrame {
            code: ErrorCode::BadFrame,
            message: "no".into(),
        });
        let bytes = encode_frame(&error, 1024).unwrap();
        assert_eq!(decode_frame::<Ping>(&bytes, 1024).unwrap().0, error);
    }

    #[test]
    fn oversized_frames_are_refused_on_both_sides() {
        let bytes = encode_frame(&ping(), 1024).unwrap();
        let body = bytes.len() - FRAME_HEADER_BYTES;
        assert!(matches!(
            encode_frame(&ping(), body as u32 - 1),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_frame::<Ping>(&bytes, body as u32 - 1),
            Err(FrameError::TooLarge { bytes, max }) if bytes == body as u64 && max == body as u32 - 1
        ));
    }

    #[test]
    fn version_mismatch_is_named_but_error_frames_still_read() {
        let mut bytes = encode_frame(&ping(), 1024).unwrap();
        bytes[4] = PROTOCOL_VERSION + 1;
        assert!(matches!(
            decode_frame::<Ping>(&bytes, 1024),
            Err(FrameError::VersionMismatch { got, expected })
                if got == PROTOCOL_VERSION + 1 && expected == PROTOCOL_VERSION
        ));
        let error = Frame::<Ping>::Error(ErrorFrame {
            code: ErrorCode::VersionMismatch,
            message: "old".into(),
        });
        let mut bytes = encode_frame(&error, 1024).unwrap();
        bytes[4] = 200;
        assert_eq!(decode_frame::<Ping>(&bytes, 1024).unwrap().0, error);
    }

    #[test]
    fn trailing_and_truncated_input_are_errors() {
        let mut bytes = encode_frame(&ping(), 1024).unwrap();
        bytes.push(0);
        let body = (bytes.len() - FRAME_HEADER_BYTES) as u32;
        bytes[0..4].copy_from_slice(&body.to_be_bytes());
        assert!(matches!(
            decode_frame::<Ping>(&bytes, 1024),
            Err(FrameError::TrailingBytes { .. })
        ));
        assert!(matches!(
            decode_frame::<Ping>(&bytes[..bytes.len() - 2], 1024),
            Err(FrameError::Truncated { .. })
        ));
        assert!(matches!(
            decode_frame::<Ping>(&bytes[..3], 1024),
            Err(FrameError::Truncated { .. })
        ));
    }

    #[test]
    fn a_huge_length_prefix_inside_a_body_is_refused_without_allocating() {
        // Body: a varint length of u64::MAX (marker 253, then 8 bytes) for a Vec<u8>.
        let body = [253u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend([PROTOCOL_VERSION, 0]);
        bytes.extend(body);
        assert!(matches!(
            decode_frame::<Vec<u8>>(&bytes, 1024),
            Err(FrameError::Decode { .. })
        ));
    }

    #[tokio::test]
    async fn stream_reads_stop_cleanly_at_the_end() {
        let mut bytes = encode_frame(&ping(), 1024).unwrap();
        bytes.extend(encode_frame(&ping(), 1024).unwrap());
        let mut reader = bytes.as_slice();
        for _ in 0..2 {
            let frame = read_frame::<Ping, _>(&mut reader, 1024).await.unwrap();
            assert_eq!(frame, Some(ping()));
        }
        assert_eq!(
            read_frame::<Ping, _>(&mut reader, 1024).await.unwrap(),
            None
        );
        let mut short = &bytes[..10];
        assert!(matches!(
            read_frame::<Ping, _>(&mut short, 1024).await,
            Err(FrameError::Truncated { .. })
        ));
    }
}
