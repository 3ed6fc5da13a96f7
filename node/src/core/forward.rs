//! Region pinning at the coordinator: a client request for a namespace
//! pinned to regions this node is not in is forwarded to a node in one of
//! those regions, so the transaction's round trips stay inside the region
//! where its data lives. The placement itself (replicas only on in-region
//! nodes) is the ring's, driven by the namespace's policy.

use zerodb_ring::NodeId;
use zerodb_storage::Engine;
use zerodb_txn::{ClientId, Request};

use super::metadata::namespaces_of;
use super::NodeCore;

/// A client request to hand to another node (the driver sends it and
/// relays the answer to the client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// The client's id at this node.
    pub client: ClientId,
    /// The in-region node to coordinate it.
    pub to: NodeId,
    /// The request (already admitted by this node's gate).
    pub request: Request,
}

impl<E: Engine> NodeCore<E> {
    /// The in-region node that should coordinate `request`, when its
    /// namespace is pinned to regions without this node; `None` to
    /// coordinate here (not pinned, in-region, or no in-region node up).
    pub(super) fn forward_target(
        &self,
        now_ms: u64,
        client: ClientId,
        request: &Request,
    ) -> Option<NodeId> {
        let namespace = namespaces_of(request).into_iter().next()?;
        let regions = &self.policies.namespaces.get(&namespace)?.regions;
        if regions.is_empty() {
            return None;
        }
        let mine = self.cluster.member(self.id.0)?;
        if regions.contains(&mine.region) {
            return None;
        }
        let candidates: Vec<NodeId> = self
            .cluster
            .members
            .iter()
            .filter(|member| regions.contains(&member.region))
            .map(|member| NodeId(member.id))
            .filter(|node| !self.is_down(now_ms, *node))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[(client.0 % candidates.len() as u64) as usize])
    }

    /// Requests to forward, for the driver (after the batch's sync).
    pub fn take_forwards(&mut self) -> Vec<Forward> {
        std::mem::take(&mut self.forwards)
    }
}
