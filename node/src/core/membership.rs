//! The initial cluster (every member's id, address, region and zone) and
//! the ring every node computes from it. Gossip ([`super::gossip`]) starts
//! from these members and tells who is up; the ring itself only changes by
//! explicit operator actions, never because a member is down.
//!
//! The cluster file is TOML:
//!
//! ```toml
//! tokens_per_node = 64      # optional
//! [[member]]
//! id = 1
//! address = "127.0.0.1:7401"
//! region = "default"        # optional
//! zone = "z1"               # optional
//! ```
//!
//! Tokens come from the ring's balanced allocator with a fixed seed, the
//! members added in id order, so every node computes the same ring.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use zerodb_ring::{Member, NodeId, NodeStatus, Ring, TokenAllocator, TOKENS_PER_NODE_MAX};

/// Seed of the token allocator; fixed so every node gets the same ring.
pub const TOKEN_SEED: u64 = 0x7A45_5244_4200_0001;
/// Ring epoch of the initial cluster.
pub const INITIAL_RING_EPOCH: u64 = 1;
/// Most members of a static cluster.
pub const MEMBERS_MAX: usize = 1024;

fn default_tokens() -> u32 {
    64
}

fn default_place() -> String {
    "default".to_string()
}

/// One member of the initial cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// Node id (its certificate names `n<id>`).
    pub id: u32,
    /// Its QUIC address.
    pub address: SocketAddr,
    /// Region.
    #[serde(default = "default_place")]
    pub region: String,
    /// Zone inside the region.
    #[serde(default = "default_place")]
    pub zone: String,
}

/// The initial cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Tokens each member owns.
    #[serde(default = "default_tokens")]
    pub tokens_per_node: u32,
    /// The members.
    #[serde(rename = "member", default)]
    pub members: Vec<MemberSpec>,
}

/// A cluster file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// Not valid TOML, or a key is unknown or of the wrong type.
    #[error("cluster file: {0}")]
    Parse(String),
    /// No members.
    #[error("cluster file: no [[member]] entries; list every node of the initial cluster")]
    Empty,
    /// Two members share an id.
    #[error("cluster file: member id {0} appears twice; ids must be unique")]
    DuplicateId(u32),
    /// Two members share an address.
    #[error("cluster file: address {0} appears twice; addresses must be unique")]
    DuplicateAddress(SocketAddr),
    /// A value is out of range.
    #[error("cluster file: {key} = {value}: {expected}")]
    Invalid {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// This node is not a member.
    #[error("node id {0} is not a member of the cluster file; add a [[member]] with id = {0}")]
    NotAMember(u32),
}

impl ClusterSpec {
    /// Parses and checks a cluster file.
    pub fn from_toml_str(text: &str) -> Result<ClusterSpec, ClusterError> {
        let spec: ClusterSpec =
            toml::from_str(text).map_err(|error| ClusterError::Parse(error.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// The TOML form (what `zerodb dev` writes).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks ids, addresses and the token count.
    pub fn validate(&self) -> Result<(), ClusterError> {
        if self.members.is_empty() {
            return Err(ClusterError::Empty);
        }
        if self.members.len() > MEMBERS_MAX {
            return Err(ClusterError::Invalid {
                key: "member".into(),
                value: self.members.len().to_string(),
                expected: format!("at most {MEMBERS_MAX} members"),
            });
        }
        if self.tokens_per_node == 0 || self.tokens_per_node as usize > TOKENS_PER_NODE_MAX {
            return Err(ClusterError::Invalid {
                key: "tokens_per_node".into(),
                value: self.tokens_per_node.to_string(),
                expected: format!("between 1 and {TOKENS_PER_NODE_MAX}"),
            });
        }
        let mut ids = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for member in &self.members {
            if member.id == 0 {
                return Err(ClusterError::Invalid {
                    key: "member.id".into(),
                    value: "0".into(),
                    expected: "a positive node id".into(),
                });
            }
            if !ids.insert(member.id) {
                return Err(ClusterError::DuplicateId(member.id));
            }
            if !addresses.insert(member.address) {
                return Err(ClusterError::DuplicateAddress(member.address));
            }
        }
        Ok(())
    }

    /// The member with id `id`.
    pub fn member(&self, id: u32) -> Option<&MemberSpec> {
        self.members.iter().find(|member| member.id == id)
    }

    /// The ring of the initial cluster: every member `normal`, balanced
    /// tokens allocated in id order from [`TOKEN_SEED`].
    pub fn ring(&self) -> Result<Ring, ClusterError> {
        self.ring_with_seed(TOKEN_SEED)
    }

    /// The ring of the initial cluster with tokens allocated from `seed`
    /// (the simulator varies the ring per run; every node of one cluster
    /// must use the same seed).
    pub fn ring_with_seed(&self, seed: u64) -> Result<Ring, ClusterError> {
        let mut members: Vec<&MemberSpec> = self.members.iter().collect();
        members.sort_by_key(|member| member.id);
        let mut allocator = TokenAllocator::new(seed);
        let mut ring_members = Vec::with_capacity(members.len());
        for spec in members {
            let tokens = allocator
                .add_node(NodeId(spec.id), self.tokens_per_node as usize)
                .map_err(|error| ClusterError::Invalid {
                    key: "tokens_per_node".into(),
                    value: self.tokens_per_node.to_string(),
                    expected: error.to_string(),
                })?;
            ring_members.push(Member::new(
                NodeId(spec.id),
                spec.region.clone(),
                spec.zone.clone(),
                tokens,
                NodeStatus::Normal,
            ));
        }
        Ok(Ring::new(INITIAL_RING_EPOCH, ring_members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: u32) -> ClusterSpec {
        ClusterSpec {
            tokens_per_node: 16,
            members: (1..=n)
                .map(|id| MemberSpec {
                    id,
                    address: SocketAddr::from(([127, 0, 0, 1], 7400 + id as u16)),
                    region: "r".into(),
                    zone: format!("z{id}"),
                })
                .collect(),
        }
    }

    #[test]
    fn every_node_computes_the_same_ring_whatever_the_member_order() {
        let a = spec(5);
        let mut b = a.clone();
        b.members.reverse();
        let (ra, rb) = (a.ring().unwrap(), b.ring().unwrap());
        let ta: Vec<_> = ra.tokens().collect();
        let tb: Vec<_> = rb.tokens().collect();
        assert_eq!(ta, tb);
        assert_eq!(ta.len(), 5 * 16);
        assert_eq!(ra.epoch(), INITIAL_RING_EPOCH);
    }

    #[test]
    fn the_file_round_trips_and_bad_files_name_the_problem() {
        let text = spec(3).to_toml_string();
        assert_eq!(ClusterSpec::from_toml_str(&text).unwrap(), spec(3));
        let dup = "[[member]]\nid = 1\naddress = \"127.0.0.1:1\"\n[[member]]\nid = 1\naddress = \"127.0.0.1:2\"\n";
        assert_eq!(
            ClusterSpec::from_toml_str(dup),
            Err(ClusterError::DuplicateId(1))
        );
        assert_eq!(ClusterSpec::from_toml_str(""), Err(ClusterError::Empty));
        let unknown = "[[member]]\nid = 1\naddress = \"127.0.0.1:1\"\nzoen = \"x\"\n";
        let error = ClusterSpec::from_toml_str(unknown).unwrap_err().to_string();
        assert!(error.contains("zoen"), "{error}");
    }
}
