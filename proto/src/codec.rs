//! The one place bincode is used: frames are one protocol version byte
//! followed by the bincode body, at most [`MAX_FRAME_BYTES`] long. Decoding
//! returns typed errors and never panics.

use bincode::{Decode, Encode};

use crate::error::CodecError;

/// The protocol version byte in front of every frame (and of the protocol
/// state a node stores). 2: records carry an expiry time (TTL).
pub const PROTOCOL_VERSION: u8 = 2;

/// The largest frame accepted or produced, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Encodes a value (a `Message`, `Request` or `Response`) as a frame.
pub fn encode<T: Encode>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![PROTOCOL_VERSION];
    let body =
        bincode::encode_to_vec(value, config()).map_err(|e| CodecError::Encode(e.to_string()))?;
    out.extend_from_slice(&body);
    if out.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge {
            len: out.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    Ok(out)
}

/// Decodes a frame made by [`encode`].
pub fn decode<T: Decode<()>>(frame: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = frame.split_first().ok_or(CodecError::Empty)?;
    if version != PROTOCOL_VERSION {
        return Err(CodecError::UnsupportedVersion {
            found: version,
            expected: PROTOCOL_VERSION,
        });
    }
    if frame.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge {
            len: frame.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    let (value, used) = bincode::decode_from_slice(body, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::TrailingBytes(body.len() - used));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Condition, Op, Request};
    use crate::types::{Key, Ver};

    #[test]
    fn a_request_round_trips() {
        let req = Request::Txn {
            ops: vec![
                Op::Put(Key::new("ns", "db", "t", "a"), b"1".to_vec()),
                Op::Assert(
                    Key::new("ns", "db", "t", "b"),
                    Condition::VersionEquals(Ver::ZERO),
                ),
            ],
        };
        let frame = encode(&req).unwrap();
        assert_eq!(frame[0], PROTOCOL_VERSION);
        assert_eq!(decode::<Request>(&frame).unwrap(), req);
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert_eq!(decode::<Request>(&[]), Err(CodecError::Empty));
        assert_eq!(
            decode::<Request>(&[9, 0]),
            Err(CodecError::UnsupportedVersion {
                found: 9,
                expected: PROTOCOL_VERSION
            })
        );
        assert!(matches!(
            decode::<Request>(&[PROTOCOL_VERSION, 200, 1, 2]),
            Err(CodecError::Malformed(_))
        ));
        let mut frame = encode(&Request::Get {
            key: Key::new("a", "b", "c", "d"),
            level: Default::default(),
        })
        .unwrap();
        frame.push(0);
        assert_eq!(decode::<Request>(&frame), Err(CodecError::TrailingBytes(1)));
    }

    #[test]
    fn a_huge_length_prefix_does_not_allocate_or_panic() {
        // A Vec length of u64::MAX must be refused by the limit.
        let mut frame = vec![PROTOCOL_VERSION, 2]; // Request::Delete
        frame.extend_from_slice(&[0xFF; 9]);
        assert!(decode::<Request>(&frame).is_err());
    }
}
