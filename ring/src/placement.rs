//! A placement: the sorted tokens of a set of eligible (normal) nodes with
//! the replica list of every range precomputed, so that a lookup is a binary
//! search and a slice, with no allocation.
//!
//! The replica list of a range is its *preference list* cut to RF: walking
//! clockwise from the range's token over distinct nodes, first every node
//! that opens a zone not seen yet (in walk order), then the remaining nodes
//! in walk order. Cutting it to RF gives RF distinct nodes, in distinct zones
//! whenever the placement has at least RF zones, and the list for RF is a
//! prefix of the list for RF + 1.

use std::collections::BTreeMap;

use crate::types::{Member, NodeId};

/// How many replicas are precomputed per range. Lookups with a larger
/// replication factor take the (allocating) walk.
pub const PRECOMPUTED_REPLICAS_MAX: usize = 5;

/// Largest number of leading token bits used to index the sorted tokens.
const BUCKET_BITS_MAX: u32 = 16;

/// Sorted tokens of eligible nodes plus the precomputed replica table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Distinct eligible nodes, sorted by id.
    nodes: Vec<NodeId>,
    /// Zone index of each node (same order as `nodes`).
    zone_of: Vec<u32>,
    /// Number of distinct zones.
    zone_count: usize,
    /// Sorted distinct token positions.
    tokens: Vec<u64>,
    /// Owner (index into `nodes`) of each token.
    owners: Vec<u32>,
    /// Replicas precomputed per range: `min(PRECOMPUTED_REPLICAS_MAX, nodes)`.
    width: usize,
    /// `width` replicas for each range, range after range.
    table: Vec<NodeId>,
    /// `bucket[k]` is the first token index whose top `bucket_bits` bits are >= k.
    bucket: Vec<u32>,
    /// Number of leading token bits the bucket index uses.
    bucket_bits: u32,
}

impl Placement {
    /// Builds the placement of `members` (already filtered to eligible ones,
    /// sorted by id, ids distinct). Token collisions go to the lowest id.
    pub(crate) fn build<'a>(members: impl Iterator<Item = &'a Member>) -> Placement {
        let mut nodes = Vec::new();
        let mut zone_of = Vec::new();
        let mut zone_ids: BTreeMap<(&str, &str), u32> = BTreeMap::new();
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        for member in members {
            let index = nodes.len() as u32;
            nodes.push(member.id);
            let next_zone = zone_ids.len() as u32;
            let zone = *zone_ids
                .entry((member.region.as_str(), member.zone.as_str()))
                .or_insert(next_zone);
            zone_of.push(zone);
            pairs.extend(member.tokens.iter().map(|token| (token.0, index)));
        }
        // Sorting by (token, node index) and keeping the first of each token
        // gives a collided token to the lowest node id, whatever the order.
        pairs.sort_unstable();
        pairs.dedup_by_key(|pair| pair.0);
        let tokens: Vec<u64> = pairs.iter().map(|pair| pair.0).collect();
        let owners: Vec<u32> = pairs.iter().map(|pair| pair.1).collect();
        // A node whose tokens were all taken by lower ids owns nothing.
        let mut owning = vec![false; nodes.len()];
        for &owner in &owners {
            owning[owner as usize] = true;
        }
        let owning_nodes = owning.iter().filter(|owns| **owns).count();
        let width = PRECOMPUTED_REPLICAS_MAX.min(owning_nodes);
        let mut placement = Placement {
            nodes,
            zone_of,
            zone_count: zone_ids.len(),
            tokens,
            owners,
            width,
            table: Vec::new(),
            bucket: Vec::new(),
            bucket_bits: 0,
        };
        placement.zone_count = placement.owning_zone_count();
        placement.build_bucket_index();
        placement.build_table();
        placement
    }

    fn owning_zone_count(&self) -> usize {
        let mut seen = vec![false; self.zone_count];
        for &owner in &self.owners {
            seen[self.zone_of[owner as usize] as usize] = true;
        }
        seen.iter().filter(|zone| **zone).count()
    }

    fn build_bucket_index(&mut self) {
        let len = self.tokens.len().max(1);
        let bits = (usize::BITS - (len - 1).leading_zeros()).clamp(1, BUCKET_BITS_MAX);
        let buckets = 1usize << bits;
        let mut bucket = Vec::with_capacity(buckets + 1);
        let mut index = 0usize;
        for k in 0..buckets {
            while index < self.tokens.len() && ((self.tokens[index] >> (64 - bits)) as usize) < k {
                index += 1;
            }
            bucket.push(index as u32);
        }
        bucket.push(self.tokens.len() as u32);
        self.bucket = bucket;
        self.bucket_bits = bits;
    }

    fn build_table(&mut self) {
        let mut table = Vec::with_capacity(self.tokens.len() * self.width);
        let mut walk = Walk::new(self.nodes.len(), self.zone_count_upper());
        for start in 0..self.tokens.len() {
            walk.preference(self, start, self.width, |_| true, &mut table);
        }
        self.table = table;
    }

    fn zone_count_upper(&self) -> usize {
        self.zone_of
            .iter()
            .map(|zone| *zone as usize + 1)
            .max()
            .unwrap_or(0)
    }

    /// Number of distinct nodes owning at least one token.
    pub(crate) fn owning_node_count(&self) -> usize {
        self.width_for_all()
    }

    fn width_for_all(&self) -> usize {
        let mut seen = vec![false; self.nodes.len()];
        for &owner in &self.owners {
            seen[owner as usize] = true;
        }
        seen.iter().filter(|owns| **owns).count()
    }

    /// Number of precomputed replicas per range.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Number of token positions.
    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Sorted token positions.
    pub(crate) fn tokens(&self) -> &[u64] {
        &self.tokens
    }

    /// Owner of the token at `index`.
    pub(crate) fn owner(&self, index: usize) -> NodeId {
        self.nodes[self.owners[index] as usize]
    }

    /// Index of the range holding `token`: the first token at or after it,
    /// wrapping to 0. Must not be called on an empty placement.
    #[inline]
    pub(crate) fn range_index(&self, token: u64) -> usize {
        let k = (token >> (64 - self.bucket_bits)) as usize;
        let low = self.bucket[k] as usize;
        let high = self.bucket[k + 1] as usize;
        let index = low + self.tokens[low..high].partition_point(|&t| t < token);
        if index == self.tokens.len() {
            0
        } else {
            index
        }
    }

    /// The precomputed replicas of the range holding `token`, cut to `rf`
    /// (`rf <= width`, placement not empty).
    #[inline]
    pub(crate) fn replicas_ref(&self, token: u64, rf: usize) -> &[NodeId] {
        let start = self.range_index(token) * self.width;
        &self.table[start..start + rf]
    }

    /// The full clockwise preference from `token` among nodes accepted by
    /// `eligible`, cut to `count` entries (allocating path).
    pub(crate) fn preference(
        &self,
        token: u64,
        count: usize,
        eligible: impl Fn(NodeId) -> bool,
    ) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(count);
        if self.tokens.is_empty() {
            return out;
        }
        let mut walk = Walk::new(self.nodes.len(), self.zone_count_upper());
        walk.preference(self, self.range_index(token), count, eligible, &mut out);
        out
    }

    /// Distinct nodes accepted by `eligible`, clockwise from `token`, in walk
    /// order (no zone preference).
    pub(crate) fn clockwise(&self, token: u64, eligible: impl Fn(NodeId) -> bool) -> Vec<NodeId> {
        let mut out = Vec::new();
        if self.tokens.is_empty() {
            return out;
        }
        let mut seen = vec![false; self.nodes.len()];
        let start = self.range_index(token);
        for step in 0..self.tokens.len() {
            let owner = self.owners[(start + step) % self.tokens.len()] as usize;
            if seen[owner] || !eligible(self.nodes[owner]) {
                continue;
            }
            seen[owner] = true;
            out.push(self.nodes[owner]);
        }
        out
    }
}

