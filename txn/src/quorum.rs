//! Counting answers toward a quorum of one replica ring: [`Votes`] for
//! every round a coordinator waits on (lock grants and blind prepares per
//! partition, read replies, read repairs, decision queries), and
//! [`PaxosVotes`] on top of it for promises and accepts, with the one case
//! where a fenced replica's vote counts.
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

/// How a member answered no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nay {
    /// For now: busy, recovering, lost. Asking again may get a yes.
    Retryable,
    /// For good: the member wrote down that it refused (a blind prepare's
    /// durable refusal), so it never says yes to this round.
    Durable,
}

/// The answers of one round at one replica ring, counted toward a quorum
/// of that ring. Every quorum the coordinator waits for is counted by this
/// type (or by [`PaxosVotes`], built on it), so that:
/// - a member's answer counts once (duplicates, retries);
/// - an answer from outside the ring is not counted (a sender with another
///   view of the ring) and `add`/`refuse` report `false`;
/// - a yes is final for the round (a later no from the same member, e.g. a
///   duplicate of an earlier busy answer, does not take it back), and a yes
///   after a retryable no replaces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Votes<T = ()> {
    ring: Vec<NodeId>,
    yes: BTreeMap<NodeId, T>,
    no: BTreeMap<NodeId, Nay>,
}

impl<T> Votes<T> {
    /// Votes of `ring`, a replica ring (no member twice).
    pub fn new(ring: Vec<NodeId>) -> Votes<T> {
        let distinct: std::collections::BTreeSet<&NodeId> = ring.iter().collect();
        assert_eq!(
            distinct.len(),
            ring.len(),
            "a replica ring lists a member twice"
        );
        Votes {
            ring,
            yes: BTreeMap::new(),
            no: BTreeMap::new(),
        }
    }

    /// The ring the votes are counted in.
    pub fn ring(&self) -> &[NodeId] {
        &self.ring
    }

    /// Whether `node` is a member of the ring.
    pub fn is_member(&self, node: NodeId) -> bool {
        self.ring.contains(&node)
    }

    /// The number of yes answers a quorum needs (`floor(n / 2) + 1`).
    pub fn needed(&self) -> usize {
        quorum(self.ring.len())
    }

    /// Records a yes with what it carried; a later yes of a member replaces
    /// its earlier one.
    pub fn add(&mut self, from: NodeId, carried: T) -> bool {
        if !self.is_member(from) {
            return false;
        }
        self.no.remove(&from);
        self.yes.insert(from, carried);
        true
    }

    /// Records a no. Ignored from a member that said yes; a durable no is
    /// never downgraded to a retryable one.
    pub fn refuse(&mut self, from: NodeId, nay: Nay) -> bool {
        if !self.is_member(from) || self.yes.contains_key(&from) {
            return false;
        }
        let entry = self.no.entry(from).or_insert(nay);
        if nay == Nay::Durable {
            *entry = Nay::Durable;
        }
        true
    }

    /// Forgets the retryable noes, to ask those members again; returns the
    /// members that are neither yes nor durable no (whom to ask).
    pub fn retry(&mut self) -> Vec<NodeId> {
        self.no.retain(|_, nay| *nay == Nay::Durable);
        self.undecided().collect()
    }

    /// Whether a quorum said yes (an empty ring never reaches one).
    pub fn reached(&self) -> bool {
        !self.ring.is_empty() && self.yes.len() >= self.needed()
    }

    /// Whether a quorum said yes with something `pred` accepts.
    pub fn reached_where(&self, pred: impl Fn(&T) -> bool) -> bool {
        !self.ring.is_empty() && self.yes.values().filter(|t| pred(t)).count() >= self.needed()
    }

    /// Whether every member said yes with something `pred` accepts.
    pub fn all_where(&self, pred: impl Fn(&T) -> bool) -> bool {
        !self.ring.is_empty() && self.yes.len() == self.ring.len() && self.yes.values().all(pred)
    }

    /// Whether a quorum can no longer say yes: more than `n - Q` members
    /// said no (of either kind).
    pub fn lost(&self) -> bool {
        self.ring.len() - self.no.len() < self.needed()
    }

    /// Whether a quorum can never say yes: more than `n - Q` members said
    /// no for good.
    pub fn lost_for_good(&self) -> bool {
        let durable = self.no.values().filter(|n| **n == Nay::Durable).count();
        self.ring.len() - durable < self.needed()
    }

    /// Whether every member answered, yes or no.
    pub fn all_answered(&self) -> bool {
        self.yes.len() + self.no.len() == self.ring.len()
    }

    /// Whether some member said no for good.
    pub fn any_durable_no(&self) -> bool {
        self.no.values().any(|n| *n == Nay::Durable)
    }

    /// The members that have not said yes.
    pub fn missing(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.ring
            .iter()
            .copied()
            .filter(|n| !self.yes.contains_key(n))
    }

    /// The members that said neither yes nor no for good.
    fn undecided(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.missing()
            .filter(|n| self.no.get(n) != Some(&Nay::Durable))
    }

    /// The yes answers, by member.
    pub fn yeses(&self) -> impl Iterator<Item = (NodeId, &T)> {
        self.yes.iter().map(|(n, t)| (*n, t))
    }

    /// What the yes answers carried.
    pub fn carried(&self) -> impl Iterator<Item = &T> {
        self.yes.values()
    }

