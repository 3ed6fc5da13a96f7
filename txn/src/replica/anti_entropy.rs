//! Anti-entropy for eventual namespaces (DESIGN.md 7): replicas compare a
//! hash tree of the data they share and exchange what differs, so a write
//! that reached only some replicas (W = one, a lost message, a crash before
//! the sync) reaches all of them once the network heals. Hinted handoff
//! covers only replicas the coordinator saw as down; this covers the rest.
//!
//! The tree has two levels over xxh3 of the storage key: 256 top buckets of
//! 256 leaves each. A leaf's hash is the wrapping sum of xxh3 over
//! `(key, version, tombstone)` of its records, so it does not depend on scan
//! order. One exchange between `a` and its successor `b`:
//!
//! 1. `a` sends its top hashes (`AeDigest`);
//! 2. `b` answers the leaf hashes of up to [`TOPS_PER_EXCHANGE`] top buckets
//!    that differ (`AeLeaves`);
//! 3. `a` sends its records in the leaves that differ (`AeEntries`, reply);
//! 4. `b` stores the newer ones and sends back its records that `a` lacks or
//!    holds at a lower version (`AeEntries`, no reply).
//!
//! Both sides hash the same set: records of eventual namespaces whose
//! replica set holds both nodes (under each node's view). Records are
//! stored under the version rule, so repeated or crossing exchanges are
//! harmless. Each round a node picks the next of its successors (the next
//! up replica clockwise in each eventual replica set it belongs to).
//!
//! Cost: every step scans the node's eventual data (strong namespaces are
//! skipped with one seek each); there is no incrementally maintained tree.

use crate::types::version;
use crate::types::versioned;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use xxhash_rust::xxh3::xxh3_64;
use zerodb_storage::{Direction, Engine, Record, ScanRange, Space, WriteBatch};

use crate::membership::{Consistency, NodeId, RecordKey};
use crate::message::Message;
use crate::node::TxnNode;
use crate::types::{Ver, Versioned};

/// Top buckets of the tree.
pub(crate) const TOP_BUCKETS: usize = 256;
/// Leaves under each top bucket.
pub(crate) const LEAVES_PER_TOP: usize = 256;
/// Top buckets whose leaves one exchange compares, at most.
pub(crate) const TOPS_PER_EXCHANGE: usize = 16;
/// Records one `AeEntries` carries, at most.
const ENTRIES_MAX: usize = 512;
/// Value bytes one `AeEntries` carries, at most (a single larger record
/// still goes alone; frames are capped at 16 MiB).
const ENTRY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Records scanned per engine call.
const SCAN_PAGE: usize = 1_024;

/// Round-robin state of the anti-entropy rounds.
#[derive(Clone, Debug, Default)]
pub(crate) struct AntiEntropy {
    next_round_ms: u64,
    cursor: usize,
    /// Records stored because a peer held a newer version (for tests and
    /// status).
    pub(crate) repaired: u64,
}

/// The leaf (`top << 8 | leaf`) of a storage key.
fn leaf_of(key: &[u8]) -> u16 {
    (xxh3_64(key) >> 48) as u16
}

/// The hash of one record: its key, version and whether it is a delete. A
/// record written with a TTL hashes the same whether or not this replica
/// swept it into a tombstone yet (the sweeper keeps its version and
/// expiry): versions are unique per write, so both forms are one write.
fn entry_hash(key: &[u8], record: &Record) -> u64 {
    let mut bytes = Vec::with_capacity(key.len() + 17);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&record.version.to_bytes());
    let deleted = record.value.is_none() && record.expires_at_ms.is_none();
    bytes.push(u8::from(deleted));
    xxh3_64(&bytes)
}

