//! The metadata store every node keeps about every member, and foca's
//! [`foca::BroadcastHandler`] over it: a received record is kept and passed
//! on only when it is newer than the one held.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use zerodb_ring::{NodeId, Token};

use crate::codec::{decode_metadata, DigestEntry};
use crate::error::GossipError;
use crate::identity::GossipId;
use crate::metadata::{MetadataKey, MetadataVersion, NodeMetadata};

/// Number of digest buckets: the digest summary carries one hash per bucket.
pub const DIGEST_BUCKETS: usize = 32;

/// Metadata of every node this node has heard of, newest version per node.
#[derive(Debug, Default)]
pub(crate) struct MetadataStore {
    records: BTreeMap<NodeId, NodeMetadata>,
    /// Nodes whose record changed since the state machine last looked.
    changed: Vec<NodeId>,
    /// The local node: its own record is only ever set locally.
    local: Option<NodeId>,
    /// Newest version seen in others' records about the local node.
    newest_local_version_seen: Option<MetadataVersion>,
    /// Digest bucket hashes, recomputed only after a change.
    cached_hashes: Option<Vec<u64>>,
    /// Smallest token of each node (its place on the gossip ring).
    positions: BTreeMap<NodeId, Token>,
    /// Bumped on every change, so callers can cache derived data.
    change_count: u64,
}

impl MetadataStore {
    pub(crate) fn set_local(&mut self, node: NodeId) {
        self.local = Some(node);
    }

    /// Offers a record learned from the network. Returns true when it was
    /// newer than the held one and replaced it.
    pub(crate) fn offer(&mut self, record: NodeMetadata) -> bool {
        if Some(record.node()) == self.local {
            // Someone remembers a record of ours. If it is newer than the
            // one this life published (a restart reused an old generation),
            // the state machine renews past it.
            let version = record.version();
            if self
                .newest_local_version_seen
                .is_none_or(|seen| seen < version)
            {
                self.newest_local_version_seen = Some(version);
            }
            return false;
        }
        self.replace_if_newer(record)
    }

    /// Sets the local node's own record (always newer by construction).
    pub(crate) fn set_own(&mut self, record: NodeMetadata) {
        self.replace_if_newer(record);
    }

    fn replace_if_newer(&mut self, record: NodeMetadata) -> bool {
        let node = record.node();
        let newer = self
            .records
            .get(&node)
            .is_none_or(|held| record.version() > held.version());
        if newer {
            match record.first_token() {
                Some(token) => self.positions.insert(node, token),
                None => self.positions.remove(&node),
            };
            self.records.insert(node, record);
            self.changed.push(node);
            self.cached_hashes = None;
            self.change_count += 1;
        }
        newer
    }

    /// The record held for `node`.
    pub(crate) fn get(&self, node: NodeId) -> Option<&NodeMetadata> {
        self.records.get(&node)
    }

    /// All records, ordered by node id.
    pub(crate) fn records(&self) -> impl Iterator<Item = &NodeMetadata> {
        self.records.values()
    }

    pub(crate) fn take_changed(&mut self) -> Vec<NodeId> {
        std::mem::take(&mut self.changed)
    }

    pub(crate) fn newest_local_version_seen(&self) -> Option<MetadataVersion> {
        self.newest_local_version_seen
    }

    /// The identity held for `node`, if any record names it.
    pub(crate) fn identity(&self, node: NodeId) -> Option<GossipId> {
        self.records.get(&node).map(|record| record.id)
    }

    /// Bucket of a node in the digest.
    pub(crate) fn bucket_of(node: NodeId) -> u16 {
        (node.0 % DIGEST_BUCKETS as u32) as u16
    }

    /// The smallest token of `node`, if its record has tokens.
    pub(crate) fn position(&self, node: NodeId) -> Option<Token> {
        self.positions.get(&node).copied()
    }

    /// Counts changes; equal counts mean nothing changed in between.
    pub(crate) fn change_count(&self) -> u64 {
        self.change_count
    }

    /// One hash per bucket over the (node, version) pairs held in it.
    pub(crate) fn bucket_hashes(&mut self) -> Vec<u64> {
        if let Some(hashes) = &self.cached_hashes {
            return hashes.clone();
        }
        let hashes = self.compute_bucket_hashes();
        self.cached_hashes = Some(hashes.clone());
        hashes
    }

    fn compute_bucket_hashes(&self) -> Vec<u64> {
        let mut hashers: Vec<xxhash_rust::xxh3::Xxh3> = (0..DIGEST_BUCKETS)
            .map(|_| xxhash_rust::xxh3::Xxh3::new())
            .collect();
        for record in self.records.values() {
            let hasher = &mut hashers[usize::from(Self::bucket_of(record.node()))];
            let version = record.version();
            hasher.update(&record.node().0.to_le_bytes());
            hasher.update(&version.generation.to_le_bytes());
            hasher.update(&version.counter.to_le_bytes());
        }
        hashers.iter().map(|hasher| hasher.digest()).collect()
    }

