//! Token allocation that balances ownership.
//!
//! A joining node should take an equal share of the ring, `1 / (N + 1)` of
//! it, and take it from the nodes that own the most, so that both the data
//! moved and the spread of ownership stay near the ideal. Random tokens do
//! neither: their ownership spread shrinks only with the square root of the
//! token count.
//!
//! The allocator is greedy. For each of the new node's tokens it picks the
//! node that currently owns the most (ties to the lowest id), the widest of
//! that node's ranges, and places the new token inside it so that the new
//! node takes the first part of the range: an equal slice of what is still
//! missing from its target share. The first node of a ring gets evenly
//! spaced tokens from a seeded offset. Everything is deterministic given the
//! existing tokens and the seed.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::RingError;
use crate::ring::Ring;
use crate::types::{NodeId, Token};

/// Largest number of tokens one node may hold.
pub const TOKENS_PER_NODE_MAX: usize = 4096;

/// How many of the richest nodes are examined for a range wide enough.
const DONORS_EXAMINED_MAX: usize = 8;

/// The size of the whole ring, 2^64 positions.
const RING_SIZE: u128 = 1 << 64;

/// Allocates `count` balanced tokens for `node`, which joins `ring`. Members
/// that hold or will hold tokens (joining, normal, recovering) count as
/// owners; leaving and left members do not. `seed` fixes the tokens when the
/// ring has no owner yet.
pub fn allocate_tokens(
    ring: &Ring,
    node: NodeId,
    count: usize,
    seed: u64,
) -> Result<Vec<Token>, RingError> {
    TokenAllocator::from_ring(ring, seed)?.add_node(node, count)
}

/// Incremental balanced token allocation over a set of owners. Use it to
/// give balanced tokens to the members of a new cluster one after another
/// (each one joins the ring the previous ones formed).
#[derive(Debug, Clone)]
pub struct TokenAllocator {
    /// Token position -> owner.
    ring: BTreeMap<u64, NodeId>,
    /// Owned length per node.
    load: BTreeMap<NodeId, u128>,
    /// Ranges per node as `(length, end token)`.
    ranges: BTreeMap<NodeId, BTreeSet<(u128, u64)>>,
    /// Nodes ordered by owned length, `(load, node)`.
    by_load: BTreeSet<(u128, NodeId)>,
    /// Every node inserted or added so far.
    placed: BTreeSet<NodeId>,
    /// Whether `load`, `ranges` and `by_load` must be rebuilt from `ring`.
    stale: bool,
    seed: u64,
}

impl TokenAllocator {
    /// An empty allocator; `seed` fixes the position of the first node.
    pub fn new(seed: u64) -> TokenAllocator {
        TokenAllocator {
            ring: BTreeMap::new(),
            load: BTreeMap::new(),
            ranges: BTreeMap::new(),
            by_load: BTreeSet::new(),
            placed: BTreeSet::new(),
            stale: false,
            seed,
        }
    }

    /// Builds an allocator from every member of `ring` that holds tokens.
    pub fn from_ring(ring: &Ring, seed: u64) -> Result<TokenAllocator, RingError> {
        let mut allocator = TokenAllocator::new(seed);
        for member in ring.members().filter(|m| m.status.holds_tokens()) {
            allocator.insert_existing(member.id, &member.tokens)?;
        }
        Ok(allocator)
    }

    /// Adds a node that already holds `tokens` (a token already taken by
    /// another node stays with it).
    pub fn insert_existing(&mut self, node: NodeId, tokens: &[Token]) -> Result<(), RingError> {
        if tokens.is_empty() {
            // A member without tokens (typically the joiner itself) is not placed.
            return Ok(());
        }
        if !self.placed.insert(node) {
            return Err(RingError::AlreadyPlaced { node });
        }
        for token in tokens {
            self.ring.entry(token.0).or_insert(node);
        }
        self.stale = true;
        Ok(())
    }

    /// Number of nodes owning at least one token.
    pub fn node_count(&mut self) -> usize {
        self.refresh();
        self.load.len()
    }

