//! Token allocation balance and range diffs on concrete rings.

use zerodb_ring::{
    allocate_tokens, Member, NodeId, NodeStatus, Ownership, RangeDiff, Ring, RingError, Token,
    TokenAllocator, TokenRange, TOKENS_PER_NODE_MAX,
};

const RING_SIZE: f64 = 18_446_744_073_709_551_616.0;

fn member(id: u32, zone: &str, tokens: Vec<Token>, status: NodeStatus) -> Member {
    Member::new(NodeId(id), "r", zone, tokens, status)
}

fn balanced_cluster(nodes: u32, tokens: usize, seed: u64) -> Vec<Member> {
    let mut allocator = TokenAllocator::new(seed);
    (1..=nodes)
        .map(|id| {
            let tokens = allocator.add_node(NodeId(id), tokens).unwrap();
            member(
                id,
                ["a", "b", "c"][id as usize % 3],
                tokens,
                NodeStatus::Normal,
            )
        })
        .collect()
}

fn max_over_mean(ring: &Ring) -> f64 {
    let shares = Ownership::of(ring, 1, &[]).unwrap().shares();
    let max = *shares.values().max().unwrap() as f64;
    max / (RING_SIZE / shares.len() as f64)
}

#[test]
fn the_first_node_gets_evenly_spaced_tokens_from_the_seed() {
    let a = TokenAllocator::new(1).add_node(NodeId(1), 4).unwrap();
    let b = TokenAllocator::new(2).add_node(NodeId(1), 4).unwrap();
    assert_ne!(a, b);
    assert_eq!(a, TokenAllocator::new(1).add_node(NodeId(1), 4).unwrap());
    let mut gaps: Vec<u64> = a.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.push(a[0].0.wrapping_sub(a[3].0));
    assert!(gaps.iter().all(|gap| *gap == 1 << 62), "{gaps:?}");
}

#[test]
fn a_hundred_nodes_with_64_tokens_are_balanced_within_ten_percent() {
    let ring = Ring::new(1, balanced_cluster(100, 64, 3));
    let ratio = max_over_mean(&ring);
    assert!(ratio <= 1.10, "max/mean {ratio}");
}

#[test]
fn a_joining_node_takes_one_share_from_the_richest_nodes() {
    let members = balanced_cluster(20, 32, 9);
    let ring = Ring::new(1, members.clone());
    let tokens = allocate_tokens(&ring, NodeId(21), 32, 0).unwrap();
    assert_eq!(tokens.len(), 32);
    let mut grown = members;
    grown.push(member(21, "a", tokens, NodeStatus::Normal));
    let grown = Ring::new(2, grown);
    let diff = RangeDiff::between(&ring, &grown, 1, &[]).unwrap();
    let moved = diff.copied_tokens() as f64 / RING_SIZE;
    assert!((moved * 21.0 - 1.0).abs() < 0.01, "moved {moved}");
    // Every move goes to the new node.
    assert!(diff.moves.iter().all(|m| m.to == vec![NodeId(21)]));
    assert!(max_over_mean(&grown) <= 1.10);
}

#[test]
fn leaving_and_left_members_do_not_count_as_owners() {
    let mut members = balanced_cluster(2, 8, 1);
    members[1].status = NodeStatus::Leaving;
    let with_leaving = Ring::new(1, members.clone());
    let only_first = Ring::new(1, members[..1].to_vec());
    assert_eq!(
        allocate_tokens(&with_leaving, NodeId(3), 8, 5).unwrap(),
        allocate_tokens(&only_first, NodeId(3), 8, 5).unwrap()
    );
}

#[test]
fn bad_allocation_requests_are_errors() {
    let ring = Ring::new(1, balanced_cluster(3, 8, 1));
    assert_eq!(
        allocate_tokens(&ring, NodeId(9), 0, 1),
        Err(RingError::TokenCount {
            count: 0,
            max: TOKENS_PER_NODE_MAX
        })
    );
    let error = allocate_tokens(&ring, NodeId(9), TOKENS_PER_NODE_MAX + 1, 1).unwrap_err();
    assert_eq!(
        error.to_string(),
        "tokens = 4097: must be between 1 and 4096"
    );
    assert_eq!(
        allocate_tokens(&ring, NodeId(2), 8, 1),
        Err(RingError::AlreadyPlaced { node: NodeId(2) })
    );
    let mut allocator = TokenAllocator::new(0);
    allocator.add_node(NodeId(1), 1).unwrap();
    assert!(allocator.add_node(NodeId(1), 1).is_err());
}

