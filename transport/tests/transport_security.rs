//! Mutual TLS refusals: foreign CAs, wrong node ids, lying hellos, client
//! certificates trying to serve.

mod transport_support;

use std::time::Duration;

use transport_support::*;
use zerodb_transport::codec::{read_frame, write_frame, ErrorCode, Frame};
use zerodb_transport::handshake::{Hello, HelloAck};
use zerodb_transport::rpc::RpcClient;
use zerodb_transport::tls::{NodeId, TlsError, TlsIdentity};
use zerodb_transport::{Transport, TransportError};

/// Checks that the node still serves a legitimate client.
async fn still_serves(ca: &zerodb_transport::certs::CertificateAuthority, node: &TestNode) {
    let client = RpcClient::connect(&client_tls(ca, "bob"), node.addr(), None, test_config())
        .await
        .expect("a legitimate client still connects");
    let reply: EchoReply = client
        .request(&Echo {
            text: "still up".into(),
        })
        .await
        .expect("and is served");
    assert_eq!(reply.text, "still up");
    client.close().await;
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let ca = cluster_ca();
    let node = start_node(&ca, 1, test_config());
    let foreign = cluster_ca();
    let issued = foreign.issue_client("mallory", 30).expect("foreign cert");
    // Mallory trusts the real CA (so she accepts the node) but her own
    // certificate comes from another CA: the node must refuse her.
    let mallory =
        TlsIdentity::from_pem(ca.cert_pem(), &issued.cert_pem, &issued.key_pem).expect("tls");
    let outcome = async {
        let client = RpcClient::connect(&mallory, node.addr(), None, test_config()).await?;
        client
            .request::<Echo, EchoReply>(&Echo {
                text: "let me in".into(),
            })
            .await
    }
    .await;
    let error = outcome.expect_err("a foreign client certificate must be refused");
    // The refusal arrives during the handshake or, since a TLS 1.3 client
    // finishes before the server has checked its certificate, on first use.
    let text = error.to_string();
    println!("foreign client refused with: {text}");
    assert!(
        matches!(
            error,
            TransportError::Connect { .. } | TransportError::Connection { .. }
        ) && text.contains("handshake"),
        "unexpected error: {error:?} / {text}"
    );
    // A client that trusts only the foreign CA refuses the node in turn.
    let naive =
        TlsIdentity::from_pem(foreign.cert_pem(), &issued.cert_pem, &issued.key_pem).expect("tls");
    let refused = RpcClient::connect(&naive, node.addr(), None, test_config()).await;
    assert!(
        matches!(refused, Err(TransportError::Connect { .. })),
        "{refused:?}"
    );

    still_serves(&ca, &node).await;
    node.transport.close().await;
}

#[tokio::test]
async fn a_node_from_another_ca_cannot_join() {
    let ca = cluster_ca();
    let one = start_node(&ca, 1, test_config());
    let foreign = cluster_ca();
    let issued = foreign
        .issue_node(NodeId(2), 30)
        .expect("foreign node cert");
    let impostor_tls =
        TlsIdentity::from_pem(ca.cert_pem(), &issued.cert_pem, &issued.key_pem).expect("tls");
    let (impostor, _incoming) = Transport::<TestProtocol>::bind(
        "127.0.0.1:0".parse().unwrap(),
        &impostor_tls,
        test_config(),
    )
    .expect("bind");
    impostor.add_peer(NodeId(1), one.addr());
    let result = impostor.send(NodeId(1), &"hi".to_string()).await;
    assert!(
        result.is_err(),
        "node 1 must refuse a node certified by another CA"
    );
    assert!(one.transport.connected_peers().is_empty());
    impostor.close().await;
    one.transport.close().await;
}

