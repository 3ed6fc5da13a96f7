//! The graph workload's checker: edges that always have both ends and both
//! adjacency entries, cascading deletes that leave nothing behind, and
//! traversals that agree with the acknowledged history.
//!
//! The workload relates each ordered pair of vertices at most once, with
//! the edge key [`edge_key`]`(from, to)`, and creates each vertex once, so
//! an edge's key names its ends and a vertex or an edge deleted is gone
//! for good. A traversal answer is a set of vertices; with one edge per
//! pair that is the same as the set of adjacency entries it read.
//!
//! Judged against the history and one final read (one transaction after
//! healing: the vertex table, the edge table, and both adjacency lists of
//! every vertex a client tried to create):
//!
//! 1. **No dangling edge:** every edge of the final edge table has both
//!    ends in the final vertex table, and its key names its ends.
//! 2. **Adjacency agrees with the edges:** for every vertex, its outgoing
//!    list reaches exactly the `out` ends of the edges whose `in` it is,
//!    and its incoming list exactly the `in` ends of the edges whose `out`
//!    it is (an entry without its edge, or an edge without an entry, is an
//!    anomaly; so is an entry left under a deleted vertex).
//! 3. **Acknowledged writes stay:** a vertex whose create was acknowledged
//!    and that no client tried to delete is in the final table; an edge
//!    whose `RELATE` was acknowledged, with no delete tried of it or of
//!    either end, is in the final edge table.
//! 4. **Acknowledged deletes stay:** a vertex whose delete was acknowledged
//!    after its create was is not in the final table; an edge whose delete
//!    (or the delete of either end) was acknowledged after its `RELATE` was
//!    is not in the final edge table. (A delete that overlapped the write,
//!    or followed one of unknown outcome, may have found nothing: the write
//!    can take effect after it.)
//! 5. **`RELATE` needs both ends:** no `RELATE` is acknowledged that was
//!    invoked after an acknowledged delete of one of its ends (that
//!    delete itself after the end's acknowledged create).
//! 6. **Traversals during the run:** a one-hop read of vertex `x` (out or
//!    in) returned only vertices `y` whose pair a client tried to relate
//!    before the read completed; it returned `y` if that `RELATE` was
//!    acknowledged before the read was invoked and no delete of the edge,
//!    `x` or `y` was invoked before the read completed; and it did not
//!    return `y` if such a delete was acknowledged, after the `RELATE`
//!    was, before the read was invoked. A read invoked after the
//!    acknowledged delete of `x` or `y` (after its acknowledged create)
//!    did not reach `y`: a vertex deleted for good has no edges (even of
//!    a `RELATE` of unknown outcome: it needs both ends). A two-hop read
//!    returned only vertices reachable over pairs a client tried to
//!    relate.
//! 7. **Nothing from nowhere:** every vertex and edge read was written by a
//!    client (acknowledged, or of unknown outcome).
//!
//! With `--unsafe-skip-edge-cascade` (deleting a vertex leaves its edges)
//! rules 1 and 6 catch it (pinned in the sim's tests).

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Operation, Outcome};

/// A client operation of the graph workload. Vertices are `person:<id>`,
/// edges `knows:<from>-<to>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphOp {
    /// `CREATE person:id`.
    AddVertex {
        /// The new vertex.
        id: String,
    },
    /// `RELATE person:from -> knows:from-to -> person:to`.
    Relate {
        /// The `in` end.
        from: String,
        /// The `out` end.
        to: String,
    },
    /// `DELETE person:id` (its edges go with it).
    DeleteVertex {
        /// The vertex.
        id: String,
    },
    /// `DELETE knows:from-to`, or `DELETE person:from -> knows ->
    /// person:to` with `traversal`.
    DeleteEdge {
        /// The `in` end.
        from: String,
        /// The `out` end.
        to: String,
        /// Written as a traversal rather than by the edge's key.
        traversal: bool,
    },
    /// `RETURN person:id -> knows -> *`.
    Out {
        /// The start.
        id: String,
    },
    /// `RETURN person:id <- knows <- *`.
    In {
        /// The start.
        id: String,
    },
    /// `RETURN person:id -> knows -> person -> knows -> person`.
    TwoHops {
        /// The start.
        id: String,
    },
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphResult {
    /// A write that committed.
    Written,
    /// The vertex keys a traversal reached.
    Reached(BTreeSet<String>),
}

