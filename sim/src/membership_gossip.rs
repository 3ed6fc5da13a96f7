//! Membership of the simulated cluster. Every node core runs its own
//! gossip ([`GossipMembership`]: SWIM on foca, metadata, the clockwise
//! digest exchange, the catalog version each node holds); its datagrams
//! cross the simulated network (latency, loss, duplication, partitions)
//! and, with gossip membership, its down set is what the node's
//! transaction layer sees. Static membership replaces that down set with
//! the truth (a perfect failure detector) while gossip keeps carrying
//! catalog versions.
//!
//! A crash drops the node's gossip state; a restart starts it again with a
//! higher generation (kept on its disk). A paused process handles its
//! gossip when it resumes, so peers may suspect it meanwhile, as they
//! would a real stalled process.
//!
//! [`GossipMembership`]: zerodb_node::core::gossip::GossipMembership

use std::collections::BTreeMap;

use zerodb_ring::NodeId;

use crate::cluster::{Cluster, SimDisk};

/// Which failure detector the simulated nodes use (`--membership`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum MembershipKind {
    /// Gossip (SWIM): nodes learn of crashes by probing, with delay and
    /// mistakes, as real nodes do.
    #[default]
    Gossip,
    /// A perfect failure detector: every node knows at once who is down.
    Static,
}

impl MembershipKind {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            MembershipKind::Gossip => "gossip",
            MembershipKind::Static => "static",
        }
    }
}

impl std::str::FromStr for MembershipKind {
    type Err = String;

    fn from_str(text: &str) -> Result<MembershipKind, String> {
        match text {
            "gossip" => Ok(MembershipKind::Gossip),
            "static" => Ok(MembershipKind::Static),
            other => Err(format!(
                "unknown membership {other:?}; use gossip or static"
            )),
        }
    }
}

impl<D: SimDisk> Cluster<D> {
    /// Whether gossip has reconverged after healing: every node runs and
    /// none of them holds any node down. Always true with static
    /// membership. The final reads wait for this (bounded), since a node
    /// still declared down in a peer's view makes that peer's coordinators
    /// refuse quorums that need it until gossip renews the node.
    pub(crate) fn gossip_converged(&self) -> bool {
        if self.membership == MembershipKind::Static {
            return true;
        }
        self.nodes.iter().all(|slot| {
            slot.node()
                .is_some_and(|node| node.gossip().down().is_empty())
        })
    }

    /// Each running node's gossip down set, for liveness reports.
    pub(crate) fn gossip_down_sets(&self) -> BTreeMap<NodeId, Vec<u32>> {
        self.nodes
            .iter()
            .filter_map(|slot| {
                let down = slot.node()?.gossip().down();
                (!down.is_empty()).then(|| (slot.id, down.iter().map(|node| node.0).collect()))
            })
            .collect()
    }
}
