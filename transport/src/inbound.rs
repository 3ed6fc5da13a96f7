//! What arrives from peers: the events handed to the node's event loop, the
//! responder for requests, and the tasks that read one connection.

use std::fmt;

use tokio::sync::mpsc;

use crate::codec::{read_frame, ErrorCode, ErrorFrame, Frame, PROTOCOL_VERSION};
use crate::error::TransportError;
use crate::streams::reply_and_finish;
use crate::tls::PeerIdentity;
use crate::Protocol;

/// One event from a peer, tagged with the identity its certificate names.
pub enum Incoming<P: Protocol> {
    /// A one-way protocol message (sent with `Transport::send`).
    Message {
        /// Who sent it.
        from: PeerIdentity,
        /// The message.
        message: P::Message,
    },
    /// A request; answer it through `responder` (dropping it makes the
    /// requester see "closed the request without a response").
    Request {
        /// Who sent it.
        from: PeerIdentity,
        /// The request.
        request: P::Request,
        /// Where the response goes.
        responder: Responder<P::Response>,
    },
    /// A QUIC datagram (gossip), without its version byte.
    Datagram {
        /// Who sent it.
        from: PeerIdentity,
        /// The payload.
        payload: Vec<u8>,
    },
}

impl<P: Protocol> Incoming<P> {
    /// The sender.
    pub fn from(&self) -> &PeerIdentity {
        match self {
            Incoming::Message { from, .. }
            | Incoming::Request { from, .. }
            | Incoming::Datagram { from, .. } => from,
        }
    }
}

impl<P: Protocol> fmt::Debug for Incoming<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Incoming::Message { .. } => "Message",
            Incoming::Request { .. } => "Request",
            Incoming::Datagram { .. } => "Datagram",
        };
        write!(f, "Incoming::{kind} from {}", self.from())
    }
}

/// Sends the response to one request. `Send + 'static`, so the event loop
/// may keep it until the answer is ready (for example until a quorum replied).
pub struct Responder<R> {
    send: quinn::SendStream,
    peer: PeerIdentity,
    max_frame_bytes: u32,
    _response: std::marker::PhantomData<fn(R)>,
}

impl<R: bincode::Encode> Responder<R> {
    /// Sends `response` and finishes the stream.
    pub async fn respond(mut self, response: R) -> Result<(), TransportError> {
        let peer = self.peer.to_string();
        reply_and_finish(
            &mut self.send,
            &Frame::Message(response),
            self.max_frame_bytes,
            &peer,
        )
        .await
    }

    /// Sends an error frame instead of a response.
    pub async fn refuse(mut self, error: ErrorFrame) -> Result<(), TransportError> {
        let peer = self.peer.to_string();
        reply_and_finish(
            &mut self.send,
            &Frame::<R>::Error(error),
            self.max_frame_bytes,
            &peer,
        )
        .await
    }

    /// Who asked.
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }
}

impl<R> fmt::Debug for Responder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Responder to {}", self.peer)
    }
}

/// Reads everything a peer sends on `connection` and forwards it to
/// `incoming` until the connection closes or the receiver is dropped.
pub(crate) fn spawn_readers<P: Protocol>(
    connection: quinn::Connection,
    from: PeerIdentity,
    incoming: mpsc::Sender<Incoming<P>>,
    max_frame_bytes: u32,
) {
    let (uni_connection, uni_from, uni_incoming) =
        (connection.clone(), from.clone(), incoming.clone());
    tokio::spawn(async move {
        while let Ok(recv) = uni_connection.accept_uni().await {
            let (from, incoming) = (uni_from.clone(), uni_incoming.clone());
            tokio::spawn(read_messages::<P>(recv, from, incoming, max_frame_bytes));
        }
    });
    let (bi_connection, bi_from, bi_incoming) =
        (connection.clone(), from.clone(), incoming.clone());
    tokio::spawn(async move {
        while let Ok((send, recv)) = bi_connection.accept_bi().await {
            let (from, incoming) = (bi_from.clone(), bi_incoming.clone());
            tokio::spawn(read_request::<P>(
                send,
                recv,
                from,
                incoming,
                max_frame_bytes,
            ));
        }
    });
    tokio::spawn(async move {
        while let Ok(datagram) = connection.read_datagram().await {
            let Some((&version, payload)) = datagram.split_first() else {
                continue;
            };
            if version != PROTOCOL_VERSION {
                tracing::warn!(peer = %from, version, expected = PROTOCOL_VERSION, "dropping datagram of another protocol version");
                continue;
            }
            let event = Incoming::Datagram {
                from: from.clone(),
                payload: payload.to_vec(),
            };
            if incoming.send(event).await.is_err() {
                break;
            }
        }
    });
}

/// Reads message frames from one unidirectional stream until it ends.
async fn read_messages<P: Protocol>(
    mut recv: quinn::RecvStream,
    from: PeerIdentity,
    incoming: mpsc::Sender<Incoming<P>>,
    max_frame_bytes: u32,
) {
    loop {
        match read_frame::<P::Message, _>(&mut recv, max_frame_bytes).await {
            Ok(None) => return,
            Ok(Some(Frame::Message(message))) => {
                let event = Incoming::Message {
                    from: from.clone(),
                    message,
                };
                if incoming.send(event).await.is_err() {
                    return;
                }
            }
            Ok(Some(Frame::Error(error))) => {
                tracing::warn!(peer = %from, ?error, "peer sent an error frame on a message stream");
            }
            Err(error) => {
                // A one-way stream cannot carry an error frame back: stop it
                // with the error code so the sender's stream reports it.
                tracing::warn!(peer = %from, %error, "closing message stream after a bad frame");
                let _ = recv.stop(ErrorCode::for_read_error(&error).as_quic());
                return;
            }
        }
    }
}

/// Reads the request frame of one bidirectional stream.
async fn read_request<P: Protocol>(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    from: PeerIdentity,
    incoming: mpsc::Sender<Incoming<P>>,
    max_frame_bytes: u32,
) {
    let peer = from.to_string();
    match read_frame::<P::Request, _>(&mut recv, max_frame_bytes).await {
        Ok(Some(Frame::Message(request))) => {
            let responder = Responder {
                send,
                peer: from.clone(),
                max_frame_bytes,
                _response: std::marker::PhantomData,
            };
            let _ = incoming
                .send(Incoming::Request {
                    from,
                    request,
                    responder,
                })
                .await;
        }
        Ok(Some(Frame::Error(error))) => {
            tracing::warn!(%peer, ?error, "peer sent an error frame as a request");
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%peer, %error, "refusing a bad request frame");
            let code = ErrorCode::for_read_error(&error);
            let reply = Frame::<()>::Error(ErrorFrame {
                code,
                message: error.to_string(),
            });
            let _ = reply_and_finish(&mut send, &reply, max_frame_bytes, &peer).await;
            let _ = recv.stop(code.as_quic());
        }
    }
}
