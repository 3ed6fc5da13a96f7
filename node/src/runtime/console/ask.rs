//! The console's questions to the event loop, which owns the node core:
//! each carries a oneshot for its answer, so an HTTP handler never touches
//! the core and the loop never waits on HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::oneshot;
use zerodb_gossip::Liveness;
use zerodb_ring::{NodeId, NodeStatus};
use zerodb_txn::Key;

use super::views::{
    namespaces_view, ring_view, FiguresView, NamespacesView, NodeFigures, PlacementView, RingView,
    TokenView,
};
use crate::api::{ClientRequest, ClientResponse, QueryAnswer, QueryRequest};
use crate::core::metadata::Caller;
use crate::core::PlacementError;
use crate::runtime::event_loop::EventLoop;

/// How long the figures of a peer are waited for: the page asks every
/// 2 s, and a down peer must not hold up the others' figures.
const PEER_FIGURES_WAIT: Duration = Duration::from_millis(1_000);

/// A question of the console to the event loop.
pub(crate) enum Ask {
    /// The ring with health.
    Ring(oneshot::Sender<RingView>),
    /// Where a key lives: its four parts, or why not.
    Placement(
        [String; 4],
        oneshot::Sender<Result<PlacementView, PlacementError>>,
    ),
    /// Namespaces, policies and roles.
    Namespaces(oneshot::Sender<NamespacesView>),
    /// Every member's figures (this node's and its peers').
    Figures(oneshot::Sender<Vec<NodeFigures>>),
    /// Run zeroql as `caller`.
    Query {
        /// Whose roles the statements run with.
        caller: Caller,
        /// The statements.
        request: QueryRequest,
        /// The answer.
        reply: oneshot::Sender<QueryAnswer>,
    },
}

impl EventLoop {
    /// Answers (or starts answering) one question of the console.
    pub(crate) fn console(&mut self, ask: Ask) {
        match ask {
            Ask::Ring(reply) => {
                let _ = reply.send(self.ring_view());
            }
            Ask::Placement(parts, reply) => {
                let [namespace, database, table, id] = &parts;
                let key = Key::new(namespace, database, table, id.as_bytes());
                let answer = self
                    .core
                    .placement_of(&key)
                    .map(|placement| PlacementView::new(parts.clone(), &placement));
                let _ = reply.send(answer);
            }
            Ask::Namespaces(reply) => {
                let _ = reply.send(namespaces_view(self.core.catalog()));
            }
            Ask::Figures(reply) => self.figures(reply),
            Ask::Query {
                caller,
                request,
                reply,
            } => {
                let core = self.local_core(caller);
                let eventual = self.eventual_namespaces();
                tokio::spawn(async move {
                    let answer = crate::query::run_query(&core, request, &eventual).await;
                    let _ = reply.send(answer);
                });
            }
        }
    }

    fn ring_view(&self) -> RingView {
        let status = self.core.status(self.clock.now_ms());
        let ring = self.core.ring();
        let tokens = ring
            .tokens()
            .map(|(token, node)| TokenView::new(token, node))
            .collect();
        let statuses: BTreeMap<u32, NodeStatus> = ring
            .members()
            .map(|member| (member.id.0, member.status))
            .collect();
        ring_view(&status, tokens, &statuses)
    }

    /// This node's figures now; its peers' from a task, each waited for at
    /// most [`PEER_FIGURES_WAIT`].
    fn figures(&mut self, reply: oneshot::Sender<Vec<NodeFigures>>) {
        let me = self.core.id();
        let started = self.started;
        let now_ms = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let own = NodeFigures {
            node: me.0,
            sampled_ms: now_ms(),
            figures: Some(FiguresView::from(&self.info())),
            error: None,
        };
        // A peer gossip holds down is not asked: the page would wait for
        // it on every refresh.
        let (peers, down): (Vec<NodeId>, Vec<NodeId>) = self
            .other_members()
            .into_iter()
            .partition(|node| self.core.gossip().liveness_of(*node) != Liveness::Down);
        let down = down.into_iter().map(|node| NodeFigures {
            node: node.0,
            sampled_ms: now_ms(),
            figures: None,
            error: Some("down (gossip); not asked".into()),
        });
        let mut all: Vec<NodeFigures> = std::iter::once(own).chain(down).collect();
        let transport = self.peers.transport().clone();
        tokio::spawn(async move {
            let asks = peers.into_iter().map(|node| {
                let transport = transport.clone();
                async move {
                    let peer = zerodb_transport::tls::NodeId(node.0);
                    let asked = transport.request(peer, &ClientRequest::Info);
                    let (figures, error) =
                        match tokio::time::timeout(PEER_FIGURES_WAIT, asked).await {
                            Ok(Ok(ClientResponse::Info(info))) => {
                                (Some(FiguresView::from(&info)), None)
                            }
                            Ok(Ok(other)) => (None, Some(format!("unexpected answer {other:?}"))),
                            Ok(Err(error)) => (None, Some(error.to_string())),
                            Err(_) => (
                                None,
                                Some(format!(
                                    "no answer within {} ms",
                                    PEER_FIGURES_WAIT.as_millis()
                                )),
                            ),
                        };
                    NodeFigures {
                        node: node.0,
                        sampled_ms: now_ms(),
                        figures,
                        error,
                    }
                }
            });
            for figures in futures_join(asks).await {
                all.push(figures);
            }
            all.sort_by_key(|figures| figures.node);
            let _ = reply.send(all);
        });
    }
}

/// Runs the futures concurrently and returns their outputs in order (a
/// ring has at most a few dozen members: one task each is cheap).
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(output) = task.await {
            outputs.push(output);
        }
    }
    outputs
}
