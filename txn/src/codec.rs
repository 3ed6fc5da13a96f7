//! Frames and stored protocol state: one protocol version byte followed by
//! the bincode body. The codec itself is `zerodb_proto::codec`, the one
//! place that knows bincode; this module adds stored-state encoding.

use bincode::Encode;

pub use zerodb_proto::codec::{decode, encode, MAX_FRAME_BYTES, PROTOCOL_VERSION};

/// Encodes a value stored in the system space (locks, registers). Same
/// format as frames, so the version byte also guards stored state.
pub(crate) fn encode_stored<T: Encode>(value: &T) -> Vec<u8> {
    // Stored values are built by this crate and far below the frame limit;
    // an encoding failure is a bug.
    encode(value).expect("stored protocol state encodes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CodecError;
    use crate::message::Message;
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
        assert_eq!(decode::<Message>(&[]), Err(CodecError::Empty));
        assert_eq!(
            decode::<Message>(&[9, 0]),
            Err(CodecError::UnsupportedVersion {
                found: 9,
                expected: PROTOCOL_VERSION
            })
        );
        assert!(matches!(
            decode::<Message>(&[PROTOCOL_VERSION, 200, 1, 2]),
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
