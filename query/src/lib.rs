//! zeroql, ZeroDB's query language: the front end (DESIGN.md section 12).
//!
//! Owns: the lexer ([`lex`]), the syntax tree with source spans ([`ast`]),
//! the recursive-descent parser ([`parse`], [`parse_expression`]), parse
//! errors rendered with line, column and caret ([`ParseError::render`]),
//! and a canonical printer (`Display` on the tree) whose output parses back
//! to the same tree.
//!
//! After the parser: the [`value::Value`] tree and its codec, the storage
//! key layout ([`keys`]), the catalog of definitions ([`catalog`]), name
//! resolution and the planner with `EXPLAIN` ([`plan`]), and the executor
//! ([`exec`]) that runs one statement or one `BEGIN ... COMMIT` block as one
//! transaction against a [`exec::TxnStore`], returning an [`exec::Commit`]
//! for the caller to apply atomically. `query/EXECUTION.md` states the data
//! layout and the guarantees.
//!
//! Graphs (`DEFINE EDGE`, `RELATE`, traversals such as `a -> likes -> b`)
//! are statements and expressions of the same tree and executor; edges and
//! adjacency entries are keys of the same transaction.
//!
//! Does not own: the node wiring (the `TxnStore` over the transaction
//! API), control flow (`IF`, `FOR`,
//! `WHILE`) and the other upstream forms listed in `query/GRAMMAR.md`,
//! which are lexed where the lexer knows their tokens but not parsed;
//! `GROUP BY` parses but does not run yet.
//!
//! Vectors (arrays of numbers as fields, `vector::distance::*`, the
//! similarity operator `<>`, nearest-neighbour search with `<|k|>` or
//! `ORDER BY` a distance with `LIMIT`, and `index::hnsw` indexes kept
//! beside the records) are in [`vector`] and the same executor.
//!
//! Sans-IO: no clock, threads or sockets, and no dependency on other ZeroDB
//! crates. Input is bounded by [`INPUT_SIZE_BYTES_MAX`] and
//! [`STATEMENT_COUNT_MAX`]; nesting by [`NESTING_DEPTH_MAX`] and
//! [`EXPRESSION_HEIGHT_MAX`], so no input makes the parser (or a later
//! recursive pass over its tree) overflow the stack.
//!
//! ```
//! let query = zerodb_query::parse("SELECT name FROM person WHERE age > 40 + 2").unwrap();
//! assert_eq!(
//!     query.to_string(),
//!     "SELECT name FROM person WHERE (age > (40 + 2))"
//! );
//! let error = zerodb_query::parse("SELECT * FROM").unwrap_err();
//! assert!(error.render("SELECT * FROM").contains("1:14"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

pub mod ast;
pub mod catalog;
mod error;
pub mod exec;
pub mod keys;
mod lexer;
mod parser;
pub mod plan;
mod print;
mod token;
pub mod value;
pub mod vector;

pub use error::ParseError;
pub use lexer::lex;
pub use parser::{
    parse, parse_expression, EXPRESSION_HEIGHT_MAX, INPUT_SIZE_BYTES_MAX, NESTING_DEPTH_MAX,
    STATEMENT_COUNT_MAX, TRAVERSAL_HOPS_MAX,
};
pub use token::{Keyword, Op, Token, TokenKind, KEYWORDS};
