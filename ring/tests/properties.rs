//! Property tests: the ring against a simple model, determinism, diffs and
//! token allocation.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use zerodb_ring::{
    allocate_tokens, Member, NodeId, NodeStatus, Ownership, RangeDiff, RecordKey, Ring, Token,
};

const REGIONS: [&str; 2] = ["r1", "r2"];
const ZONES: [&str; 3] = ["a", "b", "c"];

fn status() -> impl Strategy<Value = NodeStatus> {
    prop_oneof![
        6 => Just(NodeStatus::Normal),
        1 => Just(NodeStatus::Joining),
        1 => Just(NodeStatus::Leaving),
        1 => Just(NodeStatus::Recovering),
        1 => Just(NodeStatus::Left),
    ]
}

/// Tokens from a small space so that collisions and shared ranges happen.
fn token() -> impl Strategy<Value = Token> {
    prop_oneof![
        (0u64..64).prop_map(|t| Token(t * 1000)),
        any::<u64>().prop_map(Token),
    ]
}

fn view() -> impl Strategy<Value = Vec<Member>> {
    prop::collection::btree_map(
        1u32..40,
        (
            0..REGIONS.len(),
            0..ZONES.len(),
            prop::collection::vec(token(), 1..6),
            status(),
        ),
        1..10,
    )
    .prop_map(|nodes| {
        nodes
            .into_iter()
            .map(|(id, (region, zone, tokens, status))| {
                Member::new(NodeId(id), REGIONS[region], ZONES[zone], tokens, status)
            })
            .collect()
    })
}

fn region_set() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just(vec![]),
        Just(vec!["r1".to_string()]),
        Just(vec!["r2".to_string()]),
        Just(vec!["r2".to_string(), "r1".to_string()]),
    ]
}

/// The placement rule written as plainly as possible.
fn model_preference(members: &[Member], token: Token, regions: &[String]) -> Vec<NodeId> {
    let mut owners: BTreeMap<Token, NodeId> = BTreeMap::new();
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by_key(|m| m.id);
    for m in sorted.iter().filter(|m| m.status == NodeStatus::Normal) {
        for t in &m.tokens {
            owners.entry(*t).or_insert(m.id);
        }
    }
    let walk = owners
        .range(token..)
        .chain(owners.range(..token))
        .map(|(_, id)| *id);
    let member = |id: NodeId| sorted.iter().find(|m| m.id == id).unwrap();
    let mut seen = Vec::new();
    for id in walk {
        let m = member(id);
        if !seen.contains(&id) && (regions.is_empty() || regions.contains(&m.region)) {
            seen.push(id);
        }
    }
    let mut zones = BTreeSet::new();
    let (firsts, rest): (Vec<NodeId>, Vec<NodeId>) = seen.iter().partition(|id| {
        let m = member(**id);
        zones.insert((m.region.clone(), m.zone.clone()))
    });
    firsts.into_iter().chain(rest).collect()
}