/// Reusable scratch space for preference walks (marks instead of clearing).
struct Walk {
    node_mark: Vec<u32>,
    zone_mark: Vec<u32>,
    generation: u32,
    rest: Vec<NodeId>,
}

impl Walk {
    fn new(nodes: usize, zones: usize) -> Walk {
        Walk {
            node_mark: vec![0; nodes],
            zone_mark: vec![0; zones],
            generation: 0,
            rest: Vec::new(),
        }
    }

    /// Appends exactly `min(count, eligible owning nodes)` entries of the
    /// preference list starting at token index `start` to `out`.
    fn preference(
        &mut self,
        placement: &Placement,
        start: usize,
        count: usize,
        eligible: impl Fn(NodeId) -> bool,
        out: &mut Vec<NodeId>,
    ) {
        self.generation += 1;
        let generation = self.generation;
        self.rest.clear();
        let base = out.len();
        let len = placement.tokens.len();
        let mut firsts = 0usize;
        for step in 0..len {
            if firsts == count {
                break;
            }
            let owner = placement.owners[(start + step) % len] as usize;
            if self.node_mark[owner] == generation {
                continue;
            }
            self.node_mark[owner] = generation;
            let node = placement.nodes[owner];
            if !eligible(node) {
                continue;
            }
            let zone = placement.zone_of[owner] as usize;
            if self.zone_mark[zone] != generation {
                self.zone_mark[zone] = generation;
                out.push(node);
                firsts += 1;
            } else if firsts + self.rest.len() < count {
                self.rest.push(node);
            }
            // Once every zone has been opened, no later node can come before
            // the ones already held in `rest`.
            if firsts == placement.zone_count && firsts + self.rest.len() >= count {
                break;
            }
        }
        let missing = count.saturating_sub(out.len() - base);
        out.extend(self.rest.iter().take(missing));
    }
}
