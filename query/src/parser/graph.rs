//! Graph syntax: traversals (`a -> edge -> b`, `<-`, edge combinations
//! and depth levels, vertex patterns) and `RELATE`.
//!
//! A traversal is parsed where an expression's atom is followed by an
//! arrow (`person:tobie -> likes -> person`), where an atom position holds
//! an arrow (`->likes->person`: from the current record) or `*` and an
//! arrow (`* -> is_a -> person`), and after the target of `DELETE`.
//! Upstream's grammar (`relate_op`) pairs arrows around each edge:
//! `vertex (arrow edge arrow vertex)+`.

use super::{ParseResult, Parser};
use crate::ast::{
    Data, EdgeDirection, EdgeSelector, EdgeTable, Expr, ExprKind, Graph, GraphStep, Ident, Levels,
    Literal, RecordKey, RelateStatement, Span, StatementKind, Vertex, VertexKind,
};
use crate::error::ParseError;
use crate::token::{Keyword, Op, Token, TokenKind};

/// Most hops one step of a traversal may walk: depth levels run from 0 to
/// `TRAVERSAL_HOPS_MAX - 1` (level `n` is `n + 1` hops). Each hop is one
/// more round of reads for the node, which bounds them too.
pub const TRAVERSAL_HOPS_MAX: u32 = 16;

/// An expression and its tree height.
type WithHeight<T> = (T, usize);

fn arrow_of(token: &Token) -> Option<Op> {
    match token.kind {
        TokenKind::Op(
            op @ (Op::ArrowRight | Op::ArrowLeft | Op::MultiArrowRight | Op::MultiArrowLeft),
        ) => Some(op),
        _ => None,
    }
}

/// A vertex pattern from an expression parsed as an atom: `person` (and
/// `person:*`) is the table, `person:tobie` the record, `[..]` a list, a
/// traversal in parentheses its result, anything else a value.
pub(super) fn vertex_from_expr(expr: Expr) -> Vertex {
    let span = expr.span;
    let kind = match expr.kind {
        ExprKind::Ident(table)
        | ExprKind::RecordId {
            table,
            key: RecordKey::Any,
        } => VertexKind::Table(table),
        ExprKind::RecordId { table, key } => VertexKind::Record { table, key },
        ExprKind::Array(items) => {
            VertexKind::List(items.into_iter().map(vertex_from_expr).collect())
        }
        ExprKind::Graph(graph) => VertexKind::Graph(graph),
        kind => VertexKind::Value(Box::new(Expr { kind, span })),
    };
    Vertex {
        kind,
        condition: None,
        alias: None,
        span,
    }
}