#[tokio::test]
async fn dialing_a_node_that_holds_another_nodes_certificate_is_refused() {
    let ca = cluster_ca();
    let one = start_node(&ca, 1, test_config());
    let three = start_node(&ca, 3, test_config());
    // Membership says node 2 lives at node 3's address.
    one.transport.add_peer(NodeId(2), three.addr());
    let result = one
        .transport
        .request(NodeId(2), &Echo { text: "x".into() })
        .await;
    match result {
        Err(TransportError::Connect { reason, .. }) => {
            assert!(reason.to_lowercase().contains("certificate"), "{reason}");
        }
        other => panic!("expected a refused connection, got {other:?}"),
    }
    assert!(one.transport.connected_peers().is_empty());
    one.transport.close().await;
    three.transport.close().await;
}

#[tokio::test]
async fn a_node_claiming_another_id_in_its_hello_is_refused() {
    let ca = cluster_ca();
    let one = start_node(&ca, 1, test_config());
    let five = node_tls(&ca, 5);
    let (endpoint, connection) = raw_connection(&five, one.addr(), 1)
        .await
        .expect("TLS succeeds");
    let (mut send, mut recv) = connection.open_bi().await.expect("stream");
    write_frame(&mut send, &Frame::Message(Hello { node: NodeId(2) }), 1024)
        .await
        .expect("hello written");
    send.finish().expect("finish");
    let answer = tokio::time::timeout(WAIT, read_frame::<HelloAck, _>(&mut recv, 1024))
        .await
        .expect("answer in time")
        .expect("answer readable");
    match answer {
        Some(Frame::Error(error)) => {
            assert_eq!(error.code, ErrorCode::Refused);
            assert!(
                error.message.contains("claims to be node n2"),
                "{}",
                error.message
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Then the node closes the connection.
    let closed = tokio::time::timeout(WAIT, connection.closed())
        .await
        .expect("closed in time");
    assert!(
        matches!(closed, quinn::ConnectionError::ApplicationClosed(_)),
        "{closed:?}"
    );
    assert!(one.transport.connected_peers().is_empty());
    endpoint.close(0u32.into(), b"");

    // An honest hello from the same certificate is accepted.
    let (endpoint, connection) = raw_connection(&five, one.addr(), 1).await.expect("TLS");
    let (mut send, mut recv) = connection.open_bi().await.expect("stream");
    write_frame(&mut send, &Frame::Message(Hello { node: NodeId(5) }), 1024)
        .await
        .expect("hello");
    send.finish().expect("finish");
    let answer = read_frame::<HelloAck, _>(&mut recv, 1024)
        .await
        .expect("answer");
    assert_eq!(answer, Some(Frame::Message(HelloAck { node: NodeId(1) })));
    assert_eq!(one.transport.connected_peers(), vec![NodeId(5)]);
    endpoint.close(0u32.into(), b"");
    one.transport.close().await;
}

#[tokio::test]
async fn a_node_that_never_says_hello_is_dropped() {
    let ca = cluster_ca();
    let config = zerodb_transport::TransportConfig {
        hello_timeout: Duration::from_millis(200),
        ..test_config()
    };
    let one = start_node(&ca, 1, config);
    let (endpoint, connection) = raw_connection(&node_tls(&ca, 6), one.addr(), 1)
        .await
        .expect("TLS");
    let closed = tokio::time::timeout(WAIT, connection.closed())
        .await
        .expect("closed in time");
    assert!(
        matches!(closed, quinn::ConnectionError::ApplicationClosed(_)),
        "{closed:?}"
    );
    endpoint.close(0u32.into(), b"");
    still_serves(&ca, &one).await;
    one.transport.close().await;
}

#[tokio::test]
async fn a_client_certificate_cannot_serve() {
    let ca = cluster_ca();
    let result = Transport::<TestProtocol>::bind(
        "127.0.0.1:0".parse().unwrap(),
        &client_tls(&ca, "alice"),
        test_config(),
    );
    assert!(matches!(
        result,
        Err(TransportError::Tls(TlsError::NotANode(_)))
    ));
}