#[test]
fn a_ring_too_crowded_to_split_reports_it_is_full() {
    let mut allocator = TokenAllocator::new(0);
    let every_token: Vec<Token> = Vec::new();
    allocator.insert_existing(NodeId(1), &every_token).unwrap();
    // One token: the whole ring is one range and can always be split.
    allocator.insert_existing(NodeId(2), &[Token(5)]).unwrap();
    assert_eq!(allocator.add_node(NodeId(3), 1).unwrap().len(), 1);
    let mut tight = TokenAllocator::new(0);
    let adjacent: Vec<Token> = (0..3).map(Token).collect();
    tight.insert_existing(NodeId(1), &adjacent).unwrap();
    // Ranges of length 1 cannot hold a new token, but the wrap range can.
    let tokens = tight.add_node(NodeId(2), 2).unwrap();
    assert!(tokens.iter().all(|t| t.0 > 2));
}

#[test]
fn the_diff_of_a_join_names_the_moved_ranges() {
    let old = Ring::new(
        1,
        vec![
            member(1, "a", vec![Token(100)], NodeStatus::Normal),
            member(2, "a", vec![Token(200)], NodeStatus::Normal),
        ],
    );
    let new = Ring::new(
        2,
        vec![
            member(1, "a", vec![Token(100)], NodeStatus::Normal),
            member(2, "a", vec![Token(200)], NodeStatus::Normal),
            member(3, "a", vec![Token(150)], NodeStatus::Normal),
        ],
    );
    let diff = RangeDiff::between(&old, &new, 1, &[]).unwrap();
    assert_eq!(diff.moves.len(), 1);
    let m = &diff.moves[0];
    assert_eq!(
        m.range,
        TokenRange {
            start: Token(101),
            end: Token(150)
        }
    );
    assert_eq!(
        (m.from.clone(), m.to.clone()),
        (vec![NodeId(2)], vec![NodeId(3)])
    );
    assert_eq!(m.gained(), vec![NodeId(3)]);
    assert_eq!(m.lost(), vec![NodeId(2)]);
    let before = Ownership::of(&old, 1, &[]).unwrap();
    let after = before.apply(&diff).unwrap();
    assert_eq!(after, Ownership::of(&new, 1, &[]).unwrap());
    let error = after.apply(&diff).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("range diff does not fit this ownership"),
        "{error}"
    );
    // RF 2 on two then three nodes: n3 gains (100, 150] (as first replica)
    // and the wrapping range (200, 100] (as second replica, replacing n2).
    let diff = RangeDiff::between(&old, &new, 2, &[]).unwrap();
    assert!(diff.moves.iter().all(|m| m.gained() == vec![NodeId(3)]));
    let moved: u128 = diff.moves.iter().map(|m| m.range.len()).sum();
    assert_eq!(moved, (1u128 << 64) - 50);
    assert_eq!(diff.copied_tokens(), (1u128 << 64) - 50);
}

#[test]
fn a_joiner_already_in_the_view_without_tokens_gets_tokens() {
    let mut members = balanced_cluster(4, 8, 2);
    members.push(member(5, "a", Vec::new(), NodeStatus::Joining));
    let ring = Ring::new(1, members.clone());
    let tokens = allocate_tokens(&ring, NodeId(5), 8, 0).unwrap();
    assert_eq!(tokens.len(), 8);
    assert_eq!(
        tokens,
        allocate_tokens(&Ring::new(1, members[..4].to_vec()), NodeId(5), 8, 0).unwrap()
    );
    // The joining node owns nothing until it turns normal.
    assert_eq!(ring.owning_node_count(), 4);
}