impl Parser<'_> {
    /// Whether the cursor is at an arrow that continues a traversal.
    pub(super) fn at_graph_arrow(&self) -> bool {
        arrow_of(self.peek()).is_some()
    }

    /// Whether the token `n` ahead is an arrow.
    pub(super) fn graph_arrow_at(&self, n: usize) -> bool {
        arrow_of(self.peek_nth(n)).is_some()
    }

    /// The steps after `start` (at an arrow): the whole traversal as an
    /// expression. `start_height` is the height of the start's tree.
    pub(super) fn graph(
        &mut self,
        start: Option<Vertex>,
        start_height: usize,
    ) -> ParseResult<WithHeight<Expr>> {
        let begin = match &start {
            Some(start) => start.span,
            None => self.peek().span,
        };
        let mut steps = Vec::new();
        let mut height = start_height;
        while self.at_graph_arrow() {
            let (step, step_height) = self.graph_step()?;
            height = height.max(step_height);
            steps.push(step);
        }
        let span = begin.to(Span::new(begin.end, self.previous_end()));
        let height = Self::check_height(height + 1, span)?;
        let graph = Graph { start, steps };
        let kind = ExprKind::Graph(Box::new(graph));
        Ok((Expr { kind, span }, height))
    }

    /// An arrow that may pair with another around an edge; table
    /// relations (`->>`, `<<-`) are refused.
    fn plain_arrow(&mut self) -> ParseResult<Op> {
        let token = self.peek().clone();
        match arrow_of(&token) {
            Some(op @ (Op::ArrowRight | Op::ArrowLeft)) => {
                self.next();
                Ok(op)
            }
            Some(_) => Err(ParseError::new(
                "table relations (`->>`, `<<-`) are not supported yet (see query/GRAMMAR.md)",
                token.span,
            )),
            None => Err(self.error_here(&["`->`", "`<-`"])),
        }
    }

    /// `arrow edge arrow vertex`
    fn graph_step(&mut self) -> ParseResult<WithHeight<GraphStep>> {
        let begin = self.peek().span;
        let first = self.plain_arrow()?;
        let (edge, edge_height) = self.edge_or()?;
        let second = self.plain_arrow()?;
        let direction = match (first, second) {
            (Op::ArrowRight, Op::ArrowRight) => EdgeDirection::Out,
            (Op::ArrowLeft, Op::ArrowLeft) => EdgeDirection::In,
            _ => EdgeDirection::Mutual,
        };
        let (vertex, vertex_height) = self.graph_vertex()?;
        let span = begin.to(vertex.span);
        let step = GraphStep {
            direction,
            edge,
            vertex,
            span,
        };
        Ok((step, edge_height.max(vertex_height) + 1))
    }

    /// `a OR b OR ...` (also `||`), left associative.
    fn edge_or(&mut self) -> ParseResult<WithHeight<EdgeSelector>> {
        let (mut left, mut height) = self.edge_and()?;
        while self.eat_keyword(Keyword::Or).is_some() || self.eat_op(Op::OrOr).is_some() {
            let at = self.peek().span;
            let (right, right_height) = self.edge_and()?;
            height = Self::check_height(height.max(right_height) + 1, at)?;
            left = EdgeSelector::Or(Box::new(left), Box::new(right));
        }
        Ok((left, height))
    }

    /// `a AND b AND ...` (also `&&`), left associative.
    fn edge_and(&mut self) -> ParseResult<WithHeight<EdgeSelector>> {
        let (mut left, mut height) = self.edge_not()?;
        while self.eat_keyword(Keyword::And).is_some() || self.eat_op(Op::AndAnd).is_some() {
            let at = self.peek().span;
            let (right, right_height) = self.edge_not()?;
            height = Self::check_height(height.max(right_height) + 1, at)?;
            left = EdgeSelector::And(Box::new(left), Box::new(right));
        }
        Ok((left, height))
    }

    /// `NOT e` (also `!e`) or `e`.
    fn edge_not(&mut self) -> ParseResult<WithHeight<EdgeSelector>> {
        let negated = self
            .eat_keyword(Keyword::Not)
            .or_else(|| self.eat_op(Op::Bang));
        let (table, height) = self.edge_table()?;
        let Some(not) = negated else {
            return Ok((EdgeSelector::Table(table), height));
        };
        if let Some(levels) = &table.levels {
            return Err(ParseError::new(
                "`NOT` takes an edge table without depth levels (it follows one edge)",
                not.to(levels.span),
            ));
        }
        Ok((EdgeSelector::Not(table), height))
    }

    /// `name[levels] [AS alias]` or `(name[levels] [WHERE cond] [AS alias])`.
    fn edge_table(&mut self) -> ParseResult<WithHeight<EdgeTable>> {
        let Some(open) = self.eat_op(Op::ParenOpen) else {
            let name = self.ident("an edge table")?;
            let levels = self.levels()?;
            let alias = self.alias()?;
            let table = EdgeTable {
                name,
                levels,
                condition: None,
                alias,
            };
            return Ok((table, 1));
        };
        self.enter()?;
        let result = self.edge_table_in_parentheses(open);
        self.leave();
        result
    }

    fn edge_table_in_parentheses(&mut self, _open: Span) -> ParseResult<WithHeight<EdgeTable>> {
        let name = self.ident("an edge table")?;
        let levels = self.levels()?;
        let (condition, height) = self.vertex_condition()?;
        let alias = self.alias()?;
        self.expect_op(Op::ParenClose)?;
        let table = EdgeTable {
            name,
            levels,
            condition,
            alias,
        };
        Ok((table, height + 1))
    }

    /// `AS name`, if present.
    fn alias(&mut self) -> ParseResult<Option<Ident>> {
        match self.eat_keyword(Keyword::As) {
            Some(_) => Ok(Some(self.ident("an alias name")?)),
            None => Ok(None),
        }
    }

    /// `WHERE cond`, if present, with the condition's height.
    fn vertex_condition(&mut self) -> ParseResult<(Option<Expr>, usize)> {
        if self.eat_keyword(Keyword::Where).is_none() {
            return Ok((None, 0));
        }
        let (condition, height) = self.expr_with_height()?;
        self.height_seen = self.height_seen.max(height);
        Ok((Some(condition), height))
    }

    /// `[n]`, `[a..b]` or `[a..=b]` after an edge table: depth levels.
    fn levels(&mut self) -> ParseResult<Option<Levels>> {
        let Some(open) = self.eat_op(Op::BracketOpen) else {
            return Ok(None);
        };
        let expr = self.expr_expecting("a depth level such as `1` or `0..2`")?;
        let close = self.expect_op(Op::BracketClose)?;
        let span = open.to(close);
        let level = |expr: &Expr| match expr.kind {
            ExprKind::Literal(Literal::Int(level)) if level >= 0 => Ok(level),
            _ => Err(ParseError::new(
                "a depth level is a non-negative integer",
                expr.span,
            )),
        };
        let (first, last) = match &expr.kind {
            ExprKind::Range {
                start,
                end,
                inclusive,
            } => {
                let (first, end_level) = (level(start)?, level(end)?);
                let last = if *inclusive { end_level } else { end_level - 1 };
                if last < first {
                    return Err(ParseError::new(
                        format!("the depth range {expr} holds no level: its start must be below its end"),
                        span,
                    ));
                }
                (first, last)
            }
            _ => {
                let only = level(&expr)?;
                (only, only)
            }
        };
        let level_max = i64::from(TRAVERSAL_HOPS_MAX) - 1;
        if last > level_max {
            return Err(ParseError::new(
                format!(
                    "depth level {last} is above the limit: a step walks at most \
                     {TRAVERSAL_HOPS_MAX} hops (levels 0 to {level_max})"
                ),
                span,
            ));
        }
        let narrow = |level: i64| u32::try_from(level).expect("checked against the limit");
        Ok(Some(Levels {
            first: narrow(first),
            last: narrow(last),
            span,
        }))
    }

    /// A vertex pattern after an edge (or in `RELATE`): `*`, a table, a
    /// record id, a parameter, `[..]`, or `(.. [WHERE cond] [AS alias])`.
    pub(super) fn graph_vertex(&mut self) -> ParseResult<WithHeight<Vertex>> {
        let token = self.peek().clone();
        let leaf = |kind| Vertex {
            kind,
            condition: None,
            alias: None,
            span: token.span,
        };
        match &token.kind {
            TokenKind::Op(Op::Star) => {
                self.next();
                Ok((leaf(VertexKind::Any), 1))
            }
            TokenKind::Param(name) => {
                self.next();
                let name = Ident {
                    name: name.clone(),
                    span: token.span,
                };
                let expr = Expr {
                    kind: ExprKind::Param(name),
                    span: token.span,
                };
                Ok((leaf(VertexKind::Value(Box::new(expr))), 1))
            }
            TokenKind::Op(Op::BracketOpen) => {
                self.enter()?;
                let result = self.vertex_list();
                self.leave();
                result
            }
            // `(SELECT ...)`: the records a subquery returns.
            TokenKind::Op(Op::ParenOpen) if self.subquery_at(1) => {
                let (expr, height) = self.parenthesized()?;
                Ok((vertex_from_expr(expr), height))
            }
            TokenKind::Op(Op::ParenOpen) => {
                self.enter()?;
                let result = self.vertex_in_parentheses();
                self.leave();
                result
            }
            _ if Self::is_name(&token) => {
                let name = self.ident("a table")?;
                if !self.at_op(Op::Colon) {
                    let span = name.span;
                    return Ok((
                        Vertex {
                            span,
                            ..leaf(VertexKind::Table(name))
                        },
                        1,
                    ));
                }
                let (expr, height) = self.record_id(name)?;
                Ok((vertex_from_expr(expr), height))
            }
            _ => Err(self.error_here(&["a vertex: a table, a record id, `*`, `[..]` or `(..)`"])),
        }
    }

    fn vertex_list(&mut self) -> ParseResult<WithHeight<Vertex>> {
        let open = self.expect_op(Op::BracketOpen)?;
        let mut items = Vec::new();
        let mut height = 0;
        while !self.at_op(Op::BracketClose) {
            let (item, item_height) = self.graph_vertex()?;
            items.push(item);
            height = height.max(item_height);
            if self.eat_op(Op::Comma).is_none() {
                break;
            }
        }
        let close = self.expect_op(Op::BracketClose)?;
        let vertex = Vertex {
            kind: VertexKind::List(items),
            condition: None,
            alias: None,
            span: open.to(close),
        };
        Ok((vertex, height + 1))
    }

    /// `(pattern [WHERE cond] [AS alias])`, where the pattern is `*`, a
    /// subquery, or an expression (a traversal among them).
    fn vertex_in_parentheses(&mut self) -> ParseResult<WithHeight<Vertex>> {
        let open = self.expect_op(Op::ParenOpen)?;
        let (mut vertex, height) = if self.at_op(Op::Star) && !self.graph_arrow_at(1) {
            let span = self.next().span;
            let vertex = Vertex {
                kind: VertexKind::Any,
                condition: None,
                alias: None,
                span,
            };
            (vertex, 1)
        } else {
            let (expr, height) = self.expr_with_height()?;
            (vertex_from_expr(expr), height)
        };
        let (condition, condition_height) = self.vertex_condition()?;
        vertex.condition = condition;
        vertex.alias = self.alias()?;
        let close = self.expect_op(Op::ParenClose)?;
        vertex.span = open.to(close);
        let height = Self::check_height(height.max(condition_height) + 1, vertex.span)?;
        Ok((vertex, height))
    }

    /// In a parenthesized atom whose first item is `first`, at `WHERE` or
    /// `AS`: the filtered vertex, which must start a traversal.
    pub(super) fn filtered_start(
        &mut self,
        open: Span,
        first: Expr,
        first_height: usize,
    ) -> ParseResult<WithHeight<Expr>> {
        let mut vertex = vertex_from_expr(first);
        let (condition, condition_height) = self.vertex_condition()?;
        vertex.condition = condition;
        vertex.alias = self.alias()?;
        let close = self.expect_op(Op::ParenClose)?;
        vertex.span = open.to(close);
        if !self.at_graph_arrow() {
            return Err(ParseError::new(
                "a vertex with WHERE or AS starts a traversal: write `-> edge -> ...` after it",
                vertex.span,
            ));
        }
        self.graph(Some(vertex), first_height.max(condition_height) + 1)
    }

    /// `RELATE from -> edge[:key] -> to [SET ... | CONTENT ...]`; `<- edge
    /// <-` relates the other way round.
    pub(super) fn relate(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Relate)?;
        let (from, _) = self.graph_vertex()?;
        let first = self.relate_arrow()?;
        let edge = self.ident("an edge table")?;
        let key = if self.at_op(Op::Colon) {
            let (expr, _) = self.record_id(edge.clone())?;
            match expr.kind {
                ExprKind::RecordId {
                    key: RecordKey::Any,
                    ..
                } => None,
                ExprKind::RecordId { key, .. } => Some(key),
                _ => unreachable!("record_id gives a record id"),
            }
        } else {
            None
        };
        let second_at = self.peek().span;
        let second = self.relate_arrow()?;
        if first != second {
            return Err(ParseError::new(
                "RELATE takes `a -> edge -> b` or `b <- edge <- a`, with both arrows the same way",
                second_at,
            ));
        }
        let (to, _) = self.graph_vertex()?;
        let (from, to) = match first {
            Op::ArrowLeft => (to, from),
            _ => (from, to),
        };
        let data = if self.eat_keyword(Keyword::Set).is_some() {
            Some(match self.peek().kind {
                TokenKind::Op(Op::BraceOpen) => Data::Content(self.expr()?),
                _ => Data::Set(self.assignments(true)?),
            })
        } else if self.eat_keyword(Keyword::Content).is_some() {
            Some(Data::Content(self.expr_expecting("an object")?))
        } else {
            None
        };
        if self.at_keyword(Keyword::Where) {
            return Err(ParseError::new(
                "RELATE ... WHERE is not supported yet: relate record ids (a list, a parameter or a subquery)",
                self.peek().span,
            ));
        }
        Ok(StatementKind::Relate(Box::new(RelateStatement {
            from,
            edge,
            key,
            to,
            data,
        })))
    }

    fn relate_arrow(&mut self) -> ParseResult<Op> {
        match arrow_of(self.peek()) {
            Some(_) => self.plain_arrow(),
            None => Err(self.error_here(&["`->`", "`<-`"])),
        }
    }
}
