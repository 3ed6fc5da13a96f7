//! The vote fence after lost state (DESIGN.md 6.1 step 7, issue 14 case 6).
//!
//! Copying from a quorum cannot recover messages still in flight: the old
//! incarnation may have accepted a `Decide` or granted a prepare whose
//! other votes are still on the wire, and a vote of the new incarnation
//! could contradict it (the coordinator counts `{A, C-old}`, a recovery
//! counts `{B, C-new}`). Until ring changes can replace the old
//! incarnation, a replica that finished its copy still casts no vote: it
//! asks every ring member (all of them, not only those gossip shows up)
//! for the highest HLC it has seen, and waits until the released watermark
//! has passed the highest answer. Every transaction the old incarnation
//! voted on was issued below that, so by then each is over everywhere, and
//! a late message of one is refused below the watermark.
//!
//! Meanwhile the node reports real lows (its copied locks count), so the
//! watermark can pass.
//!
//! One exception, for liveness: in a ring of two replicas every quorum
//! needs this replica, so a transaction the old incarnation left undecided
//! would hold the watermark, and so the fence, for good. There a fenced
//! replica answers `Prepare` and `Decide`, marked with the incarnation of
//! each peer that answered its clock question while voting, and a
//! proposer counts such a vote only beside that peer's incarnation
//! (`crate::quorum` has the rule and why it is safe). Lock grants and
//! reads stay withheld.

use std::collections::BTreeMap;

use zerodb_storage::{Engine, Version};

use crate::membership::NodeId;
use crate::message::{Message, ReqId};
use crate::node::{ReplicaStatus, TxnNode};
use crate::quorum::{Voter, FENCED_VOTE_RING_SIZE};
use crate::types::{ver, version, PartitionId, Ver};

/// Progress of the fence.
#[derive(Clone, Debug)]
pub(crate) struct Fence {
    /// The question's id (answers to an earlier life's question differ).
    req: ReqId,
    asked_at_ms: Option<u64>,
    /// Highest HLC each member reported.
    clocks: BTreeMap<NodeId, Ver>,
    /// The incarnation of each member that answered while voting
    /// normally: the peers this replica's votes vouch for in a ring of
    /// two (`crate::quorum`).
    vouched: BTreeMap<NodeId, u64>,
}

impl<E: Engine> TxnNode<E> {
    /// The copy is complete: start the fence.
    pub(crate) fn start_fence(&mut self) {
        let req = self.next_req();
        self.replica.fence = Some(Fence {
            req,
            asked_at_ms: None,
            clocks: BTreeMap::new(),
            vouched: BTreeMap::new(),
        });
        self.fence_tick();
    }

    /// Asks the members that have not answered; lifts the fence when the
    /// watermark has passed every answer.
    pub(crate) fn fence_tick(&mut self) {
        let view = &self.view;
        let members: Vec<NodeId> = view
            .ring
            .members()
            .map(|m| m.id)
            .filter(|id| *id != self.id)
            .collect();
        let retry_ms = self.options.sync_retry_ms;
        let now_ms = self.now_ms;
        let Some(fence) = &mut self.replica.fence else {
            return;
        };
        let missing: Vec<NodeId> = members
            .iter()
            .copied()
            .filter(|m| !fence.clocks.contains_key(m))
            .collect();
        if !missing.is_empty() {
            if fence.asked_at_ms.is_none_or(|at| at + retry_ms <= now_ms) {
                fence.asked_at_ms = Some(now_ms);
                let req = fence.req;
                for member in missing {
                    self.send(member, Message::ClockAsk { req });
                }
            }
            return;
        }
        let highest = fence
            .clocks
            .values()
            .map(|v| version(*v))
            .max()
            .unwrap_or(Version::ZERO);
        // Without a watermark (`watermark_ms == 0`) nothing ever passes
        // the answers; such a node runs without this fence.
        if self.options.watermark_ms > 0 && self.watermark.released <= highest {
            return;
        }
        self.lift_fence(members.len(), highest);
    }

    fn lift_fence(&mut self, members: usize, highest: Version) {
        // Votes resume only once every other member told its clock and
        // the watermark passed the highest (or no watermark runs).
        let answered = self.replica.fence.as_ref().map_or(0, |f| f.clocks.len());
        assert!(
            answered >= members
                && (self.options.watermark_ms == 0 || self.watermark.released > highest),
            "vote fence lifted early: {answered} of {members} clocks, watermark {:?} vs {highest:?}",
            self.watermark.released
        );
        if let Err(e) = self.write_incarnation_marker() {
            tracing::warn!(error = %e, "could not record the incarnation; staying recovering");
            return;
        }
        self.replica.fence = None;
        self.replica.status = ReplicaStatus::Normal;
    }

    /// A recovering member asks for the highest HLC this node has seen.
    pub(crate) fn handle_clock_ask(&mut self, from: NodeId, req: ReqId) {
        // The clock keeps only `(physical, logical)` of what it observed: a
        // transaction's id at that instant may carry any node field, so the
        // answer is above all of them.
        let seen = Version {
            node: u32::MAX,
            ..self.hlc.last()
        };
        let seen = seen.max(Version {
            physical_ms: self.now_ms,
            logical: 0,
            node: 0,
        });
        self.send(
            from,
            Message::ClockSeen {
                req,
                hlc: ver(seen),
                incarnation: self.engine.incarnation().0,
                voting: self.votes(),
            },
        );
    }

    /// A member's answer.
    pub(crate) fn handle_clock_seen(
        &mut self,
        from: NodeId,
        req: ReqId,
        hlc: Ver,
        incarnation: u64,
        voting: bool,
    ) {
        let Some(fence) = &mut self.replica.fence else {
            return;
        };
        if fence.req != req {
            return;
        }
        fence.clocks.insert(from, hlc);
        // An answer from a peer that is not voting (copying or fenced
        // itself) vouches for nothing: two forgetful members must never
        // make a quorum of two.
        if voting {
            fence.vouched.insert(from, incarnation);
        } else {
            fence.vouched.remove(&from);
        }
        self.fence_tick();
    }

    /// Who this replica votes as: unfenced, or fenced with the peers it
    /// vouches for (`crate::quorum`).
    pub(crate) fn voter(&self) -> Voter {
        let incarnation = self.engine.incarnation().0;
        match &self.replica.fence {
            None => Voter::normal(incarnation),
            Some(fence) => Voter {
                incarnation,
                vouched: Some(fence.vouched.iter().map(|(n, i)| (n.0, *i)).collect()),
            },
        }
    }

    /// Whether this replica may vote on a register whose home partition
    /// is `home`: a normal replica always; a fenced one only in a ring of
    /// two, where its vote is marked and counted only beside the peer it
    /// vouched for.
    pub(crate) fn votes_on_register(&self, home: &PartitionId) -> bool {
        if self.votes() {
            return true;
        }
        self.replica.fence.is_some() && self.view.replicas(home).len() == FENCED_VOTE_RING_SIZE
    }

    /// The id of the fence's question, while fencing (tests answer it).
    #[cfg(test)]
    pub(crate) fn fence_req(&self) -> Option<ReqId> {
        self.replica.fence.as_ref().map(|f| f.req)
    }

    /// Whether the node is copying lost state (not yet fencing): it then
    /// reports a low of zero.
    pub(crate) fn copying_lost_state(&self) -> bool {
        self.replica.status == ReplicaStatus::Recovering && self.replica.fence.is_none()
    }
}
