//! Following edges from one record: a step's edge selector (`a OR b`,
//! `a AND b`, `NOT a`, depth levels) over the adjacency lists of
//! `keys.rs`.

use std::collections::BTreeSet;

use super::graph::{Bindings, Budget, Hop};
use super::runner::Runner;
use super::store::{decode, TxnStore};
use super::ExecError;
use crate::ast::{EdgeDirection, EdgeSelector, EdgeTable, Ident, Levels};
use crate::keys::Adjacency;
use crate::value::{RecordId, Value};

impl<S: TxnStore> Runner<'_, '_, '_, S> {
    /// The edges a selector follows from `from`, with what they reach.
    pub(super) fn select_edges(
        &mut self,
        from: &RecordId,
        direction: EdgeDirection,
        selector: &EdgeSelector,
        budget: &mut Budget,
    ) -> Result<Vec<Hop>, ExecError> {
        Ok(match selector {
            EdgeSelector::Table(table) => match &table.levels {
                None => self.one_hop(from, direction, table)?,
                Some(levels) => self.walk_levels(from, direction, table, levels, budget)?,
            },
            EdgeSelector::Not(table) => {
                let mut kept = Vec::new();
                for (edge, vertex) in self.adjacent(from, direction, None)? {
                    let excluded = edge.table == table.name.name
                        && match &table.condition {
                            Some(condition) => self.holds(condition, &edge)?,
                            None => true,
                        };
                    if !excluded {
                        kept.push(Hop {
                            edge,
                            vertex,
                            bindings: Vec::new(),
                        });
                    }
                }
                kept
            }
            EdgeSelector::Or(left, right) => {
                let mut hops = self.select_edges(from, direction, left, budget)?;
                hops.extend(self.select_edges(from, direction, right, budget)?);
                distinct(hops)
            }
            EdgeSelector::And(left, right) => {
                let left = self.select_edges(from, direction, left, budget)?;
                let right = self.select_edges(from, direction, right, budget)?;
                let reached = |hops: &[Hop]| -> BTreeSet<RecordId> {
                    hops.iter().map(|hop| hop.vertex.clone()).collect()
                };
                let both: BTreeSet<RecordId> = reached(&left)
                    .intersection(&reached(&right))
                    .cloned()
                    .collect();
                let hops = left.into_iter().chain(right);
                distinct(hops.filter(|hop| both.contains(&hop.vertex)).collect())
            }
        })
    }

    /// One hop along `table`'s edges that pass its filter, binding its alias.
    fn one_hop(
        &mut self,
        from: &RecordId,
        direction: EdgeDirection,
        table: &EdgeTable,
    ) -> Result<Vec<Hop>, ExecError> {
        let mut hops = Vec::new();
        for (edge, vertex) in self.adjacent(from, direction, Some(&table.name.name))? {
            if let Some(condition) = &table.condition {
                if !self.holds(condition, &edge)? {
                    continue;
                }
            }
            let bindings = alias_binding(table.alias.as_ref(), &edge);
            hops.push(Hop {
                edge,
                vertex,
                bindings,
            });
        }
        Ok(hops)
    }

    /// Depth levels: breadth first from `from` with a visited set; the
    /// records first reached at a kept level, each with the last edge.
    fn walk_levels(
        &mut self,
        from: &RecordId,
        direction: EdgeDirection,
        table: &EdgeTable,
        levels: &Levels,
        budget: &mut Budget,
    ) -> Result<Vec<Hop>, ExecError> {
        let mut visited = BTreeSet::from([from.clone()]);
        let mut frontier = vec![from.clone()];
        let mut found = Vec::new();
        for level in 0..=levels.last {
            let mut reached = Vec::new();
            for vertex in &frontier {
                for hop in self.one_hop(vertex, direction, table)? {
                    if visited.insert(hop.vertex.clone()) {
                        budget.visit()?;
                        reached.push(hop);
                    }
                }
            }
            frontier = reached.iter().map(|hop| hop.vertex.clone()).collect();
            if level >= levels.first {
                found.extend(reached);
            }
            if frontier.is_empty() {
                break;
            }
        }
        Ok(found)
    }

    /// The edges at `from` in `direction` (of `edge_table` only, if
    /// given), each with the record at its other end. `Mutual` keeps the
    /// outgoing edges to records that also have an edge back.
    fn adjacent(
        &mut self,
        from: &RecordId,
        direction: EdgeDirection,
        edge_table: Option<&str>,
    ) -> Result<Vec<(RecordId, RecordId)>, ExecError> {
        match direction {
            EdgeDirection::Out => self.adjacency(Adjacency::Out, from, edge_table),
            EdgeDirection::In => self.adjacency(Adjacency::In, from, edge_table),
            EdgeDirection::Mutual => {
                let back: BTreeSet<RecordId> = self
                    .adjacency(Adjacency::In, from, edge_table)?
                    .into_iter()
                    .map(|(_, vertex)| vertex)
                    .collect();
                let out = self.adjacency(Adjacency::Out, from, edge_table)?;
                Ok(out
                    .into_iter()
                    .filter(|(_, vertex)| back.contains(vertex))
                    .collect())
            }
        }
    }

    /// One scan of an adjacency list: (edge, other end) per entry, in the
    /// order of the other end.
    fn adjacency(
        &mut self,
        side: Adjacency,
        from: &RecordId,
        edge_table: Option<&str>,
    ) -> Result<Vec<(RecordId, RecordId)>, ExecError> {
        let span = self.span;
        let range = self.database(span)?.adjacency_range(side, from, edge_table);
        let mut entries = Vec::new();
        for (key, bytes) in self.store.scan(&range, usize::MAX, span)? {
            let entry = decode(&key, &bytes)?;
            match (entry.field("edge"), entry.field("vertex")) {
                (Value::RecordId(edge), Value::RecordId(vertex)) => entries.push((edge, vertex)),
                _ => {
                    return Err(ExecError::Store(format!(
                        "adjacency entry {key:?} is not {{ edge, vertex }}"
                    )))
                }
            }
        }
        // In order of the record reached, not of the edge's key: edge keys
        // are often generated, and results should not depend on them.
        entries.sort_by(|(edge_a, vertex_a), (edge_b, vertex_b)| {
            vertex_a.cmp(vertex_b).then_with(|| edge_a.cmp(edge_b))
        });
        Ok(entries)
    }
}

fn alias_binding(alias: Option<&Ident>, edge: &RecordId) -> Bindings {
    match alias {
        Some(alias) => vec![(alias.name.clone(), Value::RecordId(edge.clone()))],
        None => Vec::new(),
    }
}

/// Hops without repeats, in first-seen order.
fn distinct(hops: Vec<Hop>) -> Vec<Hop> {
    let mut seen = BTreeSet::new();
    hops.into_iter()
        .filter(|hop| seen.insert(hop.clone()))
        .collect()
}
