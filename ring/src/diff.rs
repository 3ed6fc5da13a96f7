//! Ownership of the ring and range diffs between two rings (DESIGN.md
//! section 3): which token ranges move from which replicas to which.
//!
//! Ranges are inclusive and never wrap: the ring `0..=u64::MAX` is cut into
//! consecutive ranges, so a range that wraps past `u64::MAX` appears as two.

use std::collections::BTreeMap;

use crate::error::RingError;
use crate::ring::Ring;
use crate::types::{NodeId, Token};

/// An inclusive, non-wrapping range of tokens `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenRange {
    /// First token of the range.
    pub start: Token,
    /// Last token of the range.
    pub end: Token,
}

impl TokenRange {
    /// Whether `token` lies in the range.
    pub fn contains(&self, token: Token) -> bool {
        self.start <= token && token <= self.end
    }

    /// Number of tokens in the range (up to 2^64).
    pub fn len(&self) -> u128 {
        (self.end.0 - self.start.0) as u128 + 1
    }

    /// Always false: a range holds at least one token.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The replica ring of every token: consecutive ranges covering the whole
/// ring, each with its ordered replicas. Canonical: neighbouring ranges never
/// hold the same replicas, so equal ownerships compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// `(last token, replicas)`; a range starts after the previous one's
    /// last token (the first at 0); the last one ends at `u64::MAX`.
    ranges: Vec<(Token, Vec<NodeId>)>,
}

impl Ownership {
    /// The ownership of `ring` for replication factor `rf` in `regions`.
    pub fn of(ring: &Ring, rf: usize, regions: &[String]) -> Result<Ownership, RingError> {
        let ends: Vec<Token> = ring.tokens().map(|(token, _)| token).collect();
        let Some(&first) = ends.first() else {
            // No owner at all: the replica lookup reports why.
            return Err(match ring.replicas(Token(0), rf, regions) {
                Err(error) => error,
                Ok(_) => RingError::NotEnoughNodes {
                    scope: "the cluster".to_string(),
                    available: 0,
                    needed: rf,
                },
            });
        };
        let mut ranges = Vec::with_capacity(ends.len() + 1);
        for &end in &ends {
            ranges.push((end, ring.replica_slice(end, rf, regions)?.into_owned()));
        }
        if ends.last() != Some(&Token(u64::MAX)) {
            // Tokens after the last node token wrap to the first one.
            ranges.push((
                Token(u64::MAX),
                ring.replica_slice(first, rf, regions)?.into_owned(),
            ));
        }
        Ok(Ownership::canonical(ranges))
    }

    /// Ownership from explicit ranges `(last token, replicas)`, sorted by
    /// last token, the last one ending at `u64::MAX`.
    fn canonical(ranges: Vec<(Token, Vec<NodeId>)>) -> Ownership {
        let mut merged: Vec<(Token, Vec<NodeId>)> = Vec::with_capacity(ranges.len());
        for (end, replicas) in ranges {
            match merged.last_mut() {
                Some(last) if last.1 == replicas => last.0 = end,
                _ => merged.push((end, replicas)),
            }
        }
        Ownership { ranges: merged }
    }

