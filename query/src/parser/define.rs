//! Schema statements: `DEFINE`, `REMOVE`, `DESCRIBE` (and its spelling
//! `INFO FOR`), and type signatures.
//!
//! Upstream zeroql lets the clauses after the kind keyword come in any
//! order (`REMOVE TABLE IF EXISTS t` and `REMOVE TABLE t IF EXISTS`), so
//! each statement reads its clauses in a loop and rejects repeats.

use super::{ParseResult, Parser};
use crate::ast::{
    DefineStatement, Expr, ExprKind, FieldDefinition, Ident, SchemaKind, SchemaMode, SchemaTarget,
    Span, StatementKind, TypeKind, TypeSig,
};
use crate::error::ParseError;
use crate::token::{Keyword, Op, TokenKind};

/// The clauses of `DEFINE` statements, gathered before checking which
/// ones the statement's kind allows.
#[derive(Default)]
struct Clauses {
    if_exists: bool,
    on_namespace: Option<Ident>,
    on_database: Option<Ident>,
    on_table: Option<Ident>,
}

/// What a `DEFINE` has read so far; which parts apply depends on the kind.
struct DefineParts {
    clauses: Clauses,
    /// `DEFINE FIELD`: the field's clauses.
    field: FieldDefinition,
    /// `DEFINE TABLE ... FIELDS`
    table_fields: Vec<FieldDefinition>,
    /// `DEFINE INDEX ... FIELDS`
    index_fields: Option<Vec<Ident>>,
    /// `DEFINE INDEX ... UNIQUE`
    unique: bool,
    /// `DEFINE INDEX ... WITH`
    with: Option<Expr>,
    /// `DEFINE TABLE ... SCHEMAFULL|SCHEMALESS`
    schema: Option<SchemaMode>,
}

impl FieldDefinition {
    /// A field with no clauses yet.
    fn named(name: Ident) -> FieldDefinition {
        let span = name.span;
        FieldDefinition {
            name,
            type_sig: None,
            value: None,
            asserts: Vec::new(),
            readonly: false,
            unique: false,
            span,
        }
    }
}

impl SchemaKind {
    /// The kind in lower case, for messages.
    fn noun(self) -> &'static str {
        match self {
            SchemaKind::Namespace => "namespace",
            SchemaKind::Database => "database",
            SchemaKind::Table => "table",
            SchemaKind::Edge => "edge",
            SchemaKind::Field => "field",
            SchemaKind::Index => "index",
        }
    }
}

