//! Errors of name resolution, planning and execution.

use crate::ast::Span;
use crate::value::codec::CodecError;
use crate::value::Value;
use crate::ParseError;

/// Why a statement could not be resolved, planned or run. Errors about
/// something written in the query carry its [`Span`], so
/// [`ExecError::render`] points at it with a caret like a parse error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecError {
    /// The text did not parse.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// A statement needs a namespace and database.
    #[error("no {what} selected: run `USE NS name DB name` first")]
    NoDatabase {
        /// "namespace" or "database".
        what: &'static str,
        /// The statement.
        span: Span,
    },
    /// A name that the catalog does not define.
    #[error("unknown {kind} `{name}`{context}")]
    Unknown {
        /// "table", "index", "parameter", "namespace", "database", "field".
        kind: &'static str,
        /// The name.
        name: String,
        /// Where it is looked for, such as " on table person".
        context: String,
        /// Where it was written.
        span: Span,
    },
    /// `DEFINE` of something that exists.
    #[error("{kind} `{name}` already exists (write DEFINE {kind_upper} IF NOT EXISTS to skip)", kind_upper = kind.to_uppercase())]
    AlreadyDefined {
        /// "table", "index", ...
        kind: &'static str,
        /// The name.
        name: String,
        /// Where it was written.
        span: Span,
    },
    /// `CREATE` of a record id that exists.
    #[error("record {id} already exists")]
    RecordExists {
        /// The record.
        id: Box<Value>,
        /// The statement.
        span: Span,
    },
    /// A unique index already holds the value for another record.
    #[error(
        "unique index `{index}` on table `{table}` already contains {value} for record {existing}"
    )]
    UniqueViolation {
        /// The table.
        table: String,
        /// The index.
        index: String,
        /// The duplicated value.
        value: Box<Value>,
        /// The record that holds it.
        existing: Box<Value>,
        /// The statement.
        span: Span,
    },
    /// A schemafull table got a field it does not define.
    #[error("table `{table}` is schemafull and has no field `{field}` (define it with DEFINE FIELD {field} ON {table})")]
    UndefinedField {
        /// The table.
        table: String,
        /// The field.
        field: String,
        /// The statement.
        span: Span,
    },
    /// A field's value does not have the field's type.
    #[error("field `{field}` of table `{table}` must be {expected}, found {found}")]
    FieldType {
        /// The table.
        table: String,
        /// The field.
        field: String,
        /// The type.
        expected: String,
        /// The value found.
        found: Box<Value>,
        /// The statement.
        span: Span,
    },
    /// A field's `ASSERT` failed, or a `READONLY` field changed.
    #[error("field `{field}` of table `{table}`: {message}")]
    FieldRule {
        /// The table.
        table: String,
        /// The field.
        field: String,
        /// What failed.
        message: String,
        /// The statement.
        span: Span,
    },
    /// An expression could not be evaluated (wrong kinds, overflow, ...).
    #[error("{message}")]
    Eval {
        /// What failed, with the values involved.
        message: String,
        /// The expression.
        span: Span,
    },
    /// A form that parses but does not run yet.
    #[error("{what} is not supported yet")]
    Unsupported {
        /// The form.
        what: String,
        /// Where.
        span: Span,
    },
    /// `BEGIN`/`COMMIT`/`CANCEL` out of place.
    #[error("{message}")]
    Transaction {
        /// What is wrong.
        message: String,
        /// The statement.
        span: Span,
    },
    /// A statement that parses but lacks something it needs to run, such
    /// as `REMOVE INDEX i` without `ON TABLE`.
    #[error("{message}")]
    Invalid {
        /// What is missing.
        message: String,
        /// The statement.
        span: Span,
    },
    /// A limit of the executor was exceeded.
    #[error("{what} is more than the limit {limit}")]
    TooLarge {
        /// What grew too large.
        what: String,
        /// The limit.
        limit: usize,
        /// The statement.
        span: Span,
    },
    /// A value is not a vector, vectors do not match, or a neighbour
    /// count is out of range.
    #[error("{error}")]
    Vector {
        /// What is wrong.
        error: crate::vector::VectorError,
        /// The expression.
        span: Span,
    },
    /// Stored bytes did not decode: a bug or corruption, not a user error.
    #[error("stored value under {key} does not decode: {error}")]
    Corrupt {
        /// The key, printed.
        key: String,
        /// The codec's complaint.
        error: CodecError,
    },
    /// A value is too large or deep to store.
    #[error("cannot store the value: {0}")]
    Encode(CodecError),
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}

impl ExecError {
    /// The source text the error is about, if any.
    pub fn span(&self) -> Option<Span> {
        use ExecError::*;
        match self {
            Parse(error) => Some(error.span),
            NoDatabase { span, .. }
            | Unknown { span, .. }
            | AlreadyDefined { span, .. }
            | RecordExists { span, .. }
            | UniqueViolation { span, .. }
            | UndefinedField { span, .. }
            | FieldType { span, .. }
            | FieldRule { span, .. }
            | Eval { span, .. }
            | Unsupported { span, .. }
            | Transaction { span, .. }
            | Invalid { span, .. }
            | TooLarge { span, .. }
            | Vector { span, .. } => Some(*span),
            Corrupt { .. } | Encode(_) | Store(_) => None,
        }
    }

    /// The error as a person reads it, with a caret under the text it is
    /// about when it has a span.
    pub fn render(&self, source: &str) -> String {
        match (self, self.span()) {
            (ExecError::Parse(error), _) => error.render(source),
            (_, Some(span)) => ParseError::new(self.to_string(), span).render(source),
            (_, None) => format!("error: {self}\n"),
        }
    }

    /// An evaluation error at `span`.
    pub(crate) fn eval(message: impl Into<String>, span: Span) -> ExecError {
        ExecError::Eval {
            message: message.into(),
            span,
        }
    }

    /// A form that does not run yet.
    pub(crate) fn unsupported(what: impl Into<String>, span: Span) -> ExecError {
        ExecError::Unsupported {
            what: what.into(),
            span,
        }
    }
}
