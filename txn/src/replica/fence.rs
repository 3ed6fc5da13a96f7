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

use std::collections::BTreeMap;

use zerodb_storage::{Engine, Version};

use crate::membership::NodeId;
use crate::message::{Message, ReqId};
use crate::node::{ReplicaStatus, TxnNode};
use crate::types::{ver, version, Ver};

/// Progress of the fence.
#[derive(Clone, Debug)]
pub(crate) struct Fence {
    /// The question's id (answers to an earlier life's question differ).
    req: ReqId,
    asked_at_ms: Option<u64>,
    /// Highest HLC each member reported.
    clocks: BTreeMap<NodeId, Ver>,
}

impl<E: Engine> TxnNode<E> {
    /// The copy is complete: start the fence.
    pub(crate) fn start_fence(&mut self) {
        let req = self.next_req();
        self.replica.fence = Some(Fence {
            req,
            asked_at_ms: None,
            clocks: BTreeMap::new(),
        });
        self.fence_tick();
    }

    /// Asks the members that have not answered; lifts the fence when the
    /// watermark has passed every answer.
    pub(crate) fn fence_tick(&mut self) {
        let Some(view) = &self.view else { return };
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
        let seen = self.hlc.last().max(Version {
            physical_ms: self.now_ms,
            logical: 0,
            node: 0,
        });
        self.send(
            from,
            Message::ClockSeen {
                req,
                hlc: ver(seen),
            },
        );
    }

    /// A member's answer.
    pub(crate) fn handle_clock_seen(&mut self, from: NodeId, req: ReqId, hlc: Ver) {
        let Some(fence) = &mut self.replica.fence else {
            return;
        };
        if fence.req != req {
            return;
        }
        fence.clocks.insert(from, hlc);
        self.fence_tick();
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
