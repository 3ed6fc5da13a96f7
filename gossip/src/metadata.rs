//! Node metadata and its versions: what each member tells the cluster about
//! itself, and the rule that newer replaces older.

use zerodb_ring::{Member, NodeId, NodeStatus, Token};

use crate::identity::GossipId;

/// Version of a node's metadata: its generation first, then a counter the
/// node bumps on every change. A restarted node (higher generation) therefore
/// replaces everything its previous life announced even though its counter
/// starts again from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetadataVersion {
    /// Generation of the identity that published the metadata.
    pub generation: u64,
    /// Change counter within that generation.
    pub counter: u64,
}

/// What the local node says about itself; the gossip layer adds the identity
/// and the version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalMetadata {
    /// Region of the node.
    pub region: String,
    /// Zone of the node within its region.
    pub zone: String,
    /// Ring tokens the node owns (or will own once `Normal`).
    pub tokens: Vec<Token>,
    /// Lifecycle status.
    pub status: NodeStatus,
    /// Version of the cluster metadata (policies, users) the node holds.
    pub cluster_metadata_version: u64,
}

/// One node's metadata as disseminated by gossip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeMetadata {
    /// Identity of the publishing node (carries its address).
    pub id: GossipId,
    /// Change counter; see [`NodeMetadata::version`].
    pub counter: u64,
    /// Region of the node.
    pub region: String,
    /// Zone of the node.
    pub zone: String,
    /// Ring tokens.
    pub tokens: Vec<Token>,
    /// Lifecycle status.
    pub status: NodeStatus,
    /// Version of the cluster metadata the node holds.
    pub cluster_metadata_version: u64,
}

impl NodeMetadata {
    /// Builds the record a node publishes about itself.
    pub fn from_local(id: GossipId, counter: u64, local: &LocalMetadata) -> NodeMetadata {
        NodeMetadata {
            id,
            counter,
            region: local.region.clone(),
            zone: local.zone.clone(),
            tokens: local.tokens.clone(),
            status: local.status,
            cluster_metadata_version: local.cluster_metadata_version,
        }
    }

    /// The node this record is about.
    pub fn node(&self) -> NodeId {
        self.id.node
    }

    /// The total order used to decide which of two records is newer.
    pub fn version(&self) -> MetadataVersion {
        MetadataVersion {
            generation: self.id.generation,
            counter: self.counter,
        }
    }

    /// The ring's view of this node.
    pub fn to_member(&self) -> Member {
        Member {
            id: self.id.node,
            region: self.region.clone(),
            zone: self.zone.clone(),
            tokens: self.tokens.clone(),
            status: self.status,
        }
    }

    /// The token this node sits at for the gossip ring order (its smallest
    /// token), if it has any.
    pub fn first_token(&self) -> Option<Token> {
        self.tokens.iter().min().copied()
    }
}

/// Key under which foca deduplicates metadata broadcasts: a newer version of
/// the same node's metadata replaces an older one still being disseminated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataKey {
    /// Node the metadata is about.
    pub node: NodeId,
    /// Version of the record.
    pub version: MetadataVersion,
}

impl foca::Invalidates for MetadataKey {
    fn invalidates(&self, other: &Self) -> bool {
        self.node == other.node && self.version >= other.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Invalidates;

    #[test]
    fn a_new_generation_beats_any_counter_of_the_old_one() {
        let old = MetadataVersion {
            generation: 1,
            counter: 99,
        };
        let new = MetadataVersion {
            generation: 2,
            counter: 1,
        };
        assert!(new > old);
        let key_old = MetadataKey {
            node: NodeId(1),
            version: old,
        };
        let key_new = MetadataKey {
            node: NodeId(1),
            version: new,
        };
        assert!(key_new.invalidates(&key_old));
        assert!(!key_old.invalidates(&key_new));
        let other_node = MetadataKey {
            node: NodeId(2),
            version: old,
        };
        assert!(!key_new.invalidates(&other_node));
    }
}
