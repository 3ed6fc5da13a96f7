//! Bad frames close only their stream, with a clear error, and the node
//! keeps serving the same connection and other peers.

mod transport_support;

use transport_support::*;
use zerodb_transport::codec::{decode_frame, encode_frame, ErrorCode, Frame, PROTOCOL_VERSION};
use zerodb_transport::rpc::RpcClient;
use zerodb_transport::tls::{NodeId, PeerIdentity};
use zerodb_transport::{TransportConfig, TransportError};

const SERVER_MAX_FRAME_BYTES: u32 = 4096;

fn small_frames() -> TransportConfig {
    TransportConfig {
        max_frame_bytes: SERVER_MAX_FRAME_BYTES,
        ..test_config()
    }
}

/// A frame header followed by `body`.
fn raw_frame(body_bytes: u32, version: u8, kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = body_bytes.to_be_bytes().to_vec();
    bytes.extend([version, kind]);
    bytes.extend_from_slice(body);
    bytes
}

/// Decodes the node's answer, which must be an error frame with `code`.
fn expect_error_frame(answer: &[u8], code: ErrorCode) -> String {
    match decode_frame::<EchoReply>(answer, 1 << 20) {
        Ok((Frame::Error(error), _)) => {
            assert_eq!(error.code, code, "{}", error.message);
            error.message
        }
        other => panic!("expected an error frame {code:?}, got {other:?}"),
    }
}

fn echo_frame(text: &str) -> Vec<u8> {
    encode_frame(&Frame::Message(Echo { text: text.into() }), 1 << 20).unwrap()
}

/// One good request on `connection` must still be answered.
async fn good_request_works(connection: &quinn::Connection) {
    let answer = raw_exchange(connection, &echo_frame("fine")).await;
    let (frame, _) = decode_frame::<EchoReply>(&answer, 1 << 20).expect("reply decodes");
    assert!(
        matches!(frame, Frame::Message(EchoReply { ref text, .. }) if text == "fine"),
        "{frame:?}"
    );
}

#[tokio::test]
async fn garbage_oversized_and_misversioned_requests_get_clear_errors() {
    let ca = cluster_ca();
    let node = start_node(&ca, 1, small_frames());
    let (endpoint, connection) = raw_connection(&client_tls(&ca, "fuzzer"), node.addr(), 1)
        .await
        .expect("connect");

    // Garbage body: a string length pointing past the end.
    let garbage = raw_frame(3, PROTOCOL_VERSION, 0, &[200, 1, 2]);
    let message = expect_error_frame(
        &raw_exchange(&connection, &garbage).await,
        ErrorCode::BadFrame,
    );
    assert!(message.contains("does not decode"), "{message}");
    good_request_works(&connection).await;

    // A header announcing more than the node accepts: refused unread.
    let oversized = raw_frame(SERVER_MAX_FRAME_BYTES + 1, PROTOCOL_VERSION, 0, &[0; 64]);
    let message = expect_error_frame(
        &raw_exchange(&connection, &oversized).await,
        ErrorCode::FrameTooLarge,
    );
    assert!(
        message.contains("4097") && message.contains("4096"),
        "{message}"
    );
    good_request_works(&connection).await;

    // Another protocol version.
    let mut future = echo_frame("from the future");
    future[4] = PROTOCOL_VERSION + 1;
    let message = expect_error_frame(
        &raw_exchange(&connection, &future).await,
        ErrorCode::VersionMismatch,
    );
    assert!(
        message.contains(&format!("protocol version {}", PROTOCOL_VERSION + 1))
            && message.contains(&format!("speaks version {PROTOCOL_VERSION}")),
        "{message}"
    );

    // Unknown kind and a header cut short.
    let odd = raw_frame(0, PROTOCOL_VERSION, 9, &[]);
    expect_error_frame(&raw_exchange(&connection, &odd).await, ErrorCode::BadFrame);
    let cut = raw_exchange(&connection, &[0, 0, 0]).await;
    expect_error_frame(&cut, ErrorCode::BadFrame);
    good_request_works(&connection).await;

    endpoint.close(0u32.into(), b"");
    node.transport.close().await;
}

