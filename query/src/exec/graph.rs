//! Traversals: `a -> edge -> b` from start records, step by step, over
//! the adjacency entries of `keys.rs` (`#out` / `#in`); following the
//! edges of one step from one record is in `adjacency.rs`.
//!
//! Each step takes the walks so far (a record, and the aliases bound on
//! the way) to the records at the other end of the step's edges that the
//! step's vertex pattern admits. Walks are kept once each, in the order
//! they were first reached (from each record, in the order of the records
//! its edges reach), so results do not depend on generated edge keys. Depth levels
//! (`is_a[0..2]`) walk breadth first from each record with a visited set:
//! a record counts at the level of its shortest path and is reached once,
//! so cycles end. Every record a traversal reaches counts against
//! [`TRAVERSAL_VISITS_MAX`].

use std::collections::BTreeSet;

use super::eval::{evaluate, record_key};
use super::runner::Runner;
use super::store::{decode, TxnStore};
use super::ExecError;
use crate::ast::{
    EdgeDirection, EdgeSelector, Expr, Graph, GraphStep, Ident, Span, Vertex, VertexKind,
};
use crate::value::{RecordId, Value};

/// Most records one traversal may reach (start records, and each record
/// each step reaches); a larger neighbourhood is an error rather than an
/// unbounded read.
pub const TRAVERSAL_VISITS_MAX: usize = 100_000;

/// Aliases bound on a walk, in the order bound (a later one wins).
pub(super) type Bindings = Vec<(String, Value)>;

/// One walk of a traversal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Walk {
    /// The record reached.
    pub(super) vertex: RecordId,
    /// The edge that reached it, kept on the last step for `DELETE`.
    pub(super) edge: Option<RecordId>,
    /// `AS` names bound so far, each to a record id.
    pub(super) bindings: Bindings,
}

/// One edge followed from a record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Hop {
    pub(super) edge: RecordId,
    pub(super) vertex: RecordId,
    pub(super) bindings: Bindings,
}

/// A step's vertex pattern, evaluated once for the step.
enum Pattern {
    Any,
    Table(String),
    Ids(BTreeSet<RecordId>),
    List(Vec<Matcher>),
}

struct Matcher {
    pattern: Pattern,
    condition: Option<Expr>,
    alias: Option<String>,
}

/// Counts records reached against [`TRAVERSAL_VISITS_MAX`].
pub(super) struct Budget {
    visits: usize,
    span: Span,
}

impl Budget {
    pub(super) fn visit(&mut self) -> Result<(), ExecError> {
        self.visits += 1;
        if self.visits > TRAVERSAL_VISITS_MAX {
            return Err(ExecError::TooLarge {
                what: "the number of records one traversal reaches".into(),
                limit: TRAVERSAL_VISITS_MAX,
                span: self.span,
            });
        }
        Ok(())
    }
}

