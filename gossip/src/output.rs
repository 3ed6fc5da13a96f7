//! What the gossip state machine asks its driver to do, and the adapter that
//! turns foca's [`foca::Runtime`] callbacks into those requests.

use std::net::SocketAddr;
use std::time::Duration;

use zerodb_ring::NodeId;

use crate::identity::GossipId;

/// A timer the driver must hand back through `Gossip::handle_timer` once its
/// deadline has passed. Timers are values; the driver never inspects them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GossipTimer {
    /// One of foca's SWIM timers (probes, suspicion, periodic gossip).
    Swim(foca::Timer<GossipId>),
    /// Retry the join while the node is not active.
    JoinRetry,
    /// Exchange a digest with the clockwise successor.
    DigestTick,
    /// Send pending metadata broadcasts on their own, so that membership
    /// updates (which foca packs first) cannot starve them.
    BroadcastTick,
    /// Repeat the suspicion notice to a suspect (Lifeguard buddy system).
    SuspectNotice(NodeId),
}

/// A change in this node's view of the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GossipEvent {
    /// The node is alive (joined, refuted a suspicion, or came back).
    Up(NodeId),
    /// The node missed a probe; it may still refute.
    Suspect(NodeId),
    /// The node is considered down (crashed, partitioned away or left).
    Down(NodeId),
    /// A newer metadata record for the node replaced the held one.
    MetadataChanged(NodeId),
}

/// One request to the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this datagram (at most the configured datagram limit).
    Send {
        /// Transport address.
        to: SocketAddr,
        /// Node id of the destination, when known (unknown for seeds).
        node: Option<NodeId>,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// Call `handle_timer(at_ms, timer)` at (or after) `at_ms`.
    SetTimer {
        /// Deadline on the driver's millisecond clock.
        at_ms: u64,
        /// The timer to hand back.
        timer: GossipTimer,
    },
    /// A membership change for the node state machine.
    Event(GossipEvent),
}

/// Collects what foca asks for during one call; the state machine drains it
/// right after.
#[derive(Default)]
pub(crate) struct Collector {
    pub(crate) sends: Vec<(GossipId, Vec<u8>)>,
    pub(crate) timers: Vec<(foca::Timer<GossipId>, Duration)>,
    pub(crate) notifications: Vec<foca::OwnedNotification<GossipId>>,
}

impl Collector {
    pub(crate) fn is_empty(&self) -> bool {
        self.sends.is_empty() && self.timers.is_empty() && self.notifications.is_empty()
    }
}

impl foca::Runtime<GossipId> for Collector {
    fn notify(&mut self, notification: foca::Notification<'_, GossipId>) {
        self.notifications.push(notification.to_owned());
    }

    fn send_to(&mut self, to: GossipId, data: &[u8]) {
        self.sends.push((to, data.to_vec()));
    }

    fn submit_after(&mut self, event: foca::Timer<GossipId>, after: Duration) {
        self.timers.push((event, after));
    }
}

/// `now_ms + after`, rounded up to whole milliseconds.
pub(crate) fn deadline_ms(now_ms: u64, after: Duration) -> u64 {
    let millis = after.as_nanos().div_ceil(1_000_000);
    now_ms.saturating_add(u64::try_from(millis).unwrap_or(u64::MAX))
}
