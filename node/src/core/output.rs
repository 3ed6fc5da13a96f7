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

/// Removes the messages addressed to `me` that `take` accepts from
/// `outputs`, keeping the order of the rest (the batch handles them in its
/// next round).
pub fn take_sends_to(
    me: NodeId,
    outputs: &mut Vec<Output>,
    take: impl Fn(&NodeMessage) -> bool,
) -> Vec<NodeMessage> {
    let mut mine = Vec::new();
    let mut rest = Vec::with_capacity(outputs.len());
    for output in outputs.drain(..) {
        match output {
            Output::Send { to, msg } if to == me && take(&msg) => mine.push(msg),
            other => rest.push(other),
        }
    }
    *outputs = rest;
    mine
}

/// Whether the driver may carry out `output` before the sync of the batch
/// that produced it (group commit, DESIGN.md 6.1: a node writes its own
/// prepare while its peers write theirs). Requests may
/// ([`zerodb_txn::Message::is_request`]): a node's answers to itself are
/// counted only in a later batch (see [`super::NodeCore::handle_batch`]),
/// so no request rests on an unsynced vote. So may timers, gossip datagrams
/// (they depend on no write) and asks (a request forwarded for a client
/// or a scan, which rests on nothing this node wrote). Answers to clients
/// and every other message wait for the sync.
pub fn before_sync(output: &Output) -> bool {
    match output {
        Output::Send {
            msg: NodeMessage::Txn(msg),
            ..
        } => msg.is_request(),
        Output::Send { .. } | Output::Reply { .. } => false,
        Output::Datagram { .. } | Output::SetTimer { .. } | Output::Ask { .. } => true,
    }
}

/// Whether the driver must sync the batch that produced `outputs` before
/// carrying out the ones that wait for it (DESIGN.md 6.1 step 5): it must
/// when one of them does not go [`before_sync`]. A batch with nothing
/// waiting (an `Apply`, a timer) skips its sync: its writes (an apply and
/// its `Resolved` marker) reach the disk with the next sync, which the
/// engine's ordered log makes cover them before anything that could rest
/// on them leaves the node.
pub fn must_sync_before(outputs: &[Output]) -> bool {
    !outputs.iter().all(before_sync)
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
        let mine = take_sends_to(me, &mut outputs, |_| true);
        assert_eq!(mine, vec![stored(2), stored(3)]);
        assert_eq!(outputs, vec![send(2, 1), timer, send(3, 4)]);
        assert!(take_sends_to(me, &mut outputs, |_| true).is_empty());
        assert_eq!(outputs.len(), 3);
    }

    #[test]
    fn requests_timers_and_datagrams_go_before_the_sync_answers_after() {
        let timer = Output::SetTimer {
            at_ms: 10,
            timer: Timer::Gossip,
        };
        let datagram = Output::Datagram {
            to: NodeId(2),
            addr: "127.0.0.1:7401".parse().expect("address"),
            bytes: vec![1],
        };
        let txn = |to: u32, msg: Message| Output::Send {
            to: NodeId(to),
            msg: NodeMessage::Txn(Box::new(msg)),
        };
        let request = txn(2, Message::ClockAsk { req: 1 });
        let ask = Output::Ask {
            to: NodeId(3),
            id: AskId(1),
            request: ClientRequest::Info,
        };
        assert!(!must_sync_before(&[]));
        assert!(!must_sync_before(&[
            timer.clone(),
            datagram,
            request.clone(),
            ask
        ]));
        // An answer waits, to a peer or to the node itself (counted in a
        // later batch, after the sync).
        assert!(must_sync_before(&[
            timer.clone(),
            request.clone(),
            stored_to(2)
        ]));
        assert!(must_sync_before(&[stored_to(1)]));
        let reply = Output::Reply {
            client: ClientId(7),
            response: ClientResponse::Error(crate::api::ServiceError::Refused {
                reason: "test".into(),
            }),
        };
        assert!(must_sync_before(&[request, reply]));
        let hello = Output::Send {
            to: NodeId(2),
            msg: NodeMessage::Hello { boot: 1 },
        };
        assert!(!before_sync(&hello));
    }

    fn stored_to(to: u32) -> Output {
        Output::Send {
            to: NodeId(to),
            msg: stored(9),
        }
    }
}