    /// The ranges with their replicas, in token order.
    pub fn ranges(&self) -> impl Iterator<Item = (TokenRange, &[NodeId])> + '_ {
        let mut start = 0u64;
        self.ranges.iter().map(move |(end, replicas)| {
            let range = TokenRange {
                start: Token(start),
                end: *end,
            };
            start = end.0.wrapping_add(1);
            (range, replicas.as_slice())
        })
    }

    /// The replicas of `token`.
    pub fn replicas_of(&self, token: Token) -> &[NodeId] {
        let index = self.ranges.partition_point(|(end, _)| *end < token);
        &self.ranges[index].1
    }

    /// How many tokens each node holds a replica of (its share of the data
    /// times 2^64).
    pub fn shares(&self) -> BTreeMap<NodeId, u128> {
        let mut shares = BTreeMap::new();
        for (range, replicas) in self.ranges() {
            for node in replicas {
                *shares.entry(*node).or_insert(0) += range.len();
            }
        }
        shares
    }

    /// The diff that turns `self` into `new`.
    pub fn diff(&self, new: &Ownership) -> RangeDiff {
        let mut moves: Vec<RangeMove> = Vec::new();
        sweep(&self.ranges, &new.ranges, |range, from, to| {
            if from == to {
                return;
            }
            let (from, to) = (from.as_slice(), to.as_slice());
            match moves.last_mut() {
                Some(last)
                    if last.from == from
                        && last.to == to
                        && last.range.end.0.wrapping_add(1) == range.start.0 =>
                {
                    last.range.end = range.end;
                }
                _ => moves.push(RangeMove {
                    range,
                    from: from.to_vec(),
                    to: to.to_vec(),
                }),
            }
        });
        RangeDiff { moves }
    }

    /// Applies `diff` to this ownership. Errors when a moved range is not
    /// held by the replicas the diff moves it from.
    pub fn apply(&self, diff: &RangeDiff) -> Result<Ownership, RingError> {
        // Overlay: the diff's moves with the gaps between them as `None`.
        let mut overlay: Vec<(Token, Option<&RangeMove>)> = Vec::new();
        let mut next = 0u64;
        for range_move in &diff.moves {
            if range_move.range.start.0 > next {
                overlay.push((Token(range_move.range.start.0 - 1), None));
            }
            overlay.push((range_move.range.end, Some(range_move)));
            next = range_move.range.end.0.wrapping_add(1);
        }
        if overlay.last().map(|(end, _)| *end) != Some(Token(u64::MAX)) {
            overlay.push((Token(u64::MAX), None));
        }
        let mut ranges = Vec::with_capacity(self.ranges.len() + diff.moves.len());
        let mut mismatch = None;
        sweep(&self.ranges, &overlay, |range, held, overlay_move| {
            let replicas = match overlay_move {
                Some(range_move) => {
                    if range_move.from != *held && mismatch.is_none() {
                        mismatch = Some(RingError::DiffMismatch {
                            start: range.start.0,
                            end: range.end.0,
                            found: held.to_vec(),
                            expected: range_move.from.clone(),
                        });
                    }
                    range_move.to.clone()
                }
                None => held.clone(),
            };
            ranges.push((range.end, replicas));
        });
        match mismatch {
            Some(error) => Err(error),
            None => Ok(Ownership::canonical(ranges)),
        }
    }
}

/// Walks two range lists that both cover `0..=u64::MAX` and calls `visit`
/// for every piece where neither changes.
fn sweep<X, Y>(
    left: &[(Token, X)],
    right: &[(Token, Y)],
    mut visit: impl FnMut(TokenRange, &X, &Y),
) {
    let (mut i, mut j, mut start) = (0, 0, 0u64);
    while i < left.len() && j < right.len() {
        let end = left[i].0.min(right[j].0);
        visit(
            TokenRange {
                start: Token(start),
                end,
            },
            &left[i].1,
            &right[j].1,
        );
        if end == Token(u64::MAX) {
            return;
        }
        if left[i].0 == end {
            i += 1;
        }
        if right[j].0 == end {
            j += 1;
        }
        start = end.0 + 1;
    }
}

/// One moved range: its replicas before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeMove {
    /// The tokens that move.
    pub range: TokenRange,
    /// Replicas before the change (the streaming sources).
    pub from: Vec<NodeId>,
    /// Replicas after the change.
    pub to: Vec<NodeId>,
}

impl RangeMove {
    /// Nodes that gain the range (must receive its data).
    pub fn gained(&self) -> Vec<NodeId> {
        self.to
            .iter()
            .filter(|node| !self.from.contains(node))
            .copied()
            .collect()
    }

    /// Nodes that lose the range (may drop its data once the move is done).
    pub fn lost(&self) -> Vec<NodeId> {
        self.from
            .iter()
            .filter(|node| !self.to.contains(node))
            .copied()
            .collect()
    }
}

/// The ranges whose replica rings differ between two ownerships, in token
/// order, neighbouring moves with equal replicas merged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeDiff {
    /// The moved ranges.
    pub moves: Vec<RangeMove>,
}

impl RangeDiff {
    /// The diff between the replica rings of `old` and `new` for `rf` in
    /// `regions`.
    pub fn between(
        old: &Ring,
        new: &Ring,
        rf: usize,
        regions: &[String],
    ) -> Result<RangeDiff, RingError> {
        Ok(Ownership::of(old, rf, regions)?.diff(&Ownership::of(new, rf, regions)?))
    }

    /// Whether nothing moves.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty()
    }

    /// Replica-tokens copied to new replicas: the sum over moves of the
    /// range length times the number of nodes gaining it. Divided by
    /// `rf * 2^64` it is the fraction of all data that must be streamed.
    pub fn copied_tokens(&self) -> u128 {
        self.moves
            .iter()
            .map(|m| m.range.len() * m.gained().len() as u128)
            .sum()
    }
}