impl Parser<'_> {
    fn schema_kind(&mut self) -> ParseResult<SchemaKind> {
        let kind = match self.peek_keyword() {
            Some(Keyword::Namespace | Keyword::Ns) => SchemaKind::Namespace,
            Some(Keyword::Database | Keyword::Db) => SchemaKind::Database,
            Some(Keyword::Table) => SchemaKind::Table,
            Some(Keyword::Edge) => SchemaKind::Edge,
            Some(Keyword::Field) => SchemaKind::Field,
            Some(Keyword::Index) => SchemaKind::Index,
            _ if self.at_unsupported_schema_kind() => {
                let token = self.peek();
                let word = self.source[token.span.start..token.span.end].to_ascii_uppercase();
                return Err(ParseError::new(
                    format!("`{word}` schema objects are not supported yet (see query/GRAMMAR.md)"),
                    token.span,
                ));
            }
            _ => {
                return Err(self.error_here(&[
                    "`NAMESPACE`",
                    "`DATABASE`",
                    "`TABLE`",
                    "`EDGE`",
                    "`FIELD`",
                    "`INDEX`",
                ]))
            }
        };
        self.next();
        Ok(kind)
    }

    /// Upstream schema objects not handled yet: types, enums, modules and
    /// parameters.
    fn at_unsupported_schema_kind(&self) -> bool {
        let token = self.peek();
        matches!(token.kind, TokenKind::Word(_))
            && ["type", "enum", "module", "mod", "param"]
                .iter()
                .any(|word| {
                    self.source[token.span.start..token.span.end].eq_ignore_ascii_case(word)
                })
    }

    /// `IF EXISTS` (when `negated` is false) or `IF NOT EXISTS`, if present.
    fn if_exists(&mut self, negated: bool) -> ParseResult<bool> {
        if self.eat_keyword(Keyword::If).is_none() {
            return Ok(false);
        }
        if negated {
            self.expect_keyword(Keyword::Not)?;
        }
        if self
            .eat_any_keyword(&[Keyword::Exists, Keyword::Exist])
            .is_none()
        {
            return Err(self.error_here(&["`EXISTS`"]));
        }
        Ok(true)
    }

    /// `ON ...` if this kind of object has parents. After `ON` comes
    /// `NS x`, `DB x`, `TABLE x`, or a bare name meaning the kind's
    /// natural parent (a database's namespace, a table's database, a
    /// field's or index's table).
    fn try_on_clause(&mut self, kind: SchemaKind, clauses: &mut Clauses) -> ParseResult<bool> {
        let (allowed, natural): (&[SchemaKind], SchemaKind) = match kind {
            SchemaKind::Namespace => return Ok(false),
            SchemaKind::Database => (&[SchemaKind::Namespace], SchemaKind::Namespace),
            SchemaKind::Table | SchemaKind::Edge => (&[SchemaKind::Database], SchemaKind::Database),
            SchemaKind::Field | SchemaKind::Index => (
                &[SchemaKind::Table, SchemaKind::Database],
                SchemaKind::Table,
            ),
        };
        let Some(on) = self.eat_keyword(Keyword::On) else {
            return Ok(false);
        };
        let kind_word = match self.peek_keyword() {
            Some(Keyword::Namespace | Keyword::Ns) => Some(SchemaKind::Namespace),
            Some(Keyword::Database | Keyword::Db) => Some(SchemaKind::Database),
            Some(Keyword::Table) => Some(SchemaKind::Table),
            _ => None,
        };
        // A kind word followed by a name says which parent; a lone word is
        // itself the parent's name.
        let parent = match kind_word {
            Some(parent) if Self::is_name(self.peek_nth(1)) => {
                self.next();
                parent
            }
            _ => natural,
        };
        let name = self.ident("a name")?;
        let span = on.to(name.span);
        if !allowed.contains(&parent) {
            return Err(ParseError::new(
                format!("{} cannot be placed ON a {}", kind.noun(), parent.noun()),
                span,
            ));
        }
        let slot = match parent {
            SchemaKind::Namespace => &mut clauses.on_namespace,
            SchemaKind::Database => &mut clauses.on_database,
            _ => &mut clauses.on_table,
        };
        if slot.is_some() {
            return Err(ParseError::new(
                format!("duplicate `ON` {} clause", parent.noun()),
                span,
            ));
        }
        *slot = Some(name);
        Ok(true)
    }

    pub(super) fn remove(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Remove)?;
        Ok(StatementKind::Remove(self.schema_target(true)?))
    }

    pub(super) fn describe_statement(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Describe)?;
        Ok(StatementKind::Describe(self.schema_target(false)?))
    }

    /// `INFO FOR NS|DB|TABLE name`: the SurrealQL spelling of `DESCRIBE`.
    pub(super) fn info(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Info)?;
        self.expect_keyword(Keyword::For)?;
        Ok(StatementKind::Describe(self.schema_target(false)?))
    }

    /// The object of `REMOVE` / `DESCRIBE`: kind, name and clauses in any
    /// order after the kind.
    fn schema_target(&mut self, name_required: bool) -> ParseResult<SchemaTarget> {
        let kind = self.schema_kind()?;
        let mut clauses = Clauses::default();
        let mut name = None;
        loop {
            if self.try_on_clause(kind, &mut clauses)? {
                continue;
            }
            if !clauses.if_exists && self.at_keyword(Keyword::If) {
                clauses.if_exists = self.if_exists(false)?;
            } else if name.is_none() && Self::is_name(self.peek()) {
                name = Some(self.ident("a name")?);
            } else {
                break;
            }
        }
        let name_optional =
            !name_required && matches!(kind, SchemaKind::Namespace | SchemaKind::Database);
        if name.is_none() && !name_optional {
            return Err(self.error_here(&["a name"]));
        }
        if matches!(kind, SchemaKind::Field) && clauses.on_table.is_none() && name_required {
            return Err(self.error_here(&["`ON TABLE`"]));
        }
        if matches!(kind, SchemaKind::Index) && clauses.on_table.is_none() && name_required {
            return Err(self.error_here(&["`ON TABLE`"]));
        }
        Ok(SchemaTarget {
            kind,
            name,
            if_exists: clauses.if_exists,
            on_namespace: clauses.on_namespace,
            on_database: clauses.on_database,
            on_table: clauses.on_table,
        })
    }

    pub(super) fn define(&mut self) -> ParseResult<StatementKind> {
        self.expect_keyword(Keyword::Define)?;
        let kind = self.schema_kind()?;
        let if_not_exists = self.if_exists(true)?;
        let name = self.ident("a name")?;
        let mut parts = DefineParts {
            clauses: Clauses {
                if_exists: if_not_exists,
                ..Clauses::default()
            },
            field: FieldDefinition::named(name.clone()),
            table_fields: Vec::new(),
            index_fields: None,
            unique: false,
            with: None,
            schema: None,
        };
        while self.define_clause(kind, &mut parts)? {}
        let definition = self.finish_define(kind, name, parts)?;
        Ok(StatementKind::Define(definition))
    }

    /// One clause of a `DEFINE` of `kind`, if one is here; the clauses
    /// allowed depend on the kind and each comes at most once.
    fn define_clause(&mut self, kind: SchemaKind, parts: &mut DefineParts) -> ParseResult<bool> {
        if self.try_on_clause(kind, &mut parts.clauses)?
            || (kind == SchemaKind::Field && self.field_clause(&mut parts.field)?)
        {
            return Ok(true);
        }
        let Some(keyword) = self.peek_keyword() else {
            return Ok(false);
        };
        let is_table = matches!(kind, SchemaKind::Table | SchemaKind::Edge);
        let is_index = kind == SchemaKind::Index;
        match keyword {
            Keyword::If if !parts.clauses.if_exists => {
                parts.clauses.if_exists = self.if_exists(true)?;
                return Ok(true);
            }
            Keyword::Fields if is_table && parts.table_fields.is_empty() => {
                self.next();
                parts.table_fields = self.field_definitions()?;
            }
            Keyword::Schemafull | Keyword::Schemaless if is_table && parts.schema.is_none() => {
                self.next();
                parts.schema = Some(match keyword {
                    Keyword::Schemafull => SchemaMode::Full,
                    _ => SchemaMode::Less,
                });
            }
            Keyword::Fields if is_index && parts.index_fields.is_none() => {
                self.next();
                parts.index_fields = Some(self.ident_list("a field name")?);
            }
            Keyword::Unique if is_index && !parts.unique => {
                self.next();
                parts.unique = true;
            }
            Keyword::With if is_index && parts.with.is_none() => {
                self.next();
                parts.with = Some(self.index_function()?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Builds the definition once its clauses are read, checking the
    /// required ones are there.
    fn finish_define(
        &self,
        kind: SchemaKind,
        name: Ident,
        parts: DefineParts,
    ) -> ParseResult<DefineStatement> {
        let if_not_exists = parts.clauses.if_exists;
        Ok(match kind {
            SchemaKind::Namespace => DefineStatement::Namespace {
                name,
                if_not_exists,
            },
            SchemaKind::Database => DefineStatement::Database {
                name,
                if_not_exists,
                on_namespace: parts.clauses.on_namespace,
            },
            SchemaKind::Table | SchemaKind::Edge => DefineStatement::Table {
                name,
                edge: kind == SchemaKind::Edge,
                if_not_exists,
                on_database: parts.clauses.on_database,
                fields: parts.table_fields,
                schema: parts.schema,
            },
            SchemaKind::Field => {
                let Some(table) = parts.clauses.on_table else {
                    return Err(self.error_here(&["`ON TABLE`", "a field clause"]));
                };
                let mut field = parts.field;
                field.span = field
                    .name
                    .span
                    .to(Span::new(field.name.span.end, self.previous_end()));
                DefineStatement::Field {
                    field,
                    if_not_exists,
                    table,
                    on_database: parts.clauses.on_database,
                }
            }
            SchemaKind::Index => {
                let Some(table) = parts.clauses.on_table else {
                    return Err(self.error_here(&["`ON TABLE`"]));
                };
                let Some(fields) = parts.index_fields else {
                    return Err(self.error_here(&["`FIELDS`"]));
                };
                DefineStatement::Index {
                    name,
                    if_not_exists,
                    table,
                    on_database: parts.clauses.on_database,
                    fields,
                    unique: parts.unique,
                    with: parts.with,
                }
            }
        })
    }

    /// `WITH index::hnsw(m = 16)`: must be a function call.
    fn index_function(&mut self) -> ParseResult<Expr> {
        let here = self.peek().span;
        let expr = self.expr_expecting("an index function such as `index::hnsw(m = 16)`")?;
        if !matches!(expr.kind, ExprKind::Call { .. }) {
            return Err(ParseError::new(
                "expected an index function call such as `index::hnsw(m = 16)`",
                here.to(expr.span),
            ));
        }
        Ok(expr)
    }

    /// `FIELDS name clauses, name clauses, ...` after `FIELDS`.
    fn field_definitions(&mut self) -> ParseResult<Vec<FieldDefinition>> {
        let mut fields = Vec::new();
        loop {
            let name = self.ident("a field name")?;
            let mut field = FieldDefinition::named(name.clone());
            while self.field_clause(&mut field)? {}
            field.span = name.span.to(Span::new(name.span.end, self.previous_end()));
            fields.push(field);
            if self.eat_op(Op::Comma).is_none() {
                return Ok(fields);
            }
        }
    }

    /// One of `TYPE t`, `VALUE e`, `ASSERT e`, `READONLY`, `UNIQUE`, if
    /// present; each but `ASSERT` at most once.
    fn field_clause(&mut self, field: &mut FieldDefinition) -> ParseResult<bool> {
        match self.peek_keyword() {
            Some(Keyword::Type) if field.type_sig.is_none() => {
                self.next();
                field.type_sig = Some(self.type_sig()?);
            }
            Some(Keyword::Value) if field.value.is_none() => {
                self.next();
                field.value = Some(self.expr_expecting("a value expression")?);
            }
            Some(Keyword::Assert) => {
                self.next();
                field.asserts.push(self.expr_expecting("a condition")?);
            }
            Some(Keyword::Readonly) if !field.readonly => {
                self.next();
                field.readonly = true;
            }
            Some(Keyword::Unique) if !field.unique => {
                self.next();
                field.unique = true;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `u8`, `a::b`, `name[T, U]`, `[T]`, `[T n]`, `(T, U)`, each with
    /// optional trailing `?`s.
    pub(super) fn type_sig(&mut self) -> ParseResult<TypeSig> {
        self.enter()?;
        let result = self.type_sig_inner();
        self.leave();
        result
    }

    fn type_sig_inner(&mut self) -> ParseResult<TypeSig> {
        let start = self.peek().span;
        let kind = if self.eat_op(Op::BracketOpen).is_some() {
            let element = Box::new(self.type_sig()?);
            let kind = match self.peek().kind {
                TokenKind::Int(length) => {
                    self.next();
                    TypeKind::Array(element, length)
                }
                _ => TypeKind::List(element),
            };
            self.expect_op(Op::BracketClose)?;
            kind
        } else if self.eat_op(Op::ParenOpen).is_some() {
            let elements = self.type_list(Op::ParenClose)?;
            TypeKind::Tuple(elements)
        } else {
            let mut path = vec![self.ident("a type")?];
            while self.eat_op(Op::Scope).is_some() {
                path.push(self.ident("a type name")?);
            }
            let arguments = match self.eat_op(Op::BracketOpen) {
                Some(_) => self.type_list(Op::BracketClose)?,
                None => Vec::new(),
            };
            TypeKind::Named { path, arguments }
        };
        let mut optional = false;
        while self.eat_op(Op::Question).is_some() {
            optional = true;
        }
        Ok(TypeSig {
            kind,
            optional,
            span: start.to(Span::new(start.end, self.previous_end())),
        })
    }

    /// `T, U, ...` then `close` (a trailing comma allowed; at least one).
    fn type_list(&mut self, close: Op) -> ParseResult<Vec<TypeSig>> {
        let mut items = vec![self.type_sig()?];
        while self.eat_op(Op::Comma).is_some() && !self.at_op(close) {
            items.push(self.type_sig()?);
        }
        self.expect_op(close)?;
        Ok(items)
    }
}
