//! zeroql graphs under faults: vertices and edges related and deleted
//! through the nodes' own query loop ([`super::query_client`]), so every
//! fault of the run reaches `RELATE`, cascading deletes and traversals.
//!
//! Vertices are `person:<process>v<n>` (each created once), edges
//! `knows:<from>-<to>` (each ordered pair related at most once, so an
//! edge's key names its ends and nothing deleted comes back). A client:
//!
//! - **adds a vertex** (`CREATE person:$id`);
//! - **relates** two vertices it knows of (`RELATE person:$a -> knows:$e
//!   -> person:$b`): refused when an end is missing (deleted, or its create
//!   failed), as `RELATE` reads both ends;
//! - **deletes a vertex**, which deletes its edges and the other ends'
//!   adjacency entries in the same transaction;
//! - **deletes an edge**, by its key or through a traversal (`DELETE
//!   person:$a -> knows -> person:$b`);
//! - **traverses** one hop out, one hop in, or two hops out (`RETURN
//!   person:$id -> knows -> person -> knows -> person`).
//!
//! The tables are defined first, before the run injects faults. After
//! healing, one `BEGIN ... COMMIT` block reads the vertex table, the edge
//! table and both adjacency lists of every vertex a client tried to
//! create; the checker ([`crate::check::graph`]) judges the history
//! against it.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::RngExt;
use zerodb_node::api::{QueryAnswer, QueryErrorKind};
use zerodb_query::value::{codec, Value};
use zerodb_txn::Request;

use super::query_client::{Finished, FollowUp, Next, QueryClients};
use super::{Answer, Call, OutcomeCounts, Verdict, Workload, FINAL_READ_TRIES_MAX};
use crate::check::graph::{check_graph, edge_key, Edge, FinalGraph, GraphOp, GraphResult};
use crate::history::{Micros, Operation, Outcome, ProcessId};

/// Namespace of the graph workload: strong, partition level `database`
/// (adjacency lists are range reads).
pub const GRAPH_NAMESPACE: &str = "graphs";
/// Database of the graph workload.
pub const DATABASE: &str = "sim";
/// Defines the vertex and the edge table; runs again after an unknown
/// outcome.
pub const SETUP: &str = "DEFINE TABLE IF NOT EXISTS person SCHEMALESS; \
    DEFINE EDGE IF NOT EXISTS knows SCHEMALESS";
/// Tries at drawing a pair of vertices not related before, before the
/// client adds a vertex instead.
const PAIR_DRAWS_MAX: u32 = 8;

/// A recorded graph operation.
pub type GraphOperation = Operation<GraphOp, GraphResult>;

