//! The hello exchange that opens every node-to-node connection.
//!
//! After the TLS handshake the dialing node opens the connection's first
//! bidirectional stream and sends [`Hello`] naming the node it claims to be;
//! the accepting node checks the claim against the dialer's certificate and
//! answers [`HelloAck`] with its own id, or an error frame
//! ([`ErrorCode::Refused`]) followed by closing the connection. Clients do
//! not send a hello: their identity is their certificate alone.

use bincode::{Decode, Encode};

use crate::codec::{read_frame, ErrorCode, ErrorFrame, Frame};
use crate::config::TransportConfig;
use crate::error::TransportError;
use crate::streams::{encode_message, reply_and_finish};
use crate::tls::{IdentityError, NodeId, PeerIdentity};

/// First frame of a node-to-node connection, sent by the dialer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Hello {
    /// The node id the dialer claims to be.
    pub node: NodeId,
}

/// The acceptor's answer to a valid [`Hello`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct HelloAck {
    /// The acceptor's node id.
    pub node: NodeId,
}

/// Dialer side: sends our hello and waits for the acknowledgement.
pub(crate) async fn send_hello(
    connection: &quinn::Connection,
    own: NodeId,
    expected: NodeId,
    config: &TransportConfig,
) -> Result<(), TransportError> {
    let peer = expected.to_string();
    let frame = encode_message(&Hello { node: own }, config.max_frame_bytes, &peer)?;
    let ack: HelloAck = crate::streams::request_on_bi(
        connection,
        &frame,
        config.max_frame_bytes,
        config.hello_timeout,
        &peer,
    )
    .await?;
    if ack.node != expected {
        return Err(TransportError::Identity(IdentityError::ClaimMismatch {
            certified: PeerIdentity::Node(expected),
            claimed: ack.node,
        }));
    }
    Ok(())
}

/// Acceptor side: reads the dialer's hello and checks it against the
/// dialer's certificate. On a mismatch the dialer gets an error frame and
/// the connection is closed.
pub(crate) async fn receive_hello(
    connection: &quinn::Connection,
    certified: &PeerIdentity,
    own: NodeId,
    config: &TransportConfig,
) -> Result<(), TransportError> {
    let peer = certified.to_string();
    let exchange = async {
        let (mut send, mut recv) =
            connection
                .accept_bi()
                .await
                .map_err(|source| TransportError::Connection {
                    peer: peer.clone(),
                    source,
                })?;
        let hello = match read_frame::<Hello, _>(&mut recv, config.max_frame_bytes).await {
            Ok(Some(Frame::Message(hello))) => hello,
            Ok(_) => {
                return Err(TransportError::NoResponse { peer: peer.clone() });
            }
            Err(source) => {
                let error = ErrorFrame {
                    code: ErrorCode::for_read_error(&source),
                    message: format!("bad hello: {source}"),
                };
                let _ = reply_and_finish(
                    &mut send,
                    &Frame::<HelloAck>::Error(error),
                    config.max_frame_bytes,
                    &peer,
                )
                .await;
                return Err(TransportError::Frame {
                    peer: peer.clone(),
                    source,
                });
            }
        };
        if let Err(refusal) = certified.check_claim(hello.node) {
            let error = ErrorFrame {
                code: ErrorCode::Refused,
                message: refusal.to_string(),
            };
            let _ = reply_and_finish(
                &mut send,
                &Frame::<HelloAck>::Error(error),
                config.max_frame_bytes,
                &peer,
            )
            .await;
            // Give the error frame a moment to reach the dialer before closing.
            let _ = tokio::time::timeout(config.hello_timeout, send.stopped()).await;
            return Err(TransportError::Identity(refusal));
        }
        reply_and_finish(
            &mut send,
            &Frame::Message(HelloAck { node: own }),
            config.max_frame_bytes,
            &peer,
        )
        .await
    };
    let result = tokio::time::timeout(config.hello_timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(TransportError::Timeout {
                what: "hello",
                peer: peer.clone(),
                after: config.hello_timeout,
            })
        });
    if let Err(error) = &result {
        tracing::warn!(peer = %certified, remote = %connection.remote_address(), %error, "refusing node connection");
        connection.close(ErrorCode::Refused.as_quic(), b"hello refused");
    }
    result
}
