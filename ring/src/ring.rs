//! The ring: a pure function of the membership view (DESIGN.md section 3).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::error::RingError;
use crate::placement::Placement;
use crate::types::{Member, NodeId, Token};

/// The cluster ring of one epoch: members, their tokens and the replica ring
/// of every range. Two rings built from the same view (in any order) are
/// equal and place every token identically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    epoch: u64,
    members: BTreeMap<NodeId, Member>,
    /// Placement over the normal members of every region.
    all: Placement,
    /// Placement per region, built only when there is more than one region
    /// (with one region it is `all`).
    regional: BTreeMap<String, Placement>,
}

impl Ring {
    /// Builds the ring of `epoch` from a membership view. The order of
    /// `members` is irrelevant. If two entries share an id, the greater one
    /// (by `Member`'s ordering) is kept; a token claimed by two nodes goes to
    /// the lower id. Only [`crate::NodeStatus::Normal`] members own data.
    pub fn new(epoch: u64, members: impl IntoIterator<Item = Member>) -> Ring {
        let mut by_id: BTreeMap<NodeId, Member> = BTreeMap::new();
        for mut member in members {
            member.tokens.sort_unstable();
            member.tokens.dedup();
            match by_id.get(&member.id) {
                Some(existing) if *existing >= member => {}
                _ => {
                    by_id.insert(member.id, member);
                }
            }
        }
        let owning = || by_id.values().filter(|m| m.status.owns_data());
        let all = Placement::build(owning());
        let mut regions: Vec<&str> = owning().map(|m| m.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        let mut regional = BTreeMap::new();
        if regions.len() > 1 {
            // A token two nodes share belongs to the lower id over the whole
            // ring; a region's ring keeps that rule, so that pinned replicas
            // and the failover walk (over the whole ring) agree.
            let mut owner_of: BTreeMap<Token, NodeId> = BTreeMap::new();
            for member in owning() {
                for token in &member.tokens {
                    owner_of.entry(*token).or_insert(member.id);
                }
            }
            for region in regions {
                let members: Vec<Member> = owning()
                    .filter(|m| m.region == region)
                    .map(|m| Member {
                        tokens: m
                            .tokens
                            .iter()
                            .copied()
                            .filter(|token| owner_of.get(token) == Some(&m.id))
                            .collect(),
                        ..m.clone()
                    })
                    .collect();
                let placement = Placement::build(members.iter());
                regional.insert(region.to_string(), placement);
            }
        }
        Ring {
            epoch,
            members: by_id,
            all,
            regional,
        }
    }

    /// The ring epoch this view belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// All members (any status), sorted by id.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// The member with id `id`, if it is in the view.
    pub fn member(&self, id: NodeId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Number of distinct normal nodes that own at least one token.
    pub fn owning_node_count(&self) -> usize {
        self.all.owning_node_count()
    }

    /// The replica ring of the partition at `token`: the first `rf` distinct
    /// normal nodes clockwise, preferring distinct zones, only in `regions`
    /// when it is not empty. Errors when the regions hold fewer than `rf`
    /// normal nodes, or `rf` is 0.
    pub fn replicas(
        &self,
        token: Token,
        rf: usize,
        regions: &[String],
    ) -> Result<Vec<NodeId>, RingError> {
        self.replica_slice(token, rf, regions).map(Cow::into_owned)
    }

    /// Like [`Ring::replicas`] for every region (no pinning), borrowed from
    /// the precomputed table: no allocation. Takes the allocating walk only
    /// when `rf` exceeds [`crate::PRECOMPUTED_REPLICAS_MAX`].
    #[inline]
    pub fn replicas_ref(&self, token: Token, rf: usize) -> Result<Cow<'_, [NodeId]>, RingError> {
        Self::lookup(&self.all, token, rf, &[])
    }

    /// Like [`Ring::replicas`], borrowed when the region set has a
    /// precomputed table (no region, or a single region) and `rf` is at most
    /// [`crate::PRECOMPUTED_REPLICAS_MAX`]; computed otherwise.
    pub fn replica_slice(
        &self,
        token: Token,
        rf: usize,
        regions: &[String],
    ) -> Result<Cow<'_, [NodeId]>, RingError> {
        let wanted = normalize_regions(regions);
        match wanted.as_slice() {
            [] => Self::lookup(&self.all, token, rf, regions),
            [region] => match self.placement_of_region(region) {
                Some(placement) => Self::lookup(placement, token, rf, regions),
                None => Err(not_enough(regions, 0, rf)),
            },
            _ => {
                if rf == 0 {
                    return Err(RingError::ZeroReplicationFactor);
                }
                let eligible = |node: NodeId| self.in_regions(node, &wanted);
                let available = self.count_eligible(&eligible);
                if available < rf {
                    return Err(not_enough(regions, available, rf));
                }
                Ok(Cow::Owned(self.all.preference(token.0, rf, eligible)))
            }
        }
    }

