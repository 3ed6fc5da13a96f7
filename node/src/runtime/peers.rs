//! Sending to peers without blocking the event loop: a batch's messages to
//! one peer go out together, on one stream from one task (a stream and a
//! task per message cost more than the message); a peer has at most
//! [`SENDS_IN_FLIGHT_MAX`] messages in
//! flight (more are dropped: the protocol retries lost messages), and a
//! failed send is reported back so the core can mark the peer down.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use zerodb_ring::NodeId;

use crate::api::{NodeMessage, NodeProtocol};
use crate::transport::Transport;

/// Sends to one peer in flight at once, at most.
pub(crate) const SENDS_IN_FLIGHT_MAX: usize = 512;

/// The node's outgoing side.
pub(crate) struct Peers {
    transport: Transport<NodeProtocol>,
    in_flight: BTreeMap<NodeId, Arc<AtomicUsize>>,
    failures: mpsc::UnboundedSender<NodeId>,
    /// Messages dropped because a peer had too many sends in flight.
    pub(crate) dropped: u64,
}

fn tls_id(node: NodeId) -> crate::tls::NodeId {
    crate::tls::NodeId(node.0)
}

impl Peers {
    pub(crate) fn new(
        transport: Transport<NodeProtocol>,
        failures: mpsc::UnboundedSender<NodeId>,
    ) -> Peers {
        Peers {
            transport,
            in_flight: BTreeMap::new(),
            failures,
            dropped: 0,
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

    /// A peer process restarted: drop the pooled connection to its previous
    /// process so the next send dials the new one at `addr`.
    pub(crate) fn reconnect(&self, node: NodeId, addr: std::net::SocketAddr) {
        self.transport.remove_peer(tls_id(node));
        self.transport.add_peer(tls_id(node), addr);
    }
}
