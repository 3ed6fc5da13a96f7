//! The liveness view: what this node believes about each member's health,
//! keyed by node id, built from foca's notifications and membership state.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use zerodb_ring::{Member, NodeId};

use crate::identity::GossipId;
use crate::metadata::MetadataVersion;
use crate::output::GossipEvent;

/// Health of a member as seen by this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Liveness {
    /// Alive.
    Up,
    /// Missed a probe; still treated as alive until declared down.
    Suspect,
    /// Declared down (or never confirmed alive).
    Down,
}

/// One member as the node state machine sees it: ring facts plus health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// Ring-level description (id, region, zone, tokens, status).
    pub member: Member,
    /// Transport address.
    pub addr: SocketAddr,
    /// Generation (life) of the node.
    pub generation: u64,
    /// Health.
    pub liveness: Liveness,
    /// Version of the metadata record held.
    pub metadata_version: MetadataVersion,
    /// Version of the cluster metadata the node holds.
    pub cluster_metadata_version: u64,
}

/// Liveness of every member this node heard of, except itself.
#[derive(Debug, Default)]
pub(crate) struct LivenessView {
    entries: BTreeMap<NodeId, (GossipId, Liveness)>,
    /// Bumped on every change, so callers can cache derived data.
    change_count: u64,
}

impl LivenessView {
    pub(crate) fn get(&self, node: NodeId) -> Option<(GossipId, Liveness)> {
        self.entries.get(&node).copied()
    }

    pub(crate) fn change_count(&self) -> u64 {
        self.change_count
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (NodeId, GossipId, Liveness)> + '_ {
        self.entries
            .iter()
            .map(|(node, (id, liveness))| (*node, *id, *liveness))
    }

    /// Records a new state for `id`; returns the event if the health of the
    /// node changed. Reports about an older life than the one held are
    /// ignored.
    pub(crate) fn set(&mut self, id: GossipId, liveness: Liveness) -> Option<GossipEvent> {
        let previous = self.entries.get(&id.node).copied();
        if let Some((held, _)) = previous {
            if held.generation > id.generation {
                return None;
            }
        }
        if previous == Some((id, liveness)) {
            return None;
        }
        self.entries.insert(id.node, (id, liveness));
        self.change_count += 1;
        let changed = previous.is_none_or(|(_, before)| before != liveness);
        if !changed {
            return None;
        }
        Some(match liveness {
            Liveness::Up => GossipEvent::Up(id.node),
            Liveness::Suspect => GossipEvent::Suspect(id.node),
            Liveness::Down => GossipEvent::Down(id.node),
        })
    }

    /// Moves to a suspect state only if `id` is the held life and is up.
    pub(crate) fn suspect(&mut self, id: GossipId) -> Option<GossipEvent> {
        match self.get(id.node) {
            Some((held, Liveness::Up)) if held == id => self.set(id, Liveness::Suspect),
            _ => None,
        }
    }

    /// foca renamed a member (a newer life replaced an older one).
    pub(crate) fn rename(&mut self, new: GossipId) {
        if let Some((held, liveness)) = self.get(new.node) {
            if held.generation <= new.generation && held != new {
                self.entries.insert(new.node, (new, liveness));
                self.change_count += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(generation: u64) -> GossipId {
        GossipId::new(NodeId(4), "10.0.0.4:1".parse().unwrap(), generation)
    }

    #[test]
    fn events_only_on_changes_and_old_lives_are_ignored() {
        let mut view = LivenessView::default();
        assert_eq!(
            view.set(id(1), Liveness::Up),
            Some(GossipEvent::Up(NodeId(4)))
        );
        assert_eq!(view.set(id(1), Liveness::Up), None);
        assert_eq!(view.suspect(id(1)), Some(GossipEvent::Suspect(NodeId(4))));
        assert_eq!(
            view.set(id(2), Liveness::Up),
            Some(GossipEvent::Up(NodeId(4)))
        );
        assert_eq!(view.set(id(1), Liveness::Down), None);
        assert_eq!(view.get(NodeId(4)), Some((id(2), Liveness::Up)));
        assert_eq!(view.suspect(id(1)), None);
    }
}