    /// The failover walk of the partition at `token`: the eligible normal
    /// nodes (in `regions` when not empty) after its replica ring, in
    /// clockwise order. Empty when the replica ring already holds them all.
    pub fn failover(&self, token: Token, rf: usize, regions: &[String]) -> Vec<NodeId> {
        let wanted = normalize_regions(regions);
        let eligible = |node: NodeId| wanted.is_empty() || self.in_regions(node, &wanted);
        let available = self.count_eligible(&eligible);
        let replicas = self.all.preference(token.0, rf.min(available), eligible);
        self.all
            .clockwise(token.0, |node| eligible(node) && !replicas.contains(&node))
    }

    /// The primary owner (replica ring of size 1, no zone rule applies) of
    /// `token` over every region, or `None` when no node owns data.
    pub fn owner(&self, token: Token) -> Option<NodeId> {
        if self.all.len() == 0 {
            return None;
        }
        Some(self.all.owner(self.all.range_index(token.0)))
    }

    /// The sorted owned token positions (all regions) with their owners.
    pub fn tokens(&self) -> impl Iterator<Item = (Token, NodeId)> + '_ {
        self.all
            .tokens()
            .iter()
            .enumerate()
            .map(|(index, token)| (Token(*token), self.all.owner(index)))
    }

    fn placement_of_region(&self, region: &str) -> Option<&Placement> {
        if self.regional.is_empty() {
            let only = self
                .members
                .values()
                .find(|m| m.status.owns_data())
                .map(|m| m.region.as_str());
            return (only == Some(region)).then_some(&self.all);
        }
        self.regional.get(region)
    }

    fn in_regions(&self, node: NodeId, wanted: &[&str]) -> bool {
        self.members
            .get(&node)
            .is_some_and(|m| wanted.contains(&m.region.as_str()))
    }

    fn count_eligible(&self, eligible: &impl Fn(NodeId) -> bool) -> usize {
        let mut owners: Vec<NodeId> = self.tokens().map(|(_, node)| node).collect();
        owners.sort_unstable();
        owners.dedup();
        owners.into_iter().filter(|node| eligible(*node)).count()
    }

    #[inline]
    fn lookup<'a>(
        placement: &'a Placement,
        token: Token,
        rf: usize,
        regions: &[String],
    ) -> Result<Cow<'a, [NodeId]>, RingError> {
        if rf == 0 {
            return Err(RingError::ZeroReplicationFactor);
        }
        if rf <= placement.width() {
            return Ok(Cow::Borrowed(placement.replicas_ref(token.0, rf)));
        }
        let available = placement.owning_node_count();
        if available < rf {
            return Err(not_enough(regions, available, rf));
        }
        Ok(Cow::Owned(placement.preference(token.0, rf, |_| true)))
    }
}

/// Sorted, deduplicated region names.
fn normalize_regions(regions: &[String]) -> Vec<&str> {
    let mut wanted: Vec<&str> = regions.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    wanted
}

fn not_enough(regions: &[String], available: usize, needed: usize) -> RingError {
    let wanted = normalize_regions(regions);
    let scope = match wanted.as_slice() {
        [] => "the cluster".to_string(),
        [region] => format!("region {region:?}"),
        many => format!("regions {many:?}"),
    };
    RingError::NotEnoughNodes {
        scope,
        available,
        needed,
    }
}
