//! Routing of one node-to-node message to the role that handles it: the
//! replica (requests), the coordinator and the recovery (replies).

use zerodb_storage::Engine;

use crate::coordinator::Granted;
use crate::membership::NodeId;
use crate::message::Message;
use crate::node::TxnNode;
use crate::paxos::PaxosAddress;
use crate::types::version;

impl<E: Engine> TxnNode<E> {
    pub(crate) fn dispatch_message(&mut self, from: NodeId, msg: Message) {
        if let Some(txn) = msg.vote_request_txn() {
            self.observe_request(version(txn.timestamp));
        }
        match msg {
            Message::LockRead(req) => self.handle_lock_read(from, req),
            Message::Decide {
                txn,
                attempt,
                ballot,
                value,
                epoch,
                home,
            } => {
                let to = PaxosAddress {
                    txn,
                    attempt,
                    ballot,
                    epoch,
                    home,
                };
                self.handle_decide(from, to, value)
            }
            Message::Prepare {
                txn,
                attempt,
                ballot,
                epoch,
                home,
            } => {
                let to = PaxosAddress {
                    txn,
                    attempt,
                    ballot,
                    epoch,
                    home,
                };
                self.handle_prepare(from, to)
            }
            Message::Apply {
                txn,
                attempt,
                home,
                decision,
            } => self.learn(txn, attempt, &home, &decision),
            Message::QueryDecision { req, txn, attempt } => {
                self.handle_query_decision(from, req, txn, attempt)
            }
            Message::Read { req, key, epoch } => self.handle_read(from, req, key, Some(epoch)),
            Message::ReadEventual { req, key } => self.handle_read(from, req, key, None),
            Message::Store {
                req,
                key,
                record,
                hint_for,
                policy,
            } => self.handle_store(from, req, key, record, hint_for, policy),
            Message::SyncRequest { space_tag, after } => {
                self.handle_sync_request(from, space_tag, after)
            }
            Message::SyncChunk {
                space_tag,
                after,
                entries,
                done,
            } => self.handle_sync_chunk(from, space_tag, after, entries, done),
            Message::Low { low, recovering } => self.handle_low(from, low, recovering),
            Message::ClockAsk { req } => self.handle_clock_ask(from, req),
            Message::ClockSeen {
                req,
                hlc,
                incarnation,
                voting,
            } => self.handle_clock_seen(from, req, hlc, incarnation, voting),
            Message::AeDigest { top } => self.handle_ae_digest(from, top),
            Message::AeLeaves { buckets } => self.handle_ae_leaves(from, buckets),
            Message::AeEntries {
                leaves,
                entries,
                reply,
            } => self.handle_ae_entries(from, leaves, entries, reply),
            // Replies: to the coordinator role, and Paxos replies also to
            // the recovery role (a node can be both for one transaction).
            Message::LockGranted {
                txn,
                attempt,
                values,
                ranges,
                self_granted,
                clock_ms,
            } => {
                let granted = Granted {
                    values,
                    ranges,
                    self_granted,
                    clock_ms,
                };
                self.on_lock_granted(from, txn, attempt, granted)
            }
            Message::LockBusy {
                txn,
                attempt,
                key,
                holder,
                refused,
            } => self.on_lock_busy(from, txn, attempt, key, holder, refused),
            Message::LockRefused {
                txn,
                attempt,
                reason,
                refused,
            } => self.on_lock_refused(from, txn, attempt, reason, refused),
            Message::Accepted {
                txn,
                attempt,
                ballot,
                voter,
            } => {
                self.on_accepted(from, txn, attempt, ballot, voter.clone());
                self.recovery_on_accepted(from, txn, attempt, ballot, voter);
            }
            Message::Promise {
                txn,
                attempt,
                ballot,
                status,
                voter,
            } => self.recovery_on_promise(from, txn, attempt, ballot, status, voter),
            Message::PaxosNack {
                txn,
                attempt,
                ballot,
                status,
            } => {
                self.on_paxos_nack(from, txn, attempt, ballot, &status);
                self.recovery_on_nack(from, txn, attempt, ballot, status);
            }
            Message::PaxosRefused {
                txn,
                attempt,
                reason,
            } => self.on_paxos_refused(from, txn, attempt, reason),
            Message::DecisionStatus { req, status } => self.on_decision_status(from, req, status),
            Message::ReadReply { req, value, locks } => self.on_read_reply(from, req, value, locks),
            Message::Refused { req, reason } => self.on_refused(from, req, reason),
            Message::Stored { req } => self.on_stored(from, req),
        }
    }
}
