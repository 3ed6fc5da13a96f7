//! The transaction dependency graph: ww, wr, rw and real-time edges.

use std::collections::BTreeMap;

use super::infer::Inference;
use crate::history::{Outcome, TxnOperation};

/// Edge kinds, as bits of a mask.
pub(super) const WW: u8 = 1;
pub(super) const WR: u8 = 2;
pub(super) const RW: u8 = 4;
pub(super) const RT: u8 = 8;

/// The labels of the edges from one transaction to another.
#[derive(Copy, Clone, Debug, Default)]
pub(super) struct Labels {
    /// Union of the kinds.
    pub mask: u8,
    /// A key that justifies each of ww, wr, rw (by bit position).
    pub keys: [Option<u64>; 3],
}

/// Dependency graph over history indices.
pub(super) struct DependencyGraph {
    /// Number of nodes (= history length; failed transactions stay isolated).
    pub nodes: usize,
    /// Edges by (from, to).
    pub edges: BTreeMap<(usize, usize), Labels>,
}

impl DependencyGraph {
    pub(super) fn build(history: &[TxnOperation], inference: &Inference) -> DependencyGraph {
        let mut graph = DependencyGraph {
            nodes: history.len(),
            edges: BTreeMap::new(),
        };
        for (key, order) in &inference.orders {
            for pair in order.windows(2) {
                let from = inference.writers[&(*key, pair[0])].txn;
                let to = inference.writers[&(*key, pair[1])].txn;
                graph.add(from, to, WW, Some(*key));
            }
        }
        for observation in &inference.observations {
            let order = &inference.orders[&observation.key];
            let key = observation.key;
            if observation.seen > 0 {
                let writer = inference.writers[&(key, order[observation.seen - 1])].txn;
                graph.add(writer, observation.txn, WR, Some(key));
            }
            if let Some(next) = order.get(observation.seen) {
                let writer = inference.writers[&(key, *next)].txn;
                graph.add(observation.txn, writer, RW, Some(key));
            }
        }
        graph.add_realtime(history);
        graph
    }

    fn add(&mut self, from: usize, to: usize, kind: u8, key: Option<u64>) {
        if from == to {
            return;
        }
        let labels = self.edges.entry((from, to)).or_default();
        labels.mask |= kind;
        let slot = kind.trailing_zeros() as usize;
        if slot < 3 && labels.keys[slot].is_none() {
            labels.keys[slot] = key;
        }
    }

    /// Real-time edges, transitively reduced: each transaction gets edges
    /// from the frontier of transactions that had completed when it was
    /// invoked and were not yet known to precede another completed one.
    fn add_realtime(&mut self, history: &[TxnOperation]) {
        // (time, 0 = invoke / 1 = complete, index): at equal times
        // invocations come first, so touching operations stay concurrent.
        let mut events = Vec::with_capacity(history.len() * 2);
        for (index, txn) in history.iter().enumerate() {
            if matches!(txn.outcome, Outcome::Fail(_)) {
                continue;
            }
            events.push((txn.invoke_us, 0u8, index));
            if txn.outcome.is_ok() {
                events.push((txn.complete_us, 1u8, index));
            }
        }
        events.sort_unstable();
        let mut frontier: Vec<usize> = Vec::new();
        let mut predecessors: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (_, kind, index) in events {
            if kind == 0 {
                for &before in &frontier {
                    self.add(before, index, RT, None);
                }
                predecessors.insert(index, frontier.clone());
            } else {
                let before = predecessors.remove(&index).unwrap_or_default();
                frontier.retain(|t| !before.contains(t));
                frontier.push(index);
            }
        }
    }

    pub(super) fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Successors of `node` whose labels intersect `mask`.
    pub(super) fn successors(
        &self,
        node: usize,
        mask: u8,
    ) -> impl Iterator<Item = (usize, Labels)> + '_ {
        self.edges
            .range((node, 0)..(node + 1, 0))
            .filter(move |(_, labels)| labels.mask & mask != 0)
            .map(|(&(_, to), &labels)| (to, labels))
    }
}
