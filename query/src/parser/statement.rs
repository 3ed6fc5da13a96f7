//! Statements other than schema definitions: `SELECT`, `CREATE`,
//! `UPDATE`, `DELETE`, `INSERT`, `USE`, `LET`, `SET $param`, `BEGIN`,
//! `COMMIT`, `CANCEL`, `RETURN`, `EXPLAIN`, and bare expressions.

use super::{statement_at, ParseResult, Parser};
use crate::ast::{
    AssignOp, Assignment, CreateStatement, Data, DeleteStatement, Direction, Expr, ExprKind, Ident,
    IndexHint, InsertStatement, OrderItem, SelectField, SelectStatement, Statement, StatementKind,
    UpdateStatement,
};
use crate::error::ParseError;
use crate::token::{Keyword, Op, TokenKind};

impl Parser<'_> {
    pub(super) fn statement(&mut self) -> ParseResult<Statement> {
        self.enter()?;
        let result = self.statement_inner();
        self.leave();
        result
    }

    fn statement_inner(&mut self) -> ParseResult<Statement> {
        let start = self.peek().span.start;
        self.reject_unsupported_statement()?;
        let kind = match self.peek_keyword() {
            Some(Keyword::Select) => self.select()?,
            Some(Keyword::Create) => self.create()?,
            Some(Keyword::Update) => self.update()?,
            Some(Keyword::Delete) => self.delete()?,
            Some(Keyword::Insert) => self.insert()?,
            Some(Keyword::Relate) => self.relate()?,
            Some(Keyword::Define) => self.define()?,
            Some(Keyword::Remove) => self.remove()?,
            Some(Keyword::Describe) => self.describe_statement()?,
            Some(Keyword::Info) => self.info()?,
            Some(Keyword::Use) => self.use_statement()?,
            Some(Keyword::Let) => self.let_statement()?,
            Some(Keyword::Set) if matches!(self.peek_nth(1).kind, TokenKind::Param(_)) => {
                self.set_param()?
            }
            Some(Keyword::Begin) => self.transaction_word(Keyword::Begin, StatementKind::Begin),
            Some(Keyword::Commit) => self.transaction_word(Keyword::Commit, StatementKind::Commit),
            Some(Keyword::Cancel) => self.transaction_word(Keyword::Cancel, StatementKind::Cancel),
            Some(Keyword::Return) => {
                self.next();
                StatementKind::Return(self.value_or_statement()?)
            }
            Some(Keyword::Explain) => {
                self.next();
                StatementKind::Explain(Box::new(self.statement()?))
            }
            _ => StatementKind::Expr(self.expr_expecting("a statement")?),
        };
        Ok(statement_at(kind, start, self.previous_end()))
    }

    /// Upstream zeroql statements this parser does not handle yet get a
    /// clear error instead of "expected ..., found `RELATE`".
    fn reject_unsupported_statement(&self) -> ParseResult<()> {
        let token = self.peek();
        if !matches!(token.kind, TokenKind::Word(_)) {
            return Ok(());
        }
        let word = self.source[token.span.start..token.span.end].to_ascii_uppercase();
        let what = match word.as_str() {
            "FOR" | "WHILE" => "loops (`FOR`, `WHILE`)",
            "IF" => "`IF ... THEN ... END`",
            "BREAK" | "CONTINUE" => "loops (`BREAK`, `CONTINUE`)",
            _ => return Ok(()),
        };
        Err(ParseError::new(
            format!("{what} is not supported yet (see query/GRAMMAR.md)"),
            token.span,
        ))
    }

    /// `BEGIN`, `COMMIT` or `CANCEL`, each with an optional `TRANSACTION`.
    fn transaction_word(&mut self, keyword: Keyword, kind: StatementKind) -> StatementKind {
        self.eat_keyword(keyword);
        self.eat_keyword(Keyword::Transaction);
        kind
    }

    /// The value of `LET` and `RETURN`: an expression, or a data statement
    /// written without parentheses (`LET $p = SELECT ...`).
    fn value_or_statement(&mut self) -> ParseResult<Expr> {
        if !self.at_subquery_start() {
            return self.expr();
        }
        let statement = self.statement()?;
        let span = statement.span;
        Ok(Expr {
            kind: ExprKind::Subquery(Box::new(statement)),
            span,
        })
    }

    fn select(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Select)?;
        let mut fields = Vec::new();
        loop {
            if let Some(span) = self.eat_op(Op::Star) {
                fields.push(SelectField::All(span));
            } else {
                let expr = self.expr_expecting("a field, `*` or an expression")?;
                let alias = match self.eat_keyword(Keyword::As) {
                    Some(_) => Some(self.ident("an alias name")?),
                    None => None,
                };
                fields.push(SelectField::Expr { expr, alias });
            }
            if self.eat_op(Op::Comma).is_none() {
                break;
            }
        }
        let omit = match self.eat_keyword(Keyword::Omit) {
            Some(_) => self.expr_list("a field to omit")?,
            None => Vec::new(),
        };
        if !self.at_keyword(Keyword::From) {
            return Err(self.error_here(&["`,`", "`OMIT`", "`FROM`"]));
        }
        self.next();
        let from = self.expr_list("a table, record id, array or subquery after FROM")?;
        let mut select = SelectStatement {
            fields,
            omit,
            from,
            condition: None,
            with_index: None,
            group_by: Vec::new(),
            order_by: Vec::new(),
            start: None,
            limit: None,
        };
        self.select_clauses(&mut select)?;
        Ok(StatementKind::Select(Box::new(select)))
    }

    /// The clauses after `FROM`, in any order, each at most once (upstream
    /// zeroql lets them be permuted).
    fn select_clauses(&mut self, select: &mut SelectStatement) -> ParseResult<()> {
        let mut seen: Vec<Keyword> = Vec::new();
        loop {
            let Some(keyword) = self.peek_keyword() else {
                return Ok(());
            };
            let clause = [
                Keyword::Where,
                Keyword::With,
                Keyword::Group,
                Keyword::Order,
                Keyword::Start,
                Keyword::Limit,
            ];
            if !clause.contains(&keyword) {
                return Ok(());
            }
            self.reject_duplicate(&mut seen, keyword)?;
            self.next();
            match keyword {
                Keyword::Where => select.condition = self.condition()?,
                Keyword::With => select.with_index = Some(self.index_hint()?),
                Keyword::Group => {
                    self.eat_keyword(Keyword::By);
                    select.group_by = self.expr_list("an expression to group by")?;
                }
                Keyword::Order => {
                    self.eat_keyword(Keyword::By);
                    select.order_by = self.order_items()?;
                }
                Keyword::Start => {
                    self.eat_keyword(Keyword::At);
                    select.start = Some(self.expr_expecting("a number of records to skip")?);
                }
                _ => {
                    self.eat_keyword(Keyword::To);
                    select.limit = Some(self.expr_expecting("a number of records")?);
                }
            }
        }
    }

    fn reject_duplicate(&self, seen: &mut Vec<Keyword>, keyword: Keyword) -> ParseResult<()> {
        if seen.contains(&keyword) {
            return Err(ParseError::new(
                format!("duplicate `{}` clause", keyword.as_str()),
                self.peek().span,
            ));
        }
        seen.push(keyword);
        Ok(())
    }

    /// After `WHERE`: a condition, or `*` meaning every record (`None`).
    fn condition(&mut self) -> ParseResult<Option<Expr>> {
        if self.eat_op(Op::Star).is_some() {
            return Ok(None);
        }
        Ok(Some(self.expr_expecting("a condition or `*`")?))
    }

    fn index_hint(&mut self) -> ParseResult<IndexHint> {
        if self.eat_keyword(Keyword::No).is_some() {
            self.expect_keyword(Keyword::Index)?;
            return Ok(IndexHint::NoIndex);
        }
        let words = [Keyword::Index, Keyword::Indexes, Keyword::Indices];
        if self.eat_any_keyword(&words).is_none() {
            return Err(self.error_here(&["`INDEX`", "`NO INDEX`"]));
        }
        Ok(IndexHint::Indexes(self.ident_list("an index name")?))
    }

    fn order_items(&mut self) -> ParseResult<Vec<OrderItem>> {
        let mut items = Vec::new();
        loop {
            let expr = self.expr_expecting("an expression to order by")?;
            let direction = match self.eat_any_keyword(&[Keyword::Asc, Keyword::Desc]) {
                Some(Keyword::Desc) => Direction::Descending,
                _ => Direction::Ascending,
            };
            items.push(OrderItem { expr, direction });
            if self.eat_op(Op::Comma).is_none() {
                return Ok(items);
            }
        }
    }

    /// `e, e, ...` (at least one).
    pub(super) fn expr_list(&mut self, what: &str) -> ParseResult<Vec<Expr>> {
        let mut items = vec![self.expr_expecting(what)?];
        while self.eat_op(Op::Comma).is_some() {
            items.push(self.expr_expecting(what)?);
        }
        Ok(items)
    }

    /// `name, name, ...` (at least one).
    pub(super) fn ident_list(&mut self, what: &str) -> ParseResult<Vec<Ident>> {
        let mut items = vec![self.ident(what)?];
        while self.eat_op(Op::Comma).is_some() {
            items.push(self.ident(what)?);
        }
        Ok(items)
    }

    /// What `CREATE`, `UPDATE` and `DELETE` act on: a table, a record id,
    /// or a parameter holding one.
    fn target(&mut self) -> ParseResult<Expr> {
        let token = self.peek().clone();
        if let TokenKind::Param(name) = &token.kind {
            self.next();
            let ident = Ident {
                name: name.clone(),
                span: token.span,
            };
            return Ok(Expr {
                kind: ExprKind::Param(ident),
                span: token.span,
            });
        }
        let table = self.ident("a table or record id")?;
        if self.at_op(Op::Colon) {
            let expr = self.record_id(table)?.0;
            return Ok(expr);
        }
        let span = table.span;
        Ok(Expr {
            kind: ExprKind::Ident(table),
            span,
        })
    }

    fn create(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Create)?;
        let target = self.target()?;
        let data = if self.eat_keyword(Keyword::Set).is_some() {
            Some(match self.peek().kind {
                TokenKind::Op(Op::BraceOpen) => Data::Content(self.expr()?),
                TokenKind::Op(Op::ParenOpen) => self.values()?,
                _ => Data::Set(self.assignments(true)?),
            })
        } else if self.eat_keyword(Keyword::Content).is_some() {
            Some(Data::Content(self.expr_expecting("an object")?))
        } else {
            None
        };
        Ok(StatementKind::Create(CreateStatement { target, data }))
    }

    /// `(a, b) VALUES (1, 2), (3, 4)`
    fn values(&mut self) -> ParseResult<Data> {
        self.expect_op(Op::ParenOpen)?;
        let columns = self.ident_list("a field name")?;
        self.eat_op(Op::Comma);
        self.expect_op(Op::ParenClose)?;
        self.expect_keyword(Keyword::Values)?;
        let mut rows = Vec::new();
        loop {
            let open = self.expect_op(Op::ParenOpen)?;
            let row = self.expr_list("a value")?;
            self.eat_op(Op::Comma);
            let close = self.expect_op(Op::ParenClose)?;
            if row.len() != columns.len() {
                return Err(ParseError::new(
                    format!(
                        "this row has {} but there {}",
                        plural(row.len(), "value"),
                        match columns.len() {
                            1 => "is 1 field".to_string(),
                            count => format!("are {count} fields"),
                        }
                    ),
                    open.to(close),
                ));
            }
            rows.push(row);
            if self.eat_op(Op::Comma).is_none() {
                return Ok(Data::Values { columns, rows });
            }
        }
    }

    /// `field op value, ...`; `CREATE` allows only `=`.
    pub(super) fn assignments(&mut self, set_only: bool) -> ParseResult<Vec<Assignment>> {
        let mut assignments = Vec::new();
        loop {
            let field = self.ident("a field name")?;
            let op = match self.peek().kind {
                TokenKind::Op(op) => assign_op(op),
                _ => None,
            };
            let Some(op) = op.filter(|op| !set_only || *op == AssignOp::Set) else {
                let expected: &[&str] = if set_only {
                    &["`=`"]
                } else {
                    &["`=`", "`+=`", "`-=`", "another assignment operator"]
                };
                return Err(self.error_here(expected));
            };
            self.next();
            let value = self.expr_expecting("a value")?;
            assignments.push(Assignment { field, op, value });
            if self.eat_op(Op::Comma).is_none() {
                return Ok(assignments);
            }
        }
    }

    fn update(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Update)?;
        let target = self.target()?;
        let mut condition = None;
        let mut data = None;
        let mut seen = Vec::new();
        loop {
            match self.peek_keyword() {
                Some(Keyword::Where) => {
                    self.reject_duplicate(&mut seen, Keyword::Where)?;
                    self.next();
                    condition = self.condition()?;
                }
                Some(keyword @ (Keyword::Set | Keyword::Merge | Keyword::Content)) => {
                    if data.is_some() {
                        return Err(ParseError::new(
                            "an UPDATE takes one SET, MERGE or CONTENT clause",
                            self.peek().span,
                        ));
                    }
                    self.next();
                    data = Some(match keyword {
                        Keyword::Set if self.at_op(Op::BraceOpen) => Data::Merge(self.expr()?),
                        Keyword::Set => Data::Set(self.assignments(false)?),
                        Keyword::Merge => Data::Merge(self.expr_expecting("an object")?),
                        _ => Data::Content(self.expr_expecting("an object")?),
                    });
                }
                _ => break,
            }
        }
        let Some(data) = data else {
            return Err(self.error_here(&["`SET`", "`MERGE`", "`CONTENT`", "`WHERE`"]));
        };
        Ok(StatementKind::Update(UpdateStatement {
            target,
            condition,
            data,
        }))
    }

    fn delete(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Delete)?;
        let mut target = self.target()?;
        // `DELETE a -> edge -> * WHERE ...`: the last step's edges.
        if self.at_graph_arrow() {
            let start = super::graph::vertex_from_expr(target);
            target = self.graph(Some(start), 1)?.0;
        }
        let condition = match self.eat_keyword(Keyword::Where) {
            Some(_) => self.condition()?,
            None => None,
        };
        Ok(StatementKind::Delete(DeleteStatement { target, condition }))
    }

    fn insert(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Insert)?;
        self.expect_keyword(Keyword::Into)?;
        let table = self.ident("a table name")?;
        if !self.at_op(Op::BraceOpen) && !self.at_op(Op::BracketOpen) {
            return Err(self.error_here(&["an object", "an array of objects"]));
        }
        let value = self.expr()?;
        Ok(StatementKind::Insert(InsertStatement { table, value }))
    }

    fn use_statement(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Use)?;
        let mut namespace = None;
        let mut database = None;
        loop {
            match self.peek_keyword() {
                Some(Keyword::Ns | Keyword::Namespace) if namespace.is_none() => {
                    self.next();
                    namespace = Some(self.ident("a namespace name")?);
                }
                Some(Keyword::Db | Keyword::Database) if database.is_none() => {
                    self.next();
                    database = Some(self.ident("a database name")?);
                }
                _ => break,
            }
        }
        if namespace.is_none() && database.is_none() {
            return Err(self.error_here(&["`NS`", "`DB`"]));
        }
        Ok(StatementKind::Use {
            namespace,
            database,
        })
    }

    /// A `$name` token as an identifier without the `$`.
    fn param_name(&mut self) -> ParseResult<Ident> {
        let token = self.peek().clone();
        let TokenKind::Param(name) = token.kind else {
            return Err(self.error_here(&["a parameter such as `$name`"]));
        };
        self.next();
        Ok(Ident {
            name,
            span: token.span,
        })
    }

    fn let_statement(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Let)?;
        let name = self.param_name()?;
        let type_sig = match self.eat_keyword(Keyword::Type) {
            Some(_) => Some(self.type_sig()?),
            None => None,
        };
        self.expect_op(Op::Eq)?;
        let value = self.value_or_statement()?;
        Ok(StatementKind::Let {
            name,
            type_sig,
            value,
        })
    }

    fn set_param(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Set)?;
        let name = self.param_name()?;
        let op = match self.peek().kind {
            TokenKind::Op(op) => assign_op(op),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.error_here(&["`=`", "`+=`", "`-=`", "another assignment operator"]));
        };
        self.next();
        let value = self.value_or_statement()?;
        Ok(StatementKind::SetParam { name, op, value })
    }
}

/// The assignment an operator token spells, if any.
fn assign_op(op: Op) -> Option<AssignOp> {
    Some(match op {
        Op::Eq => AssignOp::Set,
        Op::AssignPlus => AssignOp::Add,
        Op::AssignMinus => AssignOp::Subtract,
        Op::AssignMul => AssignOp::Multiply,
        Op::AssignDiv => AssignOp::Divide,
        Op::AssignMod => AssignOp::Modulo,
        Op::AssignPow => AssignOp::Power,
        Op::AssignBitAnd => AssignOp::BitAnd,
        Op::AssignBitOr => AssignOp::BitOr,
        Op::AssignBitXor => AssignOp::BitXor,
        Op::AssignBitNot => AssignOp::BitNot,
        Op::AssignShl => AssignOp::ShiftLeft,
        Op::AssignShr => AssignOp::ShiftRight,
        _ => return None,
    })
}

/// "1 value", "2 values".
fn plural(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    }
}
