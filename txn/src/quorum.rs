//! Counting Paxos votes (promises and accepts) toward a quorum of one
//! replica ring, and the one case where a fenced replica's vote counts.
//!
//! A replica that lost its disk is *fenced* after its copy (see
//! `replica::fence`): it has forgotten promises and accepts its old
//! incarnation gave, so in general its vote must not count. In a ring of
//! three or more replicas nobody needs it: two quorums always meet in a
//! member that still remembers, among the others. In a ring of two
//! replicas every quorum is both of them, so without the fenced member's
//! vote nothing below the watermark it waits for can be decided, and the
//! fence would never lift (sim/FAILING.md section 12).
//!
//! The rule for rings of two: a fenced vote counts only together with an
//! unfenced vote of the other replica from the incarnation the fenced one
//! *vouched for*, i.e. the incarnation that replica had, and voted with,
//! when it answered the fence's clock question. Why that is safe: a value
//! chosen by one quorum and a later proposal from another agree unless
//! both members forgot between their two votes. A member that forgot is
//! fenced at its later vote (once its fence lifted, the transaction is
//! below the watermark and every Paxos message about it is refused). Two
//! fenced votes in one quorum never count, so A's later vote is in one
//! quorum and B's in the other. In the first, fenced A vouched for B's
//! incarnation from before B's loss, which A heard after its own loss:
//! A's loss came first. In the second, symmetrically, B's loss came
//! first. Both cannot hold.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

use crate::membership::{quorum, NodeId};

/// The only ring size in which a fenced replica's vote can count.
pub const FENCED_VOTE_RING_SIZE: usize = 2;

/// Who cast a vote: the voter's storage incarnation and, for a fenced
/// replica, the incarnation of each peer it vouches for.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Voter {
    /// The voter's engine incarnation (new only on lost state).
    pub incarnation: u64,
    /// `None` from a replica that votes normally. `Some` from a fenced
    /// replica: `(peer node, peer incarnation)` for every peer that
    /// answered its clock question while voting normally.
    pub vouched: Option<Vec<(u32, u64)>>,
}

impl Voter {
    /// A normally voting replica.
    pub fn normal(incarnation: u64) -> Voter {
        Voter {
            incarnation,
            vouched: None,
        }
    }

    fn is_fenced(&self) -> bool {
        self.vouched.is_some()
    }

    fn vouches_for(&self, node: NodeId, incarnation: u64) -> bool {
        self.vouched
            .as_ref()
            .is_some_and(|v| v.contains(&(node.0, incarnation)))
    }
}

/// The votes of one Paxos phase at one replica ring, each with what it
/// carried (`T`: a promise's register status, or nothing for accepts).
/// One vote per node: a later vote of a node replaces its earlier one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaxosVotes<T = ()> {
    ring: Vec<NodeId>,
    votes: BTreeMap<NodeId, (Voter, T)>,
}

impl<T> PaxosVotes<T> {
    /// Votes of the ring `ring` (the home partition's replicas).
    pub fn new(ring: Vec<NodeId>) -> PaxosVotes<T> {
        PaxosVotes {
            ring,
            votes: BTreeMap::new(),
        }
    }

    /// Records a vote. A vote from outside the ring is ignored (a sender
    /// with another view of the ring) and reported as `false`.
    pub fn add(&mut self, from: NodeId, voter: Voter, carried: T) -> bool {
        if !self.ring.contains(&from) {
            return false;
        }
        self.votes.insert(from, (voter, carried));
        true
    }

    /// Whether the counted votes make a quorum of the ring.
    pub fn reached(&self) -> bool {
        if self.ring.is_empty() {
            return false;
        }
        self.counted().count() >= quorum(self.ring.len())
    }

    /// What every recorded vote carried (counted or not: an uncounted
    /// promise still reports only values proposed at their ballots).
    pub fn carried(&self) -> impl Iterator<Item = &T> {
        self.votes.values().map(|(_, c)| c)
    }

