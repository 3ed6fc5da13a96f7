//! The digest exchange: every `digest_period_ms` a node sends per-bucket
//! hashes of its metadata versions to its clockwise successor on the cluster
//! ring; the successor answers with its entries for the buckets that differ;
//! the first node then pushes what it holds newer and asks for what it lacks.
//! Views thus converge even when every broadcast about a change was lost.
//!
//! If the successor does not answer before the next tick, the node moves on
//! to the next member clockwise (and retries the true successor every
//! [`SUCCESSOR_RETRY_TICKS`] ticks). Members believed down are skipped.

use std::collections::BTreeMap;

use zerodb_ring::{NodeId, Token};

use crate::codec::{self, Control, DigestEntry};
use crate::error::{GossipError, GossipResult};
use crate::gossip::Gossip;
use crate::identity::GossipId;
use crate::output::GossipTimer;
use crate::store::{MetadataStore, DIGEST_BUCKETS};
use crate::view::Liveness;

/// Every this many ticks the exchange goes back to the true successor even
/// if it failed before, so a recovered successor is used again.
pub const SUCCESSOR_RETRY_TICKS: u64 = 8;

/// Most metadata records pushed in answer to one request or digest.
pub const METADATA_PUSH_RECORDS_MAX: usize = 2048;

/// Position on the gossip ring: smallest token, then node id (nodes without
/// tokens sort last, by id).
fn ring_position(store: &MetadataStore, node: NodeId) -> (Token, NodeId) {
    (store.position(node).unwrap_or(Token(u64::MAX)), node)
}

/// The live members in gossip ring order, cached until the metadata or the
/// liveness view changes (recomputing it every tick costs O(N log N)).
#[derive(Debug, Default)]
pub(crate) struct RingOrder {
    /// (store change count, liveness change count) the order was built at.
    built_at: Option<(u64, u64)>,
    ordered: Vec<((Token, NodeId), GossipId)>,
}

impl Gossip {
    /// The node the digest goes to this tick: the `skip`-th live member
    /// clockwise after this node.
    pub(crate) fn digest_target(&mut self) -> Option<GossipId> {
        let store = self.store.lock();
        let stamp = (store.change_count(), self.liveness.change_count());
        if self.ring_order.built_at != Some(stamp) {
            // Members known by metadata, and members foca knows whose
            // metadata has not arrived yet (a joiner has only the latter).
            let mut candidates: BTreeMap<NodeId, GossipId> = store
                .records()
                .map(|record| (record.node(), record.id))
                .collect();
            for (node, id, _) in self.liveness.iter() {
                candidates.insert(node, id);
            }
            candidates.remove(&self.id.node);
            let mut ordered: Vec<((Token, NodeId), GossipId)> = candidates
                .into_values()
                .filter(|id| self.liveness_of(id.node) != Liveness::Down)
                .map(|id| (ring_position(&store, id.node), id))
                .collect();
            ordered.sort();
            self.ring_order = RingOrder {
                built_at: Some(stamp),
                ordered,
            };
        }
        let ordered = &self.ring_order.ordered;
        if ordered.is_empty() {
            return None;
        }
        let own = ring_position(&store, self.id.node);
        let first = ordered.partition_point(|(position, _)| *position <= own);
        let index = (first + self.digest.skip) % ordered.len();
        // Prefer the identity foca knows (it may be a newer life).
        let target = ordered[index].1;
        Some(self.liveness.get(target.node).map_or(target, |(id, _)| id))
    }

    pub(crate) fn digest_tick(&mut self, now_ms: u64) -> GossipResult<()> {
        let at_ms = now_ms + self.jitter(self.config.digest_period_ms);
        self.set_timer(at_ms, GossipTimer::DigestTick);
        self.reconcile_liveness();
        if self.is_left() {
            return Ok(());
        }
        self.digest.ticks += 1;
        if self.digest.awaiting.take().is_some() {
            self.digest.skip += 1;
        }
        if self.digest.ticks % SUCCESSOR_RETRY_TICKS == 0 {
            self.digest.skip = 0;
        }
        let Some(target) = self.digest_target() else {
            return Ok(());
        };
        let hashes = self.store.lock().bucket_hashes();
        self.digest.awaiting = Some(target.node);
        let summary = Control::DigestSummary {
            from: self.id,
            hashes,
        };
        self.send_control(target.addr, Some(target.node), &summary)
    }

    /// Brings the liveness view in line with foca's membership state: foca
    /// notifies up and down, but not suspicion or its refutation.
    pub(crate) fn reconcile_liveness(&mut self) {
        let mut changes = Vec::new();
        for member in self.foca.iter_membership_state() {
            let id = *member.id();
            let liveness = match member.state() {
                foca::State::Alive => Liveness::Up,
                foca::State::Suspect => Liveness::Suspect,
                foca::State::Down => Liveness::Down,
            };
            match self.liveness.get(id.node) {
                Some(held) if held == (id, liveness) => {}
                // Down comes through foca's notification; a member foca holds
                // as down without ever having seen it up stays out.
                None if liveness == Liveness::Down => {}
                _ => changes.push((id, liveness)),
            }
        }
        for (id, liveness) in changes {
            if let Some(event) = self.liveness.set(id, liveness) {
                self.outputs.push(crate::output::Output::Event(event));
            }
        }
    }

