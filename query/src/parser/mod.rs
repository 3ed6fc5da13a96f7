//! A hand-written recursive-descent parser over the lexer's tokens.
//!
//! - `mod.rs`: the cursor over tokens, limits, and the statement list.
//! - `expr.rs`: expressions by precedence climbing.
//! - `statement.rs`: data statements (`SELECT`, `CREATE`, ...), `USE`,
//!   `LET`, transactions, `RETURN`, `EXPLAIN`.
//! - `define.rs`: `DEFINE`, `REMOVE`, `DESCRIBE` / `INFO FOR`, and types.
//! - `graph.rs`: traversals (`a -> edge -> b`) and `RELATE`.
//!
//! Every recursive step goes through [`Parser::enter`], so hostile input
//! such as ten thousand `(` gets an error instead of a stack overflow, and
//! every expression's tree height is checked as it is built, so later
//! recursive passes over the tree (printing, dropping, planning) are
//! bounded too.

mod define;
mod expr;
mod graph;
mod statement;

pub use graph::TRAVERSAL_HOPS_MAX;

use crate::ast::{Expr, Ident, Query, Span, Statement};
use crate::error::ParseError;
use crate::lexer::lex;
use crate::token::{Keyword, Op, Token, TokenKind};

/// How deeply constructs may nest: parentheses, brackets, braces, prefix
/// operators, right-associative chains, subqueries, `EXPLAIN` and type
/// signatures. Each level costs parser stack; 64 is far beyond what a
/// person writes and far below what the stack holds.
pub const NESTING_DEPTH_MAX: usize = 64;

/// The tallest expression tree accepted. Left-associative chains
/// (`a OR b OR c ...`) grow the tree without recursing in the parser, so
/// they are bounded here rather than by [`NESTING_DEPTH_MAX`]; every
/// recursive pass over the tree relies on this bound.
pub const EXPRESSION_HEIGHT_MAX: usize = 256;

/// The largest query text accepted, in bytes.
pub const INPUT_SIZE_BYTES_MAX: usize = 1 << 20;

/// The most statements one query may hold.
pub const STATEMENT_COUNT_MAX: usize = 1_000;

/// Longest piece of source text quoted in an error's "found ..." part.
const FOUND_TEXT_CHARS_MAX: usize = 24;

type ParseResult<T> = Result<T, ParseError>;

/// Parses a whole query: one or more statements separated by `;`.
pub fn parse(source: &str) -> Result<Query, ParseError> {
    let mut parser = Parser::new(source)?;
    parser.query()
}

/// Parses a single expression (with nothing after it).
pub fn parse_expression(source: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser::new(source)?;
    let expr = parser.expr()?;
    if !parser.at_eof() {
        return Err(parser.error_here(&["an operator", "end of input"]));
    }
    Ok(expr)
}

pub(crate) struct Parser<'s> {
    source: &'s str,
    tokens: Vec<Token>,
    position: usize,
    /// Current recursion depth, see [`NESTING_DEPTH_MAX`].
    depth: usize,
    /// Tallest expression finished since the current statement began; a
    /// subquery's height is its statement's tallest expression.
    height_seen: usize,
}