    /// The nodes whose votes were recorded (counted or not).
    pub fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.votes.keys().copied()
    }

    /// Number of votes recorded (counted or not).
    pub fn len(&self) -> usize {
        self.votes.len()
    }

    /// Whether no vote was recorded.
    pub fn is_empty(&self) -> bool {
        self.votes.is_empty()
    }

    fn counted(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.votes
            .iter()
            .filter(|(node, (voter, _))| self.counts(**node, voter))
            .map(|(node, _)| *node)
    }

    fn counts(&self, node: NodeId, voter: &Voter) -> bool {
        if !voter.is_fenced() {
            return true;
        }
        if self.ring.len() != FENCED_VOTE_RING_SIZE {
            return false;
        }
        // Every other vote must be unfenced and from the vouched incarnation.
        self.votes
            .iter()
            .filter(|(other, _)| **other != node)
            .all(|(other, (v, _))| !v.is_fenced() && voter.vouches_for(*other, v.incarnation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fenced(incarnation: u64, vouched: &[(u32, u64)]) -> Voter {
        Voter {
            incarnation,
            vouched: Some(vouched.to_vec()),
        }
    }

    fn ring(ids: &[u32]) -> PaxosVotes {
        PaxosVotes::new(ids.iter().map(|i| NodeId(*i)).collect())
    }

    #[test]
    fn normal_votes_count_to_a_majority() {
        let mut v = ring(&[1, 2, 3]);
        v.add(NodeId(1), Voter::normal(10), ());
        assert!(!v.reached());
        v.add(NodeId(1), Voter::normal(10), ());
        assert!(!v.reached(), "one node's votes count once");
        v.add(NodeId(3), Voter::normal(30), ());
        assert!(v.reached());
    }

    #[test]
    fn a_vote_from_outside_the_ring_is_ignored() {
        let mut v = ring(&[1, 2]);
        assert!(!v.add(NodeId(7), Voter::normal(70), ()));
        v.add(NodeId(1), Voter::normal(10), ());
        assert!(!v.reached());
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn a_fenced_vote_never_counts_in_a_ring_of_three() {
        let mut v = ring(&[1, 2, 3]);
        v.add(NodeId(1), Voter::normal(10), ());
        v.add(NodeId(3), fenced(31, &[(1, 10), (2, 20)]), ());
        assert!(!v.reached(), "{{A, C-new}} would forget C-old's votes");
        v.add(NodeId(2), Voter::normal(20), ());
        assert!(v.reached());
    }

    #[test]
    fn in_a_ring_of_two_a_fenced_vote_counts_with_the_vouched_incarnation() {
        let mut v = ring(&[1, 2]);
        v.add(NodeId(2), fenced(21, &[(1, 10)]), ());
        assert!(!v.reached());
        v.add(NodeId(1), Voter::normal(10), ());
        assert!(v.reached());
    }

    #[test]
    fn in_a_ring_of_two_a_fenced_vote_does_not_count_with_another_incarnation() {
        // B vouched for A-old; A has since lost its disk too.
        let mut v = ring(&[1, 2]);
        v.add(NodeId(2), fenced(21, &[(1, 10)]), ());
        v.add(NodeId(1), Voter::normal(11), ());
        assert!(!v.reached());
    }

    #[test]
    fn in_a_ring_of_two_two_fenced_votes_never_count() {
        let mut v = ring(&[1, 2]);
        v.add(NodeId(1), fenced(11, &[(2, 21)]), ());
        v.add(NodeId(2), fenced(21, &[(1, 11)]), ());
        assert!(!v.reached());
    }

    #[test]
    fn a_ring_of_one_needs_an_unfenced_vote() {
        let mut v = ring(&[1]);
        v.add(NodeId(1), fenced(11, &[]), ());
        assert!(!v.reached());
        v.add(NodeId(1), Voter::normal(11), ());
        assert!(v.reached());
    }
}
