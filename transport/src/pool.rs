//! One connection per peer node, reused by every send, request and
//! datagram, and replaced when it breaks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::tls::NodeId;

/// A slot holds the live connection to one node, if any. Its async lock is
/// held while dialing, so concurrent senders share one dial.
pub(crate) type Slot = Arc<tokio::sync::Mutex<Option<quinn::Connection>>>;

/// The connection pool, keyed by node id.
#[derive(Default)]
pub(crate) struct Pool {
    slots: Mutex<BTreeMap<NodeId, Slot>>,
}

fn is_alive(connection: &quinn::Connection) -> bool {
    connection.close_reason().is_none()
}

impl Pool {
    /// The slot of `node`, created empty on first use.
    pub(crate) fn slot(&self, node: NodeId) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(node).or_default().clone()
    }

    /// The live pooled connection to `node`, without dialing.
    pub(crate) fn live(&self, node: NodeId) -> Option<quinn::Connection> {
        let slot = self.slot(node);
        let guard = slot.try_lock().ok()?;
        let connection = guard
            .as_ref()
            .filter(|connection| is_alive(connection))
            .cloned();
        connection
    }

    /// Offers a connection the peer dialed to us: it becomes the pooled one
    /// unless a live connection is there or a dial is in progress.
    pub(crate) fn offer(&self, node: NodeId, connection: &quinn::Connection) {
        let slot = self.slot(node);
        let Ok(mut guard) = slot.try_lock() else {
            return;
        };
        if !guard.as_ref().is_some_and(is_alive) {
            *guard = Some(connection.clone());
        }
    }

    /// Drops `connection` from the pool if it is still the pooled one.
    pub(crate) async fn forget(&self, node: NodeId, connection: &quinn::Connection) {
        let slot = self.slot(node);
        let mut guard = slot.lock().await;
        if guard
            .as_ref()
            .is_some_and(|pooled| pooled.stable_id() == connection.stable_id())
        {
            *guard = None;
        }
    }

    /// Removes the slot of `node`, returning its connection.
    pub(crate) fn remove(&self, node: NodeId) -> Option<quinn::Connection> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&node)?;
        let guard = slot.try_lock().ok()?;
        let connection = guard.clone();
        drop(guard);
        connection
    }

    /// Nodes with a live pooled connection, in id order.
    pub(crate) fn connected(&self) -> Vec<NodeId> {
        let nodes: Vec<NodeId> = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        nodes
            .into_iter()
            .filter(|node| self.live(*node).is_some())
            .collect()
    }
}