/// An edge as the final read found it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// The edge's key.
    pub key: String,
    /// Its `in` vertex.
    pub from: String,
    /// Its `out` vertex.
    pub to: String,
}

/// The final read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalGraph {
    /// The vertex table.
    pub vertices: BTreeSet<String>,
    /// The edge table.
    pub edges: Vec<Edge>,
    /// Per vertex a client tried to create: what its outgoing list reaches.
    pub out: BTreeMap<String, BTreeSet<String>>,
    /// Per vertex a client tried to create: what its incoming list reaches.
    pub incoming: BTreeMap<String, BTreeSet<String>>,
}

/// The key of the edge from `from` to `to`.
pub fn edge_key(from: &str, to: &str) -> String {
    format!("{from}-{to}")
}

type GraphOperation = Operation<GraphOp, GraphResult>;

/// What the history says of each vertex and edge.
#[derive(Default)]
struct Writes<'h> {
    /// Vertex -> its create, unless it definitely failed.
    created: BTreeMap<&'h str, &'h GraphOperation>,
    /// Vertex -> the deletes tried of it.
    vertex_deletes: BTreeMap<&'h str, Vec<&'h GraphOperation>>,
    /// (from, to) -> its `RELATE`, unless it definitely failed.
    related: BTreeMap<(&'h str, &'h str), &'h GraphOperation>,
    /// (from, to) -> the deletes tried of the edge itself.
    edge_deletes: BTreeMap<(&'h str, &'h str), Vec<&'h GraphOperation>>,
}

impl<'h> Writes<'h> {
    fn of(history: &'h [GraphOperation]) -> Writes<'h> {
        let mut writes = Writes::default();
        for op in history {
            let failed = matches!(op.outcome, Outcome::Fail(_));
            match &op.op {
                GraphOp::AddVertex { id } if !failed => {
                    writes.created.insert(id, op);
                }
                GraphOp::Relate { from, to } if !failed => {
                    writes.related.insert((from, to), op);
                }
                GraphOp::DeleteVertex { id } => {
                    writes.vertex_deletes.entry(id).or_default().push(op);
                }
                GraphOp::DeleteEdge { from, to, .. } => {
                    writes.edge_deletes.entry((from, to)).or_default().push(op);
                }
                _ => {}
            }
        }
        writes
    }

    /// Every delete that takes the edge `(from, to)`: of itself or of
    /// either end.
    fn deletes_of_edge(&self, from: &str, to: &str) -> Vec<&'h GraphOperation> {
        let mut deletes: Vec<&GraphOperation> = Vec::new();
        deletes.extend(self.edge_deletes.get(&(from, to)).into_iter().flatten());
        for end in [from, to] {
            deletes.extend(self.vertex_deletes.get(end).into_iter().flatten());
        }
        deletes
    }

    /// Whether vertex `id` was certainly deleted for good: a delete
    /// acknowledged after its create was.
    fn vertex_gone(&self, id: &str) -> Option<&'h GraphOperation> {
        let create = self.created.get(id).filter(|op| op.outcome.is_ok())?;
        self.vertex_deletes
            .get(id)?
            .iter()
            .copied()
            .find(|delete| delete.outcome.is_ok() && create.precedes(delete))
    }

    /// An acknowledged delete that took the edge `(from, to)` for good:
    /// after its acknowledged `RELATE`.
    fn edge_gone(&self, from: &str, to: &str) -> Option<&'h GraphOperation> {
        let relate = self
            .related
            .get(&(from, to))
            .filter(|op| op.outcome.is_ok())?;
        self.deletes_of_edge(from, to)
            .into_iter()
            .find(|delete| delete.outcome.is_ok() && relate.precedes(delete))
    }
}