/// What a running query is for.
#[derive(Clone, Debug)]
enum Purpose {
    Setup,
    Op(GraphOp),
    Final(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetupState {
    NotStarted,
    Running,
    Done,
}

/// Graph workload state.
pub struct GraphWorkload {
    setup: SetupState,
    next_vertex: u64,
    /// Vertices whose create may have taken effect, in the order tried.
    vertices: Vec<String>,
    /// Pairs whose `RELATE` may have taken effect.
    edges: Vec<(String, String)>,
    /// Every pair a client tried to relate (never tried again).
    pairs_tried: BTreeSet<(String, String)>,
    queries: QueryClients<Purpose>,
    history: Vec<GraphOperation>,
    final_phase: bool,
    final_wanted: bool,
    final_tries: u32,
    final_state: Option<FinalGraph>,
    final_failures: Vec<String>,
    protocol_errors: Vec<String>,
}

impl GraphWorkload {
    /// A graph workload over an empty namespace; with
    /// `unsafe_skip_edge_cascade` its statements delete vertices without
    /// their edges (test-only: what the checker must catch).
    pub fn new(unsafe_skip_edge_cascade: bool) -> GraphWorkload {
        GraphWorkload {
            setup: SetupState::NotStarted,
            next_vertex: 0,
            vertices: Vec::new(),
            edges: Vec::new(),
            pairs_tried: BTreeSet::new(),
            queries: QueryClients::new(GRAPH_NAMESPACE, DATABASE)
                .with_unsafe_skip_edge_cascade(unsafe_skip_edge_cascade),
            history: Vec::new(),
            final_phase: false,
            final_wanted: false,
            final_tries: 0,
            final_state: None,
            final_failures: Vec::new(),
            protocol_errors: Vec::new(),
        }
    }

    /// The recorded history.
    pub fn history(&self) -> &[GraphOperation] {
        &self.history
    }

    fn finish(&mut self, process: ProcessId, now_us: Micros, finished: Finished<Purpose>) {
        let Finished {
            purpose,
            invoke_us,
            answer,
        } = finished;
        match purpose {
            Purpose::Setup => {
                self.setup = match &answer.error {
                    None => SetupState::Done,
                    Some(error)
                        if matches!(
                            error.kind,
                            QueryErrorKind::Invalid | QueryErrorKind::Internal
                        ) =>
                    {
                        self.protocol_errors
                            .push(format!("setup: {:?}: {}", error.kind, error.message));
                        SetupState::Done
                    }
                    Some(_) => SetupState::NotStarted,
                };
            }
            Purpose::Final(universe) => match answer.error {
                None => match final_of(&answer, &universe) {
                    Ok(state) => self.final_state = Some(state),
                    Err(error) => self.protocol_errors.push(format!("final read: {error}")),
                },
                Some(error) => {
                    self.final_tries += 1;
                    if self.final_tries < FINAL_READ_TRIES_MAX {
                        self.final_wanted = true;
                    } else {
                        self.final_failures.push(format!(
                            "the final read failed {} times, last: {}",
                            self.final_tries, error.message
                        ));
                    }
                }
            },
            Purpose::Op(op) => {
                let outcome = self.outcome(&op, &answer);
                self.learn(&op, &outcome);
                self.history.push(Operation {
                    process,
                    invoke_us,
                    complete_us: now_us,
                    op,
                    outcome,
                });
            }
        }
    }

    /// Keeps the vertices and edges the clients draw from: what may exist.
    /// A vertex or an edge whose delete was acknowledged is dropped, so that
    /// fewer statements go to records that are gone (some still do: a
    /// delete that overlapped a write may have found nothing to delete).
    fn learn(&mut self, op: &GraphOp, outcome: &Outcome<GraphResult>) {
        let failed = matches!(outcome, Outcome::Fail(_));
        match op {
            GraphOp::AddVertex { id } if !failed => self.vertices.push(id.clone()),
            GraphOp::Relate { from, to } if !failed => {
                self.edges.push((from.clone(), to.clone()));
            }
            GraphOp::DeleteVertex { id } if outcome.is_ok() => {
                self.vertices.retain(|vertex| vertex != id);
                self.edges.retain(|(from, to)| from != id && to != id);
            }
            GraphOp::DeleteEdge { from, to, .. } if outcome.is_ok() => {
                self.edges.retain(|edge| (&edge.0, &edge.1) != (from, to));
            }
            _ => {}
        }
    }

    /// The outcome a client records for `op` from the query's answer.
    fn outcome(&mut self, op: &GraphOp, answer: &QueryAnswer) -> Outcome<GraphResult> {
        if let Some(error) = &answer.error {
            return match error.kind {
                QueryErrorKind::Violation
                | QueryErrorKind::Conflict
                | QueryErrorKind::Unavailable
                | QueryErrorKind::Refused => {
                    Outcome::Fail(format!("{:?}: {}", error.kind, error.message))
                }
                // `RELATE` reads both ends and refuses a missing one.
                QueryErrorKind::Invalid
                    if matches!(op, GraphOp::Relate { .. })
                        && error.message.contains("the record does not exist") =>
                {
                    Outcome::Fail(format!("{:?}: {}", error.kind, error.message))
                }
                QueryErrorKind::OutcomeUnknown => Outcome::Info(error.message.clone()),
                QueryErrorKind::Invalid
                | QueryErrorKind::Internal
                | QueryErrorKind::UnknownStatement => {
                    self.protocol_errors
                        .push(format!("{op:?}: {:?}: {}", error.kind, error.message));
                    Outcome::Info(error.message.clone())
                }
            };
        }
        match op {
            GraphOp::Out { .. } | GraphOp::In { .. } | GraphOp::TwoHops { .. } => {
                match reached_of(&answer.results, 0) {
                    Ok(reached) => Outcome::Ok(GraphResult::Reached(reached)),
                    Err(error) => {
                        self.protocol_errors.push(format!("{op:?}: {error}"));
                        Outcome::Info(error)
                    }
                }
            }
            _ => Outcome::Ok(GraphResult::Written),
        }
    }

    /// A pair of known vertices not related before, if one is found.
    fn fresh_pair(&self, rng: &mut StdRng) -> Option<(String, String)> {
        if self.vertices.is_empty() {
            return None;
        }
        for _ in 0..PAIR_DRAWS_MAX {
            let from = &self.vertices[rng.random_range(0..self.vertices.len())];
            let to = &self.vertices[rng.random_range(0..self.vertices.len())];
            let pair = (from.clone(), to.clone());
            if !self.pairs_tried.contains(&pair) {
                return Some(pair);
            }
        }
        None
    }

    /// The next operation of the workload phase.
    fn draw(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) {
        let roll = rng.random_range(0..100);
        let known = (!self.vertices.is_empty())
            .then(|| self.vertices[rng.random_range(0..self.vertices.len())].clone());
        let edge = (!self.edges.is_empty())
            .then(|| self.edges[rng.random_range(0..self.edges.len())].clone());
        let pair = match roll {
            15..45 => self.fresh_pair(rng),
            _ => None,
        };
        let (op, text, params) = match (roll, known, pair, edge) {
            (15..45, _, Some((from, to)), _) => {
                self.pairs_tried.insert((from.clone(), to.clone()));
                let params = vec![
                    ("a", Value::Str(from.clone())),
                    ("b", Value::Str(to.clone())),
                    ("e", Value::Str(edge_key(&from, &to))),
                ];
                let text = "RELATE person:$a -> knows:$e -> person:$b";
                (GraphOp::Relate { from, to }, text, params)
            }
            (45..55, Some(id), _, _) => {
                let params = vec![("id", Value::Str(id.clone()))];
                (GraphOp::DeleteVertex { id }, "DELETE person:$id", params)
            }
            (55..65, _, _, Some((from, to))) => {
                let traversal = rng.random_bool(0.5);
                let (text, params) = if traversal {
                    let params = vec![
                        ("a", Value::Str(from.clone())),
                        ("b", Value::Str(to.clone())),
                    ];
                    ("DELETE person:$a -> knows -> person:$b", params)
                } else {
                    let params = vec![("e", Value::Str(edge_key(&from, &to)))];
                    ("DELETE knows:$e", params)
                };
                let op = GraphOp::DeleteEdge {
                    from,
                    to,
                    traversal,
                };
                (op, text, params)
            }
            (65..80, Some(id), _, _) => {
                let params = vec![("id", Value::Str(id.clone()))];
                (
                    GraphOp::Out { id },
                    "RETURN person:$id -> knows -> *",
                    params,
                )
            }
            (80..92, Some(id), _, _) => {
                let params = vec![("id", Value::Str(id.clone()))];
                (
                    GraphOp::In { id },
                    "RETURN person:$id <- knows <- *",
                    params,
                )
            }
            (92.., Some(id), _, _) => {
                let params = vec![("id", Value::Str(id.clone()))];
                let text = "RETURN person:$id -> knows -> person -> knows -> person";
                (GraphOp::TwoHops { id }, text, params)
            }
            _ => {
                let id = format!("{process}v{}", self.next_vertex);
                self.next_vertex += 1;
                let params = vec![("id", Value::Str(id.clone()))];
                (GraphOp::AddVertex { id }, "CREATE person:$id", params)
            }
        };
        self.queries
            .start(process, now_us, Purpose::Op(op), text.to_string(), params);
    }

    /// The call of `process`'s running query, or `None` when it finished.
    fn call_of_running(&mut self, process: ProcessId, now_us: Micros) -> Option<Call> {
        match self.queries.next(process, now_us) {
            Next::Call(call) => Some(call),
            Next::Finished(finished) => {
                self.finish(process, now_us, finished);
                None
            }
            Next::Nothing => None,
        }
    }

    /// Every vertex a client tried to create, in a stable order.
    fn universe(&self) -> Vec<String> {
        let mut universe: Vec<String> = self
            .history
            .iter()
            .filter_map(|op| match &op.op {
                GraphOp::AddVertex { id } => Some(id.clone()),
                _ => None,
            })
            .collect();
        universe.sort();
        universe.dedup();
        universe
    }
}

/// The final block: the vertex table, the edge table, then both adjacency
/// lists of each vertex of `universe`, in one transaction.
fn final_text(universe: &[String]) -> String {
    let mut text = String::from("BEGIN; SELECT id FROM person; SELECT * FROM knows; ");
    for vertex in universe {
        text.push_str(&format!(
            "RETURN [person:{vertex} -> knows -> *, person:{vertex} <- knows <- *]; "
        ));
    }
    text.push_str("COMMIT");
    text
}

fn final_of(answer: &QueryAnswer, universe: &[String]) -> Result<FinalGraph, String> {
    let expected = 2 + universe.len();
    if answer.results.len() != expected {
        return Err(format!(
            "{} results, expected {expected}",
            answer.results.len()
        ));
    }
    let mut state = FinalGraph::default();
    for row in rows_of(&answer.results, 0)? {
        state.vertices.insert(person_key(&row.field("id"))?);
    }
    for row in rows_of(&answer.results, 1)? {
        let key = match row.field("id") {
            Value::RecordId(id) if id.table == "knows" => match *id.key {
                Value::Str(key) => key,
                other => return Err(format!("edge key {other}")),
            },
            other => return Err(format!("a row of knows without a knows id: {other}")),
        };
        state.edges.push(Edge {
            key,
            from: person_key(&row.field("in"))?,
            to: person_key(&row.field("out"))?,
        });
    }
    for (at, vertex) in universe.iter().enumerate() {
        let [out, incoming] = rows_of(&answer.results, 2 + at)?
            .try_into()
            .map_err(|rows: Vec<Value>| format!("{vertex}: {} lists, not 2", rows.len()))?;
        state.out.insert(vertex.clone(), reached_in(&out)?);
        state
            .incoming
            .insert(vertex.clone(), reached_in(&incoming)?);
    }
    Ok(state)
}

/// The items of result `index`, an array.
fn rows_of(results: &[Vec<u8>], index: usize) -> Result<Vec<Value>, String> {
    let bytes = results
        .get(index)
        .ok_or_else(|| format!("no result {index}"))?;
    match codec::decode(bytes).map_err(|error| format!("result {index}: {error}"))? {
        Value::Array(items) => Ok(items),
        other => Err(format!("result {index} is {other}, not an array")),
    }
}

/// The vertex keys of result `index`, an array of `person` ids.
fn reached_of(results: &[Vec<u8>], index: usize) -> Result<BTreeSet<String>, String> {
    reached_in(&Value::Array(rows_of(results, index)?))
}

fn reached_in(value: &Value) -> Result<BTreeSet<String>, String> {
    match value {
        Value::Array(ids) => ids.iter().map(person_key).collect(),
        other => Err(format!("{other} is not a list of vertices")),
    }
}

/// The key of a `person` record id.
fn person_key(value: &Value) -> Result<String, String> {
    match value {
        Value::RecordId(id) if id.table == "person" => match &*id.key {
            Value::Str(key) => Ok(key.clone()),
            other => Err(format!("vertex key {other}")),
        },
        other => Err(format!("{other} is not a person")),
    }
}

impl Workload for GraphWorkload {
    fn invoke(
        &mut self,
        _process: ProcessId,
        _now_us: Micros,
        _rng: &mut StdRng,
    ) -> Option<Request> {
        unreachable!("the graph workload is driven through `call`")
    }

    fn call(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Call> {
        if !self.queries.is_running(process) {
            if self.final_phase {
                if !self.final_wanted || !self.queries.idle() {
                    return None;
                }
                self.final_wanted = false;
                let universe = self.universe();
                let text = final_text(&universe);
                let purpose = Purpose::Final(universe);
                self.queries
                    .start(process, now_us, purpose, text, Vec::new());
            } else {
                match self.setup {
                    SetupState::Done => self.draw(process, now_us, rng),
                    SetupState::Running => return None,
                    SetupState::NotStarted => {
                        self.setup = SetupState::Running;
                        let text = SETUP.to_string();
                        self.queries
                            .start(process, now_us, Purpose::Setup, text, Vec::new());
                    }
                }
            }
        }
        self.call_of_running(process, now_us)
    }

    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request> {
        match self.queries.complete(process, now_us, answer) {
            FollowUp::Send(request) => Some(request),
            FollowUp::Finished(finished) => {
                self.finish(process, now_us, finished);
                None
            }
            FollowUp::Wait => None,
        }
    }

    fn recorded(&self) -> usize {
        self.history.len()
    }

    fn set_up(&self) -> bool {
        self.setup == SetupState::Done
    }

    fn begin_final(&mut self) {
        self.final_phase = true;
        self.final_wanted = true;
    }

    fn final_done(&self) -> bool {
        self.final_phase
            && self.queries.idle()
            && (self.final_state.is_some() || !self.final_failures.is_empty())
    }

    fn check(&self) -> Verdict {
        let mut verdict = Verdict::default();
        verdict.anomalies.extend(
            (self.queries.protocol_errors.iter())
                .chain(&self.protocol_errors)
                .chain(&self.final_failures)
                .map(|e| format!("graph: {e}")),
        );
        if let Some(state) = &self.final_state {
            verdict.anomalies.extend(
                check_graph(&self.history, state)
                    .into_iter()
                    .map(|a| format!("graph: {a}")),
            );
        }
        verdict
    }

    fn outcomes(&self) -> OutcomeCounts {
        OutcomeCounts::of(&self.history)
    }

    fn history_text(&self) -> String {
        super::render(&self.history)
    }
}