    pub(crate) fn on_digest_summary(&mut self, from: GossipId, hashes: &[u64]) -> GossipResult<()> {
        if hashes.len() != DIGEST_BUCKETS {
            return Err(GossipError::Decode {
                reason: format!(
                    "digest summary from {from} has {} buckets, expected {DIGEST_BUCKETS}",
                    hashes.len()
                ),
            });
        }
        let (buckets, by_bucket) = {
            let mut store = self.store.lock();
            let own = store.bucket_hashes();
            let buckets: Vec<u16> = (0..DIGEST_BUCKETS)
                .filter(|&bucket| own[bucket] != hashes[bucket])
                .map(|bucket| bucket as u16)
                .collect();
            let mut by_bucket: BTreeMap<u16, Vec<DigestEntry>> =
                buckets.iter().map(|bucket| (*bucket, Vec::new())).collect();
            for entry in store.entries_in(&buckets) {
                if let Some(list) = by_bucket.get_mut(&MetadataStore::bucket_of(entry.node)) {
                    list.push(entry);
                }
            }
            (buckets, by_bucket)
        };
        if buckets.is_empty() {
            // In sync: an empty answer tells the sender we are reachable.
            let ack = Control::DigestEntries {
                from: self.id,
                buckets: Vec::new(),
                entries: Vec::new(),
            };
            return self.send_control(from.addr, Some(from.node), &ack);
        }
        // Whole buckets per datagram, so the receiver can tell what we lack.
        let empty = Control::DigestEntries {
            from: self.id,
            buckets: vec![0; DIGEST_BUCKETS],
            entries: Vec::new(),
        };
        let budget = codec::item_budget(&empty, self.config.datagram_limit_bytes)?;
        let groups: Vec<(u16, Vec<DigestEntry>)> = by_bucket.into_iter().collect();
        let chunks = codec::chunk_by_size(groups, budget, |(_, entries)| {
            entries
                .iter()
                .map(codec::digest_entry_len)
                .sum::<GossipResult<usize>>()
        })?;
        for chunk in chunks {
            let buckets = chunk.iter().map(|(bucket, _)| *bucket).collect();
            let entries = chunk.into_iter().flat_map(|(_, entries)| entries).collect();
            let message = Control::DigestEntries {
                from: self.id,
                buckets,
                entries,
            };
            self.send_control(from.addr, Some(from.node), &message)?;
        }
        Ok(())
    }

    pub(crate) fn on_digest_entries(
        &mut self,
        from: GossipId,
        buckets: &[u16],
        entries: &[DigestEntry],
    ) -> GossipResult<()> {
        if self.digest.awaiting == Some(from.node) {
            self.digest.awaiting = None;
        }
        let theirs: BTreeMap<NodeId, DigestEntry> =
            entries.iter().map(|entry| (entry.node, *entry)).collect();
        let (to_push, to_request) = {
            let store = self.store.lock();
            let mine = store.entries_in(buckets);
            let to_push: Vec<NodeId> = mine
                .iter()
                .filter(|entry| {
                    theirs
                        .get(&entry.node)
                        .is_none_or(|other| other.version < entry.version)
                })
                .map(|entry| entry.node)
                .collect();
            let to_request: Vec<NodeId> = entries
                .iter()
                .filter(|entry| entry.node != self.id.node)
                .filter(|entry| {
                    store
                        .get(entry.node)
                        .is_none_or(|held| held.version() < entry.version)
                })
                .map(|entry| entry.node)
                .collect();
            (to_push, to_request)
        };
        self.push_metadata(from, &to_push)?;
        if !to_request.is_empty() {
            let empty = Control::MetadataRequest {
                from: self.id,
                nodes: Vec::new(),
            };
            let budget = codec::item_budget(&empty, self.config.datagram_limit_bytes)?;
            // A node id is at most 5 bytes as a varint.
            for nodes in codec::chunk_by_size(to_request, budget, |_| Ok(5))? {
                let request = Control::MetadataRequest {
                    from: self.id,
                    nodes,
                };
                self.send_control(from.addr, Some(from.node), &request)?;
            }
        }
        Ok(())
    }

    /// Sends the records held for `nodes` to `to`, packed into datagrams.
    pub(crate) fn push_metadata(&mut self, to: GossipId, nodes: &[NodeId]) -> GossipResult<()> {
        let records: Vec<_> = {
            let store = self.store.lock();
            nodes
                .iter()
                .filter_map(|node| store.get(*node).cloned())
                .take(METADATA_PUSH_RECORDS_MAX)
                .collect()
        };
        if records.is_empty() {
            return Ok(());
        }
        let empty = Control::MetadataPush {
            from: self.id,
            records: Vec::new(),
        };
        let budget = codec::item_budget(&empty, self.config.datagram_limit_bytes)?;
        for records in codec::chunk_by_size(records, budget, codec::metadata_len)? {
            let push = Control::MetadataPush {
                from: self.id,
                records,
            };
            self.send_control(to.addr, Some(to.node), &push)?;
        }
        Ok(())
    }
}
