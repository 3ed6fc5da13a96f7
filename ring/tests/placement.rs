//! Replica placement on small hand-made rings.

use std::borrow::Cow;

use zerodb_ring::{Member, NodeId, NodeStatus, Ring, RingError, Token, PRECOMPUTED_REPLICAS_MAX};

fn node(id: u32, region: &str, zone: &str, tokens: &[u64]) -> Member {
    Member::new(
        NodeId(id),
        region,
        zone,
        tokens.iter().map(|t| Token(*t)).collect(),
        NodeStatus::Normal,
    )
}

fn ids(list: &[u32]) -> Vec<NodeId> {
    list.iter().map(|id| NodeId(*id)).collect()
}

fn regions(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

/// Four nodes, one zone each, tokens 100, 200, 300, 400.
fn four_zones() -> Ring {
    Ring::new(
        1,
        vec![
            node(1, "r", "a", &[100]),
            node(2, "r", "b", &[200]),
            node(3, "r", "c", &[300]),
            node(4, "r", "d", &[400]),
        ],
    )
}

#[test]
fn replicas_walk_clockwise_from_the_token() {
    let ring = four_zones();
    assert_eq!(ring.replicas(Token(150), 3, &[]).unwrap(), ids(&[2, 3, 4]));
    // A node's token is the last token of its range.
    assert_eq!(ring.replicas(Token(200), 2, &[]).unwrap(), ids(&[2, 3]));
    assert_eq!(ring.replicas(Token(0), 1, &[]).unwrap(), ids(&[1]));
    // Past the last token the walk wraps to the first.
    assert_eq!(ring.replicas(Token(401), 3, &[]).unwrap(), ids(&[1, 2, 3]));
    assert_eq!(
        ring.replicas(Token(u64::MAX), 4, &[]).unwrap(),
        ids(&[1, 2, 3, 4])
    );
    assert_eq!(ring.owner(Token(350)), Some(NodeId(4)));
}

#[test]
fn only_normal_members_own_data() {
    let mut members = vec![node(1, "r", "a", &[100]), node(2, "r", "b", &[200])];
    for (id, status) in [
        (3, NodeStatus::Joining),
        (4, NodeStatus::Recovering),
        (5, NodeStatus::Leaving),
        (6, NodeStatus::Left),
    ] {
        let mut member = node(id, "r", "c", &[150 + id as u64]);
        member.status = status;
        members.push(member);
    }
    let ring = Ring::new(3, members);
    assert_eq!(ring.epoch(), 3);
    assert_eq!(ring.members().count(), 6);
    assert_eq!(ring.member(NodeId(3)).unwrap().status, NodeStatus::Joining);
    assert_eq!(ring.replicas(Token(120), 2, &[]).unwrap(), ids(&[2, 1]));
    assert_eq!(ring.owning_node_count(), 2);
    let error = ring.replicas(Token(120), 3, &[]).unwrap_err();
    assert_eq!(
        error,
        RingError::NotEnoughNodes {
            scope: "the cluster".into(),
            available: 2,
            needed: 3
        }
    );
}

#[test]
fn distinct_zones_are_preferred_over_ring_order() {
    // Clockwise from 0: n1 (zone a), n2 (zone a), n3 (zone b), n4 (zone b).
    let ring = Ring::new(
        1,
        vec![
            node(1, "r", "a", &[100]),
            node(2, "r", "a", &[200]),
            node(3, "r", "b", &[300]),
            node(4, "r", "b", &[400]),
        ],
    );
    assert_eq!(ring.replicas(Token(50), 2, &[]).unwrap(), ids(&[1, 3]));
    // Only two zones: the third replica is the next node clockwise.
    assert_eq!(ring.replicas(Token(50), 3, &[]).unwrap(), ids(&[1, 3, 2]));
    assert_eq!(ring.replicas(Token(250), 3, &[]).unwrap(), ids(&[3, 1, 4]));
}

#[test]
fn the_same_zone_name_in_two_regions_is_two_zones() {
    let ring = Ring::new(
        1,
        vec![
            node(1, "eu", "a", &[100]),
            node(2, "eu", "a", &[200]),
            node(3, "us", "a", &[300]),
        ],
    );
    assert_eq!(ring.replicas(Token(50), 2, &[]).unwrap(), ids(&[1, 3]));
}

#[test]
fn pinned_regions_restrict_the_replicas() {
    let ring = Ring::new(
        1,
        vec![
            node(1, "eu", "a", &[100]),
            node(2, "us", "a", &[200]),
            node(3, "eu", "b", &[300]),
            node(4, "us", "b", &[400]),
            node(5, "ap", "a", &[500]),
        ],
    );
    let eu = regions(&["eu"]);
    assert_eq!(ring.replicas(Token(150), 2, &eu).unwrap(), ids(&[3, 1]));
    assert!(matches!(
        ring.replica_slice(Token(150), 2, &eu).unwrap(),
        Cow::Borrowed(_)
    ));
    let eu_ap = regions(&["eu", "ap", "eu"]);
    assert_eq!(
        ring.replicas(Token(150), 3, &eu_ap).unwrap(),
        ids(&[3, 5, 1])
    );
    let error = ring.replicas(Token(150), 3, &eu).unwrap_err();
    assert_eq!(
        error.to_string(),
        "region \"eu\" has 2 normal node(s) but replication factor 3 needs 3: \
         add normal nodes there or lower the replication factor"
    );
    let error = ring.replicas(Token(1), 4, &eu_ap).unwrap_err();
    assert!(error
        .to_string()
        .starts_with("regions [\"ap\", \"eu\"] has 3 normal node(s)"));
    let error = ring.replicas(Token(1), 1, &regions(&["mars"])).unwrap_err();
    assert!(error
        .to_string()
        .contains("region \"mars\" has 0 normal node(s)"));
}

#[test]
fn a_single_region_named_explicitly_uses_the_whole_ring() {
    let ring = four_zones();
    let r = regions(&["r"]);
    assert_eq!(
        ring.replicas(Token(150), 3, &r).unwrap(),
        ring.replicas(Token(150), 3, &[]).unwrap()
    );
    assert!(ring.replicas(Token(150), 1, &regions(&["x"])).is_err());
}

#[test]
fn zero_replication_factor_is_an_error() {
    let ring = four_zones();
    assert_eq!(
        ring.replicas(Token(1), 0, &[]),
        Err(RingError::ZeroReplicationFactor)
    );
    assert_eq!(
        ring.replicas(Token(1), 0, &regions(&["r", "q"])),
        Err(RingError::ZeroReplicationFactor)
    );
}

#[test]
fn an_empty_ring_places_nothing() {
    let ring = Ring::new(0, Vec::new());
    assert_eq!(ring.owner(Token(5)), None);
    assert!(matches!(
        ring.replicas(Token(5), 1, &[]),
        Err(RingError::NotEnoughNodes { available: 0, .. })
    ));
    assert!(ring.failover(Token(5), 1, &[]).is_empty());
}

#[test]
fn failover_walks_on_past_the_replica_ring() {
    let ring = Ring::new(
        1,
        vec![
            node(1, "r", "a", &[100, 500]),
            node(2, "r", "a", &[200]),
            node(3, "r", "b", &[300]),
            node(4, "r", "b", &[400]),
            node(5, "q", "a", &[450]),
        ],
    );
    // Replicas from 150 (rf 2, zones): n2, n3; then clockwise n4, n5, n1.
    assert_eq!(ring.replicas(Token(150), 2, &[]).unwrap(), ids(&[2, 3]));
    assert_eq!(ring.failover(Token(150), 2, &[]), ids(&[4, 5, 1]));
    assert_eq!(ring.failover(Token(150), 2, &regions(&["r"])), ids(&[4, 1]));
    assert!(ring.failover(Token(150), 5, &[]).is_empty());
    // More replicas asked for than exist: nothing is left to fail over to.
    assert!(ring.failover(Token(150), 9, &[]).is_empty());
}

#[test]
fn large_replication_factors_take_the_slow_path_with_the_same_rules() {
    let count = PRECOMPUTED_REPLICAS_MAX as u32 + 2;
    let members: Vec<Member> = (1..=count)
        .map(|id| {
            node(
                id,
                "r",
                if id % 2 == 0 { "even" } else { "odd" },
                &[id as u64 * 10],
            )
        })
        .collect();
    let ring = Ring::new(1, members);
    let all = ring.replicas(Token(5), count as usize, &[]).unwrap();
    assert_eq!(all.len(), count as usize);
    assert_eq!(&all[..2], &ids(&[1, 2])[..]);
    assert_eq!(&all[2..], &ids(&(3..=count).collect::<Vec<_>>())[..]);
    let prefix = ring.replicas(Token(5), 3, &[]).unwrap();
    assert_eq!(&all[..3], &prefix[..]);
    assert!(matches!(
        ring.replicas_ref(Token(5), count as usize),
        Ok(Cow::Owned(_))
    ));
    assert!(matches!(
        ring.replicas_ref(Token(5), 3),
        Ok(Cow::Borrowed(_))
    ));
}

#[test]
fn colliding_tokens_and_duplicate_ids_resolve_the_same_in_any_order() {
    let a = node(1, "r", "a", &[100, 300]);
    let b = node(2, "r", "b", &[100, 200]);
    let old_b = node(2, "r", "b", &[50]);
    let forward = Ring::new(1, vec![a.clone(), old_b.clone(), b.clone()]);
    let backward = Ring::new(1, vec![b, old_b, a]);
    assert_eq!(forward, backward);
    // Token 100 goes to the lower id.
    assert_eq!(forward.owner(Token(100)), Some(NodeId(1)));
    assert_eq!(forward.owner(Token(150)), Some(NodeId(2)));
}
