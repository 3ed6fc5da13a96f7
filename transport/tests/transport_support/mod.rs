//! Shared helpers for the transport tests: a cluster CA, nodes bound to
//! 127.0.0.1 on ephemeral ports, an echo event loop, raw QUIC connections
//! for sending deliberately bad bytes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bincode::{Decode, Encode};
use tokio::sync::mpsc;
use zerodb_transport::certs::CertificateAuthority;
use zerodb_transport::tls::{client_config, node_dns_name, NodeId, PeerIdentity, TlsIdentity};
use zerodb_transport::{Incoming, Protocol, Transport, TransportConfig};

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// A request the echo loop answers.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Echo {
    /// Echoed back.
    pub text: String,
}

/// The echo loop's answer: the text and who asked.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct EchoReply {
    /// The request's text.
    pub text: String,
    /// The asker as the server saw it.
    pub asker: String,
}

/// The test protocol.
pub struct TestProtocol;

impl Protocol for TestProtocol {
    type Message = String;
    type Request = Echo;
    type Response = EchoReply;
}

/// What the echo loop saw besides requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A one-way message.
    Message(PeerIdentity, String),
    /// A datagram.
    Datagram(PeerIdentity, Vec<u8>),
}

/// A running test node.
pub struct TestNode {
    /// Its transport.
    pub transport: Transport<TestProtocol>,
    /// Messages and datagrams it received.
    pub seen: mpsc::UnboundedReceiver<Seen>,
}

impl TestNode {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }

    /// The next message or datagram, within [`WAIT`].
    pub async fn next_seen(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.seen.recv())
            .await
            .expect("nothing received in time")
            .expect("event loop ended")
    }
}

/// A fresh cluster CA.
pub fn cluster_ca() -> CertificateAuthority {
    CertificateAuthority::generate("test", 30).expect("CA")
}

/// Credentials for node `id` signed by `ca`.
pub fn node_tls(ca: &CertificateAuthority, id: u32) -> TlsIdentity {
    let issued = ca.issue_node(NodeId(id), 30).expect("node cert");
    TlsIdentity::from_pem(ca.cert_pem(), &issued.cert_pem, &issued.key_pem).expect("node tls")
}

/// Credentials for client `user` signed by `ca`.
pub fn client_tls(ca: &CertificateAuthority, user: &str) -> TlsIdentity {
    let issued = ca.issue_client(user, 30).expect("client cert");
    TlsIdentity::from_pem(ca.cert_pem(), &issued.cert_pem, &issued.key_pem).expect("client tls")
}

/// Short timeouts so failing tests fail fast.
pub fn test_config() -> TransportConfig {
    TransportConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        hello_timeout: Duration::from_secs(2),
        close_timeout: Duration::from_millis(500),
        ..TransportConfig::default()
    }
}

/// Starts node `id` on 127.0.0.1 with an echo event loop.
pub fn start_node(ca: &CertificateAuthority, id: u32, config: TransportConfig) -> TestNode {
    let local: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let (transport, mut incoming) =
        Transport::<TestProtocol>::bind(local, &node_tls(ca, id), config).expect("bind");
    let (seen_sender, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = incoming.recv().await {
            match event {
                Incoming::Request {
                    from,
                    request,
                    responder,
                } => {
                    let reply = EchoReply {
                        text: request.text,
                        asker: from.to_string(),
                    };
                    let _ = responder.respond(reply).await;
                }
                Incoming::Message { from, message } => {
                    let _ = seen_sender.send(Seen::Message(from, message));
                }
                Incoming::Datagram { from, payload } => {
                    let _ = seen_sender.send(Seen::Datagram(from, payload));
                }
            }
        }
    });
    TestNode { transport, seen }
}

/// A raw QUIC connection to node `node` at `addr` with credentials `tls`,
/// for writing arbitrary bytes. Returns the endpoint too, to close it.
pub async fn raw_connection(
    tls: &TlsIdentity,
    addr: SocketAddr,
    node: u32,
) -> Result<(quinn::Endpoint, quinn::Connection), String> {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("address"))
        .map_err(|e| e.to_string())?;
    let config = client_config(tls).map_err(|e| e.to_string())?;
    let connecting = endpoint
        .connect_with(config, addr, &node_dns_name(NodeId(node)))
        .map_err(|e| e.to_string())?;
    let connection = tokio::time::timeout(WAIT, connecting)
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| e.to_string())?;
    Ok((endpoint, connection))
}

/// Writes `bytes` on a new bidirectional stream, finishes it and reads
/// everything the node sends back.
pub async fn raw_exchange(connection: &quinn::Connection, bytes: &[u8]) -> Vec<u8> {
    let (mut send, mut recv) = connection.open_bi().await.expect("open stream");
    // The node may stop the stream before reading it all; that is fine.
    let _ = send.write_all(bytes).await;
    let _ = send.finish();
    tokio::time::timeout(WAIT, recv.read_to_end(1 << 20))
        .await
        .expect("reply in time")
        .expect("reply readable")
}
