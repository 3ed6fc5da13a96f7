//! Sending to peers without blocking the event loop: a batch's messages to
//! one peer go out together, on one stream from one task (a stream and a
//! task per message cost more than the message); a peer has at most
//! [`SENDS_IN_FLIGHT_MAX`] messages in
//! flight (more are dropped: the protocol retries lost messages), and a
//! failed send is reported back so the core can mark the peer down.
//!
//! Gossip datagrams travel as QUIC datagrams on the same pooled
//! connections, at most [`DATAGRAMS_IN_FLIGHT_MAX`] per peer at once
//! (dialing a dead peer can take the connect timeout); a failed datagram
//! is only logged, since gossip detects unreachable peers itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use zerodb_ring::NodeId;

use super::NodeProtocol;
use crate::api::NodeMessage;
use crate::core::gossip::Datagram;
use zerodb_transport::{Transport, TransportError};

/// Sends to one peer in flight at once, at most.
pub(crate) const SENDS_IN_FLIGHT_MAX: usize = 512;

/// Gossip datagrams to one peer in flight at once, at most (more are
/// dropped; gossip tolerates loss).
pub(crate) const DATAGRAMS_IN_FLIGHT_MAX: usize = 64;

/// How long shutdown waits for the leave datagrams to go out.
pub(crate) const LEAVE_SEND_WAIT: Duration = Duration::from_millis(500);

/// How long shutdown lets the connections transmit queued datagrams before
/// the endpoint closes (closing discards datagrams still queued, and quinn
/// does not report when a datagram has left).
pub(crate) const LEAVE_TRANSMIT_WAIT: Duration = Duration::from_millis(100);

/// The node's outgoing side.
pub(crate) struct Peers {
    transport: Transport<NodeProtocol>,
    in_flight: BTreeMap<NodeId, Arc<AtomicUsize>>,
    datagrams_in_flight: BTreeMap<NodeId, Arc<AtomicUsize>>,
    /// Nodes whose address the transport was given.
    addressed: BTreeSet<NodeId>,
    failures: mpsc::UnboundedSender<NodeId>,
    /// Messages dropped because a peer had too many sends in flight.
    pub(crate) dropped: u64,
    /// Gossip datagrams dropped for the same reason.
    pub(crate) datagrams_dropped: u64,
}

fn tls_id(node: NodeId) -> zerodb_transport::tls::NodeId {
    zerodb_transport::tls::NodeId(node.0)
}

impl Peers {
    pub(crate) fn new(
        transport: Transport<NodeProtocol>,
        failures: mpsc::UnboundedSender<NodeId>,
    ) -> Peers {
        Peers {
            transport,
            in_flight: BTreeMap::new(),
            datagrams_in_flight: BTreeMap::new(),
            addressed: BTreeSet::new(),
            failures,
            dropped: 0,
            datagrams_dropped: 0,
        }
    }

    pub(crate) fn transport(&self) -> &Transport<NodeProtocol> {
        &self.transport
    }

    /// Sends `message` to `node` from a new task.
    pub(crate) fn send(&mut self, node: NodeId, message: NodeMessage) {
        self.send_all(node, vec![message]);
    }

    /// Sends `messages` to `node`, in order, on one stream from one new
    /// task (a batch's messages to one peer travel together).
    pub(crate) fn send_all(&mut self, node: NodeId, messages: Vec<NodeMessage>) {
        let count = messages.len();
        let counter = self.in_flight.entry(node).or_default().clone();
        if count == 0 {
            return;
        }
        // One group may overshoot the limit: it is one stream, and cutting
        // a batch's messages in two would only add retries.
        if counter.load(Ordering::Relaxed) >= SENDS_IN_FLIGHT_MAX {
            self.dropped += count as u64;
            return;
        }
        counter.fetch_add(count, Ordering::Relaxed);
        let transport = self.transport.clone();
        let failures = self.failures.clone();
        tokio::spawn(async move {
            let result = transport.send_all(tls_id(node), &messages).await;
            counter.fetch_sub(count, Ordering::Relaxed);
            if let Err(error) = result {
                tracing::debug!(peer = %node, %error, "send failed");
                let _ = failures.send(node);
            }
        });
    }

    /// Sends a gossip datagram from a new task. A node the transport has no
    /// address for yet (one gossip told us about) gets the address gossip
    /// knows.
    pub(crate) fn send_datagram(&mut self, datagram: Datagram) {
        let Datagram { to, addr, bytes } = datagram;
        if self.addressed.insert(to) && !self.transport.knows_peer(tls_id(to)) {
            self.transport.add_peer(tls_id(to), addr);
        }
        let counter = self.datagrams_in_flight.entry(to).or_default().clone();
        if counter.load(Ordering::Relaxed) >= DATAGRAMS_IN_FLIGHT_MAX {
            self.datagrams_dropped += 1;
            return;
        }
        counter.fetch_add(1, Ordering::Relaxed);
        let transport = self.transport.clone();
        tokio::spawn(async move {
            let result = transport.send_datagram(tls_id(to), &bytes).await;
            counter.fetch_sub(1, Ordering::Relaxed);
            log_datagram_failure(to, result);
        });
    }

    /// Sends datagrams and waits (at most [`LEAVE_SEND_WAIT`]) until they
    /// are handed to QUIC: the leave notice at shutdown.
    pub(crate) async fn flush_datagrams(&self, datagrams: Vec<Datagram>) {
        let sends = datagrams.into_iter().map(|datagram| {
            let transport = self.transport.clone();
            async move {
                let result = transport
                    .send_datagram(tls_id(datagram.to), &datagram.bytes)
                    .await;
                log_datagram_failure(datagram.to, result);
            }
        });
        let all = async {
            for send in sends {
                send.await;
            }
        };
        let _ = tokio::time::timeout(LEAVE_SEND_WAIT, all).await;
        tokio::time::sleep(LEAVE_TRANSMIT_WAIT).await;
    }

    /// A peer process restarted: drop the pooled connection to its previous
    /// process so the next send dials the new one at `addr`.
    pub(crate) fn reconnect(&self, node: NodeId, addr: std::net::SocketAddr) {
        self.transport.remove_peer(tls_id(node));
        self.transport.add_peer(tls_id(node), addr);
    }
}

fn log_datagram_failure(to: NodeId, result: Result<(), TransportError>) {
    match result {
        Ok(()) => {}
        Err(error @ TransportError::DatagramTooLarge { .. }) => {
            tracing::warn!(peer = %to, %error, "gossip datagram too large for the connection");
        }
        Err(error) => tracing::debug!(peer = %to, %error, "gossip datagram not sent"),
    }
}
