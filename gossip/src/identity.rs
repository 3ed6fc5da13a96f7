//! The SWIM identity of a node: node id, transport address and generation.

use std::fmt;
use std::net::SocketAddr;

use zerodb_ring::NodeId;

/// Who a gossip member is.
///
/// foca treats the [`NodeId`] as the member's unique address: two identities
/// with the same node id are the same node in different lives. The
/// `generation` tells those lives apart. It is a counter, never a wall clock:
/// the driver persists it and passes a higher one after every restart, and
/// foca's [`foca::Identity::renew`] bumps it when the cluster declared this
/// node down while it was still running. The higher generation always wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GossipId {
    /// Stable node id (the certificate names it).
    pub node: NodeId,
    /// Where datagrams for this node go.
    pub addr: SocketAddr,
    /// Life counter of the node; higher is newer.
    pub generation: u64,
}

impl GossipId {
    /// A new identity.
    pub fn new(node: NodeId, addr: SocketAddr, generation: u64) -> GossipId {
        GossipId {
            node,
            addr,
            generation,
        }
    }
}

impl fmt::Display for GossipId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}#{}", self.node, self.addr, self.generation)
    }
}

impl foca::Identity for GossipId {
    type Addr = NodeId;

    fn renew(&self) -> Option<Self> {
        // A node at u64::MAX generations cannot renew; it goes defunct and
        // the operator has to replace it. Unreachable in practice.
        let generation = self.generation.checked_add(1)?;
        Some(GossipId {
            generation,
            ..*self
        })
    }

    fn addr(&self) -> NodeId {
        self.node
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        // Newer life wins; the address only breaks ties between two
        // processes wrongly started with the same id and generation, so that
        // every node picks the same winner.
        (self.generation, self.addr) > (adversary.generation, adversary.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Identity;

    fn id(generation: u64) -> GossipId {
        GossipId::new(NodeId(7), "10.0.0.7:7000".parse().unwrap(), generation)
    }

    #[test]
    fn renew_bumps_the_generation_and_wins() {
        let old = id(3);
        let new = old.renew().unwrap();
        assert_eq!(new.generation, 4);
        assert_eq!(new.addr(), old.addr());
        assert!(new.win_addr_conflict(&old));
        assert!(!old.win_addr_conflict(&new));
        assert_eq!(id(u64::MAX).renew(), None);
    }

    #[test]
    fn ties_break_on_the_address_deterministically() {
        let a = GossipId::new(NodeId(1), "10.0.0.1:1".parse().unwrap(), 5);
        let b = GossipId::new(NodeId(1), "10.0.0.2:1".parse().unwrap(), 5);
        assert!(b.win_addr_conflict(&a));
        assert!(!a.win_addr_conflict(&b));
    }
}
