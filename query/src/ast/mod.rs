//! The syntax tree. Every statement and expression carries the [`Span`] of
//! source text it was parsed from, so later stages (name resolution, the
//! planner) can point errors at the exact text. `Display` (in `print.rs`)
//! writes a canonical form that parses back to the same tree.

use std::fmt;

mod expr;
mod graph;

pub use expr::*;
pub use graph::*;

/// A half-open byte range `start..end` into the source text. Both ends lie
/// on UTF-8 character boundaries and `end <= source.len()`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end, "span {start}..{end} is reversed");
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl fmt::Debug for Span {
    // Compact so that `{:?}` dumps of trees stay readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A name: table, field, index, namespace, database or function segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name as written (backticks removed).
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A whole query: statements separated by `;`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The statements in source order; never empty.
    pub statements: Vec<Statement>,
}

/// One statement with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Which statement.
    pub kind: StatementKind,
    /// Source range, from the first keyword to the last token.
    pub span: Span,
}

/// The statements of zeroql supported so far.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    /// `SELECT ...`
    Select(Box<SelectStatement>),
    /// `CREATE target [data]`
    Create(CreateStatement),
    /// `UPDATE target [WHERE cond] data`
    Update(UpdateStatement),
    /// `DELETE target [WHERE cond]`
    Delete(DeleteStatement),
    /// `RELATE from -> edge -> to [data]`
    Relate(Box<RelateStatement>),
    /// `INSERT INTO table value` (a ZeroDB extension).
    Insert(InsertStatement),
    /// `DEFINE ...`
    Define(DefineStatement),
    /// `REMOVE kind name ...`
    Remove(SchemaTarget),
    /// `DESCRIBE kind name ...` (also written `INFO FOR ...`).
    Describe(SchemaTarget),
    /// `USE [NS x] [DB y]`; at least one is present.
    Use {
        /// Namespace to switch to.
        namespace: Option<Ident>,
        /// Database to switch to.
        database: Option<Ident>,
    },
    /// `LET $name [TYPE t] = value`
    Let {
        /// Parameter name without `$`.
        name: Ident,
        /// Declared type.
        type_sig: Option<TypeSig>,
        /// The value; a statement in parentheses-free form is wrapped in
        /// [`ExprKind::Subquery`].
        value: Expr,
    },
    /// `SET $name op value`: reassign a parameter.
    SetParam {
        /// Parameter name without `$`.
        name: Ident,
        /// `=`, `+=`, ...
        op: AssignOp,
        /// New value or operand.
        value: Expr,
    },
    /// `BEGIN [TRANSACTION]`
    Begin,
    /// `COMMIT [TRANSACTION]`
    Commit,
    /// `CANCEL [TRANSACTION]`
    Cancel,
    /// `RETURN value` (a ZeroDB extension).
    Return(Expr),
    /// `EXPLAIN statement`: plan without running (a ZeroDB extension).
    Explain(Box<Statement>),
    /// A bare expression, such as `person:alice` (select one record).
    Expr(Expr),
}

/// `SELECT fields [OMIT ...] FROM targets` and its optional clauses.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectStatement {
    /// Projected fields; never empty.
    pub fields: Vec<SelectField>,
    /// Fields left out of `*`.
    pub omit: Vec<Expr>,
    /// Tables, record ids, lists or subqueries to read; never empty.
    pub from: Vec<Expr>,
    /// `WHERE` condition.
    pub condition: Option<Expr>,
    /// `WITH INDEX a, b` / `WITH NO INDEX`.
    pub with_index: Option<IndexHint>,
    /// `GROUP BY` expressions.
    pub group_by: Vec<Expr>,
    /// `ORDER BY` items.
    pub order_by: Vec<OrderItem>,
    /// `START [AT] n`
    pub start: Option<Expr>,
    /// `LIMIT [TO] n`
    pub limit: Option<Expr>,
}

/// One projected field.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectField {
    /// `*`
    All(Span),
    /// `expr [AS alias]`
    Expr {
        /// The value.
        expr: Expr,
        /// Output name.
        alias: Option<Ident>,
    },
}

/// An index hint on `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexHint {
    /// `WITH NO INDEX`: scan.
    NoIndex,
    /// `WITH INDEX a, b`
    Indexes(Vec<Ident>),
}

/// One `ORDER BY` item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    /// What to sort by.
    pub expr: Expr,
    /// Direction; ascending unless `DESC` is written.
    pub direction: Direction,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `ASC`
    Ascending,
    /// `DESC`
    Descending,
}

/// `CREATE target [data]`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateStatement {
    /// A table (generated id) or a record id.
    pub target: Expr,
    /// Initial content.
    pub data: Option<Data>,
}

/// `UPDATE target [WHERE cond] data`
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateStatement {
    /// A table or a record id.
    pub target: Expr,
    /// Which records; all of `target` when absent (`WHERE *` is the same).
    pub condition: Option<Expr>,
    /// The change.
    pub data: Data,
}

/// `DELETE target [WHERE cond]`
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteStatement {
    /// A table, a record id, or a traversal (`a -> e -> *`: its last
    /// step's edges are deleted).
    pub target: Expr,
    /// Which records; all of `target` when absent.
    pub condition: Option<Expr>,
}

/// `INSERT INTO table value`
#[derive(Debug, Clone, PartialEq)]
pub struct InsertStatement {
    /// Table to insert into.
    pub table: Ident,
    /// An object or an array of objects.
    pub value: Expr,
}

