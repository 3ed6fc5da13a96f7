//! Namespace policies (DESIGN.md section 2).

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a namespace replicates its writes.
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
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Quorum fetch-and-lock transactions (DESIGN.md section 6).
    #[default]
    Strong,
    /// Last-writer-wins with hinted handoff (DESIGN.md section 7).
    Eventual,
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consistency::Strong => "strong",
            Consistency::Eventual => "eventual",
        })
    }
}

/// The prefix of a key that chooses its partition.
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
#[serde(rename_all = "snake_case")]
pub enum PartitionLevel {
    /// `(namespace, database)`: a whole database on one replica ring.
    #[default]
    Database,
    /// `(namespace, database, table)`.
    Table,
    /// The whole key: records spread over the cluster.
    Record,
}

impl fmt::Display for PartitionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PartitionLevel::Database => "database",
            PartitionLevel::Table => "table",
            PartitionLevel::Record => "record",
        })
    }
}

/// The placement and consistency policy of a namespace.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(deny_unknown_fields, default)]
pub struct NamespacePolicy {
    /// Strong or eventual.
    pub consistency: Consistency,
    /// Number of replicas of each partition (RF).
    pub replication_factor: usize,
    /// The key prefix that chooses the partition.
    pub partition_level: PartitionLevel,
    /// Regions the data is pinned to; empty means every region.
    pub regions: Vec<String>,
}

impl Default for NamespacePolicy {
    fn default() -> NamespacePolicy {
        NamespacePolicy {
            consistency: Consistency::Strong,
            replication_factor: 3,
            partition_level: PartitionLevel::Database,
            regions: Vec::new(),
        }
    }
}