/// Just past every key of the namespace whose prefix is `prefix` (a
/// namespace prefix ends with the terminator `0x00 0x01`).
fn after_namespace(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

impl<E: Engine> TxnNode<E> {
    /// Starts an exchange with the next successor when a round is due.
    pub(crate) fn anti_entropy_tick(&mut self) {
        let period = self.options.anti_entropy_ms;
        if period == 0 || self.now_ms < self.replica.anti_entropy.next_round_ms || !self.votes() {
            return;
        }
        self.replica.anti_entropy.next_round_ms = self.now_ms.saturating_add(period);
        let peers = self.anti_entropy_peers();
        if peers.is_empty() {
            return;
        }
        let cursor = self.replica.anti_entropy.cursor;
        self.replica.anti_entropy.cursor = cursor.wrapping_add(1);
        let peer = peers[cursor % peers.len()];
        let top = self.top_hashes(peer);
        self.send(peer, Message::AeDigest { top });
    }

    /// Records repaired from peers by anti-entropy since start.
    pub fn anti_entropy_repaired(&self) -> u64 {
        self.replica.anti_entropy.repaired
    }

    /// The next up replica after this node, clockwise, in every eventual
    /// replica set it belongs to.
    fn anti_entropy_peers(&self) -> Vec<NodeId> {
        let view = &self.view;
        let policies = &view.policies;
        let eventual: Vec<_> = std::iter::once(&policies.default)
            .chain(policies.namespaces.values())
            .filter(|p| p.consistency == Consistency::Eventual)
            .map(|p| (p.replication_factor, p.regions.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut peers = BTreeSet::new();
        for (token, _) in view.ring.tokens() {
            for (rf, regions) in &eventual {
                let Ok(set) = view.ring.replicas(token, *rf, regions) else {
                    continue;
                };
                let Some(at) = set.iter().position(|n| *n == self.id) else {
                    continue;
                };
                let next = (1..set.len())
                    .map(|i| set[(at + i) % set.len()])
                    .find(|n| !view.is_down(*n));
                peers.extend(next);
            }
        }
        peers.into_iter().collect()
    }

    /// Calls `f` for every record of an eventual namespace that this node
    /// and `peer` both replicate.
    fn for_each_shared(&mut self, peer: NodeId, mut f: impl FnMut(&[u8], &Record)) {
        let view = self.view.clone();
        let mut start = Bound::Unbounded;
        'pages: loop {
            let range = ScanRange {
                space: Space::Data,
                start: start.clone(),
                end: Bound::Unbounded,
            };
            let page = match self.engine.scan(&range, Direction::Forward, SCAN_PAGE) {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "anti-entropy scan failed; the round is skipped");
                    return;
                }
            };
            let full = page.len() == SCAN_PAGE;
            for (key, record) in &page {
                start = Bound::Excluded(key.clone());
                let Ok(rk) = RecordKey::decode(key) else {
                    continue;
                };
                if view.policies.get(&rk.namespace).consistency != Consistency::Eventual {
                    let prefix = RecordKey::namespace_prefix(&rk.namespace);
                    start = Bound::Included(after_namespace(&prefix));
                    continue 'pages;
                }
                let Some(partition) = view.partition_of_storage_key(key) else {
                    continue;
                };
                let replicas = view.replicas(&partition);
                if replicas.contains(&self.id) && replicas.contains(&peer) {
                    f(key, record);
                }
            }
            if !full {
                return;
            }
        }
    }

    fn top_hashes(&mut self, peer: NodeId) -> Vec<u64> {
        let mut top = vec![0u64; TOP_BUCKETS];
        self.for_each_shared(peer, |key, record| {
            let t = usize::from(leaf_of(key) >> 8);
            top[t] = top[t].wrapping_add(entry_hash(key, record));
        });
        top
    }

    fn leaf_hashes(&mut self, peer: NodeId, tops: &BTreeSet<u8>) -> BTreeMap<u8, Vec<u64>> {
        let mut leaves: BTreeMap<u8, Vec<u64>> = tops
            .iter()
            .map(|t| (*t, vec![0u64; LEAVES_PER_TOP]))
            .collect();
        self.for_each_shared(peer, |key, record| {
            let leaf = leaf_of(key);
            if let Some(hashes) = leaves.get_mut(&((leaf >> 8) as u8)) {
                let l = usize::from(leaf & 0xff);
                hashes[l] = hashes[l].wrapping_add(entry_hash(key, record));
            }
        });
        leaves
    }

    /// This node's shared records in `leaves` that `skip` does not rule out,
    /// within the per-message caps.
    fn entries_in(
        &mut self,
        peer: NodeId,
        leaves: &BTreeSet<u16>,
        skip: impl Fn(&[u8], &Record) -> bool,
    ) -> Vec<(Vec<u8>, Versioned)> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        self.for_each_shared(peer, |key, record| {
            if out.len() >= ENTRIES_MAX || !leaves.contains(&leaf_of(key)) || skip(key, record) {
                return;
            }
            let size = key.len() + record.value.as_ref().map_or(0, Vec::len);
            if !out.is_empty() && bytes + size > ENTRY_BYTES_MAX {
                return;
            }
            bytes += size;
            out.push((key.to_vec(), versioned(record.clone())));
        });
        out
    }

    /// Step 2: answer the leaves of the top buckets that differ.
    pub(crate) fn handle_ae_digest(&mut self, from: NodeId, theirs: Vec<u64>) {
        if !self.votes() || theirs.len() != TOP_BUCKETS {
            return;
        }
        let mine = self.top_hashes(from);
        let differing: BTreeSet<u8> = (0..TOP_BUCKETS)
            .filter(|&t| mine[t] != theirs[t])
            .take(TOPS_PER_EXCHANGE)
            .map(|t| t as u8)
            .collect();
        if differing.is_empty() {
            return;
        }
        let buckets = self.leaf_hashes(from, &differing).into_iter().collect();
        self.send(from, Message::AeLeaves { buckets });
    }

    /// Step 3: send this node's records in the leaves that differ.
    pub(crate) fn handle_ae_leaves(&mut self, from: NodeId, theirs: Vec<(u8, Vec<u64>)>) {
        if !self.votes() {
            return;
        }
        let tops: BTreeSet<u8> = theirs.iter().map(|(t, _)| *t).collect();
        let mine = self.leaf_hashes(from, &tops);
        let mut leaves = BTreeSet::new();
        for (top, hashes) in &theirs {
            let Some(my) = mine.get(top) else { continue };
            if hashes.len() != LEAVES_PER_TOP {
                return;
            }
            for l in 0..LEAVES_PER_TOP {
                if my[l] != hashes[l] {
                    leaves.insert(u16::from(*top) << 8 | l as u16);
                }
            }
        }
        if leaves.is_empty() {
            return;
        }
        let entries = self.entries_in(from, &leaves, |_, _| false);
        self.send(
            from,
            Message::AeEntries {
                leaves: leaves.into_iter().collect(),
                entries,
                reply: true,
            },
        );
    }

    /// Step 4 (and the end of step 3's round trip): store the newer records
    /// and, when asked, send back what the peer lacks.
    pub(crate) fn handle_ae_entries(
        &mut self,
        from: NodeId,
        leaves: Vec<u16>,
        entries: Vec<(Vec<u8>, Versioned)>,
        reply: bool,
    ) {
        if !self.votes() {
            return;
        }
        let theirs: BTreeMap<Vec<u8>, Ver> = entries
            .iter()
            .map(|(k, r)| (k.clone(), r.version))
            .collect();
        let mut batch = WriteBatch::new();
        let mut stored = 0u64;
        for (key, record) in &entries {
            let v = &self.view;
            let mine = v.partition_of_storage_key(key).is_some_and(|p| {
                v.replicates(self.id, &p)
                    && v.policies.get(&p.namespace).consistency == Consistency::Eventual
            });
            if !mine {
                continue;
            }
            self.hlc.observe(version(record.version));
            match self.put_if_newer(&mut batch, key, record) {
                Ok(true) => stored += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "anti-entropy could not read a record; skipped");
                    return;
                }
            }
        }
        if let Err(e) = self.engine.write(batch) {
            tracing::warn!(error = %e, "anti-entropy could not store records; the next round retries");
            return;
        }
        self.replica.anti_entropy.repaired += stored;
        if !reply {
            return;
        }
        let leaves: BTreeSet<u16> = leaves.into_iter().collect();
        let back = self.entries_in(from, &leaves, |key, record| {
            theirs
                .get(key)
                .is_some_and(|v| version(*v) >= record.version)
        });
        if !back.is_empty() {
            self.send(
                from,
                Message::AeEntries {
                    leaves: leaves.into_iter().collect(),
                    entries: back,
                    reply: false,
                },
            );
        }
    }
}
