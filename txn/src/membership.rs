//! The node's view of the cluster: the ring, the down set (liveness from
//! gossip) and the namespace policies. Strong operations use only the
//! replica ring; eventual writes fail over past down replicas.

use crate::types::KeyExt;
use std::collections::{BTreeMap, BTreeSet};

pub use zerodb_config::{Consistency, NamespacePolicy, PartitionLevel};
pub use zerodb_ring::{partition_token, Member, NodeId, NodeStatus, RecordKey, Ring, Token};

use crate::types::{Epoch, Key, PartitionId};

/// Namespace policies: a static map with a default for unknown namespaces,
/// and a version carried in every strong message.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    /// Version of this policy set; replicas refuse strong messages with a
    /// different one.
    pub version: u64,
    /// Policy of namespaces not in `namespaces`.
    pub default: NamespacePolicy,
    /// Per-namespace policies.
    pub namespaces: BTreeMap<String, NamespacePolicy>,
}

impl Policies {
    /// The policy of `namespace`.
    pub fn get(&self, namespace: &str) -> &NamespacePolicy {
        self.namespaces.get(namespace).unwrap_or(&self.default)
    }

    /// The policy version of `namespace`: a fingerprint of its policy
    /// under this policy set's version. Placement (replication factor,
    /// partition level, regions) is never altered in place, so it changes
    /// exactly when the namespace's consistency does; every node holding
    /// the same catalog computes the same one. An eventual write carries it
    /// and a replica refuses it when its own differs (DESIGN.md 6: a
    /// coordinator with an old catalog must not write without locks into a
    /// namespace that is strong now).
    pub fn version_of(&self, namespace: &str) -> u64 {
        let policy = self.get(namespace);
        let encoded =
            bincode::encode_to_vec((self.version, policy.clone()), bincode::config::standard())
                .expect("encoding a policy into a vector cannot fail");
        xxhash_rust::xxh3::xxh3_64(&encoded)
    }
}

/// `floor(rf / 2) + 1`.
pub fn quorum(rf: usize) -> usize {
    rf / 2 + 1
}

/// Ring + liveness + policies.
#[derive(Clone, Debug)]
pub struct View {
    /// The ring (placement).
    pub ring: Ring,
    /// Nodes gossip reports down.
    pub down: BTreeSet<NodeId>,
    /// Namespace policies.
    pub policies: Policies,
}

impl View {
    /// A view of `ring` with `down` reported down by gossip.
    pub fn new(ring: Ring, down: BTreeSet<NodeId>, policies: Policies) -> View {
        View {
            ring,
            down,
            policies,
        }
    }

    /// The epoch strong messages carry.
    pub fn epoch(&self) -> Epoch {
        Epoch {
            ring: self.ring.epoch(),
            policy: self.policies.version,
        }
    }

    /// The epoch a replica answers when it refuses a message about
    /// `namespace` because the sender's policy of it is not its own.
    pub fn namespace_epoch(&self, namespace: &str) -> Epoch {
        Epoch {
            ring: self.ring.epoch(),
            policy: self.policies.version_of(namespace),
        }
    }

    /// The consistency of the namespace a storage key belongs to (`None`
    /// when the key does not decode).
    pub fn consistency_of_storage_key(&self, key: &[u8]) -> Option<(String, Consistency)> {
        let rk = RecordKey::decode(key).ok()?;
        let consistency = self.policies.get(&rk.namespace).consistency;
        Some((rk.namespace, consistency))
    }

    /// Refuses a strong message about `key` when this view holds the key's
    /// namespace eventual (its consistency was altered and the sender's
    /// catalog is older or newer than this one): the sender refreshes.
    pub fn check_strong(&self, key: &[u8]) -> Result<(), crate::error::Refusal> {
        match self.consistency_of_storage_key(key) {
            Some((namespace, Consistency::Eventual)) => Err(crate::error::Refusal::WrongEpoch {
                replica: self.namespace_epoch(&namespace),
            }),
            _ => Ok(()),
        }
    }

    /// The partition of a key under its namespace's policy.
    pub fn partition_of(&self, key: &Key) -> PartitionId {
        let policy = self.policies.get(&key.namespace);
        let token = partition_token(&key.record_key(), policy.partition_level);
        PartitionId {
            namespace: key.namespace.clone(),
            token: token.0,
        }
    }

    /// The replica ring of a partition (empty when the ring cannot place
    /// it, e.g. too few normal nodes).
    pub fn replicas(&self, partition: &PartitionId) -> Vec<NodeId> {
        let policy = self.policies.get(&partition.namespace);
        self.ring
            .replicas(
                Token(partition.token),
                policy.replication_factor,
                &policy.regions,
            )
            .unwrap_or_default()
    }

    /// The nodes after the replica ring, clockwise (hint targets).
    pub fn failover(&self, partition: &PartitionId) -> Vec<NodeId> {
        let policy = self.policies.get(&partition.namespace);
        self.ring.failover(
            Token(partition.token),
            policy.replication_factor,
            &policy.regions,
        )
    }

    /// Quorum size of a partition's namespace.
    pub fn quorum_of(&self, partition: &PartitionId) -> usize {
        quorum(self.policies.get(&partition.namespace).replication_factor)
    }

    /// Whether a node is reported down.
    pub fn is_down(&self, node: NodeId) -> bool {
        self.down.contains(&node)
    }

    /// Whether `node` replicates `partition`.
    pub fn replicates(&self, node: NodeId, partition: &PartitionId) -> bool {
        self.replicas(partition).contains(&node)
    }

    /// The partition of a storage key, if it decodes.
    pub fn partition_of_storage_key(&self, key: &[u8]) -> Option<PartitionId> {
        let rk = RecordKey::decode(key).ok()?;
        let policy = self.policies.get(&rk.namespace);
        let token = partition_token(&rk, policy.partition_level);
        Some(PartitionId {
            namespace: rk.namespace,
            token: token.0,
        })
    }

    /// Every replica set `node` belongs to, over every ring token and every
    /// known policy (used by lost-state recovery to know whom to copy from).
    pub fn replica_sets_of(&self, node: NodeId) -> BTreeSet<Vec<NodeId>> {
        let mut policies: Vec<&NamespacePolicy> = vec![&self.policies.default];
        policies.extend(self.policies.namespaces.values());
        let mut sets = BTreeSet::new();
        for (token, _) in self.ring.tokens() {
            for policy in &policies {
                if let Ok(r) = self
                    .ring
                    .replicas(token, policy.replication_factor, &policy.regions)
                {
                    if r.contains(&node) {
                        sets.insert(r);
                    }
                }
            }
        }
        sets
    }
}
