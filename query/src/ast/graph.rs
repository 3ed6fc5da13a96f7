//! Graph syntax: traversals (`a -> edge -> b`) and `RELATE`.
//!
//! A traversal starts at a set of vertices and takes steps; each step
//! follows edges of the named edge tables in one direction and keeps the
//! vertices at their other end that the step's vertex pattern admits.

use super::{Data, Expr, Ident, RecordKey, Span};

/// `start -> edge -> vertex ...`: the vertices reached by the last step.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Where the walk starts; none: at the current record (`->likes->x`
    /// inside `SELECT`, as SurrealQL).
    pub start: Option<Vertex>,
    /// The steps in order; never empty.
    pub steps: Vec<GraphStep>,
}

/// One `arrow edge arrow vertex`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphStep {
    /// Which way the edges are followed.
    pub direction: EdgeDirection,
    /// Which edges.
    pub edge: EdgeSelector,
    /// Which vertices at their other end are kept.
    pub vertex: Vertex,
    /// From the first arrow to the end of the vertex.
    pub span: Span,
}

/// The arrows around a step's edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeDirection {
    /// `-> e ->`: edges whose `in` is the vertex; reaches their `out`.
    Out,
    /// `<- e <-`: edges whose `out` is the vertex; reaches their `in`.
    In,
    /// `-> e <-` (or `<- e ->`), upstream's reflection: vertices `w` with
    /// an edge `v -> w` and an edge `w -> v` of the edge tables.
    Mutual,
}

/// Which edges a step follows: a table, or upstream's combinations.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeSelector {
    /// One edge table, with optional depth levels, filter and alias.
    Table(EdgeTable),
    /// `NOT e`: one hop along any edge table but `e`.
    Not(EdgeTable),
    /// `a AND b`: vertices reached through both.
    And(Box<EdgeSelector>, Box<EdgeSelector>),
    /// `a OR b`: vertices reached through either.
    Or(Box<EdgeSelector>, Box<EdgeSelector>),
}

/// `name[levels] AS alias` or `(name[levels] WHERE cond AS alias)`.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeTable {
    /// The edge table.
    pub name: Ident,
    /// `[n]`, `[a..b]`, `[a..=b]`: how many hops (level `n` is `n + 1`
    /// hops, as upstream: `bird -> is_a[1] -> thing` is
    /// `bird -> is_a -> * -> is_a -> thing`); one hop when absent.
    pub levels: Option<Levels>,
    /// `WHERE` on each edge record followed.
    pub condition: Option<Expr>,
    /// `AS name`: the edge's id, a field of each `FROM` row.
    pub alias: Option<Ident>,
}

/// Depth levels, inclusive at both ends: level `n` is `n + 1` hops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// The first level kept.
    pub first: u32,
    /// The last level kept (`first <= last`).
    pub last: u32,
    /// Where they were written.
    pub span: Span,
}

/// A vertex pattern: what a traversal starts at or keeps after a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Vertex {
    /// The pattern.
    pub kind: VertexKind,
    /// `WHERE` on the vertex's record (written inside parentheses).
    pub condition: Option<Expr>,
    /// `AS name`: the vertex's id, a field of each `FROM` row.
    pub alias: Option<Ident>,
    /// Source range.
    pub span: Span,
}

/// Vertex patterns.
#[derive(Debug, Clone, PartialEq)]
pub enum VertexKind {
    /// `*`: any record.
    Any,
    /// `person` (or `person:*`): any record of the table.
    Table(Ident),
    /// `person:tobie`: that record. Never [`RecordKey::Any`].
    Record {
        /// The table.
        table: Ident,
        /// The key.
        key: RecordKey,
    },
    /// `[a, b]`: any of the patterns.
    List(Vec<Vertex>),
    /// `(a -> e -> b)`: the vertices a traversal reaches.
    Graph(Box<Graph>),
    /// `$param`, `(SELECT ...)` or another value: the record ids it holds.
    Value(Box<Expr>),
}

/// `RELATE from -> edge -> to [SET ... | CONTENT ...]`
#[derive(Debug, Clone, PartialEq)]
pub struct RelateStatement {
    /// The `in` records (several: one edge from each).
    pub from: Vertex,
    /// The edge table.
    pub edge: Ident,
    /// A given edge key (`RELATE a -> wrote:1 -> b`); generated when absent.
    pub key: Option<RecordKey>,
    /// The `out` records (several: one edge to each).
    pub to: Vertex,
    /// The edge's fields.
    pub data: Option<Data>,
}
