//! Batches: the one way both drivers (the runtime and the simulator) feed
//! the core, so that the simulator tests what runs.
//!
//! A driver gathers at most [`BATCH_INPUTS_MAX`] [`Input`]s, hands them to
//! [`NodeCore::handle_batch`], carries out the outputs that may go before
//! the sync ([`super::before_sync`]: requests to peers, timers), calls
//! [`NodeCore::sync`] once if anything else is left
//! ([`super::must_sync_before`]), and only then carries out the rest
//! (DESIGN.md section 1 and 6.1, group commit).
//!
//! Requests the node sends itself never leave it: the batch handles them
//! too, for at most [`LOCAL_ROUNDS_MAX`] rounds, so that their writes share
//! the batch's sync (a crash before the sync loses the sender's and the
//! receiver's state together, as if the request had never been sent). The
//! node's answers to itself (a grant, an accept, a promise) are not handled
//! in the batch: they stay among the outputs as [`Output::Send`] to this
//! node, wait for the sync like every answer, and the driver hands them
//! back as input of its next batch. So a vote of the node is counted only
//! once it is durable, and a request that rests on votes (a `Decide`, an
//! `Apply`) may leave before the sync of the batch that sent it. Requests
//! left after the last round come back the same way, and so does the
//! node's own `Apply`: the batch that learns a commit answers its client,
//! and the apply's write would otherwise hold that answer for a sync.

use zerodb_ring::NodeId;
use zerodb_storage::Engine;
use zerodb_txn::{ClientId, Message};

use super::metadata::Caller;
use super::output::take_sends_to;
use super::{AskId, NodeCore, Output, Timer};
use crate::api::{ClientRequest, ClientResponse, NodeMessage};

/// Most inputs a driver hands to one batch (one sync).
pub const BATCH_INPUTS_MAX: usize = 256;

/// Rounds of messages to itself a node handles inside one batch; what is
/// left waits for the next batch (bounds a batch that keeps talking to
/// itself).
pub const LOCAL_ROUNDS_MAX: usize = 8;

/// One input of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A message from a peer node (or from this node, left over from the
    /// previous batch).
    Message {
        /// The sender, as the transport authenticated it.
        from: NodeId,
        /// The message.
        msg: NodeMessage,
    },
    /// A request from a client or a peer.
    Request {
        /// The id the driver gave the request (unique among its pending
        /// requests, below [`super::metadata::INTERNAL_CLIENT_BASE`]).
        client: ClientId,
        /// Who sent it.
        caller: Caller,
        /// The request.
        request: ClientRequest,
    },
    /// A gossip datagram.
    Datagram {
        /// The sender, as the transport authenticated it.
        from: NodeId,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// What came of an [`Output::Ask`].
    Answer {
        /// The ask.
        id: AskId,
        /// The node asked.
        from: NodeId,
        /// Its answer; `None` when it could not be asked or did not answer.
        answer: Option<ClientResponse>,
    },
    /// A timer's time came.
    Timer(Timer),
    /// A send to this node failed: hold it down for a while.
    Unreachable(NodeId),
}

impl<E: Engine> NodeCore<E> {
    /// Handles one input.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Output> {
        match input {
            Input::Message { from, msg } => self.handle_message(now_ms, from, msg),
            Input::Request {
                client,
                caller,
                request,
            } => self.handle_client_request(now_ms, client, caller, request),
            Input::Datagram { from, bytes } => self.handle_datagram(now_ms, from, &bytes),
            Input::Answer { id, from, answer } => self.handle_answer(now_ms, id, from, answer),
            Input::Timer(timer) => self.handle_timer(now_ms, timer),
            Input::Unreachable(node) => {
                self.peer_unreachable(now_ms, node);
                Vec::new()
            }
        }
    }

    /// Handles a batch of inputs in order, then the messages the node sent
    /// itself (see the module docs). The caller syncs, then carries out the
    /// outputs.
    pub fn handle_batch(
        &mut self,
        now_ms: u64,
        inputs: impl IntoIterator<Item = Input>,
    ) -> Vec<Output> {
        let mut outputs = Vec::new();
        for input in inputs {
            outputs.extend(self.handle(now_ms, input));
        }
        for _ in 0..LOCAL_ROUNDS_MAX {
            let in_batch = self.txn.options().unsafe_count_own_answers_in_batch;
            let mine = take_sends_to(self.id, &mut outputs, |msg| match msg {
                // The node's own `Apply` waits for the next batch too: the
                // answer to the client that goes with it rests on votes
                // already durable, and need not wait for the apply's sync.
                NodeMessage::Txn(msg) => {
                    in_batch || (msg.is_request() && !matches!(**msg, Message::Apply { .. }))
                }
                NodeMessage::Hello { .. } => false,
            });
            if mine.is_empty() {
                break;
            }
            for msg in mine {
                outputs.extend(self.handle_message(now_ms, self.id, msg));
            }
        }
        outputs
    }
}