/// Every broken rule (see the module documentation), worded.
pub fn check_graph(history: &[GraphOperation], last: &FinalGraph) -> Vec<String> {
    let writes = Writes::of(history);
    let mut anomalies = Vec::new();
    check_relates(history, &writes, &mut anomalies);
    for op in history {
        if let (Some(id), Outcome::Ok(GraphResult::Reached(reached))) = (start_of(op), &op.outcome)
        {
            check_read(op, id, reached, &writes, &mut anomalies);
        }
    }
    check_final(last, &writes, &mut anomalies);
    anomalies
}

/// Rule 5 and rule 7 for relates: no acknowledged `RELATE` to a vertex
/// deleted before it, nor of a vertex no client created.
fn check_relates(history: &[GraphOperation], writes: &Writes, anomalies: &mut Vec<String>) {
    for op in history {
        let (GraphOp::Relate { from, to }, Outcome::Ok(_)) = (&op.op, &op.outcome) else {
            continue;
        };
        for end in [from, to] {
            if !writes.created.contains_key(end.as_str()) {
                anomalies.push(format!(
                    "RELATE {from} -> {to} was acknowledged, and no client created {end}"
                ));
            }
            if let Some(delete) = writes.vertex_gone(end) {
                if delete.precedes(op) {
                    anomalies.push(format!(
                        "RELATE {from} -> {to} was acknowledged after the delete of {end} was \
                         ({delete:?})"
                    ));
                }
            }
        }
    }
}

/// The start of a traversal read.
fn start_of(op: &GraphOperation) -> Option<&str> {
    match &op.op {
        GraphOp::Out { id } | GraphOp::In { id } | GraphOp::TwoHops { id } => Some(id),
        _ => None,
    }
}

/// Rules 6 and 7 for one acknowledged traversal read of `x`.
fn check_read(
    read: &GraphOperation,
    x: &str,
    reached: &BTreeSet<String>,
    writes: &Writes,
    anomalies: &mut Vec<String>,
) {
    // A pair could hold an edge during the read if its RELATE was invoked
    // before the read completed (an unknown outcome counts at infinity).
    let tried_before = |from: &str, to: &str| {
        writes
            .related
            .get(&(from, to))
            .is_some_and(|relate| relate.invoke_us <= read.complete_us)
    };
    let pair = |y: &str| -> (String, String) {
        match read.op {
            GraphOp::In { .. } => (y.to_string(), x.to_string()),
            _ => (x.to_string(), y.to_string()),
        }
    };
    // A vertex deleted for good has no edge from then on: a delete of it
    // took its edges, and `RELATE` refuses a missing end.
    for vertex in std::iter::once(x).chain(reached.iter().map(String::as_str)) {
        if let Some(delete) = writes.vertex_gone(vertex) {
            if delete.precedes(read) && !reached.is_empty() {
                anomalies.push(format!(
                    "a read of {x} reached {reached:?} after {vertex} was deleted ({delete:?}): \
                     {read:?}"
                ));
            }
        }
    }
    if let GraphOp::TwoHops { .. } = read.op {
        for z in reached {
            let via = writes
                .related
                .keys()
                .any(|&(a, y)| a == x && tried_before(x, y) && tried_before(y, z));
            if !via {
                anomalies.push(format!(
                    "a two-hop read from {x} reached {z}, over no pairs a client related: {read:?}"
                ));
            }
        }
        return;
    }
    for y in reached {
        let (from, to) = pair(y);
        if !tried_before(&from, &to) {
            anomalies.push(format!(
                "a read of {x} reached {y}, and no client related {from} -> {to} before: {read:?}"
            ));
        }
        if let Some(delete) = writes.edge_gone(&from, &to) {
            if delete.precedes(read) {
                anomalies.push(format!(
                    "a read of {x} reached {y} after the edge {from} -> {to} was deleted \
                     ({delete:?}): {read:?}"
                ));
            }
        }
    }
    // Acknowledged edges that nothing may have deleted must be seen.
    for (&(from, to), relate) in &writes.related {
        let y = match read.op {
            GraphOp::Out { .. } if from == x => to,
            GraphOp::In { .. } if to == x => from,
            _ => continue,
        };
        let deleted_maybe = writes
            .deletes_of_edge(from, to)
            .iter()
            .any(|delete| delete.invoke_us <= read.complete_us);
        if relate.outcome.is_ok() && relate.precedes(read) && !deleted_maybe && !reached.contains(y)
        {
            anomalies.push(format!(
                "a read of {x} missed {y}: RELATE {from} -> {to} was acknowledged before it, \
                 and nothing deleted it: {read:?}"
            ));
        }
    }
}

