//! A hierarchical navigable small-world graph (Malkov and Yashunin, 2016):
//! approximate nearest neighbours in about `log n` distance computations.
//!
//! Every point lives on layer 0 and, with probability falling by a factor
//! `m` per layer, on layers above it; each layer links a point to at most
//! `m` near points (`2m` on layer 0). A search walks greedily down from the
//! top layer's entry point, then explores layer 0 keeping the `ef` nearest
//! points seen. Links are chosen by the paper's heuristic (a candidate is
//! kept only if it is nearer to the new point than to every neighbour kept
//! so far), which keeps links pointing in different directions.
//!
//! Points are added one at a time ([`Hnsw::insert`]) and removed by a
//! tombstone ([`Hnsw::remove`]): a removed point still guides searches but
//! is never returned. Vectors are kept as `f32` (half the memory of the
//! record's `f64`); callers re-rank what the graph returns on the exact
//! values. Deterministic: levels come from a generator seeded by the
//! caller, and ties break on the point number.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::Metric;
use crate::value::{Object, Value};

/// Most layers above layer 0 a point may reach (with `m = 16`, a level
/// of 8 needs about 16^8 points).
const LEVELS_MAX: usize = 16;
/// Smallest `m`: a graph of one link per point does not navigate.
pub const HNSW_M_MIN: usize = 2;
/// Largest `m` accepted by `index::hnsw(m = ...)`.
pub const HNSW_M_MAX: usize = 128;
/// Largest `ef` accepted by `index::hnsw(ef = ...)`.
pub const HNSW_EF_MAX: usize = 4_096;

/// A point's number in the graph, in insertion order.
pub type PointId = u32;

/// Options of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswOptions {
    /// Links per point and layer (`2m` on layer 0).
    pub m: usize,
    /// Candidates kept while inserting and, at least, while searching.
    pub ef: usize,
    /// The distance.
    pub metric: Metric,
}

impl HnswOptions {
    /// As stored in an index definition: `{ m, ef, distance }`.
    pub fn to_value(&self) -> Value {
        let mut object = Object::new();
        object.insert("m".into(), Value::Int(self.m as i64));
        object.insert("ef".into(), Value::Int(self.ef as i64));
        object.insert("distance".into(), Value::from(self.metric.name()));
        Value::Object(object)
    }

    /// From what [`HnswOptions::to_value`] stored.
    pub fn from_value(value: &Value) -> Result<HnswOptions, String> {
        let Value::Object(object) = value else {
            return Err(format!("stored hnsw options {value}"));
        };
        let count = |name: &str| match object.get(name) {
            Some(Value::Int(count)) if *count > 0 => Ok(*count as usize),
            other => Err(format!("stored hnsw option {name}: {other:?}")),
        };
        let metric = match object.get("distance") {
            Some(Value::Str(name)) => Metric::from_name(name),
            _ => None,
        }
        .ok_or("stored hnsw index has no distance")?;
        Ok(HnswOptions {
            m: count("m")?.max(HNSW_M_MIN),
            ef: count("ef")?,
            metric,
        })
    }
}

/// A distance with a total order (distances are never NaN: inputs are
/// finite), and the point it is to.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Near {
    distance: f32,
    point: PointId,
}

impl Eq for Near {}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.point.cmp(&other.point))
    }
}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The graph.
#[derive(Debug, Clone)]
pub struct Hnsw {
    options: HnswOptions,
    dimensions: usize,
    /// Point `p`'s vector is `vectors[p * dimensions..][..dimensions]`
    /// (normalised for the cosine metric).
    vectors: Vec<f32>,
    /// `links[p][layer]`: the points `p` links to on that layer.
    links: Vec<Vec<Vec<PointId>>>,
    removed: Vec<bool>,
    removed_count: usize,
    /// The point on the top layer where searches start, and its level.
    entry: Option<(PointId, usize)>,
    random: u64,
}

