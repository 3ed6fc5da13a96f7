//! A small request/response client over one QUIC connection, for the client
//! crate and command-line tools: connect to a node's address with a client
//! certificate, send requests, read responses.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::codec::ErrorCode;
use crate::config::TransportConfig;
use crate::error::TransportError;
use crate::handshake::send_hello;
use crate::streams::{encode_message, request_on_bi, send_on_uni};
use crate::tls::{
    client_config, client_config_any_node, connection_identity, node_dns_name, NodeId,
    PeerIdentity, TlsIdentity,
};
use crate::Wire;

/// Server name dialed when any node is acceptable; the verifier ignores it.
const ANY_NODE_SERVER_NAME: &str = "any.node.zerodb";

/// A connection to one node, used for requests.
#[derive(Debug)]
pub struct RpcClient {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    node: NodeId,
    config: TransportConfig,
}

impl RpcClient {
    /// Connects to the node at `addr`. With `expected = Some(id)` the server
    /// must hold node `id`'s certificate; with `None`, any node of the
    /// cluster is accepted and [`RpcClient::node`] tells which one answered.
    /// If `tls` holds a node certificate, the node hello is sent too.
    pub async fn connect(
        tls: &TlsIdentity,
        addr: SocketAddr,
        expected: Option<NodeId>,
        config: TransportConfig,
    ) -> Result<Self, TransportError> {
        let (mut client, server_name) = match expected {
            Some(node) => (client_config(tls)?, node_dns_name(node)),
            None => (
                client_config_any_node(tls)?,
                ANY_NODE_SERVER_NAME.to_string(),
            ),
        };
        client.transport_config(config.quinn());
        let local: SocketAddr = match addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let endpoint = quinn::Endpoint::client(local).map_err(|source| TransportError::Bind {
            addr: local,
            source,
        })?;
        let peer = expected.map_or_else(|| addr.to_string(), |node| node.to_string());
        let connect_failed = |reason: String| TransportError::Connect {
            peer: peer.clone(),
            addr,
            reason,
        };
        let attempt = async {
            let connecting = endpoint
                .connect_with(client, addr, &server_name)
                .map_err(|error| connect_failed(error.to_string()))?;
            let connection = connecting
                .await
                .map_err(|error| connect_failed(error.to_string()))?;
            let node = match connection_identity(&connection) {
                Ok(PeerIdentity::Node(node)) if expected.is_none_or(|id| id == node) => node,
                found => {
                    connection.close(ErrorCode::Refused.as_quic(), b"unexpected certificate");
                    return Err(TransportError::WrongPeer {
                        addr,
                        expected: expected
                            .map_or_else(|| "any node".to_string(), |node| node.to_string()),
                        found: format!("{found:?}"),
                    });
                }
            };
            if let PeerIdentity::Node(own) = tls.identity() {
                send_hello(&connection, *own, node, &config).await?;
            }
            Ok((connection, node))
        };
        let (connection, node) = tokio::time::timeout(config.connect_timeout, attempt)
            .await
            .map_err(|_| TransportError::Timeout {
                what: "connect",
                peer: peer.clone(),
                after: config.connect_timeout,
            })??;
        Ok(RpcClient {
            endpoint,
            connection,
            node,
            config,
        })
    }

    /// Whether the connection is already closed (by either side), so that a
    /// request on it could not even be sent.
    pub fn is_closed(&self) -> bool {
        self.connection.close_reason().is_some()
    }

    /// The node this client is connected to.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Sends `request` and waits (up to `request_timeout`) for the response.
    pub async fn request<Req: Wire, Resp: Wire>(
        &self,
        request: &Req,
    ) -> Result<Resp, TransportError> {
        let peer = self.node.to_string();
        let frame = encode_message(request, self.config.max_frame_bytes, &peer)?;
        request_on_bi(
            &self.connection,
            &frame,
            self.config.max_frame_bytes,
            self.config.request_timeout,
            &peer,
        )
        .await
    }

    /// Sends a one-way message on its own unidirectional stream.
    pub async fn send<M: Wire>(&self, message: &M) -> Result<(), TransportError> {
        let peer = self.node.to_string();
        let frame = encode_message(message, self.config.max_frame_bytes, &peer)?;
        send_on_uni(&self.connection, &frame, &peer).await
    }

    /// Closes the connection and waits (up to `close_timeout`) for the node
    /// to be told.
    pub async fn close(self) {
        self.connection
            .close(quinn::VarInt::from_u32(0), b"client closing");
        let _ = tokio::time::timeout(self.config.close_timeout, self.endpoint.wait_idle()).await;
    }
}
