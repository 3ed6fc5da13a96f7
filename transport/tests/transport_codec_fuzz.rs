//! Property tests for the frame decoder: arbitrary bytes never panic and
//! every failure is a typed error; valid frames round-trip, and corrupting
//! any byte of a valid frame still never panics.

use bincode::{Decode, Encode};
use proptest::prelude::*;
use zerodb_transport::codec::{
    decode_frame, encode_frame, read_frame, ErrorCode, ErrorFrame, Frame, FrameError,
    FRAME_HEADER_BYTES,
};

#[derive(Clone, Debug, PartialEq, Encode, Decode)]
enum Message {
    Put {
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        version: u64,
    },
    Batch(Vec<(String, i32)>),
    Nested(Vec<Vec<u16>>),
}

const MAX_BODY_BYTES: u32 = 64 * 1024;

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            prop::collection::vec(any::<u8>(), 0..64),
            prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
            any::<u64>()
        )
            .prop_map(|(key, value, version)| Message::Put {
                key,
                value,
                version
            }),
        prop::collection::vec((".{0,12}", any::<i32>()), 0..16).prop_map(Message::Batch),
        prop::collection::vec(prop::collection::vec(any::<u16>(), 0..8), 0..8)
            .prop_map(Message::Nested),
    ]
}

/// Every decode failure must be one of the typed variants a decoder can
/// produce on a slice (never Io or Encode).
fn assert_typed(error: &FrameError) {
    assert!(
        matches!(
            error,
            FrameError::TooLarge { .. }
                | FrameError::VersionMismatch { .. }
                | FrameError::UnknownKind(_)
                | FrameError::Decode { .. }
                | FrameError::TrailingBytes { .. }
                | FrameError::Truncated { .. }
        ),
        "unexpected error variant: {error:?}"
    );
    assert!(!error.to_string().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match decode_frame::<Message>(&bytes, MAX_BODY_BYTES) {
            Ok((_, used)) => prop_assert!(used >= FRAME_HEADER_BYTES && used <= bytes.len()),
            Err(error) => assert_typed(&error),
        }
    }

    #[test]
    fn random_bodies_behind_a_valid_header_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..256),
        kind in 0u8..2,
    ) {
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend([zerodb_transport::PROTOCOL_VERSION, kind]);
        bytes.extend(&body);
        if let Err(error) = decode_frame::<Message>(&bytes, MAX_BODY_BYTES) {
            assert_typed(&error);
        }
    }

    #[test]
    fn valid_frames_round_trip(message in message()) {
        let frame = Frame::Message(message);
        let bytes = encode_frame(&frame, MAX_BODY_BYTES).unwrap();
        let (decoded, used) = decode_frame::<Message>(&bytes, MAX_BODY_BYTES).unwrap();
        prop_assert_eq!(decoded, frame);
        prop_assert_eq!(used, bytes.len());
    }

    #[test]
    fn corrupted_frames_never_panic(message in message(), position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut bytes = encode_frame(&Frame::Message(message), MAX_BODY_BYTES).unwrap();
        let at = position.index(bytes.len());
        bytes[at] ^= flip;
        if let Err(error) = decode_frame::<Message>(&bytes, MAX_BODY_BYTES) {
            assert_typed(&error);
        }
    }

    #[test]
    fn stream_reader_agrees_with_slice_decoder(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut reader = bytes.as_slice();
        let streamed = runtime.block_on(read_frame::<Message, _>(&mut reader, MAX_BODY_BYTES));
        let sliced = decode_frame::<Message>(&bytes, MAX_BODY_BYTES);
        match (streamed, sliced) {
            (Ok(Some(a)), Ok((b, _))) => prop_assert_eq!(a, b),
            (Ok(None), Err(FrameError::Truncated { available: 0, .. })) => {}
            (Err(a), Err(b)) => {
                assert_typed(&a);
                assert_typed(&b);
            }
            (a, b) => prop_assert!(false, "stream {:?} vs slice {:?}", a, b),
        }
    }
}

#[test]
fn error_frames_round_trip_for_any_message_type() {
    let frame = Frame::<Message>::Error(ErrorFrame {
        code: ErrorCode::FrameTooLarge,
        message: "too big".into(),
    });
    let bytes = encode_frame(&frame, MAX_BODY_BYTES).unwrap();
    assert_eq!(
        decode_frame::<Message>(&bytes, MAX_BODY_BYTES).unwrap().0,
        frame
    );
    let as_other = decode_frame::<String>(&bytes, MAX_BODY_BYTES).unwrap().0;
    assert!(matches!(
        as_other,
        Frame::Error(ErrorFrame {
            code: ErrorCode::FrameTooLarge,
            ..
        })
    ));
}
