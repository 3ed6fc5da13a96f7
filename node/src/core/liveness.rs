//! Which peers this node holds down from what the runtime observed: a
//! failed send marks a peer down for a while; any message from it (or the
//! end of that while) brings it back. This is a fast hint beside gossip:
//! the down set the transaction layer sees is gossip's down set plus these
//! peers (see [`super::NodeCore`]).

use std::collections::{BTreeMap, BTreeSet};

use zerodb_ring::NodeId;

/// How long a peer stays down after a failed send, milliseconds.
pub const DOWN_HOLD_MS: u64 = 2_000;

/// Down peers and until when.
#[derive(Debug, Default, Clone)]
pub struct Liveness {
    down_until_ms: BTreeMap<NodeId, u64>,
}

impl Liveness {
    /// A send to `node` failed at `now_ms`. Returns whether the down set
    /// changed.
    pub fn unreachable(&mut self, now_ms: u64, node: NodeId) -> bool {
        let was_down = self.is_down(now_ms, node);
        self.down_until_ms.insert(node, now_ms + DOWN_HOLD_MS);
        !was_down
    }

    /// `node` was heard from. Returns whether the down set changed.
    pub fn heard_from(&mut self, now_ms: u64, node: NodeId) -> bool {
        let was_down = self.is_down(now_ms, node);
        self.down_until_ms.remove(&node);
        was_down
    }

    /// Forgets expired entries. Returns whether the down set changed.
    pub fn expire(&mut self, now_ms: u64) -> bool {
        let before = self.down_until_ms.len();
        self.down_until_ms.retain(|_, until| *until > now_ms);
        before != self.down_until_ms.len()
    }

    /// Whether `node` is down at `now_ms`.
    pub fn is_down(&self, now_ms: u64, node: NodeId) -> bool {
        self.down_until_ms
            .get(&node)
            .is_some_and(|until| *until > now_ms)
    }

    /// The down set at `now_ms`.
    pub fn down(&self, now_ms: u64) -> BTreeSet<NodeId> {
        self.down_until_ms
            .iter()
            .filter(|(_, until)| **until > now_ms)
            .map(|(node, _)| *node)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_send_holds_a_peer_down_until_heard_from_or_expired() {
        let mut liveness = Liveness::default();
        assert!(liveness.unreachable(100, NodeId(2)));
        assert!(!liveness.unreachable(150, NodeId(2)));
        assert_eq!(liveness.down(200), BTreeSet::from([NodeId(2)]));
        assert!(liveness.heard_from(300, NodeId(2)));
        assert!(liveness.down(300).is_empty());
        liveness.unreachable(1_000, NodeId(3));
        assert!(!liveness.expire(1_000 + DOWN_HOLD_MS - 1));
        assert!(liveness.expire(1_000 + DOWN_HOLD_MS));
        assert!(!liveness.is_down(1_000 + DOWN_HOLD_MS, NodeId(3)));
    }
}
