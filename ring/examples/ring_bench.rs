//! Ring benchmark: ownership balance, data moved by a join and replica
//! lookup speed for clusters of 3 to 1,000 nodes.
//!
//! Run: `cargo run --release -p zerodb-ring --example ring_bench`
//!
//! Nodes get their tokens from the balancing allocator one after another (as
//! an initial cluster does), spread round-robin over three zones of one
//! region. Columns:
//! - `own max/mean`: largest primary ownership over the mean (ideal 1.00);
//! - `rf3 max/mean`: the same for replica ownership at RF 3;
//! - `moved x 1/N`: fraction of the data streamed when one more node joins,
//!   over the ideal 1/N where N counts the nodes after the join (RF 1 and
//!   RF 3);
//! - `Mlookups/s`: replica lookups (RF 3, borrowed, no allocation) per
//!   second on one core, in millions.

use std::hint::black_box;
use std::time::Instant;

use zerodb_ring::{
    allocate_tokens, Member, NodeId, NodeStatus, Ownership, RangeDiff, Ring, Token, TokenAllocator,
};

const SEED: u64 = 7;
const ZONES: u32 = 3;
const RING_SIZE: f64 = 18_446_744_073_709_551_616.0;
const LOOKUP_SECONDS: f64 = 0.25;

fn member(id: u32, tokens: Vec<Token>) -> Member {
    Member::new(
        NodeId(id),
        "r1",
        format!("z{}", id % ZONES),
        tokens,
        NodeStatus::Normal,
    )
}

fn max_over_mean(ring: &Ring, rf: usize) -> f64 {
    let shares = Ownership::of(ring, rf, &[]).expect("ownership").shares();
    let max = shares.values().copied().max().unwrap_or(0) as f64;
    let mean = rf as f64 * RING_SIZE / ring.owning_node_count() as f64;
    max / mean
}

fn moved_ratio(old: &Ring, new: &Ring, rf: usize) -> f64 {
    let diff = RangeDiff::between(old, new, rf, &[]).expect("diff");
    let moved = diff.copied_tokens() as f64 / (rf as f64 * RING_SIZE);
    moved * new.owning_node_count() as f64
}

fn lookups_per_second(ring: &Ring) -> f64 {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut checksum = 0u32;
    let mut done = 0u64;
    let started = Instant::now();
    loop {
        for _ in 0..100_000 {
            // xorshift64: a cheap stream of token positions.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let replicas = ring.replicas_ref(Token(state), 3).expect("replicas");
            checksum = checksum.wrapping_add(replicas[0].0 ^ replicas[2].0);
        }
        done += 100_000;
        let elapsed = started.elapsed().as_secs_f64();
        if elapsed >= LOOKUP_SECONDS {
            black_box(checksum);
            return done as f64 / elapsed;
        }
    }
}

fn main() {
    let started = Instant::now();
    println!(
        "{:>6} {:>7} {:>13} {:>13} {:>14} {:>14} {:>11}",
        "nodes",
        "tokens",
        "own max/mean",
        "rf3 max/mean",
        "moved rf1 x1/N",
        "moved rf3 x1/N",
        "Mlookups/s"
    );
    for nodes in [3u32, 10, 100, 1_000] {
        for tokens in [16usize, 64, 256] {
            let mut allocator = TokenAllocator::new(SEED);
            let members: Vec<Member> = (1..=nodes)
                .map(|id| member(id, allocator.add_node(NodeId(id), tokens).expect("tokens")))
                .collect();
            let ring = Ring::new(1, members.clone());
            let joiner = NodeId(nodes + 1);
            let new_tokens = allocate_tokens(&ring, joiner, tokens, SEED).expect("join tokens");
            let mut joined = members;
            joined.push(member(joiner.0, new_tokens));
            let grown = Ring::new(2, joined);
            println!(
                "{:>6} {:>7} {:>13.3} {:>13.3} {:>14.3} {:>14.3} {:>11.1}",
                nodes,
                tokens,
                max_over_mean(&ring, 1),
                max_over_mean(&ring, 3),
                moved_ratio(&ring, &grown, 1),
                moved_ratio(&ring, &grown, 3),
                lookups_per_second(&ring) / 1e6,
            );
        }
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