/// The data clause of `CREATE` and `UPDATE`.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// `SET a = e, b += e`
    Set(Vec<Assignment>),
    /// `SET {..}` on `CREATE`, or `CONTENT value`: the whole document.
    Content(Expr),
    /// `SET {..}` on `UPDATE`, or `MERGE value`: merged into the document.
    Merge(Expr),
    /// `SET (a, b) VALUES (..), (..)`: one record per row (`CREATE` only).
    Values {
        /// Field names.
        columns: Vec<Ident>,
        /// Rows, each as long as `columns`.
        rows: Vec<Vec<Expr>>,
    },
}

/// `field op value` in a `SET` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Field assigned.
    pub field: Ident,
    /// `=`, `+=`, ...
    pub op: AssignOp,
    /// Value or operand.
    pub value: Expr,
}

/// Assignment operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `+=`
    Add,
    /// `-=`
    Subtract,
    /// `*=`
    Multiply,
    /// `/=`
    Divide,
    /// `%=`
    Modulo,
    /// `**=`
    Power,
    /// `&=`
    BitAnd,
    /// `|=`
    BitOr,
    /// `^=`
    BitXor,
    /// `~=`
    BitNot,
    /// `<<=`
    ShiftLeft,
    /// `>>=`
    ShiftRight,
}

/// `DEFINE ...`
#[derive(Debug, Clone, PartialEq)]
pub enum DefineStatement {
    /// `DEFINE NAMESPACE [IF NOT EXISTS] name`
    Namespace {
        /// Namespace name.
        name: Ident,
        /// `IF NOT EXISTS`
        if_not_exists: bool,
    },
    /// `DEFINE DATABASE [IF NOT EXISTS] name [ON [NS] ns]`
    Database {
        /// Database name.
        name: Ident,
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Namespace, when not the current one.
        on_namespace: Option<Ident>,
    },
    /// `DEFINE TABLE|EDGE [IF NOT EXISTS] name [ON [DB] db] [FIELDS ...] [SCHEMAFULL|SCHEMALESS]`
    Table {
        /// Table name.
        name: Ident,
        /// `DEFINE EDGE`: a table of edges, written by `RELATE`.
        edge: bool,
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Database, when not the current one.
        on_database: Option<Ident>,
        /// Fields defined with the table.
        fields: Vec<FieldDefinition>,
        /// Explicit schema mode; upstream zeroql implies it from `FIELDS`.
        schema: Option<SchemaMode>,
    },
    /// `DEFINE FIELD [IF NOT EXISTS] name ON [TABLE] t [clauses]`
    Field {
        /// The field and its clauses.
        field: FieldDefinition,
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Table the field belongs to.
        table: Ident,
        /// Database, when not the current one.
        on_database: Option<Ident>,
    },
    /// `DEFINE INDEX [IF NOT EXISTS] name ON [TABLE] t FIELDS a, b [UNIQUE] [WITH f(..)]`
    Index {
        /// Index name.
        name: Ident,
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Indexed table.
        table: Ident,
        /// Database, when not the current one.
        on_database: Option<Ident>,
        /// Indexed fields, in key order; never empty.
        fields: Vec<Ident>,
        /// `UNIQUE`
        unique: bool,
        /// `WITH index::kind(options)`: a function call expression.
        with: Option<Expr>,
    },
}

/// Schema mode of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaMode {
    /// Only defined fields are allowed.
    Full,
    /// Any field is allowed.
    Less,
}

/// A field with its clauses, in `DEFINE TABLE ... FIELDS` or `DEFINE FIELD`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDefinition {
    /// Field name.
    pub name: Ident,
    /// `TYPE t`
    pub type_sig: Option<TypeSig>,
    /// `VALUE e`: the stored value, computed on write.
    pub value: Option<Expr>,
    /// `ASSERT e`, each of which must hold on write.
    pub asserts: Vec<Expr>,
    /// `READONLY`
    pub readonly: bool,
    /// `UNIQUE`
    pub unique: bool,
    /// From the name to the last clause.
    pub span: Span,
}

/// A type signature such as `u8`, `[string]`, `[u8 10]`, `(string, u8)`,
/// `option[u8]` or `u8?`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeSig {
    /// The shape.
    pub kind: TypeKind,
    /// A trailing `?`: the value may be absent.
    pub optional: bool,
    /// Source range.
    pub span: Span,
}

/// Shapes of a type signature.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    /// `name`, `a::b`, or `name[T, U]`.
    Named {
        /// Path segments.
        path: Vec<Ident>,
        /// Type arguments.
        arguments: Vec<TypeSig>,
    },
    /// `[T]`
    List(Box<TypeSig>),
    /// `[T n]`
    Array(Box<TypeSig>, i64),
    /// `(T, U)`
    Tuple(Vec<TypeSig>),
}

/// What `REMOVE` and `DESCRIBE` name.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaTarget {
    /// Kind of object.
    pub kind: SchemaKind,
    /// Its name; only `DESCRIBE NAMESPACE` / `DATABASE` may leave it out
    /// (meaning the current one).
    pub name: Option<Ident>,
    /// `IF EXISTS`
    pub if_exists: bool,
    /// `ON NS x`
    pub on_namespace: Option<Ident>,
    /// `ON DB x`
    pub on_database: Option<Ident>,
    /// `ON TABLE x`
    pub on_table: Option<Ident>,
}

/// Kinds of schema object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// `NAMESPACE` / `NS`
    Namespace,
    /// `DATABASE` / `DB`
    Database,
    /// `TABLE`
    Table,
    /// `EDGE`: an edge table.
    Edge,
    /// `FIELD`
    Field,
    /// `INDEX`
    Index,
}
