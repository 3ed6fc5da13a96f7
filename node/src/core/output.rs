//! What the node core asks its driver to do ([`Output`]) and the one timer
//! model it uses ([`Timer`]).
//!
//! Every `handle_*` method of [`NodeCore`] (and [`NodeCore::start`])
//! returns a list of outputs; the driver carries them out in order after
//! the batch's sync (DESIGN.md section 1): it moves bytes and keeps time,
//! and decides nothing. Timers come back as values: a driver keeps the
//! `(at_ms, timer)` pairs it was given and calls [`NodeCore::handle_timer`]
//! once its clock reaches `at_ms`. A timer is never cancelled; one that has
//! nothing left to do when it fires is ignored, so a driver may keep
//! duplicates and may fire a timer late, but never early.
//!
//! [`NodeCore`]: super::NodeCore
//! [`NodeCore::start`]: super::NodeCore::start
//! [`NodeCore::handle_timer`]: super::NodeCore::handle_timer

use std::net::SocketAddr;

use zerodb_ring::NodeId;
use zerodb_txn::{Action, ClientId};

use crate::api::{ClientRequest, ClientResponse, NodeMessage};

/// Identifies one request the core sent to a peer node with
/// [`Output::Ask`]; the driver hands it back with the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AskId(pub u64);

/// A timer of the node core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// The transaction layer's timer (its periodic tick).
    Txn(zerodb_txn::Timer),
    /// Gossip's earliest deadline: the core fires every gossip timer due
    /// then and asks for the next deadline.
    Gossip,
    /// The deadline of a request this node handed to peers (a forwarded
    /// request or a scan): what has not answered by then never will.
    Ask(AskId),
}

/// Something the driver must do for the core, after the batch's sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send a message to a peer node (reliable, ordered per peer as far as
    /// the transport goes; the protocol tolerates loss). A message to this
    /// node itself is handed back to the core in the same batch (see
    /// [`super::NodeCore::handle_batch`]).
    Send {
        /// Destination.
        to: NodeId,
        /// The message.
        msg: NodeMessage,
    },
    /// Answer a client request.
    Reply {
        /// The id the driver gave the request.
        client: ClientId,
        /// The answer.
        response: ClientResponse,
    },
    /// Send a gossip datagram (unreliable; it depends on no write).
    Datagram {
        /// Destination node.
        to: NodeId,
        /// Its address as gossip knows it (the transport may dial it).
        addr: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// Send `request` to node `to` as a request from a node and hand its
    /// answer back with [`super::NodeCore::handle_answer`] (or report that
    /// none came). Forwarded client requests and a scan's local scans
    /// travel this way.
    Ask {
        /// The node to ask.
        to: NodeId,
        /// Which of the core's requests this is.
        id: AskId,
        /// The request.
        request: ClientRequest,
    },
    /// Call [`super::NodeCore::handle_timer`] with `timer` once the clock
    /// reaches `at_ms`.
    SetTimer {
        /// When.
        at_ms: u64,
        /// Which timer.
        timer: Timer,
    },
}

impl From<Action> for Output {
    fn from(action: Action) -> Output {
        match action {
            Action::Send { to, msg } => Output::Send {
                to,
                msg: NodeMessage::Txn(Box::new(msg)),
            },
            Action::Reply { client, response } => Output::Reply {
                client,
                response: ClientResponse::Data(response),
            },
            Action::SetTimer { at_ms, timer } => Output::SetTimer {
                at_ms,
                timer: Timer::Txn(timer),
            },
        }
    }
}

/// Removes the messages addressed to `me` from `outputs`, keeping the
/// order of the rest (a driver handles them inside the batch).
pub fn take_sends_to(me: NodeId, outputs: &mut Vec<Output>) -> Vec<NodeMessage> {
    let mut mine = Vec::new();
    let mut rest = Vec::with_capacity(outputs.len());
    for output in outputs.drain(..) {
        match output {
            Output::Send { to, msg } if to == me => mine.push(msg),
            other => rest.push(other),
        }
    }
    *outputs = rest;
    mine
}

/// Whether the driver must sync the batch that produced `outputs` before
/// carrying them out (DESIGN.md 6.1 step 5). It must when one of them
/// leaves the node and may tell a peer or a client something that rests on
/// the batch's writes: a message to another node, an answer, an ask. A
/// batch whose outputs are only timers, gossip datagrams (they depend on no
/// write) and messages to the node itself (handled by a later batch, lost
/// with its writes in a crash) skips its sync: an `Apply` and its
/// `Resolved` marker reach the disk with the next sync, which the engine's
/// ordered log makes cover them before anything that could depend on them
/// leaves.
pub fn must_sync_before(me: NodeId, outputs: &[Output]) -> bool {
    outputs.iter().any(|output| match output {
        Output::Send { to, .. } => *to != me,
        Output::Reply { .. } | Output::Ask { .. } => true,
        Output::Datagram { .. } | Output::SetTimer { .. } => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerodb_txn::Message;

    fn stored(req: u128) -> NodeMessage {
        NodeMessage::Txn(Box::new(Message::Stored { req }))
    }

    #[test]
    fn sends_to_self_are_taken_out_and_the_rest_keep_their_order() {
        let me = NodeId(1);
        let send = |to: u32, req: u128| Output::Send {
            to: NodeId(to),
            msg: stored(req),
        };
        let timer = Output::SetTimer {
            at_ms: 10,
            timer: Timer::Gossip,
        };
        let mut outputs = vec![
            send(2, 1),
            send(1, 2),
            timer.clone(),
            send(1, 3),
            send(3, 4),
        ];
        let mine = take_sends_to(me, &mut outputs);
        assert_eq!(mine, vec![stored(2), stored(3)]);
        assert_eq!(outputs, vec![send(2, 1), timer, send(3, 4)]);
        assert!(take_sends_to(me, &mut outputs).is_empty());
        assert_eq!(outputs.len(), 3);
    }

    #[test]
    fn only_outputs_that_leave_the_node_with_news_need_the_sync() {
        let me = NodeId(1);
        let timer = Output::SetTimer {
            at_ms: 10,
            timer: Timer::Gossip,
        };
        let datagram = Output::Datagram {
            to: NodeId(2),
            addr: "127.0.0.1:7401".parse().expect("address"),
            bytes: vec![1],
        };
        let to_self = Output::Send {
            to: me,
            msg: stored(1),
        };
        assert!(!must_sync_before(me, &[]));
        assert!(!must_sync_before(me, &[timer.clone(), datagram, to_self]));
        let to_peer = Output::Send {
            to: NodeId(2),
            msg: stored(2),
        };
        assert!(must_sync_before(me, &[timer.clone(), to_peer]));
        let reply = Output::Reply {
            client: ClientId(7),
            response: ClientResponse::Error(crate::api::ServiceError::Refused {
                reason: "test".into(),
            }),
        };
        assert!(must_sync_before(me, &[reply]));
        let ask = Output::Ask {
            to: NodeId(3),
            id: AskId(1),
            request: ClientRequest::Info,
        };
        assert!(must_sync_before(me, &[timer, ask]));
    }
}