impl<S: TxnStore> Runner<'_, '_, '_, S> {
    /// Walks `graph` from its start (the current record `document` when it
    /// has none). With `keep_edges`, each walk keeps the last step's edge.
    pub(super) fn traverse(
        &mut self,
        graph: &Graph,
        document: &Value,
        keep_edges: bool,
    ) -> Result<Vec<Walk>, ExecError> {
        let span = graph.steps.first().map_or(self.span, |step| step.span);
        let mut budget = Budget { visits: 0, span };
        for step in &graph.steps {
            self.check_edge_tables(&step.edge)?;
        }
        let walks = match &graph.start {
            Some(start) => self.start_walks(start, graph.steps.first(), &mut budget)?,
            None => match document.field("id") {
                Value::RecordId(id) => vec![walk(id)],
                _ => {
                    return Err(ExecError::Invalid {
                        message: "a traversal without a start (`->edge->b`) starts at the \
                                  current record, and there is none here"
                            .into(),
                        span,
                    })
                }
            },
        };
        self.walk_steps(walks, &graph.steps, keep_edges, &mut budget)
    }

    fn walk_steps(
        &mut self,
        mut walks: Vec<Walk>,
        steps: &[GraphStep],
        keep_edges: bool,
        budget: &mut Budget,
    ) -> Result<Vec<Walk>, ExecError> {
        let last = steps.len().saturating_sub(1);
        for (index, step) in steps.iter().enumerate() {
            let keep_edge = keep_edges && index == last;
            walks = self.take_step(walks, step, keep_edge, budget)?;
        }
        Ok(walks)
    }

    /// The records a traversal in a vertex pattern stands for. One that
    /// starts at `*` is a predicate on the record in place of the `*`
    /// (upstream: `(* -> is_a -> person)` is "any record that is a
    /// person"): the start records from which its steps reach something.
    /// Any other stands for the records it reaches.
    pub(super) fn graph_vertices(&mut self, graph: &Graph) -> Result<Vec<Walk>, ExecError> {
        let subject = matches!(
            &graph.start,
            Some(Vertex {
                kind: VertexKind::Any,
                ..
            })
        );
        if !subject {
            return self.traverse(graph, &Value::None, false);
        }
        let span = graph.steps.first().map_or(self.span, |step| step.span);
        let mut budget = Budget { visits: 0, span };
        for step in &graph.steps {
            self.check_edge_tables(&step.edge)?;
        }
        let start = graph.start.as_ref().expect("a subject start");
        let mut subjects = Vec::new();
        for candidate in self.start_walks(start, graph.steps.first(), &mut budget)? {
            let reached =
                self.walk_steps(vec![candidate.clone()], &graph.steps, false, &mut budget)?;
            if let Some(first) = reached.into_iter().next() {
                // The candidate, with the aliases its walk bound.
                subjects.push(Walk {
                    vertex: candidate.vertex,
                    edge: None,
                    bindings: first.bindings,
                });
            }
        }
        Ok(subjects)
    }

    /// The value of a traversal in an expression: the records reached,
    /// each once, in the order first reached.
    pub(super) fn traversal_value(
        &mut self,
        graph: &Graph,
        document: &Value,
    ) -> Result<Value, ExecError> {
        let mut seen = BTreeSet::new();
        let mut ids = Vec::new();
        for walk in self.traverse(graph, document, false)? {
            if seen.insert(walk.vertex.clone()) {
                ids.push(Value::RecordId(walk.vertex));
            }
        }
        Ok(Value::Array(ids))
    }

    /// The rows of `FROM a -> e -> b`: each record reached (or, with
    /// `edges`, each last edge followed), with the walk's aliases as
    /// fields holding record ids.
    pub(super) fn traversal_rows(
        &mut self,
        graph: &Graph,
        edges: bool,
    ) -> Result<Vec<Value>, ExecError> {
        let mut rows = Vec::new();
        let mut seen = BTreeSet::new();
        for walk in self.traverse(graph, &Value::None, edges)? {
            let id = match (edges, walk.edge) {
                (true, Some(edge)) => edge,
                (true, None) => continue,
                (false, _) => walk.vertex,
            };
            if !seen.insert((id.clone(), walk.bindings.clone())) {
                continue;
            }
            let Value::Object(mut row) = self.fetch(&id)? else {
                continue;
            };
            for (name, value) in walk.bindings {
                row.insert(name, value);
            }
            rows.push(Value::Object(row));
        }
        Ok(rows)
    }

    /// Every table a selector names must be an edge table (or undefined,
    /// outside strict mode).
    fn check_edge_tables(&mut self, selector: &EdgeSelector) -> Result<(), ExecError> {
        match selector {
            EdgeSelector::Table(table) | EdgeSelector::Not(table) => {
                self.edge_table(&table.name, false).map(|_| ())
            }
            EdgeSelector::And(left, right) | EdgeSelector::Or(left, right) => {
                self.check_edge_tables(left)?;
                self.check_edge_tables(right)
            }
        }
    }

    /// The walks a start pattern begins with.
    fn start_walks(
        &mut self,
        vertex: &Vertex,
        first_step: Option<&GraphStep>,
        budget: &mut Budget,
    ) -> Result<Vec<Walk>, ExecError> {
        let walks = match &vertex.kind {
            VertexKind::Any => {
                let Some(step) = first_step else {
                    return Err(ExecError::Invalid {
                        message: "`*` starts a traversal only before a step".into(),
                        span: vertex.span,
                    });
                };
                self.edge_ends(step)?.into_iter().map(walk).collect()
            }
            VertexKind::Table(table) => {
                let range = self.database(table.span)?.table_range(&table.name);
                let mut walks = Vec::new();
                for (key, bytes) in self.store.scan(&range, usize::MAX, table.span)? {
                    if let Value::RecordId(id) = decode(&key, &bytes)?.field("id") {
                        walks.push(walk(id));
                    }
                }
                walks
            }
            VertexKind::Record { table, key } => {
                let key = record_key(key, &Value::None, self, vertex.span)?;
                vec![walk(RecordId::new(table.name.clone(), key))]
            }
            VertexKind::List(items) => {
                let mut walks = Vec::new();
                for item in items {
                    walks.extend(self.start_walks(item, first_step, budget)?);
                }
                walks
            }
            VertexKind::Graph(graph) => self.graph_vertices(graph)?,
            VertexKind::Value(expr) => self.record_ids(expr)?.into_iter().map(walk).collect(),
        };
        let mut kept = Vec::new();
        let mut seen = BTreeSet::new();
        for mut walk in walks {
            if let Some(condition) = &vertex.condition {
                if !self.holds(condition, &walk.vertex)? {
                    continue;
                }
            }
            if let Some(alias) = &vertex.alias {
                let id = Value::RecordId(walk.vertex.clone());
                walk.bindings.push((alias.name.clone(), id));
            }
            if seen.insert(walk.clone()) {
                budget.visit()?;
                kept.push(walk);
            }
        }
        Ok(kept)
    }

    /// For `* -> e -> ...`: the records at the near end of the first
    /// step's edges, read from the edge tables themselves.
    fn edge_ends(&mut self, step: &GraphStep) -> Result<Vec<RecordId>, ExecError> {
        let mut tables = Vec::new();
        if !named_tables(&step.edge, &mut tables) {
            return Err(ExecError::Invalid {
                message: "a traversal from `*` needs its first step to name its edge tables \
                          (not NOT)"
                    .into(),
                span: step.span,
            });
        }
        let ends: &[&str] = match step.direction {
            EdgeDirection::Out => &["in"],
            EdgeDirection::In => &["out"],
            EdgeDirection::Mutual => &["in", "out"],
        };
        let mut seen = BTreeSet::new();
        let mut ids = Vec::new();
        for table in tables {
            let range = self.database(table.span)?.table_range(&table.name);
            for (key, bytes) in self.store.scan(&range, usize::MAX, table.span)? {
                let edge = decode(&key, &bytes)?;
                for end in ends {
                    if let Value::RecordId(id) = edge.field(end) {
                        if seen.insert(id.clone()) {
                            ids.push(id);
                        }
                    }
                }
            }
        }
        Ok(ids)
    }

    /// The record ids a value holds: a record id, a row with one as `id`
    /// (as `SELECT` returns), or an array of them.
    pub(super) fn record_ids(&mut self, expr: &Expr) -> Result<Vec<RecordId>, ExecError> {
        let items = match evaluate(expr, &Value::None, self)? {
            Value::Array(items) => items,
            other => vec![other],
        };
        items
            .into_iter()
            .map(|item| match item {
                Value::RecordId(id) => Ok(id),
                Value::Object(row) if matches!(row.get("id"), Some(Value::RecordId(_))) => {
                    match row.get("id") {
                        Some(Value::RecordId(id)) => Ok(id.clone()),
                        _ => unreachable!("checked"),
                    }
                }
                other => Err(ExecError::eval(
                    format!(
                        "a graph connects records (such as person:alice), found {other} (a {})",
                        other.kind_name()
                    ),
                    expr.span,
                )),
            })
            .collect()
    }

    /// Whether `condition` holds on the record `id` (false if absent).
    pub(super) fn holds(&mut self, condition: &Expr, id: &RecordId) -> Result<bool, ExecError> {
        let document = self.fetch(id)?;
        if document == Value::None {
            return Ok(false);
        }
        Ok(evaluate(condition, &document, self)?.is_truthy())
    }

    fn take_step(
        &mut self,
        walks: Vec<Walk>,
        step: &GraphStep,
        keep_edge: bool,
        budget: &mut Budget,
    ) -> Result<Vec<Walk>, ExecError> {
        let matcher = self.matcher(&step.vertex)?;
        let mut seen = BTreeSet::new();
        let mut next = Vec::new();
        for walk in walks {
            for hop in self.select_edges(&walk.vertex, step.direction, &step.edge, budget)? {
                let Some(vertex_bindings) = self.admit(&matcher, &hop.vertex)? else {
                    continue;
                };
                let mut bindings = walk.bindings.clone();
                bindings.extend(hop.bindings);
                bindings.extend(vertex_bindings);
                let reached = Walk {
                    vertex: hop.vertex,
                    edge: keep_edge.then_some(hop.edge),
                    bindings,
                };
                if seen.insert(reached.clone()) {
                    budget.visit()?;
                    next.push(reached);
                }
            }
        }
        Ok(next)
    }

    /// A step's vertex pattern, with its records and traversals evaluated.
    fn matcher(&mut self, vertex: &Vertex) -> Result<Matcher, ExecError> {
        let pattern = match &vertex.kind {
            VertexKind::Any => Pattern::Any,
            VertexKind::Table(table) => Pattern::Table(table.name.clone()),
            VertexKind::Record { table, key } => {
                let key = record_key(key, &Value::None, self, vertex.span)?;
                Pattern::Ids(BTreeSet::from([RecordId::new(table.name.clone(), key)]))
            }
            VertexKind::List(items) => Pattern::List(
                items
                    .iter()
                    .map(|item| self.matcher(item))
                    .collect::<Result<_, _>>()?,
            ),
            VertexKind::Graph(graph) => Pattern::Ids(
                self.graph_vertices(graph)?
                    .into_iter()
                    .map(|walk| walk.vertex)
                    .collect(),
            ),
            VertexKind::Value(expr) => Pattern::Ids(self.record_ids(expr)?.into_iter().collect()),
        };
        Ok(Matcher {
            pattern,
            condition: vertex.condition.clone(),
            alias: vertex.alias.as_ref().map(|alias| alias.name.clone()),
        })
    }

    /// The aliases `id` binds if `matcher` admits it.
    fn admit(&mut self, matcher: &Matcher, id: &RecordId) -> Result<Option<Bindings>, ExecError> {
        let mut bindings = match &matcher.pattern {
            Pattern::Any => Vec::new(),
            Pattern::Table(table) if *table == id.table => Vec::new(),
            Pattern::Ids(ids) if ids.contains(id) => Vec::new(),
            Pattern::List(items) => {
                let mut admitted = None;
                for item in items {
                    if let Some(bindings) = self.admit(item, id)? {
                        admitted = Some(bindings);
                        break;
                    }
                }
                match admitted {
                    Some(bindings) => bindings,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        if let Some(condition) = &matcher.condition {
            if !self.holds(condition, id)? {
                return Ok(None);
            }
        }
        if let Some(alias) = &matcher.alias {
            bindings.push((alias.clone(), Value::RecordId(id.clone())));
        }
        Ok(Some(bindings))
    }
}

fn walk(vertex: RecordId) -> Walk {
    Walk {
        vertex,
        edge: None,
        bindings: Vec::new(),
    }
}

/// The edge tables a selector follows without `NOT`; false if it has one.
fn named_tables<'g>(selector: &'g EdgeSelector, tables: &mut Vec<&'g Ident>) -> bool {
    match selector {
        EdgeSelector::Table(table) => {
            tables.push(&table.name);
            true
        }
        EdgeSelector::Not(_) => false,
        EdgeSelector::And(left, right) | EdgeSelector::Or(left, right) => {
            named_tables(left, tables) && named_tables(right, tables)
        }
    }
}