fn zone_of(ring: &Ring, id: NodeId) -> (String, String) {
    let m = ring.member(id).unwrap();
    (m.region.clone(), m.zone.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn replicas_match_the_model(
        members in view(), probes in prop::collection::vec(token(), 1..8),
        rf in 1usize..7, regions in region_set(),
    ) {
        let ring = Ring::new(1, members.clone());
        for probe in probes {
            let expected = model_preference(&members, probe, &regions);
            match ring.replicas(probe, rf, &regions) {
                Ok(replicas) => prop_assert_eq!(&replicas[..], &expected[..rf]),
                Err(_) => prop_assert!(expected.len() < rf),
            }
            let failover = ring.failover(probe, rf, &regions);
            let taken = rf.min(expected.len());
            let mut together: Vec<NodeId> = expected[..taken].to_vec();
            together.extend(&failover);
            let all: BTreeSet<NodeId> = expected.iter().copied().collect();
            prop_assert_eq!(together.len(), all.len());
            prop_assert_eq!(together.into_iter().collect::<BTreeSet<_>>(), all);
        }
    }

    #[test]
    fn the_same_view_in_any_order_gives_the_same_placement(
        (members, shuffled) in view().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        probes in prop::collection::vec(token(), 1..8), rf in 1usize..4, regions in region_set(),
    ) {
        let a = Ring::new(5, members);
        let b = Ring::new(5, shuffled);
        prop_assert_eq!(&a, &b);
        for probe in probes {
            prop_assert_eq!(a.replicas(probe, rf, &regions), b.replicas(probe, rf, &regions));
            prop_assert_eq!(a.failover(probe, rf, &regions), b.failover(probe, rf, &regions));
        }
    }

    #[test]
    fn replicas_are_distinct_normal_in_region_and_spread_over_zones(
        members in view(), probe in token(), rf in 1usize..6, regions in region_set(),
    ) {
        let ring = Ring::new(1, members);
        let Ok(replicas) = ring.replicas(probe, rf, &regions) else { return Ok(()) };
        let distinct: BTreeSet<NodeId> = replicas.iter().copied().collect();
        prop_assert_eq!(distinct.len(), rf);
        let mut zones_available = BTreeSet::new();
        for m in ring.members().filter(|m| m.status == NodeStatus::Normal) {
            let eligible = regions.is_empty() || regions.contains(&m.region);
            if eligible && ring.tokens().any(|(_, owner)| owner == m.id) {
                zones_available.insert((m.region.clone(), m.zone.clone()));
            }
        }
        for id in &replicas {
            let m = ring.member(*id).unwrap();
            prop_assert_eq!(m.status, NodeStatus::Normal);
            prop_assert!(regions.is_empty() || regions.contains(&m.region));
        }
        let zones: BTreeSet<_> = replicas.iter().map(|id| zone_of(&ring, *id)).collect();
        prop_assert_eq!(zones.len(), rf.min(zones_available.len()));
    }

    #[test]
    fn applying_the_diff_to_the_old_ownership_gives_the_new_one(
        old in view(), new in view(), rf in 1usize..4, regions in region_set(),
    ) {
        let old_ring = Ring::new(1, old);
        let new_ring = Ring::new(2, new);
        let (Ok(before), Ok(after)) = (
            Ownership::of(&old_ring, rf, &regions),
            Ownership::of(&new_ring, rf, &regions),
        ) else { return Ok(()) };
        let diff = before.diff(&after);
        prop_assert_eq!(before.apply(&diff).unwrap(), after.clone());
        prop_assert_eq!(&RangeDiff::between(&old_ring, &new_ring, rf, &regions).unwrap(), &diff);
        // Moves are sorted, disjoint, and really change something.
        for pair in diff.moves.windows(2) {
            prop_assert!(pair[0].range.end < pair[1].range.start);
        }
        for m in &diff.moves {
            prop_assert_ne!(&m.from, &m.to);
            prop_assert_eq!(before.replicas_of(m.range.start), &m.from[..]);
            prop_assert_eq!(after.replicas_of(m.range.end), &m.to[..]);
        }
        // The ownership agrees with the ring everywhere it is probed.
        for (range, replicas) in after.ranges() {
            prop_assert_eq!(&new_ring.replicas(range.start, rf, &regions).unwrap()[..], replicas);
            prop_assert_eq!(&new_ring.replicas(range.end, rf, &regions).unwrap()[..], replicas);
        }
        // The empty diff changes nothing; a diff does not fit elsewhere.
        prop_assert_eq!(after.apply(&RangeDiff::default()).unwrap(), after.clone());
        if !diff.is_empty() {
            prop_assert!(after.apply(&diff).is_err() || before == after);
        }
    }

    #[test]
    fn allocated_tokens_are_new_and_take_a_fair_share(
        members in view(), count in 1usize..64, seed in any::<u64>(),
    ) {
        let ring = Ring::new(1, members.clone());
        let joiner = NodeId(1000);
        let tokens = allocate_tokens(&ring, joiner, count, seed).unwrap();
        prop_assert_eq!(&allocate_tokens(&ring, joiner, count, seed).unwrap(), &tokens);
        let existing: BTreeSet<Token> = members.iter().flat_map(|m| m.tokens.clone()).collect();
        let distinct: BTreeSet<Token> = tokens.iter().copied().collect();
        prop_assert_eq!(distinct.len(), count);
        prop_assert!(distinct.is_disjoint(&existing));
        let mut joined = members.clone();
        joined.push(Member::new(joiner, "r1", "a", tokens, NodeStatus::Normal));
        let all_normal: Vec<Member> = joined
            .into_iter()
            .filter(|m| m.status.holds_tokens())
            .map(|mut m| { m.status = NodeStatus::Normal; m })
            .collect();
        let grown = Ring::new(2, all_normal);
        let shares = Ownership::of(&grown, 1, &[]).unwrap().shares();
        let owners = shares.len() as f64;
        let share = shares[&joiner] as f64 / 18_446_744_073_709_551_616.0;
        // Close to the ideal unless the existing tokens leave no wide ranges.
        prop_assert!(share <= 1.0 / owners + 1e-9, "share {share}, owners {owners}");
    }

    #[test]
    fn record_key_encoding_preserves_order_and_round_trips(
        a in (".{0,3}", ".{0,3}", ".{0,3}", prop::collection::vec(0u8..3, 0..4)),
        b in (".{0,3}", ".{0,3}", ".{0,3}", prop::collection::vec(0u8..3, 0..4)),
    ) {
        let a = RecordKey::new(a.0, a.1, a.2, a.3);
        let b = RecordKey::new(b.0, b.1, b.2, b.3);
        prop_assert_eq!(a.cmp(&b), a.encode().cmp(&b.encode()));
        prop_assert_eq!(RecordKey::decode(&a.encode()).unwrap(), a);
    }
}