    /// The digest entries of the given buckets, ordered by node.
    pub(crate) fn entries_in(&self, buckets: &[u16]) -> Vec<DigestEntry> {
        self.records
            .values()
            .filter(|record| buckets.contains(&Self::bucket_of(record.node())))
            .map(|record| DigestEntry {
                node: record.node(),
                version: record.version(),
            })
            .collect()
    }
}

/// The store shared between the state machine and foca's broadcast handler
/// (foca owns the handler, so the state machine reaches the records through
/// this handle; all access is from the one thread driving the instance).
#[derive(Clone, Debug, Default)]
pub(crate) struct SharedStore(Arc<Mutex<MetadataStore>>);

impl SharedStore {
    pub(crate) fn lock(&self) -> MutexGuard<'_, MetadataStore> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// foca's broadcast handler for metadata records.
pub(crate) struct MetadataBroadcasts {
    pub(crate) store: SharedStore,
}

impl foca::BroadcastHandler<GossipId> for MetadataBroadcasts {
    type Key = MetadataKey;
    type Error = GossipError;

    fn receive_item(
        &mut self,
        data: &[u8],
        sender: Option<&GossipId>,
    ) -> Result<Option<MetadataKey>, GossipError> {
        let record = decode_metadata(data)?;
        let key = MetadataKey {
            node: record.node(),
            version: record.version(),
        };
        let mut store = self.store.lock();
        if store.local == Some(record.node()) {
            // The local node's own broadcast (added through add_broadcast,
            // so without a sender): the state machine stored it already;
            // disseminate it. Echoes from the network are not re-added.
            let own = store.get(record.node()).map(NodeMetadata::version) == Some(key.version);
            if sender.is_none() && own {
                return Ok(Some(key));
            }
            store.offer(record);
            return Ok(None);
        }
        Ok(store.offer(record).then_some(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::BroadcastHandler;
    use zerodb_ring::NodeStatus;

    fn record(node: u32, generation: u64, counter: u64) -> NodeMetadata {
        NodeMetadata {
            id: GossipId::new(NodeId(node), "10.0.0.1:1".parse().unwrap(), generation),
            counter,
            region: "r".into(),
            zone: "z".into(),
            tokens: vec![],
            status: NodeStatus::Normal,
            cluster_metadata_version: 0,
        }
    }

    #[test]
    fn newer_replaces_older_and_older_is_ignored() {
        let store = SharedStore::default();
        store.lock().set_local(NodeId(1));
        let mut handler = MetadataBroadcasts {
            store: store.clone(),
        };
        let encode = |r: &NodeMetadata| crate::codec::encode_metadata(r).unwrap();
        assert!(handler
            .receive_item(&encode(&record(2, 1, 3)), None)
            .unwrap()
            .is_some());
        assert!(handler
            .receive_item(&encode(&record(2, 1, 2)), None)
            .unwrap()
            .is_none());
        assert!(handler
            .receive_item(&encode(&record(2, 1, 3)), None)
            .unwrap()
            .is_none());
        assert!(handler
            .receive_item(&encode(&record(2, 2, 1)), None)
            .unwrap()
            .is_some());
        assert_eq!(
            store.lock().get(NodeId(2)).unwrap().version(),
            MetadataVersion {
                generation: 2,
                counter: 1
            }
        );
        // A record about the local node from a later life is remembered.
        assert!(handler
            .receive_item(&encode(&record(1, 7, 1)), None)
            .unwrap()
            .is_none());
        assert_eq!(
            store.lock().newest_local_version_seen(),
            Some(MetadataVersion {
                generation: 7,
                counter: 1
            })
        );
        assert!(handler.receive_item(b"junk", None).is_err());
    }

    #[test]
    fn bucket_hashes_differ_only_where_versions_differ() {
        let mut a = MetadataStore::default();
        let mut b = MetadataStore::default();
        for node in 0..100 {
            a.offer(record(node, 1, 1));
            b.offer(record(node, 1, 1));
        }
        assert_eq!(a.bucket_hashes(), b.bucket_hashes());
        b.offer(record(37, 1, 2));
        let differing: Vec<usize> = (0..DIGEST_BUCKETS)
            .filter(|&i| a.bucket_hashes()[i] != b.bucket_hashes()[i])
            .collect();
        assert_eq!(differing, vec![37 % DIGEST_BUCKETS]);
    }
}
