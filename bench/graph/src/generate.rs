//! The benchmark's graph: `vertices` vertices and `edges` directed edges
//! with power-law degrees, the same for a given seed on any machine.
//!
//! Chung-Lu style: the vertex of rank `r` (from 0) has weight
//! `(r + 1)^(-1 / (exponent - 1))`, and each edge draws its two ends in
//! proportion to weight, so the expected in- and out-degree of a vertex is
//! proportional to its weight and the degrees follow a power law with that
//! exponent (2.5 by default, as measured social and web graphs have
//! between 2 and 3). Ranks map to vertex ids through a seeded permutation,
//! so hubs are spread over the ids. No self-loops and no second edge
//! between an ordered pair: a drawn duplicate is drawn again.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Draws per edge before generation gives up (the graph asked for is too
/// dense for its vertex count).
const DRAWS_PER_EDGE_MAX: u64 = 50;

/// A directed graph: the out-neighbours of each vertex, in id order.
#[derive(Debug)]
pub struct Graph {
    /// `out[v]`: the vertices `v` has an edge to, sorted.
    pub out: Vec<Vec<u32>>,
    /// Number of edges.
    pub edges: u64,
}

/// Generates the graph (see the module documentation).
pub fn generate(vertices: u32, edges: u64, exponent: f64, seed: u64) -> Result<Graph, String> {
    if vertices < 2 {
        return Err(format!("--vertices {vertices}: at least 2 are needed"));
    }
    let pairs = u64::from(vertices) * u64::from(vertices - 1);
    if edges > pairs / 2 {
        return Err(format!(
            "--edges {edges}: at most {} for {vertices} vertices (half the ordered pairs)",
            pairs / 2
        ));
    }
    if exponent.is_nan() || exponent <= 1.0 {
        return Err(format!("--exponent {exponent}: must be above 1"));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let power = -1.0 / (exponent - 1.0);
    let mut cumulative = Vec::with_capacity(vertices as usize);
    let mut total = 0.0f64;
    for rank in 0..vertices {
        total += f64::from(rank + 1).powf(power);
        cumulative.push(total);
    }
    let mut id_of_rank: Vec<u32> = (0..vertices).collect();
    for i in (1..id_of_rank.len()).rev() {
        let j = rng.random_range(0..=i);
        id_of_rank.swap(i, j);
    }
    let draw = |rng: &mut StdRng| {
        let target = rng.random_range(0.0..total);
        let rank = cumulative.partition_point(|&sum| sum <= target);
        id_of_rank[rank.min(id_of_rank.len() - 1)]
    };
    let mut out = vec![Vec::new(); vertices as usize];
    let mut seen: HashSet<u64> = HashSet::with_capacity(edges as usize);
    let mut made = 0u64;
    let mut draws = 0u64;
    while made < edges {
        draws += 1;
        if draws > edges * DRAWS_PER_EDGE_MAX {
            return Err(format!(
                "gave up after {draws} draws with {made} of {edges} edges: too dense a graph \
                 for {vertices} vertices at exponent {exponent}"
            ));
        }
        let from = draw(&mut rng);
        let to = draw(&mut rng);
        if from == to || !seen.insert((u64::from(from) << 32) | u64::from(to)) {
            continue;
        }
        out[from as usize].push(to);
        made += 1;
    }
    for list in &mut out {
        list.sort_unstable();
    }
    Ok(Graph { out, edges })
}

impl Graph {
    /// Number of vertices.
    pub fn vertices(&self) -> u32 {
        self.out.len() as u32
    }

    /// How many distinct vertices `start -> follows -> person` repeated
    /// `hops` times reaches (each step goes from every vertex reached by
    /// the step before to its out-neighbours, each counted once: what
    /// zeroql's traversal returns), and how many adjacency lists the
    /// traversal reads (one per vertex of each step's frontier, the
    /// start's included).
    pub fn walk(&self, start: u32, hops: u32) -> (usize, usize) {
        let mut mark = vec![u32::MAX; self.out.len()];
        let mut frontier = vec![start];
        let mut lists = 0;
        for hop in 0..hops {
            lists += frontier.len();
            let mut next = Vec::new();
            for &vertex in &frontier {
                for &to in &self.out[vertex as usize] {
                    if mark[to as usize] != hop {
                        mark[to as usize] = hop;
                        next.push(to);
                    }
                }
            }
            frontier = next;
        }
        (frontier.len(), lists)
    }

    /// The `count` vertices of largest out-degree, largest first.
    pub fn hubs(&self, count: usize) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..self.vertices()).collect();
        ids.sort_by_key(|&v| (std::cmp::Reverse(self.out[v as usize].len()), v));
        ids.truncate(count);
        ids
    }

    /// Out-degree: largest, median, and in-degree largest.
    pub fn degrees(&self) -> (usize, usize, usize) {
        let mut out: Vec<usize> = self.out.iter().map(Vec::len).collect();
        let mut incoming = vec![0usize; self.out.len()];
        for list in &self.out {
            for &to in list {
                incoming[to as usize] += 1;
            }
        }
        out.sort_unstable();
        let max_in = incoming.iter().copied().max().unwrap_or(0);
        (out[out.len() - 1], out[out.len() / 2], max_in)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_graph_with_skewed_degrees() {
        let a = generate(2_000, 20_000, 2.5, 7).unwrap();
        let b = generate(2_000, 20_000, 2.5, 7).unwrap();
        assert_eq!(a.out, b.out);
        assert_eq!(a.out.iter().map(Vec::len).sum::<usize>(), 20_000);
        let (max_out, median_out, _) = a.degrees();
        assert!(
            max_out > 20 * median_out.max(1),
            "{max_out} vs {median_out}"
        );
        for (from, list) in a.out.iter().enumerate() {
            assert!(!list.contains(&(from as u32)), "a self-loop at {from}");
            assert!(list.windows(2).all(|w| w[0] < w[1]), "a repeated edge");
        }
    }

    #[test]
    fn reach_counts_distinct_vertices_of_the_last_step() {
        let graph = Graph {
            out: vec![vec![1, 2], vec![2, 3], vec![0, 3], vec![]],
            edges: 6,
        };
        assert_eq!(graph.walk(0, 1).0, 2);
        assert_eq!(graph.walk(0, 2).0, 3, "2, 3 and 0 (back over 2)");
        assert_eq!(graph.walk(3, 2).0, 0);
        assert_eq!(graph.walk(0, 2), (3, 3), "lists of 0, then of 1 and 2");
    }

    #[test]
    fn impossible_graphs_are_refused_with_the_reason() {
        assert!(generate(10, 100, 2.5, 1)
            .unwrap_err()
            .contains("at most 45"));
        assert!(generate(10, 10, 1.0, 1).unwrap_err().contains("above 1"));
        assert!(generate(1, 0, 2.5, 1).unwrap_err().contains("at least 2"));
    }
}
