//! The vocabulary of the ring: node ids, tokens, statuses and members.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The identity of a node in the cluster (the `node.id` of its configuration).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A position on the 64-bit ring.
///
/// A node token `t` owns the range `(previous token, t]`: a partition token
/// belongs to the first node token at or after it, wrapping past `u64::MAX`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(transparent)]
pub struct Token(pub u64);

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

/// The lifecycle state of a member (DESIGN.md section 3 and 4).
///
/// Only [`NodeStatus::Normal`] members own data.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Joined a running cluster; coordinates requests, owns nothing until its
    /// ranges have been streamed and it turns normal in a new ring epoch.
    Joining,
    /// Owns the ranges of its tokens.
    Normal,
    /// Lost its storage state; owns nothing and votes nothing until it has
    /// copied its ranges back from a quorum of the others.
    Recovering,
    /// Being decommissioned; its ranges are moving away.
    Leaving,
    /// Gone for good.
    Left,
}

impl NodeStatus {
    /// Whether a member in this status owns data (is placed on replica rings).
    pub fn owns_data(self) -> bool {
        self == NodeStatus::Normal
    }

    /// Whether a member in this status will own its tokens once any move in
    /// progress has finished (used by token allocation).
    pub fn holds_tokens(self) -> bool {
        matches!(
            self,
            NodeStatus::Joining | NodeStatus::Normal | NodeStatus::Recovering
        )
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            NodeStatus::Joining => "joining",
            NodeStatus::Normal => "normal",
            NodeStatus::Recovering => "recovering",
            NodeStatus::Leaving => "leaving",
            NodeStatus::Left => "left",
        };
        f.write_str(name)
    }
}

/// One entry of the membership view the ring is built from.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct Member {
    /// The node's id.
    pub id: NodeId,
    /// The region the node runs in (data can be pinned to regions).
    pub region: String,
    /// The failure zone inside the region; replicas prefer distinct zones.
    pub zone: String,
    /// The node's positions on the ring.
    pub tokens: Vec<Token>,
    /// The node's lifecycle state; only normal members own data.
    pub status: NodeStatus,
}

impl Member {
    /// A member with the given placement and tokens.
    pub fn new(
        id: NodeId,
        region: impl Into<String>,
        zone: impl Into<String>,
        tokens: Vec<Token>,
        status: NodeStatus,
    ) -> Member {
        Member {
            id,
            region: region.into(),
            zone: zone.into(),
            tokens,
            status,
        }
    }
}
