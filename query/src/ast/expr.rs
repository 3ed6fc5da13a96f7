//! Expressions, literals and operators.

use super::{Graph, Ident, Span, Statement};

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// Which expression.
    pub kind: ExprKind,
    /// Source range.
    pub span: Span,
}

/// Expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal value.
    Literal(Literal),
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `{key: value, ...}`; keys are names or strings.
    Object(Vec<(ObjectKey, Expr)>),
    /// `()`, `(a,)`, `(a, b)`
    Tuple(Vec<Expr>),
    /// A name: a field, or a table where a table is expected.
    Ident(Ident),
    /// `a::b::c` (two or more segments).
    Scoped(Vec<Ident>),
    /// `$name`
    Param(Ident),
    /// `table:key`
    RecordId {
        /// The table.
        table: Ident,
        /// The key.
        key: RecordKey,
    },
    /// `base.field` or `base?.field` (when `optional`).
    Field {
        /// What is accessed.
        base: Box<Expr>,
        /// Field name.
        field: Ident,
        /// Written `?.`: absent base gives none instead of an error.
        optional: bool,
    },
    /// `base.*`
    AllFields(Box<Expr>),
    /// `base[index]`
    Index {
        /// What is indexed.
        base: Box<Expr>,
        /// The index.
        index: Box<Expr>,
    },
    /// `name(args)` or `a::b(args)`.
    Call {
        /// Function path, one or more segments.
        function: Vec<Ident>,
        /// Arguments.
        arguments: Vec<Argument>,
    },
    /// `op operand`
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `left op right`
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `start..end` or `start..=end`
    Range {
        /// Lower bound.
        start: Box<Expr>,
        /// Upper bound.
        end: Box<Expr>,
        /// `..=`
        inclusive: bool,
    },
    /// A statement used as a value: `(SELECT ...)`, or the value of `LET`.
    Subquery(Box<Statement>),
    /// A graph traversal: `a -> edge -> b`, the record ids reached.
    Graph(Box<Graph>),
}

/// An object key: written as a name or as a string.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectKey {
    /// The key text.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A function argument, optionally named (`m = 16`).
#[derive(Debug, Clone, PartialEq)]
pub struct Argument {
    /// `name =` before the value.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// The key part of a record id.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordKey {
    /// `person:alice`
    Ident(Ident),
    /// `person:1`
    Int(i64),
    /// `person:"alice smith"`
    Str(String),
    /// `person:*`: any record of the table.
    Any,
    /// `person:$id`
    Param(Ident),
    /// `person:[..]` or `person:{..}`: a compound key.
    Value(Box<Expr>),
}

/// Literal values.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `NONE`: no value.
    None,
    /// `NULL`: the null value.
    Null,
    /// `TRUE` / `FALSE`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A finite float.
    Float(f64),
    /// A string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A duration in nanoseconds.
    Duration(u64),
    /// `//pattern//flags`
    Regex {
        /// Pattern as written.
        pattern: String,
        /// Flag letters.
        flags: String,
    },
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `!` / `NOT`
    Not,
    /// `-`
    Negate,
    /// `+`
    Plus,
    /// `~`: bitwise not.
    BitNot,
}

/// Infix operators, from tightest to loosest binding (see
/// [`BinaryOp::precedence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `**`
    Power,
    /// `*` / `×`
    Multiply,
    /// `/` / `÷`
    Divide,
    /// `%`
    Modulo,
    /// `+`
    Add,
    /// `-`
    Subtract,
    /// `<<`
    ShiftLeft,
    /// `>>`
    ShiftRight,
    /// `~` / `MATCH`
    Match,
    /// `!~` / `NOT MATCH`
    NotMatch,
    /// `<>`
    Similar,
    /// `<`
    LessThan,
    /// `>`
    GreaterThan,
    /// `<=`
    LessOrEqual,
    /// `>=`
    GreaterOrEqual,
    /// `IN`
    In,
    /// `NOT IN`
    NotIn,
    /// `CONTAINS` / `∋`
    Contains,
    /// `NOT CONTAINS` / `∌`
    NotContains,
    /// `CONTAINS NONE` / `⊅`
    ContainsNone,
    /// `CONTAINS ALL` / `⊇`
    ContainsAll,
    /// `CONTAINS ANY` / `⊃`
    ContainsAny,
    /// `==`: exact equality.
    Equal,
    /// `=` / `IS`: equality.
    Is,
    /// `!=` / `IS NOT`
    IsNot,
    /// `&`
    BitAnd,
    /// `^`
    BitXor,
    /// `|`
    BitOr,
    /// `&&` / `AND`
    And,
    /// `||` / `OR`
    Or,
    /// `?:`
    NullCoalesce,
}

impl BinaryOp {
    /// Binding power: higher binds tighter. Follows the upstream grammar's
    /// levels: `**` > `* / %` > `+ -` > `<< >>` > match > relational >
    /// equality > `&` > `^` > `|` > `AND` > `OR ?:`.
    pub fn precedence(self) -> u8 {
        use BinaryOp::*;
        match self {
            Or | NullCoalesce => 1,
            And => 2,
            BitOr => 3,
            BitXor => 4,
            BitAnd => 5,
            Equal | Is | IsNot => 6,
            LessThan | GreaterThan | LessOrEqual | GreaterOrEqual | In | NotIn | Contains
            | NotContains | ContainsNone | ContainsAll | ContainsAny => 7,
            Match | NotMatch | Similar => 8,
            ShiftLeft | ShiftRight => 9,
            Add | Subtract => 10,
            Multiply | Divide | Modulo => 11,
            Power => 12,
        }
    }

    /// `**` groups to the right; every other operator to the left.
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Power
    }
}