#[tokio::test]
async fn an_oversized_request_from_a_client_with_a_larger_limit_is_a_remote_error() {
    let ca = cluster_ca();
    let node = start_node(&ca, 1, small_frames());
    let client = RpcClient::connect(&client_tls(&ca, "big"), node.addr(), None, test_config())
        .await
        .expect("connect");
    let result = client
        .request::<Echo, EchoReply>(&Echo {
            text: "x".repeat(64 * 1024),
        })
        .await;
    match result {
        Err(TransportError::Remote { error, .. }) => {
            assert_eq!(error.code, ErrorCode::FrameTooLarge)
        }
        other => panic!("expected FrameTooLarge from the node, got {other:?}"),
    }
    // The same client goes on.
    let reply: EchoReply = client
        .request(&Echo {
            text: "small".into(),
        })
        .await
        .expect("small request");
    assert_eq!(reply.text, "small");
    client.close().await;

    // Our own limit is checked before anything is sent.
    let strict = RpcClient::connect(
        &client_tls(&ca, "strict"),
        node.addr(),
        None,
        small_frames(),
    )
    .await
    .expect("connect");
    let result = strict
        .request::<Echo, EchoReply>(&Echo {
            text: "x".repeat(8192),
        })
        .await;
    assert!(
        matches!(result, Err(TransportError::Frame { .. })),
        "{result:?}"
    );
    strict.close().await;
    node.transport.close().await;
}

#[tokio::test]
async fn a_bad_message_stream_is_stopped_and_other_peers_are_served() {
    let ca = cluster_ca();
    let mut node = start_node(&ca, 1, small_frames());
    let (endpoint, connection) = raw_connection(&client_tls(&ca, "fuzzer"), node.addr(), 1)
        .await
        .expect("connect");

    // A stream still open when the bad frame is read is stopped with the
    // matching code, so the sender learns why.
    let mut send = connection.open_uni().await.expect("stream");
    send.write_all(&raw_frame(4, PROTOCOL_VERSION, 0, &[0xFF; 4]))
        .await
        .expect("write");
    let stopped = tokio::time::timeout(WAIT, send.stopped())
        .await
        .expect("stopped in time")
        .expect("stream state");
    assert_eq!(stopped, Some(ErrorCode::BadFrame.as_quic()));
    // A finished stream with a bad frame is dropped (nothing reaches the
    // event loop: the next event is the good message below).
    let mut send = connection.open_uni().await.expect("stream");
    send.write_all(&raw_frame(1, PROTOCOL_VERSION + 7, 0, &[0]))
        .await
        .expect("write");
    send.finish().expect("finish");

    // The same connection still delivers good messages...
    let mut send = connection.open_uni().await.expect("stream");
    let good = encode_frame(&Frame::Message("good".to_string()), 1024).unwrap();
    send.write_all(&good).await.expect("write");
    send.finish().expect("finish");
    assert_eq!(
        node.next_seen().await,
        Seen::Message(PeerIdentity::Client("fuzzer".into()), "good".into())
    );
    // ...and another node is served too.
    let other = start_node(&ca, 2, test_config());
    other.transport.add_peer(NodeId(1), node.addr());
    other
        .transport
        .send(NodeId(1), &"from two".to_string())
        .await
        .expect("send");
    assert_eq!(
        node.next_seen().await,
        Seen::Message(PeerIdentity::Node(NodeId(2)), "from two".into())
    );
    endpoint.close(0u32.into(), b"");
    other.transport.close().await;
    node.transport.close().await;
}

#[tokio::test]
async fn datagrams_of_another_version_are_dropped() {
    let ca = cluster_ca();
    let mut node = start_node(&ca, 1, test_config());
    let (endpoint, connection) = raw_connection(&client_tls(&ca, "gossiper"), node.addr(), 1)
        .await
        .expect("connect");
    connection
        .send_datagram(vec![PROTOCOL_VERSION + 1, 1, 2, 3].into())
        .expect("datagram");
    connection
        .send_datagram(vec![PROTOCOL_VERSION, 4, 5].into())
        .expect("datagram");
    assert_eq!(
        node.next_seen().await,
        Seen::Datagram(PeerIdentity::Client("gossiper".into()), vec![4, 5])
    );
    endpoint.close(0u32.into(), b"");
    node.transport.close().await;
}