    /// Every token placed so far with its owner, sorted by token.
    pub fn tokens(&self) -> impl Iterator<Item = (Token, NodeId)> + '_ {
        self.ring.iter().map(|(token, node)| (Token(*token), *node))
    }

    /// Chooses `count` tokens for the new node `node`, records them and
    /// returns them sorted.
    pub fn add_node(&mut self, node: NodeId, count: usize) -> Result<Vec<Token>, RingError> {
        if count == 0 || count > TOKENS_PER_NODE_MAX {
            return Err(RingError::TokenCount {
                count,
                max: TOKENS_PER_NODE_MAX,
            });
        }
        if self.placed.contains(&node) {
            return Err(RingError::AlreadyPlaced { node });
        }
        self.refresh();
        let tokens = if self.ring.is_empty() {
            self.first_node_tokens(count)
        } else {
            self.steal_tokens(node, count)?
        };
        for token in &tokens {
            self.ring.insert(token.0, node);
        }
        self.placed.insert(node);
        if self.ring.len() == tokens.len() {
            self.stale = true;
        }
        Ok(tokens)
    }

    fn first_node_tokens(&self, count: usize) -> Vec<Token> {
        let offset = split_mix(self.seed);
        let step = RING_SIZE / count as u128;
        let mut tokens: Vec<Token> = (0..count as u128)
            .map(|i| Token(offset.wrapping_add((i * step) as u64)))
            .collect();
        tokens.sort_unstable();
        tokens
    }

    /// The greedy steal: every token takes a slice from the widest range of
    /// the node that owns the most.
    fn steal_tokens(&mut self, node: NodeId, count: usize) -> Result<Vec<Token>, RingError> {
        let target = RING_SIZE / (self.load.len() as u128 + 1);
        let mut taken: u128 = 0;
        let mut tokens = Vec::with_capacity(count);
        let mut own_ranges = BTreeSet::new();
        for placed in 0..count {
            let wanted = (target.saturating_sub(taken) / (count - placed) as u128).max(1);
            let (donor, length, end) = self.donor_range(wanted)?;
            // Keep at least a quarter of the range with the donor so that no
            // sliver ranges pile up.
            let take = wanted.min(length - length / 4).min(length - 1).max(1);
            let start = end.wrapping_sub((length % RING_SIZE) as u64);
            let token = start.wrapping_add(take as u64);
            self.shrink(donor, length, end, take);
            own_ranges.insert((take, token));
            taken += take;
            tokens.push(Token(token));
        }
        self.load.insert(node, taken);
        self.by_load.insert((taken, node));
        self.ranges.insert(node, own_ranges);
        tokens.sort_unstable();
        Ok(tokens)
    }

    /// The range to split: the widest range of the richest node. When it is
    /// too narrow to give `wanted` while keeping a quarter, a nearly as rich
    /// node (short of the richest by less than `wanted`) with a range wide
    /// enough is used instead; failing that, the richest node's range gives
    /// what it can.
    fn donor_range(&self, wanted: u128) -> Result<(NodeId, u128, u64), RingError> {
        let mut richest: Option<(NodeId, u128, u64)> = None;
        let top_load = self.by_load.iter().next_back().map_or(0, |(load, _)| *load);
        for &(load, donor) in self.by_load.iter().rev().take(DONORS_EXAMINED_MAX) {
            if load + wanted < top_load {
                break;
            }
            let Some(&(length, end)) = self.ranges[&donor].iter().next_back() else {
                continue;
            };
            if length - length / 4 >= wanted {
                return Ok((donor, length, end));
            }
            if richest.is_none() && length >= 2 {
                richest = Some((donor, length, end));
            }
        }
        if let Some(found) = richest {
            return Ok(found);
        }
        // Every examined range is a single token wide: take any splittable one.
        self.by_load
            .iter()
            .rev()
            .filter_map(|(_, donor)| {
                let &(length, end) = self.ranges[donor].iter().next_back()?;
                (length >= 2).then_some((*donor, length, end))
            })
            .next()
            .ok_or(RingError::RingFull)
    }

    fn shrink(&mut self, donor: NodeId, length: u128, end: u64, take: u128) {
        let ranges = self.ranges.get_mut(&donor).expect("donor has ranges");
        ranges.remove(&(length, end));
        ranges.insert((length - take, end));
        let load = self.load.get_mut(&donor).expect("donor has a load");
        self.by_load.remove(&(*load, donor));
        *load -= take;
        self.by_load.insert((*load, donor));
    }

    /// Recomputes loads and ranges from the token map when it changed.
    fn refresh(&mut self) {
        if self.stale {
            self.rebuild_loads();
            self.stale = false;
        }
    }

    fn rebuild_loads(&mut self) {
        self.load.clear();
        self.ranges.clear();
        self.by_load.clear();
        let Some((&last, _)) = self.ring.iter().next_back() else {
            return;
        };
        let mut previous = last;
        let single = self.ring.len() == 1;
        for (&token, &owner) in &self.ring {
            let length = if single {
                RING_SIZE
            } else {
                token.wrapping_sub(previous) as u128
            };
            previous = token;
            *self.load.entry(owner).or_insert(0) += length;
            self.ranges
                .entry(owner)
                .or_default()
                .insert((length, token));
        }
        for (&node, &load) in &self.load {
            self.by_load.insert((load, node));
        }
    }
}

/// SplitMix64: a tiny, well-mixed deterministic function of the seed.
fn split_mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