impl Hnsw {
    /// An empty graph of vectors of `dimensions` numbers; `seed` fixes the
    /// levels points get.
    pub fn new(options: HnswOptions, dimensions: usize, seed: u64) -> Hnsw {
        assert!(options.m >= HNSW_M_MIN, "m below {HNSW_M_MIN}");
        assert!(dimensions > 0, "vectors need a dimension");
        Hnsw {
            options,
            dimensions,
            vectors: Vec::new(),
            links: Vec::new(),
            removed: Vec::new(),
            removed_count: 0,
            entry: None,
            random: seed,
        }
    }

    /// The numbers each vector has.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Points inserted and not removed.
    pub fn len(&self) -> usize {
        self.links.len() - self.removed_count
    }

    /// Whether no point is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Points removed but still in the graph.
    pub fn removed_count(&self) -> usize {
        self.removed_count
    }

    /// Bytes of the vectors and links, an estimate of the heap used.
    pub fn memory_bytes(&self) -> usize {
        let links: usize = self
            .links
            .iter()
            .map(|layers| {
                std::mem::size_of::<Vec<PointId>>() * (layers.capacity() + 1)
                    + layers
                        .iter()
                        .map(|layer| layer.capacity() * std::mem::size_of::<PointId>())
                        .sum::<usize>()
            })
            .sum();
        self.vectors.capacity() * std::mem::size_of::<f32>() + links + self.removed.capacity()
    }

    /// Adds `vector` (of [`Hnsw::dimensions`] finite numbers) and returns
    /// its point.
    pub fn insert(&mut self, vector: &[f64]) -> PointId {
        assert_eq!(vector.len(), self.dimensions, "vector dimension");
        let point = PointId::try_from(self.links.len()).expect("fewer than 2^32 points");
        let prepared = self.prepare(vector);
        self.vectors.extend_from_slice(&prepared);
        let level = self.random_level();
        self.links.push(vec![Vec::new(); level + 1]);
        self.removed.push(false);
        let Some((mut entry, top)) = self.entry else {
            self.entry = Some((point, level));
            return point;
        };
        for layer in (level + 1..=top).rev() {
            entry = self.greedy(&prepared, entry, layer);
        }
        let mut entries = vec![entry];
        for layer in (0..=level.min(top)).rev() {
            let found = self.search_layer(&prepared, &entries, self.options.ef, layer);
            let chosen = self.select(&found, self.links_max(layer));
            for near in &chosen {
                self.links[near.point as usize][layer].push(point);
                self.shrink(near.point, layer);
            }
            self.links[point as usize][layer] = chosen.iter().map(|near| near.point).collect();
            entries = found.iter().map(|near| near.point).collect();
        }
        if level > top {
            self.entry = Some((point, level));
        }
        point
    }

    /// Marks `point` removed: never returned again, still walked through.
    pub fn remove(&mut self, point: PointId) {
        let removed = &mut self.removed[point as usize];
        if !*removed {
            *removed = true;
            self.removed_count += 1;
        }
    }

    /// Up to `count` live points nearest to `query` with their distances
    /// (under the graph's metric, in `f32`), nearest first; `ef` (at least
    /// `count` and the graph's own `ef`) candidates are kept on layer 0.
    pub fn search(&self, query: &[f64], count: usize, ef: usize) -> Vec<(PointId, f32)> {
        assert_eq!(query.len(), self.dimensions, "query dimension");
        let Some((mut entry, top)) = self.entry else {
            return Vec::new();
        };
        let prepared = self.prepare(query);
        for layer in (1..=top).rev() {
            entry = self.greedy(&prepared, entry, layer);
        }
        // Removed points take room among the candidates: ask for more.
        let ef = ef
            .max(count)
            .max(self.options.ef)
            .saturating_add(self.removed_count.min(count));
        self.search_layer(&prepared, &[entry], ef, 0)
            .into_iter()
            .filter(|near| !self.removed[near.point as usize])
            .take(count)
            .map(|near| (near.point, near.distance))
            .collect()
    }

    fn links_max(&self, layer: usize) -> usize {
        if layer == 0 {
            2 * self.options.m
        } else {
            self.options.m
        }
    }

