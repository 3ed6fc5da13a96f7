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
    // The codec's own behaviour (versions, limits, trailing bytes) is
    // tested in `zerodb_proto::codec`; here only what this crate adds.
    use super::*;
    use crate::error::CodecError;
    use crate::message::Message;

    #[test]
    fn stored_state_carries_the_frame_version_and_decodes_back() {
        let stored = encode_stored(&42u64);
        assert_eq!(stored[0], PROTOCOL_VERSION);
        assert_eq!(decode::<u64>(&stored), Ok(42));
    }

    #[test]
    fn a_malformed_peer_message_is_a_typed_error() {
        assert_eq!(decode::<Message>(&[]), Err(CodecError::Empty));
        assert!(matches!(
            decode::<Message>(&[PROTOCOL_VERSION, 200, 1, 2]),
            Err(CodecError::Malformed(_))
        ));
    }
}
