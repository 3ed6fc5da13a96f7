//! [`Transport`]: a node's QUIC endpoint, its connection pool and the
//! accept loop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::mpsc;

use crate::codec::{ErrorCode, PROTOCOL_VERSION};
use crate::config::TransportConfig;
use crate::error::TransportError;
use crate::handshake::{receive_hello, send_hello};
use crate::inbound::{spawn_readers, Incoming};
use crate::pool::Pool;
use crate::streams::{encode_message, request_on_bi, send_on_uni};
use crate::tls::config::connection_identity;
use crate::tls::{client_config, node_dns_name, server_config, NodeId, PeerIdentity, TlsIdentity};
use crate::Protocol;

/// A node's transport: accepts connections from nodes and clients, dials
/// nodes, and keeps one connection per peer node. Cheap to clone.
pub struct Transport<P: Protocol> {
    inner: Arc<Inner<P>>,
}

impl<P: Protocol> Clone for Transport<P> {
    fn clone(&self) -> Self {
        Transport {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<P: Protocol> {
    node: NodeId,
    local_addr: SocketAddr,
    endpoint: quinn::Endpoint,
    client_config: quinn::ClientConfig,
    config: TransportConfig,
    pool: Pool,
    addresses: Mutex<BTreeMap<NodeId, SocketAddr>>,
    incoming: mpsc::Sender<Incoming<P>>,
}

impl<P: Protocol> Drop for Inner<P> {
    fn drop(&mut self) {
        self.endpoint
            .close(ErrorCode::ShuttingDown.as_quic(), b"transport dropped");
    }
}

impl<P: Protocol> Transport<P> {
    /// Binds a QUIC endpoint to `addr` with a node's TLS credentials and
    /// starts accepting connections. Returns the transport and the channel
    /// of incoming events for the node's event loop. Must run inside a
    /// tokio runtime.
    pub fn bind(
        addr: SocketAddr,
        tls: &TlsIdentity,
        config: TransportConfig,
    ) -> Result<(Self, mpsc::Receiver<Incoming<P>>), TransportError> {
        let mut server = server_config(tls)?;
        server.transport_config(config.quinn());
        let mut client = client_config(tls)?;
        client.transport_config(config.quinn());
        let node = tls
            .identity()
            .node()
            .ok_or_else(|| crate::tls::TlsError::NotANode(tls.identity().clone()))?;
        let endpoint = quinn::Endpoint::server(server, addr)
            .map_err(|source| TransportError::Bind { addr, source })?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|source| TransportError::Bind { addr, source })?;
        let (sender, receiver) = mpsc::channel(config.incoming_queue_len.max(1));
        let inner = Arc::new(Inner {
            node,
            local_addr,
            endpoint: endpoint.clone(),
            client_config: client,
            config,
            pool: Pool::default(),
            addresses: Mutex::new(BTreeMap::new()),
            incoming: sender,
        });
        tokio::spawn(accept_loop(endpoint, Arc::downgrade(&inner)));
        Ok((Transport { inner }, receiver))
    }

    /// This node's id (from its certificate).
    pub fn node_id(&self) -> NodeId {
        self.inner.node
    }

    /// The bound address (with the actual port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The settings in force.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// Records (or updates) the address of `node`, for example from gossip.
    /// An existing connection is kept until it breaks.
    pub fn add_peer(&self, node: NodeId, addr: SocketAddr) {
        self.addresses().insert(node, addr);
    }

    /// Whether an address is known for `node`.
    pub fn knows_peer(&self, node: NodeId) -> bool {
        self.addresses().contains_key(&node)
    }

    /// Forgets `node`'s address and closes its pooled connection.
    pub fn remove_peer(&self, node: NodeId) {
        self.addresses().remove(&node);
        if let Some(connection) = self.inner.pool.remove(node) {
            connection.close(ErrorCode::ShuttingDown.as_quic(), b"peer removed");
        }
    }

    /// Nodes with a live connection, in id order.
    pub fn connected_peers(&self) -> Vec<NodeId> {
        self.inner.pool.connected()
    }

    fn addresses(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, SocketAddr>> {
        self.inner
            .addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes sure a connection to `node` is open (dialing if needed).
    pub async fn connect(&self, node: NodeId) -> Result<(), TransportError> {
        self.connection(node).await.map(|_| ())
    }

    /// Sends a one-way protocol message on a new unidirectional stream.
    /// A broken pooled connection is replaced and the send retried once.
    pub async fn send(&self, node: NodeId, message: &P::Message) -> Result<(), TransportError> {
        self.send_all(node, std::slice::from_ref(message)).await
    }

    /// Sends one-way protocol messages, in order, as consecutive frames of
    /// one new unidirectional stream (one stream for a batch's messages to
    /// a peer rather than one each). Retried once like [`Transport::send`].
    pub async fn send_all(
        &self,
        node: NodeId,
        messages: &[P::Message],
    ) -> Result<(), TransportError> {
        let peer = node.to_string();
        let mut frame = Vec::new();
        for message in messages {
            let encoded = encode_message(message, self.inner.config.max_frame_bytes, &peer)?;
            if frame.is_empty() {
                frame = encoded;
            } else {
                frame.extend_from_slice(&encoded);
            }
        }
        let connection = self.connection(node).await?;
        match send_on_uni(&connection, &frame, &peer).await {
            Err(TransportError::Connection { .. }) => {
                self.inner.pool.forget(node, &connection).await;
                let connection = self.connection(node).await?;
                send_on_uni(&connection, &frame, &peer).await
            }
            result => result,
        }
    }

    /// Sends a request on a new bidirectional stream and waits (up to
    /// `request_timeout`) for the response. Not retried: the request may
    /// have been delivered before a failure.
    pub async fn request(
        &self,
        node: NodeId,
        request: &P::Request,
    ) -> Result<P::Response, TransportError> {
        let peer = node.to_string();
        let config = &self.inner.config;
        let frame = encode_message(request, config.max_frame_bytes, &peer)?;
        let connection = self.connection(node).await?;
        request_on_bi(
            &connection,
            &frame,
            config.max_frame_bytes,
            config.request_timeout,
            &peer,
        )
        .await
    }

    /// The largest datagram payload the connection to `node` carries now
    /// (dialing if needed); keep gossip packets at or under it.
    pub async fn max_datagram_size(&self, node: NodeId) -> Result<usize, TransportError> {
        let connection = self.connection(node).await?;
        datagram_limit(&connection, node)
    }

    /// Sends an unreliable QUIC datagram (gossip) to `node`.
    pub async fn send_datagram(&self, node: NodeId, payload: &[u8]) -> Result<(), TransportError> {
        let connection = self.connection(node).await?;
        match send_datagram_on(&connection, node, payload) {
            Err(TransportError::Connection { .. }) => {
                self.inner.pool.forget(node, &connection).await;
                let connection = self.connection(node).await?;
                send_datagram_on(&connection, node, payload)
            }
            result => result,
        }
    }

    /// Closes every connection and the endpoint, waiting up to
    /// `close_timeout` for peers to be told. Streams still in flight are
    /// abandoned; peers see the close code `ShuttingDown`.
    pub async fn close(&self) {
        let endpoint = &self.inner.endpoint;
        endpoint.close(ErrorCode::ShuttingDown.as_quic(), b"shutting down");
        let _ = tokio::time::timeout(self.inner.config.close_timeout, endpoint.wait_idle()).await;
    }

    /// The pooled connection to `node`, dialing it if there is none.
    async fn connection(&self, node: NodeId) -> Result<quinn::Connection, TransportError> {
        let slot = self.inner.pool.slot(node);
        let mut guard = slot.lock().await;
        if let Some(connection) = guard.as_ref() {
            if connection.close_reason().is_none() {
                return Ok(connection.clone());
            }
        }
        let addr = *self
            .addresses()
            .get(&node)
            .ok_or(TransportError::UnknownPeer(node))?;
        let connection = self.dial(node, addr).await?;
        *guard = Some(connection.clone());
        Ok(connection)
    }

    /// Dials `node` at `addr`: QUIC + TLS (the server must hold the
    /// certificate of `node`), then the hello exchange.
    async fn dial(
        &self,
        node: NodeId,
        addr: SocketAddr,
    ) -> Result<quinn::Connection, TransportError> {
        let inner = &self.inner;
        let peer = node.to_string();
        let refused = |reason: String| {
            tracing::warn!(%peer, %addr, %reason, "cannot connect to node");
            TransportError::Connect {
                peer: peer.clone(),
                addr,
                reason,
            }
        };
        let connecting = inner
            .endpoint
            .connect_with(inner.client_config.clone(), addr, &node_dns_name(node))
            .map_err(|error| refused(error.to_string()))?;
        let attempt = async {
            let connection = connecting
                .await
                .map_err(|error| refused(error.to_string()))?;
            let expected = PeerIdentity::Node(node);
            let found = connection_identity(&connection);
            if found.as_ref() != Ok(&expected) {
                connection.close(ErrorCode::Refused.as_quic(), b"unexpected certificate");
                let found = match found {
                    Ok(identity) => identity.to_string(),
                    Err(error) => error.to_string(),
                };
                tracing::warn!(%addr, %expected, %found, "refusing node with the wrong certificate");
                return Err(TransportError::WrongPeer {
                    addr,
                    expected: expected.to_string(),
                    found,
                });
            }
            if let Err(error) = send_hello(&connection, inner.node, node, &inner.config).await {
                connection.close(ErrorCode::Refused.as_quic(), b"hello failed");
                return Err(error);
            }
            Ok(connection)
        };
        let connection = tokio::time::timeout(inner.config.connect_timeout, attempt)
            .await
            .map_err(|_| TransportError::Timeout {
                what: "connect",
                peer: peer.clone(),
                after: inner.config.connect_timeout,
            })??;
        spawn_readers::<P>(
            connection.clone(),
            PeerIdentity::Node(node),
            inner.incoming.clone(),
            inner.config.max_frame_bytes,
        );
        tracing::debug!(%peer, %addr, "connected to node");
        Ok(connection)
    }
}

/// The payload room of a connection's datagrams, after the version byte.
fn datagram_limit(connection: &quinn::Connection, node: NodeId) -> Result<usize, TransportError> {
    connection
        .max_datagram_size()
        .map(|max| max.saturating_sub(1))
        .ok_or_else(|| TransportError::DatagramsUnsupported {
            peer: node.to_string(),
        })
}

fn send_datagram_on(
    connection: &quinn::Connection,
    node: NodeId,
    payload: &[u8],
) -> Result<(), TransportError> {
    let peer = node.to_string();
    let max = datagram_limit(connection, node)?;
    if payload.len() > max {
        return Err(TransportError::DatagramTooLarge {
            peer,
            bytes: payload.len(),
            max,
        });
    }
    let mut datagram = Vec::with_capacity(payload.len() + 1);
    datagram.push(PROTOCOL_VERSION);
    datagram.extend_from_slice(payload);
    connection
        .send_datagram(datagram.into())
        .map_err(|error| match error {
            quinn::SendDatagramError::ConnectionLost(source) => {
                TransportError::Connection { peer, source }
            }
            quinn::SendDatagramError::TooLarge => TransportError::DatagramTooLarge {
                peer,
                bytes: payload.len(),
                max,
            },
            _ => TransportError::DatagramsUnsupported { peer },
        })
}

/// Accepts connections until the endpoint closes or the transport is dropped.
async fn accept_loop<P: Protocol>(endpoint: quinn::Endpoint, inner: Weak<Inner<P>>) {
    while let Some(incoming) = endpoint.accept().await {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        tokio::spawn(accept_connection(inner, incoming));
    }
}

/// Completes one incoming handshake: TLS (the client certificate must chain
/// to the cluster CA), identity, and for nodes the hello check.
async fn accept_connection<P: Protocol>(inner: Arc<Inner<P>>, incoming: quinn::Incoming) {
    let remote = incoming.remote_address();
    let connection = match incoming.await {
        Ok(connection) => connection,
        Err(error) => {
            tracing::warn!(%remote, %error, "refused an incoming connection during the TLS handshake");
            return;
        }
    };
    let identity = match connection_identity(&connection) {
        Ok(identity) => identity,
        Err(error) => {
            tracing::warn!(%remote, %error, "refused an incoming connection: certificate names no identity");
            connection.close(
                ErrorCode::Refused.as_quic(),
                b"certificate names no identity",
            );
            return;
        }
    };
    if let PeerIdentity::Node(node) = identity {
        if receive_hello(&connection, &identity, inner.node, &inner.config)
            .await
            .is_err()
        {
            return;
        }
        inner.pool.offer(node, &connection);
    }
    tracing::debug!(%remote, peer = %identity, "accepted connection");
    spawn_readers::<P>(
        connection,
        identity,
        inner.incoming.clone(),
        inner.config.max_frame_bytes,
    );
}