    /// Number of yes answers.
    pub fn len(&self) -> usize {
        self.yes.len()
    }

    /// Whether nobody said yes.
    pub fn is_empty(&self) -> bool {
        self.yes.is_empty()
    }
}

/// The votes of one Paxos phase at one replica ring, each with what it
/// carried (`T`: a promise's register status, or nothing for accepts).
/// [`Votes`] with the fence rule: a fenced replica's vote counts only as
/// `crate::quorum` explains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaxosVotes<T = ()> {
    votes: Votes<(Voter, T)>,
}

impl<T> PaxosVotes<T> {
    /// Votes of the ring `ring` (the home partition's replicas).
    pub fn new(ring: Vec<NodeId>) -> PaxosVotes<T> {
        PaxosVotes {
            votes: Votes::new(ring),
        }
    }

    /// Records a vote. A vote from outside the ring is ignored (a sender
    /// with another view of the ring) and reported as `false`.
    pub fn add(&mut self, from: NodeId, voter: Voter, carried: T) -> bool {
        self.votes.add(from, (voter, carried))
    }

    /// Whether the counted votes make a quorum of the ring.
    pub fn reached(&self) -> bool {
        if self.votes.ring().is_empty() {
            return false;
        }
        self.counted().count() >= self.votes.needed()
    }

    /// What every recorded vote carried (counted or not: an uncounted
    /// promise still reports only values proposed at their ballots).
    pub fn carried(&self) -> impl Iterator<Item = &T> {
        self.votes.carried().map(|(_, c)| c)
    }

    /// Whether a quorum of the ring's recorded votes (counted or not)
    /// carried something `pred` accepts: evidence of what the voters hold,
    /// not a Paxos quorum.
    pub fn quorum_carried(&self, pred: impl Fn(&T) -> bool) -> bool {
        self.votes.reached_where(|(_, carried)| pred(carried))
    }

    /// The nodes whose votes were recorded (counted or not).
    pub fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.votes.yeses().map(|(n, _)| n)
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
            .yeses()
            .filter(|(node, (voter, _))| self.counts(*node, voter))
            .map(|(node, _)| node)
    }

    fn counts(&self, node: NodeId, voter: &Voter) -> bool {
        if !voter.is_fenced() {
            return true;
        }
        if self.votes.ring().len() != FENCED_VOTE_RING_SIZE {
            return false;
        }
        // Every other vote must be unfenced and from the vouched incarnation.
        self.votes
            .yeses()
            .filter(|(other, _)| *other != node)
            .all(|(other, (v, _))| !v.is_fenced() && voter.vouches_for(other, v.incarnation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn votes(ids: &[u32]) -> Votes<bool> {
        Votes::new(ids.iter().map(|i| NodeId(*i)).collect())
    }

    #[test]
    fn a_member_counts_once_and_outsiders_not_at_all() {
        let mut v = votes(&[1, 2, 3]);
        assert!(v.add(NodeId(1), true));
        assert!(v.add(NodeId(1), true));
        assert!(!v.add(NodeId(9), true), "not a member");
        assert!(!v.reached());
        assert!(!v.refuse(NodeId(8), Nay::Durable));
        assert!(!v.lost());
        v.add(NodeId(2), false);
        assert!(v.reached());
        assert!(!v.reached_where(|own| *own), "one of two carried true");
        assert!(!v.all_where(|_| true), "3 has not answered");
        v.add(NodeId(3), true);
        assert!(v.all_where(|_| true));
        assert!(!v.all_where(|own| *own));
    }

    #[test]
    fn a_yes_is_final_and_a_no_is_counted_against() {
        let mut v = votes(&[1, 2, 3]);
        v.add(NodeId(1), true);
        assert!(
            !v.refuse(NodeId(1), Nay::Durable),
            "a yes is not taken back"
        );
        v.refuse(NodeId(2), Nay::Retryable);
        assert!(!v.lost(), "1 and 3 can still make a quorum");
        assert!(!v.all_answered());
        v.refuse(NodeId(3), Nay::Retryable);
        assert!(v.lost());
        assert!(v.all_answered());
        assert!(!v.lost_for_good(), "retryable noes may turn");
        assert_eq!(v.retry(), vec![NodeId(2), NodeId(3)]);
        assert!(!v.lost());
        v.add(NodeId(2), false);
        assert!(v.reached());
    }

    #[test]
    fn durable_noes_lose_the_round_for_good() {
        let mut v = votes(&[1, 2, 3]);
        v.refuse(NodeId(2), Nay::Durable);
        v.refuse(NodeId(2), Nay::Retryable);
        assert!(v.any_durable_no(), "not downgraded");
        assert!(!v.lost_for_good());
        v.refuse(NodeId(3), Nay::Durable);
        assert!(v.lost_for_good());
        assert_eq!(
            v.retry(),
            vec![NodeId(1)],
            "only the undecided are asked again"
        );
        assert_eq!(
            v.missing().collect::<Vec<_>>(),
            vec![NodeId(1), NodeId(2), NodeId(3)]
        );
    }

    #[test]
    fn an_empty_ring_never_reaches_a_quorum() {
        let v = votes(&[]);
        assert!(!v.reached());
        assert!(!v.all_where(|_| true));
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn a_ring_with_a_member_twice_is_a_bug() {
        votes(&[1, 1]);
    }

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
