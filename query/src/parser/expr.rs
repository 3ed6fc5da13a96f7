//! Expressions by precedence climbing.
//!
//! From loosest to tightest: range (`..`, `..=`, not chained), then the
//! binary levels of [`BinaryOp::precedence`], then prefix operators
//! (`!`/`NOT`, `-`, `+`, `~`), then postfix access (`.field`, `?.field`,
//! `.*`, `[index]`, `(args)`), then atoms.
//!
//! Each parsing function returns the expression with its tree height so
//! that [`EXPRESSION_HEIGHT_MAX`](super::EXPRESSION_HEIGHT_MAX) is checked
//! as nodes are built, without walking the tree again.

use super::{ParseResult, Parser};
use crate::ast::{
    Argument, BinaryOp, Expr, ExprKind, Ident, Literal, ObjectKey, RecordKey, Span, UnaryOp,
};
use crate::error::ParseError;
use crate::token::{Keyword, Op, TokenKind};

/// An expression and the height of its tree (a leaf has height 1).
type WithHeight = (Expr, usize);

impl Parser<'_> {
    /// One full expression, including a range.
    pub(super) fn expr(&mut self) -> ParseResult<Expr> {
        let (expr, height) = self.expr_with_height()?;
        self.height_seen = self.height_seen.max(height);
        Ok(expr)
    }

    /// An expression that must start here; if nothing here can start one,
    /// the error names `what` was expected instead of "an expression".
    pub(super) fn expr_expecting(&mut self, what: &str) -> ParseResult<Expr> {
        let here = self.peek().span;
        self.expr().map_err(|error| {
            if error.is_missing_expression_at(here) {
                self.error_here(&[what])
            } else {
                error
            }
        })
    }

    pub(super) fn expr_with_height(&mut self) -> ParseResult<WithHeight> {
        self.enter()?;
        let result = self.range();
        self.leave();
        result
    }

    fn range(&mut self) -> ParseResult<WithHeight> {
        let (start, start_height) = self.binary(1)?;
        let inclusive = match self.peek().kind {
            TokenKind::Op(Op::Range) => false,
            TokenKind::Op(Op::RangeInclusive) => true,
            _ => return Ok((start, start_height)),
        };
        let op_span = self.next().span;
        let (end, end_height) = self.binary(1)?;
        let height = Self::check_height(start_height.max(end_height) + 1, op_span)?;
        let span = start.span.to(end.span);
        let kind = ExprKind::Range {
            start: Box::new(start),
            end: Box::new(end),
            inclusive,
        };
        Ok((Expr { kind, span }, height))
    }

    /// Precedence climbing: operands bind to operators of at least
    /// `precedence_min`.
    fn binary(&mut self, precedence_min: u8) -> ParseResult<WithHeight> {
        let (mut left, mut left_height) = self.unary()?;
        loop {
            if self.at_knn() {
                if BinaryOp::Similar.precedence() < precedence_min {
                    break;
                }
                let (knn, height) = self.knn(left, left_height)?;
                (left, left_height) = (knn, height);
                continue;
            }
            let Some((op, token_count)) = self.peek_binary_op() else {
                break;
            };
            let precedence = op.precedence();
            if precedence < precedence_min {
                break;
            }
            let op_span = self.peek().span;
            for _ in 0..token_count {
                self.next();
            }
            let next_min = if op.is_right_associative() {
                precedence
            } else {
                precedence + 1
            };
            self.enter()?;
            let right = self.binary(next_min);
            self.leave();
            let (right, right_height) = right?;
            left_height = Self::check_height(left_height.max(right_height) + 1, op_span)?;
            let span = left.span.to(right.span);
            let kind = ExprKind::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            };
            left = Expr { kind, span };
        }
        Ok((left, left_height))
    }

    /// Whether the cursor is at `<|`, which starts the nearest-neighbour
    /// operator `<|k|>` (`|` cannot begin an operand, so `a < |` is
    /// nothing else).
    fn at_knn(&self) -> bool {
        self.peek().kind == TokenKind::Op(Op::Lt)
            && self.peek_nth(1).kind == TokenKind::Op(Op::BitOr)
    }

    /// `field <|k|> query` or `field <|k, metric|> query` (SurrealQL's
    /// form; upstream zeroql has no nearest-neighbour operator): the same
    /// tree as `vector::knn(field, query, k[, 'metric'])`, at the level of
    /// the similarity operator `<>`.
    fn knn(&mut self, field: Expr, field_height: usize) -> ParseResult<WithHeight> {
        let op_span = self.next().span;
        self.next();
        // An operand, not an expression: a binary `|` would end it.
        self.enter()?;
        let count = self.unary();
        self.leave();
        let (count, count_height) = count?;
        let mut arguments = vec![field, count];
        if self.eat_op(Op::Comma).is_some() {
            let metric = self.ident("a distance: euclidean, cosine or dot")?;
            if crate::vector::Metric::from_name(&metric.name).is_none() {
                return Err(ParseError::new(
                    format!(
                        "unknown distance `{}`: write euclidean, cosine or dot",
                        metric.name
                    ),
                    metric.span,
                ));
            }
            arguments.push(Expr {
                kind: ExprKind::Literal(Literal::Str(metric.name.to_ascii_lowercase())),
                span: metric.span,
            });
        }
        self.expect_op(Op::BitOr)?;
        self.expect_op(Op::Gt)?;
        self.enter()?;
        let query = self.binary(BinaryOp::Similar.precedence() + 1);
        self.leave();
        let (query, query_height) = query?;
        let height = field_height.max(count_height).max(query_height) + 1;
        let height = Self::check_height(height, op_span)?;
        // Argument order of `vector::knn(field, query, k[, metric])`.
        arguments.insert(1, query);
        let span = arguments[0].span.to(arguments[1].span);
        let function = ["vector", "knn"]
            .iter()
            .map(|name| Ident {
                name: (*name).to_string(),
                span: op_span,
            })
            .collect();
        let arguments = arguments
            .into_iter()
            .map(|value| Argument { name: None, value })
            .collect();
        let kind = ExprKind::Call {
            function,
            arguments,
        };
        Ok((Expr { kind, span }, height))
    }

    /// The binary operator at the cursor and how many tokens spell it.
    fn peek_binary_op(&self) -> Option<(BinaryOp, usize)> {
        use BinaryOp::*;
        let token = self.peek();
        if let TokenKind::Op(op) = token.kind {
            let binary = match op {
                Op::Pow => Power,
                Op::Star => Multiply,
                Op::Div => Divide,
                Op::Mod => Modulo,
                Op::Plus => Add,
                Op::Minus => Subtract,
                Op::Shl => ShiftLeft,
                Op::Shr => ShiftRight,
                Op::Tilde => Match,
                Op::NotMatch => NotMatch,
                Op::Similarity => Similar,
                Op::Lt => LessThan,
                Op::Gt => GreaterThan,
                Op::Lte => LessOrEqual,
                Op::Gte => GreaterOrEqual,
                Op::ContainsSymbol => Contains,
                Op::NotContainsSymbol => NotContains,
                Op::ContainsNoneSymbol => ContainsNone,
                Op::ContainsAllSymbol => ContainsAll,
                Op::ContainsAnySymbol => ContainsAny,
                Op::EqEq => Equal,
                Op::Eq => Is,
                Op::NotEq => IsNot,
                Op::BitAnd => BitAnd,
                Op::BitXor => BitXor,
                Op::BitOr => BitOr,
                Op::AndAnd => And,
                Op::OrOr => Or,
                Op::NullCoalesce => NullCoalesce,
                _ => return None,
            };
            return Some((binary, 1));
        }
        let second = Self::keyword_of(self.peek_nth(1));
        match Self::keyword_of(token)? {
            Keyword::And => Some((And, 1)),
            Keyword::Or => Some((Or, 1)),
            Keyword::In => Some((In, 1)),
            Keyword::Match => Some((Match, 1)),
            Keyword::Is if second == Some(Keyword::Not) => Some((IsNot, 2)),
            Keyword::Is => Some((Is, 1)),
            Keyword::Not => match second? {
                Keyword::In => Some((NotIn, 2)),
                Keyword::Contains => Some((NotContains, 2)),
                Keyword::Match => Some((NotMatch, 2)),
                _ => None,
            },
            // `CONTAINS NONE [..]` is one operator, but `CONTAINS NONE` at
            // the end of an expression compares with the value NONE (and
            // `any` / `all` may be field names).
            Keyword::Contains if self.can_start_operand(2) => match second {
                Some(Keyword::None) => Some((ContainsNone, 2)),
                Some(Keyword::All) => Some((ContainsAll, 2)),
                Some(Keyword::Any) => Some((ContainsAny, 2)),
                _ => Some((Contains, 1)),
            },
            Keyword::Contains => Some((Contains, 1)),
            _ => None,
        }
    }

    /// Whether the token `n` ahead can begin an operand.
    fn can_start_operand(&self, n: usize) -> bool {
        let token = self.peek_nth(n);
        match &token.kind {
            TokenKind::Word(Some(
                Keyword::True | Keyword::False | Keyword::None | Keyword::Null | Keyword::Not,
            )) => true,
            // A word spelling a keyword more likely starts the next clause
            // (`VALUE a CONTAINS NONE ASSERT ...`).
            TokenKind::Word(keyword) => keyword.is_none(),
            TokenKind::EscapedIdent(_) => true,
            TokenKind::Op(op) => matches!(
                op,
                Op::ParenOpen
                    | Op::BracketOpen
                    | Op::BraceOpen
                    | Op::Minus
                    | Op::Plus
                    | Op::Bang
                    | Op::Tilde
            ),
            TokenKind::Eof => false,
            _ => true,
        }
    }

    fn unary(&mut self) -> ParseResult<WithHeight> {
        let op = match self.peek().kind {
            TokenKind::Op(Op::Bang) | TokenKind::Word(Some(Keyword::Not)) => UnaryOp::Not,
            TokenKind::Op(Op::Minus) => UnaryOp::Negate,
            TokenKind::Op(Op::Plus) => UnaryOp::Plus,
            TokenKind::Op(Op::Tilde) => UnaryOp::BitNot,
            _ => return self.postfix(),
        };
        let op_span = self.next().span;
        self.enter()?;
        let operand = self.unary();
        self.leave();
        let (operand, operand_height) = operand?;
        let height = Self::check_height(operand_height + 1, op_span)?;
        let span = op_span.to(operand.span);
        let kind = ExprKind::Unary {
            op,
            operand: Box::new(operand),
        };
        Ok((Expr { kind, span }, height))
    }

    fn postfix(&mut self) -> ParseResult<WithHeight> {
        let (mut expr, mut height) = self.atom()?;
        loop {
            let start = expr.span;
            let (kind, child_height) = match self.peek().kind {
                TokenKind::Op(Op::Dot) if self.peek_nth(1).kind == TokenKind::Op(Op::Star) => {
                    self.next();
                    self.next();
                    (ExprKind::AllFields(Box::new(expr)), height)
                }
                TokenKind::Op(op @ (Op::Dot | Op::SafeNav)) => {
                    self.next();
                    let field = self.field_name()?;
                    let kind = ExprKind::Field {
                        base: Box::new(expr),
                        field,
                        optional: op == Op::SafeNav,
                    };
                    (kind, height)
                }
                TokenKind::Op(Op::BracketOpen) => {
                    self.next();
                    let (index, index_height) = self.expr_with_height()?;
                    self.expect_op(Op::BracketClose)?;
                    let kind = ExprKind::Index {
                        base: Box::new(expr),
                        index: Box::new(index),
                    };
                    (kind, height.max(index_height))
                }
                TokenKind::Op(
                    Op::ArrowRight | Op::ArrowLeft | Op::MultiArrowRight | Op::MultiArrowLeft,
                ) => {
                    let start = super::graph::vertex_from_expr(expr);
                    let (graph, graph_height) = self.graph(Some(start), height)?;
                    (graph.kind, graph_height)
                }
                TokenKind::Op(Op::ParenOpen) if Self::callable(&expr) => {
                    let function = match expr.kind {
                        ExprKind::Ident(ident) => vec![ident],
                        ExprKind::Scoped(path) => path,
                        _ => unreachable!("checked callable"),
                    };
                    let (arguments, arguments_height) = self.arguments()?;
                    (
                        ExprKind::Call {
                            function,
                            arguments,
                        },
                        arguments_height,
                    )
                }
                _ => return Ok((expr, height)),
            };
            let span = start.to(Span::new(start.end, self.previous_end()));
            height = Self::check_height(child_height + 1, span)?;
            expr = Expr { kind, span };
        }
    }

    fn callable(expr: &Expr) -> bool {
        matches!(expr.kind, ExprKind::Ident(_) | ExprKind::Scoped(_))
    }

    /// After `.`: any word, reserved or not, since nothing else can stand
    /// there.
    fn field_name(&mut self) -> ParseResult<Ident> {
        match self.peek().kind {
            TokenKind::Word(_) | TokenKind::EscapedIdent(_) => {
                let token = self.next();
                Ok(self.name_of(&token))
            }
            _ => Err(self.error_here(&["a field name", "`*`"])),
        }
    }

    /// `( [name =] value, ... )`
    fn arguments(&mut self) -> ParseResult<(Vec<Argument>, usize)> {
        self.expect_op(Op::ParenOpen)?;
        let mut arguments = Vec::new();
        let mut height = 0;
        while !self.at_op(Op::ParenClose) {
            let name =
                if Self::is_name(self.peek()) && self.peek_nth(1).kind == TokenKind::Op(Op::Eq) {
                    let name = self.ident("an argument name")?;
                    self.next();
                    Some(name)
                } else {
                    None
                };
            let (value, value_height) = self.expr_with_height()?;
            height = height.max(value_height);
            arguments.push(Argument { name, value });
            if self.eat_op(Op::Comma).is_none() {
                break;
            }
        }
        if !self.at_op(Op::ParenClose) {
            return Err(self.error_here(&["`,`", "`)`"]));
        }
        self.next();
        Ok((arguments, height))
    }

    fn atom(&mut self) -> ParseResult<WithHeight> {
        let token = self.peek().clone();
        let literal = match &token.kind {
            TokenKind::Int(value) => Some(Literal::Int(*value)),
            TokenKind::Float(value) => Some(Literal::Float(*value)),
            TokenKind::Str(value) => Some(Literal::Str(value.clone())),
            TokenKind::Bytes(value) => Some(Literal::Bytes(value.clone())),
            TokenKind::Duration(value) => Some(Literal::Duration(*value)),
            TokenKind::Regex { pattern, flags } => Some(Literal::Regex {
                pattern: pattern.clone(),
                flags: flags.clone(),
            }),
            TokenKind::Word(Some(Keyword::True)) => Some(Literal::Bool(true)),
            TokenKind::Word(Some(Keyword::False)) => Some(Literal::Bool(false)),
            TokenKind::Word(Some(Keyword::None)) => Some(Literal::None),
            TokenKind::Word(Some(Keyword::Null)) => Some(Literal::Null),
            _ => None,
        };
        if let Some(literal) = literal {
            self.next();
            return Ok((leaf(ExprKind::Literal(literal), token.span), 1));
        }
        match &token.kind {
            TokenKind::Param(name) => {
                self.next();
                let ident = Ident {
                    name: name.clone(),
                    span: token.span,
                };
                Ok((leaf(ExprKind::Param(ident), token.span), 1))
            }
            _ if Self::is_name(&token) => self.name_expression(),
            // `->likes->person`: a traversal from the current record.
            TokenKind::Op(
                Op::ArrowRight | Op::ArrowLeft | Op::MultiArrowRight | Op::MultiArrowLeft,
            ) => self.graph(None, 1),
            // `* -> is_a -> person`: a traversal from any record.
            TokenKind::Op(Op::Star) if self.graph_arrow_at(1) => {
                self.next();
                let start = crate::ast::Vertex {
                    kind: crate::ast::VertexKind::Any,
                    condition: None,
                    alias: None,
                    span: token.span,
                };
                self.graph(Some(start), 1)
            }
            // The contents of brackets are parsed by `expr_with_height`, which
            // counts the nesting level.
            TokenKind::Op(Op::ParenOpen) => self.parenthesized(),
            TokenKind::Op(Op::BracketOpen) => self.array(),
            TokenKind::Op(Op::BraceOpen) => self.object(),
            _ => Err(self.error_here(&[EXPRESSION])),
        }
    }

    /// `name`, `a::b::c`, or the record id `table:key`.
    fn name_expression(&mut self) -> ParseResult<WithHeight> {
        let token = self.next();
        let first = self.name_of(&token);
        if self.at_op(Op::Colon) {
            return self.record_id(first);
        }
        if !self.at_op(Op::Scope) {
            let span = first.span;
            return Ok((leaf(ExprKind::Ident(first), span), 1));
        }
        let mut path = vec![first];
        while self.eat_op(Op::Scope).is_some() {
            path.push(self.field_name()?);
        }
        let span = path[0].span.to(path[path.len() - 1].span);
        Ok((leaf(ExprKind::Scoped(path), span), 1))
    }

    /// After `table`, at `:`: the key.
    pub(super) fn record_id(&mut self, table: Ident) -> ParseResult<WithHeight> {
        self.expect_op(Op::Colon)?;
        let token = self.peek().clone();
        let mut height = 1;
        let key = match &token.kind {
            TokenKind::Int(value) => RecordKey::Int(*value),
            TokenKind::Str(value) => RecordKey::Str(value.clone()),
            TokenKind::Op(Op::Star) => RecordKey::Any,
            TokenKind::Param(name) => RecordKey::Param(Ident {
                name: name.clone(),
                span: token.span,
            }),
            TokenKind::Op(Op::BracketOpen | Op::BraceOpen) => {
                let (value, value_height) = self.atom()?;
                height = Self::check_height(value_height + 1, value.span)?;
                let span = table.span.to(value.span);
                let kind = ExprKind::RecordId {
                    table,
                    key: RecordKey::Value(Box::new(value)),
                };
                return Ok((Expr { kind, span }, height));
            }
            _ if Self::is_name(&token) => RecordKey::Ident(self.name_of(&token)),
            _ => {
                return Err(self.error_here(&[
                    "a record key (a name, integer, string, `*`, parameter, array or object)",
                ]))
            }
        };
        self.next();
        let span = table.span.to(token.span);
        Ok((leaf(ExprKind::RecordId { table, key }, span), height))
    }

    /// `(expr)`, a tuple, or a subquery `(SELECT ...)`.
    pub(super) fn parenthesized(&mut self) -> ParseResult<WithHeight> {
        let open = self.expect_op(Op::ParenOpen)?;
        if self.at_subquery_start() {
            let outer_height = std::mem::replace(&mut self.height_seen, 0);
            let statement = self.statement();
            let inner_height = std::mem::replace(&mut self.height_seen, outer_height);
            let statement = statement?;
            let close = self.expect_op(Op::ParenClose)?;
            let span = open.to(close);
            let height = Self::check_height(inner_height + 2, span)?;
            return Ok((leaf(ExprKind::Subquery(Box::new(statement)), span), height));
        }
        if self.at_op(Op::ParenClose) {
            let close = self.next().span;
            return Ok((leaf(ExprKind::Tuple(Vec::new()), open.to(close)), 1));
        }
        let (first, first_height) = self.expr_with_height()?;
        // `(person AS p) -> ...`: a filtered or named traversal start.
        if self.at_keyword(Keyword::Where) || self.at_keyword(Keyword::As) {
            return self.filtered_start(open, first, first_height);
        }
        let mut items = vec![first];
        let mut height = first_height;
        let trailing_comma = if self.eat_op(Op::Comma).is_some() {
            let (rest, rest_height, trailing) = self.sequence(Op::ParenClose)?;
            height = height.max(rest_height);
            let trailing = trailing || rest.is_empty();
            items.extend(rest);
            trailing
        } else {
            if !self.at_op(Op::ParenClose) {
                return Err(self.error_here(&["`,`", "`)`"]));
            }
            self.next();
            false
        };
        let span = open.to(Span::new(open.end, self.previous_end()));
        if items.len() == 1 && !trailing_comma {
            let mut inner = items.into_iter().next().expect("one item");
            // The parentheses leave no node; widen the span to include them.
            inner.span = span;
            return Ok((inner, height));
        }
        Ok((leaf(ExprKind::Tuple(items), span), height + 1))
    }

    /// Whether a statement that can be used as a value starts here.
    pub(super) fn at_subquery_start(&self) -> bool {
        self.subquery_at(0)
    }

    /// Whether a statement that can be used as a value starts `n` tokens
    /// ahead.
    pub(super) fn subquery_at(&self, n: usize) -> bool {
        matches!(
            Self::keyword_of(self.peek_nth(n)),
            Some(
                Keyword::Select
                    | Keyword::Create
                    | Keyword::Update
                    | Keyword::Delete
                    | Keyword::Insert
                    | Keyword::Relate
            )
        )
    }

    fn array(&mut self) -> ParseResult<WithHeight> {
        let open = self.expect_op(Op::BracketOpen)?;
        let (items, height, _) = self.sequence(Op::BracketClose)?;
        let span = open.to(Span::new(open.end, self.previous_end()));
        Ok((leaf(ExprKind::Array(items), span), height + 1))
    }

    /// Comma-separated expressions up to and including `close`; a trailing
    /// comma is allowed. Returns the items, their tallest height, and
    /// whether a trailing comma was written.
    fn sequence(&mut self, close: Op) -> ParseResult<(Vec<Expr>, usize, bool)> {
        let mut items = Vec::new();
        let mut height = 0;
        let mut trailing_comma = false;
        while !self.at_op(close) {
            let (item, item_height) = self.expr_with_height()?;
            items.push(item);
            height = height.max(item_height);
            trailing_comma = self.eat_op(Op::Comma).is_some();
            if !trailing_comma {
                break;
            }
        }
        if !self.at_op(close) {
            return Err(self.error_here(&["`,`", &format!("`{}`", close.as_str())]));
        }
        self.next();
        Ok((items, height, trailing_comma))
    }

    /// `{ key: value, ... }`; keys are words (reserved or not), backtick
    /// names or strings.
    fn object(&mut self) -> ParseResult<WithHeight> {
        let open = self.expect_op(Op::BraceOpen)?;
        let mut entries = Vec::new();
        let mut height = 0;
        while !self.at_op(Op::BraceClose) {
            let token = self.peek().clone();
            let name = match &token.kind {
                TokenKind::Str(text) => text.clone(),
                TokenKind::Word(_) | TokenKind::EscapedIdent(_) => self.name_of(&token).name,
                _ => return Err(self.error_here(&["an object key", "`}`"])),
            };
            self.next();
            self.expect_op(Op::Colon)?;
            let (value, value_height) = self.expr_with_height()?;
            height = height.max(value_height);
            entries.push((
                ObjectKey {
                    name,
                    span: token.span,
                },
                value,
            ));
            if self.eat_op(Op::Comma).is_none() {
                break;
            }
        }
        if !self.at_op(Op::BraceClose) {
            return Err(self.error_here(&["`,`", "`}`"]));
        }
        self.next();
        let span = open.to(Span::new(open.end, self.previous_end()));
        Ok((leaf(ExprKind::Object(entries), span), height + 1))
    }
}

/// How errors name a missing expression.
const EXPRESSION: &str = "an expression";

fn leaf(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span }
}

impl ParseError {
    /// Whether this error says an expression was missing at `span`.
    pub(crate) fn is_missing_expression_at(&self, span: Span) -> bool {
        self.span == span && self.expected == [EXPRESSION]
    }
}