    /// The vector as the graph compares it: `f32`, unit length for cosine.
    fn prepare(&self, vector: &[f64]) -> Vec<f32> {
        let scale = match self.options.metric {
            Metric::Cosine => {
                let norm = super::dot(vector, vector).sqrt();
                if norm == 0.0 {
                    1.0
                } else {
                    1.0 / norm
                }
            }
            Metric::Euclidean | Metric::Dot => 1.0,
        };
        vector.iter().map(|x| (x * scale) as f32).collect()
    }

    fn vector(&self, point: PointId) -> &[f32] {
        let start = point as usize * self.dimensions;
        &self.vectors[start..start + self.dimensions]
    }

    fn distance(&self, a: &[f32], point: PointId) -> f32 {
        let b = self.vector(point);
        match self.options.metric {
            // Squared: the same order, one square root fewer.
            Metric::Euclidean => lanes_sum(a, b, |x, y| (x - y) * (x - y)),
            Metric::Cosine => 1.0 - lanes_sum(a, b, |x, y| x * y),
            Metric::Dot => -lanes_sum(a, b, |x, y| x * y),
        }
    }

    /// A level with `P(level >= l) = m^-l`, from a SplitMix64 sequence.
    fn random_level(&mut self) -> usize {
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // Uniform in (0, 1]: never 0, whose logarithm is infinite.
        let uniform = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let scale = 1.0 / (self.options.m as f64).ln();
        ((-uniform.ln() * scale) as usize).min(LEVELS_MAX)
    }

    /// The nearest point to `query` reached by always stepping to a nearer
    /// neighbour on `layer`.
    fn greedy(&self, query: &[f32], mut point: PointId, layer: usize) -> PointId {
        let mut best = self.distance(query, point);
        loop {
            let mut moved = false;
            for &next in &self.links[point as usize][layer] {
                let distance = self.distance(query, next);
                if distance < best {
                    best = distance;
                    point = next;
                    moved = true;
                }
            }
            if !moved {
                return point;
            }
        }
    }

