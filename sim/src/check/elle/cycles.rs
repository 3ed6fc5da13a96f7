//! Cycle search: Tarjan's strongly connected components, then, inside each
//! component, the shortest cycle of the most severe class it contains.

use std::collections::{BTreeMap, VecDeque};

use super::graph::{DependencyGraph, Labels, RT, RW, WR, WW};
use super::{ElleAnomaly, ElleKind};

/// Rw edges tried per component when looking for a G-single cycle (each try
/// is one breadth-first search).
const SINGLE_RW_TRIES_MAX: usize = 256;

/// How a class of cycles is searched for: which edges it may use, and
/// whether exactly one of them is a read-write edge.
struct Class {
    kind: ElleKind,
    mask: u8,
    single_rw: bool,
}

const CLASSES: [Class; 8] = [
    Class {
        kind: ElleKind::G0,
        mask: WW,
        single_rw: false,
    },
    Class {
        kind: ElleKind::G1c,
        mask: WW | WR,
        single_rw: false,
    },
    Class {
        kind: ElleKind::GSingle,
        mask: WW | WR,
        single_rw: true,
    },
    Class {
        kind: ElleKind::G2,
        mask: WW | WR | RW,
        single_rw: false,
    },
    Class {
        kind: ElleKind::G0Realtime,
        mask: WW | RT,
        single_rw: false,
    },
    Class {
        kind: ElleKind::G1cRealtime,
        mask: WW | WR | RT,
        single_rw: false,
    },
    Class {
        kind: ElleKind::GSingleRealtime,
        mask: WW | WR | RT,
        single_rw: true,
    },
    Class {
        kind: ElleKind::G2Realtime,
        mask: WW | WR | RW | RT,
        single_rw: false,
    },
];

/// One anomaly per strongly connected component, of its most severe class.
pub(super) fn find_cycles(graph: &DependencyGraph) -> Vec<ElleAnomaly> {
    let all: Vec<usize> = (0..graph.nodes).collect();
    let mut anomalies = Vec::new();
    for component in components(graph, &all, WW | WR | RW | RT) {
        for class in &CLASSES {
            let cycle = if class.single_rw {
                single_rw_cycle(graph, &component, class.mask)
            } else {
                components(graph, &component, class.mask)
                    .first()
                    .and_then(|inner| shortest_cycle(graph, inner, inner[0], class.mask))
            };
            if let Some(cycle) = cycle {
                anomalies.push(describe(graph, class.kind, &cycle));
                break;
            }
        }
    }
    anomalies
}

/// Nontrivial strongly connected components of the subgraph induced by
/// `nodes` (sorted) and the edges whose labels intersect `mask`, each sorted.
fn components(graph: &DependencyGraph, nodes: &[usize], mask: u8) -> Vec<Vec<usize>> {
    let local: BTreeMap<usize, usize> = nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let successors = |v: usize| -> Vec<usize> {
        graph
            .successors(nodes[v], mask)
            .filter_map(|(to, _)| local.get(&to).copied())
            .collect()
    };
    let count = nodes.len();
    let mut index: Vec<Option<usize>> = vec![None; count];
    let mut lowlink = vec![0usize; count];
    let mut on_stack = vec![false; count];
    let mut stack: Vec<usize> = Vec::new();
    let mut next_index = 0usize;
    let mut found = Vec::new();
    for start in 0..count {
        if index[start].is_some() {
            continue;
        }
        let mut calls: Vec<(usize, Vec<usize>, usize)> = Vec::new();
        index[start] = Some(next_index);
        lowlink[start] = next_index;
        next_index += 1;
        stack.push(start);
        on_stack[start] = true;
        calls.push((start, successors(start), 0));
        while let Some((v, succ, position)) = calls.last_mut() {
            let v = *v;
            if *position < succ.len() {
                let w = succ[*position];
                *position += 1;
                match index[w] {
                    None => {
                        index[w] = Some(next_index);
                        lowlink[w] = next_index;
                        next_index += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        calls.push((w, successors(w), 0));
                    }
                    Some(w_index) if on_stack[w] => lowlink[v] = lowlink[v].min(w_index),
                    Some(_) => {}
                }
                continue;
            }
            calls.pop();
            if Some(lowlink[v]) == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(nodes[w]);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort_unstable();
                    found.push(component);
                }
            }
            if let Some((parent, _, _)) = calls.last() {
                lowlink[*parent] = lowlink[*parent].min(lowlink[v]);
            }
        }
    }
    found.sort();
    found
}