/// Rules 1 to 4 and 7 on the final read.
fn check_final(last: &FinalGraph, writes: &Writes, anomalies: &mut Vec<String>) {
    for vertex in &last.vertices {
        if !writes.created.contains_key(vertex.as_str()) {
            anomalies.push(format!(
                "the final vertex table holds {vertex}, which no client created"
            ));
        }
        if let Some(delete) = writes.vertex_gone(vertex) {
            anomalies.push(format!(
                "the final vertex table holds {vertex}, deleted after its create ({delete:?})"
            ));
        }
    }
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut incoming: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut present = BTreeSet::new();
    for edge in &last.edges {
        let (from, to) = (edge.from.as_str(), edge.to.as_str());
        present.insert((from, to));
        out.entry(from).or_default().insert(to);
        incoming.entry(to).or_default().insert(from);
        if edge.key != edge_key(from, to) {
            anomalies.push(format!("edge {edge:?}: its key does not name its ends"));
        }
        for end in [from, to] {
            if !last.vertices.contains(end) {
                anomalies.push(format!(
                    "dangling edge {}: its end {end} is not in the vertex table",
                    edge.key
                ));
            }
        }
        if !writes.related.contains_key(&(from, to)) {
            anomalies.push(format!(
                "the final edge table holds {edge:?}, which no client related"
            ));
        }
        if let Some(delete) = writes.edge_gone(from, to) {
            anomalies.push(format!(
                "the final edge table holds {}, deleted after its RELATE ({delete:?})",
                edge.key
            ));
        }
    }
    let empty = BTreeSet::new();
    for (lists, edges, side) in [
        (&last.out, &out, "outgoing"),
        (&last.incoming, &incoming, "incoming"),
    ] {
        for (vertex, listed) in lists {
            let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
            let expected = edges.get(vertex.as_str()).unwrap_or(&empty);
            if listed != *expected {
                anomalies.push(format!(
                    "the {side} adjacency list of {vertex} reaches {listed:?}, its edges {expected:?}"
                ));
            }
        }
        for vertex in edges.keys() {
            if !lists.contains_key(*vertex) {
                anomalies.push(format!(
                    "an edge of {vertex} ({side}), which the final read did not list"
                ));
            }
        }
    }
    for (id, create) in &writes.created {
        let delete_tried = writes.vertex_deletes.contains_key(id);
        if create.outcome.is_ok() && !delete_tried && !last.vertices.contains(*id) {
            anomalies.push(format!(
                "the create of {id} was acknowledged, no delete was tried, and it is gone"
            ));
        }
    }
    for (&(from, to), relate) in &writes.related {
        let delete_tried = !writes.deletes_of_edge(from, to).is_empty();
        if relate.outcome.is_ok() && !delete_tried && !present.contains(&(from, to)) {
            anomalies.push(format!(
                "RELATE {from} -> {to} was acknowledged, no delete of it or its ends was tried, \
                 and the edge is gone"
            ));
        }
    }
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
