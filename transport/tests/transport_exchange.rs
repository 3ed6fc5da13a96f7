//! Two nodes and a client exchanging requests, messages and datagrams over
//! mutual TLS on real sockets.

mod transport_support;

use transport_support::*;
use zerodb_transport::rpc::RpcClient;
use zerodb_transport::tls::{NodeId, PeerIdentity};
use zerodb_transport::TransportError;

#[tokio::test]
async fn two_nodes_exchange_requests_messages_and_datagrams() {
    let ca = cluster_ca();
    let mut one = start_node(&ca, 1, test_config());
    let mut two = start_node(&ca, 2, test_config());
    one.transport.add_peer(NodeId(2), two.addr());

    let reply = one
        .transport
        .request(
            NodeId(2),
            &Echo {
                text: "ping".into(),
            },
        )
        .await
        .expect("request");
    assert_eq!(reply.text, "ping");
    assert_eq!(
        reply.asker, "node n1",
        "the server sees the certified identity"
    );

    one.transport
        .send(NodeId(2), &"hello two".to_string())
        .await
        .expect("send");
    assert_eq!(
        two.next_seen().await,
        Seen::Message(PeerIdentity::Node(NodeId(1)), "hello two".into())
    );

    let max = one
        .transport
        .max_datagram_size(NodeId(2))
        .await
        .expect("datagram size");
    assert!(
        max >= 1000,
        "a LAN path carries at least 1000-byte datagrams, got {max}"
    );
    let gossip = vec![7u8; max];
    one.transport
        .send_datagram(NodeId(2), &gossip)
        .await
        .expect("datagram");
    assert_eq!(
        two.next_seen().await,
        Seen::Datagram(PeerIdentity::Node(NodeId(1)), gossip)
    );
    // Path MTU discovery may raise the limit over time, never past 64 KiB.
    let too_big = vec![0u8; 65_536];
    assert!(matches!(
        one.transport.send_datagram(NodeId(2), &too_big).await,
        Err(TransportError::DatagramTooLarge { bytes: 65_536, .. })
    ));

    // Node 2 never learned node 1's address: it answers over the pooled
    // connection node 1 opened.
    assert_eq!(two.transport.connected_peers(), vec![NodeId(1)]);
    two.transport
        .send(NodeId(1), &"hello one".to_string())
        .await
        .expect("send back");
    assert_eq!(
        one.next_seen().await,
        Seen::Message(PeerIdentity::Node(NodeId(2)), "hello one".into())
    );
    let back = two
        .transport
        .request(
            NodeId(1),
            &Echo {
                text: "pong".into(),
            },
        )
        .await
        .expect("request back");
    assert_eq!(
        (back.text.as_str(), back.asker.as_str()),
        ("pong", "node n2")
    );

    one.transport.close().await;
    two.transport.close().await;
}

#[tokio::test]
async fn many_concurrent_requests_share_one_connection() {
    let ca = cluster_ca();
    let one = start_node(&ca, 1, test_config());
    let two = start_node(&ca, 2, test_config());
    one.transport.add_peer(NodeId(2), two.addr());
    let requests = (0..50).map(|index| {
        let transport = one.transport.clone();
        async move {
            transport
                .request(
                    NodeId(2),
                    &Echo {
                        text: format!("r{index}"),
                    },
                )
                .await
                .map(|reply| reply.text)
        }
    });
    let replies: Vec<_> = futures_join_all(requests).await;
    for (index, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.expect("reply"), format!("r{index}"));
    }
    assert_eq!(one.transport.connected_peers(), vec![NodeId(2)]);
    assert_eq!(two.transport.connected_peers(), vec![NodeId(1)]);
    one.transport.close().await;
    two.transport.close().await;
}

/// Runs futures concurrently on the current task, keeping their order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}

#[tokio::test]
async fn a_restarted_peer_is_redialed() {
    let ca = cluster_ca();
    let one = start_node(&ca, 1, test_config());
    let two = start_node(&ca, 2, test_config());
    one.transport.add_peer(NodeId(2), two.addr());
    one.transport
        .send(NodeId(2), &"before".to_string())
        .await
        .expect("send");
    two.transport.close().await;
    drop(two);

    let mut restarted = start_node(&ca, 2, test_config());
    one.transport.add_peer(NodeId(2), restarted.addr());
    one.transport
        .send(NodeId(2), &"after".to_string())
        .await
        .expect("send after restart");
    assert_eq!(
        restarted.next_seen().await,
        Seen::Message(PeerIdentity::Node(NodeId(1)), "after".into())
    );
    one.transport.close().await;
    restarted.transport.close().await;
}

#[tokio::test]
async fn a_client_reaches_any_node_and_is_known_by_its_user_name() {
    let ca = cluster_ca();
    let node = start_node(&ca, 4, test_config());
    let alice = client_tls(&ca, "alice");

    let client = RpcClient::connect(&alice, node.addr(), None, test_config())
        .await
        .expect("connect to any node");
    assert_eq!(client.node(), NodeId(4));
    let reply: EchoReply = client
        .request(&Echo { text: "hi".into() })
        .await
        .expect("request");
    assert_eq!(
        (reply.text.as_str(), reply.asker.as_str()),
        ("hi", "client \"alice\"")
    );
    client.close().await;

    let pinned = RpcClient::connect(&alice, node.addr(), Some(NodeId(4)), test_config())
        .await
        .expect("connect to node 4");
    let reply: EchoReply = pinned
        .request(&Echo {
            text: "again".into(),
        })
        .await
        .expect("request");
    assert_eq!(reply.text, "again");
    pinned.close().await;

    let wrong = RpcClient::connect(&alice, node.addr(), Some(NodeId(5)), test_config()).await;
    assert!(
        matches!(wrong, Err(TransportError::Connect { .. })),
        "dialing node 5 at node 4's address must fail: {wrong:?}"
    );
    node.transport.close().await;
}

#[tokio::test]
async fn removing_a_peer_closes_its_connection_and_forgets_its_address() {
    let ca = cluster_ca();
    let one = start_node(&ca, 1, test_config());
    let two = start_node(&ca, 2, test_config());
    one.transport.add_peer(NodeId(2), two.addr());
    one.transport.connect(NodeId(2)).await.expect("connect");
    assert_eq!(one.transport.connected_peers(), vec![NodeId(2)]);
    one.transport.remove_peer(NodeId(2));
    assert!(one.transport.connected_peers().is_empty());
    assert!(matches!(
        one.transport.send(NodeId(2), &"gone".to_string()).await,
        Err(TransportError::UnknownPeer(NodeId(2)))
    ));
    one.transport.close().await;
    two.transport.close().await;
}

#[tokio::test]
async fn unknown_peers_are_a_clear_error() {
    let ca = cluster_ca();
    let one = start_node(&ca, 1, test_config());
    let result = one.transport.send(NodeId(9), &"x".to_string()).await;
    assert!(matches!(
        result,
        Err(TransportError::UnknownPeer(NodeId(9)))
    ));
    assert!(result.unwrap_err().to_string().contains("n9"));
    one.transport.close().await;
}