/// Shortest path from `from` to `to` inside `members` over `mask` edges, as
/// the list of nodes from `from` up to (not including) `to`.
fn shortest_path(
    graph: &DependencyGraph,
    members: &[usize],
    from: usize,
    to: usize,
    mask: u8,
) -> Option<Vec<usize>> {
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(node) = queue.pop_front() {
        for (next, _) in graph.successors(node, mask) {
            if members.binary_search(&next).is_err() {
                continue;
            }
            if next == to {
                let mut path = vec![node];
                let mut current = node;
                while current != from {
                    current = parent[&current];
                    path.push(current);
                }
                path.reverse();
                return Some(path);
            }
            if next != from && !parent.contains_key(&next) {
                parent.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}

/// Shortest cycle through `start`; each element is (node, mask allowed for
/// its outgoing edge in the cycle).
fn shortest_cycle(
    graph: &DependencyGraph,
    members: &[usize],
    start: usize,
    mask: u8,
) -> Option<Vec<(usize, u8)>> {
    let path = shortest_path(graph, members, start, start, mask)?;
    Some(path.into_iter().map(|node| (node, mask)).collect())
}

/// Shortest cycle with exactly one rw edge and the rest from `mask`.
fn single_rw_cycle(
    graph: &DependencyGraph,
    members: &[usize],
    mask: u8,
) -> Option<Vec<(usize, u8)>> {
    let mut best: Option<Vec<(usize, u8)>> = None;
    let rw_edges = members
        .iter()
        .flat_map(|&from| graph.successors(from, RW).map(move |(to, _)| (from, to)))
        .filter(|(_, to)| members.binary_search(to).is_ok())
        .take(SINGLE_RW_TRIES_MAX);
    for (from, to) in rw_edges {
        // Labels with other bits besides rw are usable as non-rw edges too.
        let Some(path) = shortest_path(graph, members, to, from, mask) else {
            continue;
        };
        if best.as_ref().is_some_and(|b| b.len() <= path.len() + 1) {
            continue;
        }
        let mut cycle = vec![(from, RW)];
        cycle.extend(path.into_iter().map(|node| (node, mask)));
        best = Some(cycle);
    }
    best
}

fn label_name(labels: Labels, allowed: u8) -> String {
    let usable = labels.mask & allowed;
    for (bit, name, slot) in [(WW, "ww", 0), (WR, "wr", 1), (RW, "rw", 2)] {
        if usable & bit != 0 {
            return match labels.keys[slot] {
                Some(key) => format!("{name}(k{key})"),
                None => name.to_string(),
            };
        }
    }
    if usable & RT != 0 {
        "rt".to_string()
    } else {
        "?".to_string()
    }
}

fn describe(graph: &DependencyGraph, kind: ElleKind, cycle: &[(usize, u8)]) -> ElleAnomaly {
    let mut explanation = String::new();
    for (i, &(node, allowed)) in cycle.iter().enumerate() {
        let next = cycle[(i + 1) % cycle.len()].0;
        let labels = graph.edges.get(&(node, next)).copied().unwrap_or_default();
        explanation.push_str(&format!("T{node} -{}-> ", label_name(labels, allowed)));
    }
    explanation.push_str(&format!("T{}", cycle[0].0));
    ElleAnomaly {
        kind,
        txns: cycle.iter().map(|&(node, _)| node).collect(),
        explanation,
    }
}