impl<'s> Parser<'s> {
    fn new(source: &'s str) -> ParseResult<Parser<'s>> {
        if source.len() > INPUT_SIZE_BYTES_MAX {
            let mut at = INPUT_SIZE_BYTES_MAX;
            while !source.is_char_boundary(at) {
                at -= 1;
            }
            return Err(ParseError::new(
                format!(
                    "query is {} bytes; the limit is {INPUT_SIZE_BYTES_MAX} bytes",
                    source.len()
                ),
                Span::new(at, at),
            ));
        }
        Ok(Parser {
            source,
            tokens: lex(source)?,
            position: 0,
            depth: 0,
            height_seen: 0,
        })
    }

    fn query(&mut self) -> ParseResult<Query> {
        let mut statements = Vec::new();
        loop {
            while self.eat_op(Op::Semicolon).is_some() {}
            if self.at_eof() {
                break;
            }
            if statements.len() == STATEMENT_COUNT_MAX {
                return Err(ParseError::new(
                    format!("too many statements: the limit is {STATEMENT_COUNT_MAX} per query"),
                    self.peek().span,
                ));
            }
            statements.push(self.statement()?);
            if !self.at_eof() && !self.at_op(Op::Semicolon) {
                return Err(self.statement_end_error());
            }
        }
        if statements.is_empty() {
            return Err(self.error_here(&["a statement"]));
        }
        Ok(Query { statements })
    }

    fn statement_end_error(&self) -> ParseError {
        self.error_here(&["`;`", "end of input"])
    }

    // ---- The cursor ----

    fn peek(&self) -> &Token {
        &self.tokens[self.position]
    }

    /// The token `n` places ahead (the final `Eof` if past the end).
    fn peek_nth(&self, n: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.position + n).min(last)]
    }

    fn next(&mut self) -> Token {
        let token = self.tokens[self.position].clone();
        if token.kind != TokenKind::Eof {
            self.position += 1;
        }
        token
    }

    fn at_eof(&self) -> bool {
        self.peek().kind == TokenKind::Eof
    }

    /// End of the last consumed token (for spans of what was just parsed).
    fn previous_end(&self) -> usize {
        match self.position {
            0 => 0,
            position => self.tokens[position - 1].span.end,
        }
    }

    fn at_op(&self, op: Op) -> bool {
        self.peek().kind == TokenKind::Op(op)
    }

    fn eat_op(&mut self, op: Op) -> Option<Span> {
        self.at_op(op).then(|| self.next().span)
    }

    fn expect_op(&mut self, op: Op) -> ParseResult<Span> {
        match self.eat_op(op) {
            Some(span) => Ok(span),
            None => Err(self.error_here(&[&format!("`{}`", op.as_str())])),
        }
    }

    fn keyword_of(token: &Token) -> Option<Keyword> {
        match token.kind {
            TokenKind::Word(keyword) => keyword,
            _ => None,
        }
    }

    fn peek_keyword(&self) -> Option<Keyword> {
        Self::keyword_of(self.peek())
    }

    fn at_keyword(&self, keyword: Keyword) -> bool {
        self.peek_keyword() == Some(keyword)
    }

    fn eat_keyword(&mut self, keyword: Keyword) -> Option<Span> {
        self.at_keyword(keyword).then(|| self.next().span)
    }

    fn expect_keyword(&mut self, keyword: Keyword) -> ParseResult<Span> {
        match self.eat_keyword(keyword) {
            Some(span) => Ok(span),
            None => Err(self.error_here(&[&format!("`{}`", keyword.as_str())])),
        }
    }

    /// Eats the first of `keywords` present.
    fn eat_any_keyword(&mut self, keywords: &[Keyword]) -> Option<Keyword> {
        let keyword = self
            .peek_keyword()
            .filter(|keyword| keywords.contains(keyword))?;
        self.next();
        Some(keyword)
    }

    /// Whether `token` can be a bare name: a word that is not a reserved
    /// keyword, or a backtick-quoted word.
    fn is_name(token: &Token) -> bool {
        match &token.kind {
            TokenKind::Word(None) | TokenKind::EscapedIdent(_) => true,
            TokenKind::Word(Some(keyword)) => !keyword.is_reserved(),
            _ => false,
        }
    }

    /// The name a name token stands for.
    fn name_of(&self, token: &Token) -> Ident {
        let name = match &token.kind {
            TokenKind::EscapedIdent(name) => name.clone(),
            _ => self.source[token.span.start..token.span.end].to_string(),
        };
        Ident {
            name,
            span: token.span,
        }
    }

    /// A name, described as `what` in the error if absent.
    fn ident(&mut self, what: &str) -> ParseResult<Ident> {
        if !Self::is_name(self.peek()) {
            return Err(self.error_here(&[what]));
        }
        let token = self.next();
        Ok(self.name_of(&token))
    }

    // ---- Errors ----

    /// How an error message names a token.
    fn describe(&self, token: &Token) -> String {
        if token.kind == TokenKind::Eof {
            return "end of input".to_string();
        }
        let text = &self.source[token.span.start..token.span.end];
        if text.chars().count() > FOUND_TEXT_CHARS_MAX {
            let shortened: String = text.chars().take(FOUND_TEXT_CHARS_MAX).collect();
            format!("`{shortened}...`")
        } else {
            format!("`{text}`")
        }
    }

    /// "expected ..., found <the current token>", pointing at it.
    fn error_here(&self, expected: &[&str]) -> ParseError {
        let token = self.peek();
        ParseError::expected(
            expected.iter().map(|what| what.to_string()).collect(),
            &self.describe(token),
            token.span,
        )
    }

    // ---- Limits ----

    /// Enters one level of nesting at the current token.
    fn enter(&mut self) -> ParseResult<()> {
        if self.depth >= NESTING_DEPTH_MAX {
            return Err(ParseError::new(
                format!("nesting too deep: the limit is {NESTING_DEPTH_MAX} levels"),
                self.peek().span,
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        debug_assert!(self.depth > 0, "leave without enter");
        self.depth -= 1;
    }

    /// Checks a newly built expression node's height.
    fn check_height(height: usize, span: Span) -> ParseResult<usize> {
        if height > EXPRESSION_HEIGHT_MAX {
            return Err(ParseError::new(
                format!(
                    "expression too deep: the limit is {EXPRESSION_HEIGHT_MAX} levels \
                     (split long AND/OR chains, or use IN [..])"
                ),
                span,
            ));
        }
        Ok(height)
    }
}

/// A statement's span ends at the last token it consumed.
fn statement_at(kind: crate::ast::StatementKind, start: usize, end: usize) -> Statement {
    Statement {
        kind,
        span: Span::new(start, end),
    }
}