    /// The `ef` nearest points to `query` found on `layer` from `entries`,
    /// nearest first (removed points included).
    fn search_layer(
        &self,
        query: &[f32],
        entries: &[PointId],
        ef: usize,
        layer: usize,
    ) -> Vec<Near> {
        let mut visited = vec![0u64; self.links.len().div_ceil(64)];
        let mut visit = |point: PointId| {
            let (word, bit) = (point as usize / 64, point % 64);
            let seen = visited[word] & (1 << bit) != 0;
            visited[word] |= 1 << bit;
            !seen
        };
        // Candidates to expand, nearest on top; results, farthest on top.
        let mut candidates = BinaryHeap::new();
        let mut results: BinaryHeap<Near> = BinaryHeap::new();
        for &point in entries {
            if visit(point) {
                let near = Near {
                    distance: self.distance(query, point),
                    point,
                };
                candidates.push(std::cmp::Reverse(near));
                results.push(near);
            }
        }
        while results.len() > ef {
            results.pop();
        }
        while let Some(std::cmp::Reverse(nearest)) = candidates.pop() {
            let farthest = results.peek().map_or(f32::INFINITY, |far| far.distance);
            if nearest.distance > farthest && results.len() >= ef {
                break;
            }
            for &next in &self.links[nearest.point as usize][layer] {
                if !visit(next) {
                    continue;
                }
                let near = Near {
                    distance: self.distance(query, next),
                    point: next,
                };
                let farthest = results.peek().map_or(f32::INFINITY, |far| far.distance);
                if results.len() < ef || near.distance < farthest {
                    candidates.push(std::cmp::Reverse(near));
                    results.push(near);
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        results.into_sorted_vec()
    }

    /// At most `count` of `found` (nearest first) to link to: the paper's
    /// heuristic, then the nearest of those it skipped to fill up.
    fn select(&self, found: &[Near], count: usize) -> Vec<Near> {
        let mut chosen: Vec<Near> = Vec::with_capacity(count);
        let mut skipped = Vec::new();
        for &candidate in found {
            if chosen.len() >= count {
                break;
            }
            let vector = self.vector(candidate.point);
            let diverse = chosen
                .iter()
                .all(|kept| self.distance(vector, kept.point) > candidate.distance);
            if diverse {
                chosen.push(candidate);
            } else {
                skipped.push(candidate);
            }
        }
        for candidate in skipped {
            if chosen.len() >= count {
                break;
            }
            chosen.push(candidate);
        }
        chosen
    }

    /// Brings `point`'s links on `layer` back to the limit, keeping a
    /// diverse set of the nearest.
    fn shrink(&mut self, point: PointId, layer: usize) {
        let limit = self.links_max(layer);
        if self.links[point as usize][layer].len() <= limit {
            return;
        }
        let vector = self.vector(point).to_vec();
        let mut found: Vec<Near> = self.links[point as usize][layer]
            .iter()
            .map(|&other| Near {
                distance: self.distance(&vector, other),
                point: other,
            })
            .collect();
        found.sort();
        let chosen = self.select(&found, limit);
        self.links[point as usize][layer] = chosen.iter().map(|near| near.point).collect();
    }
}

/// Lanes summed side by side: independent sums the compiler can keep in
/// one vector register (a single running sum must be added in order).
const SUM_LANES: usize = 8;

/// `sum(term(a[i], b[i]))`, in [`SUM_LANES`] partial sums.
fn lanes_sum(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0f32; SUM_LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(SUM_LANES), b.chunks_exact(SUM_LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| term(*x, *y))
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..SUM_LANES {
            lanes[lane] += term(x[lane], y[lane]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(metric: Metric) -> HnswOptions {
        HnswOptions {
            m: 8,
            ef: 32,
            metric,
        }
    }

    #[test]
    fn an_empty_graph_finds_nothing_and_one_point_finds_itself() {
        let mut graph = Hnsw::new(options(Metric::Euclidean), 2, 1);
        assert!(graph.search(&[0.0, 0.0], 3, 10).is_empty());
        let point = graph.insert(&[1.0, 1.0]);
        assert_eq!(graph.search(&[0.0, 0.0], 3, 10), vec![(point, 2.0)]);
        graph.remove(point);
        assert!(graph.search(&[0.0, 0.0], 3, 10).is_empty());
        assert!(graph.is_empty());
    }

    #[test]
    fn points_on_a_line_are_found_in_order_of_distance() {
        for metric in [Metric::Euclidean, Metric::Dot] {
            let mut graph = Hnsw::new(options(metric), 1, 7);
            for x in 0..200 {
                graph.insert(&[f64::from(x)]);
            }
            let found: Vec<PointId> = graph
                .search(&[150.2], 3, 64)
                .into_iter()
                .map(|(point, _)| point)
                .collect();
            let expected = match metric {
                Metric::Euclidean => vec![150, 151, 149],
                _ => vec![199, 198, 197],
            };
            assert_eq!(found, expected, "{metric:?}");
        }
    }

    #[test]
    fn a_removed_point_is_skipped_but_its_neighbours_are_still_reached() {
        let mut graph = Hnsw::new(options(Metric::Euclidean), 1, 3);
        for x in 0..100 {
            graph.insert(&[f64::from(x)]);
        }
        graph.remove(50);
        let found: Vec<PointId> = graph
            .search(&[50.0], 2, 32)
            .into_iter()
            .map(|(point, _)| point)
            .collect();
        assert_eq!(found, vec![49, 51]);
        assert_eq!(graph.len(), 99);
        assert_eq!(graph.removed_count(), 1);
    }

    #[test]
    fn the_same_inserts_build_the_same_graph() {
        let build = || {
            let mut graph = Hnsw::new(options(Metric::Cosine), 3, 42);
            for i in 0..300 {
                let i = f64::from(i);
                graph.insert(&[i.sin(), i.cos(), (i * 0.3).sin()]);
            }
            graph
        };
        let (a, b) = (build(), build());
        assert_eq!(a.links, b.links);
        assert_eq!(
            a.search(&[0.1, 0.2, 0.3], 5, 40),
            b.search(&[0.1, 0.2, 0.3], 5, 40)
        );
    }
}
