//! Region pinning at the coordinator: a client request for a namespace
//! pinned to regions this node is not in is forwarded to a node in one of
//! those regions, so the transaction's round trips stay inside the region
//! where its data lives. The placement itself (replicas only on in-region
//! nodes) is the ring's, driven by the namespace's policy.
//!
//! The core decides everything about a forward; the driver only carries
//! the [`Output::Ask`] to the peer and hands back what came of it
//! ([`NodeCore::handle_answer`]):
//!
//! - the peer's answer is the client's answer, relayed as it came;
//! - no answer (the driver could not deliver the request or lost the
//!   connection), or none before [`Timer::Ask`] fires
//!   ([`NodeCore::forward_timeout_ms`] after the forward), answers the
//!   client `Timeout { outcome_unknown }`: unknown for a request that
//!   writes (the peer may have committed it), known for a read;
//! - whichever comes first wins; what comes later is ignored.

use zerodb_ring::NodeId;
use zerodb_storage::Engine;
use zerodb_txn::{ClientError, ClientId, Request, Response};

use super::metadata::{namespaces_of, writes};
use super::scan::ScanState;
use super::{AskId, NodeCore, Output, Timer};
use crate::api::{ClientRequest, ClientResponse};

/// How much longer than the transaction layer's request timeout a
/// forwarder waits for the in-region coordinator's answer: that
/// coordinator answers a request it cannot finish with its own timeout, so
/// its answer normally arrives first.
pub const FORWARD_MARGIN_MS: u64 = 1_000;

/// What a request handed to peers ([`Output::Ask`]) is for.
#[derive(Debug)]
pub enum Asked {
    /// A client request forwarded to an in-region node.
    Forward {
        /// The client waiting for the answer.
        client: ClientId,
        /// The node coordinating it.
        to: NodeId,
        /// Whether the request writes (then a lost answer leaves the
        /// outcome unknown).
        writes: bool,
    },
    /// A scan gathering the other nodes' local scans.
    Scan(ScanState),
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

    /// How long a forwarded request may take before its client is answered
    /// with a timeout.
    pub fn forward_timeout_ms(&self) -> u64 {
        self.request_timeout_ms + FORWARD_MARGIN_MS
    }

    /// Hands `request` (already admitted by the gate) to `to` and arms its
    /// deadline.
    pub(super) fn forward(&mut self, now_ms: u64, client: ClientId, to: NodeId, request: Request) {
        let writes = writes(&request);
        let id = self.ask_id();
        self.asks.insert(id, Asked::Forward { client, to, writes });
        self.outbox.push(Output::Ask {
            to,
            id,
            request: ClientRequest::Data(request),
        });
        self.outbox.push(Output::SetTimer {
            at_ms: now_ms + self.forward_timeout_ms(),
            timer: Timer::Ask(id),
        });
    }

    /// A fresh id for a request to peers.
    pub(super) fn ask_id(&mut self) -> AskId {
        self.next_ask += 1;
        AskId(self.next_ask)
    }

    /// What came of request `id` the core sent to `from` with
    /// [`Output::Ask`]: its answer, or `None` when the driver could not
    /// deliver it or lost the answer. Late and unknown answers are ignored.
    pub fn handle_answer(
        &mut self,
        now_ms: u64,
        id: AskId,
        from: NodeId,
        answer: Option<ClientResponse>,
    ) -> Vec<Output> {
        match self.asks.get_mut(&id) {
            Some(Asked::Forward { to, .. }) if *to == from => {
                let Some(Asked::Forward { client, writes, .. }) = self.asks.remove(&id) else {
                    unreachable!("matched a forward above");
                };
                let response = answer.unwrap_or_else(|| forward_lost(writes));
                self.outbox.push(Output::Reply { client, response });
            }
            Some(Asked::Scan(scan)) => {
                let complete = scan.answered(from, answer);
                if complete {
                    self.finish_scan(id);
                }
            }
            _ => {}
        }
        self.finish(now_ms, Vec::new())
    }

    /// The deadline of request `id` passed: a forward still waiting is
    /// answered with a timeout, a scan with what came.
    pub(super) fn ask_expired(&mut self, id: AskId) {
        match self.asks.get(&id) {
            Some(Asked::Forward { .. }) => {
                let Some(Asked::Forward { client, writes, .. }) = self.asks.remove(&id) else {
                    unreachable!("matched a forward above");
                };
                tracing::debug!(node = %self.id, ?client, "a forwarded request timed out");
                let response = forward_lost(writes);
                self.outbox.push(Output::Reply { client, response });
            }
            Some(Asked::Scan(_)) => self.finish_scan(id),
            None => {}
        }
    }

    /// Requests handed to peers and not answered yet.
    pub fn asks_in_flight(&self) -> usize {
        self.asks.len()
    }
}

/// The answer to a forwarded request whose coordinator's answer never
/// came: the peer may have committed a write.
fn forward_lost(writes: bool) -> ClientResponse {
    ClientResponse::Data(Response::Error(ClientError::Timeout {
        outcome_unknown: writes,
    }))
}
