//! The canonical printer: `Display` for the syntax tree.
//!
//! The output parses back to the same tree (spans aside). To make that
//! hold without tracking precedence, every binary operation and range is
//! printed in parentheses, which also makes tests show how an expression
//! grouped: `1 + 2 * 3` prints as `(1 + (2 * 3))`. Keywords are upper case;
//! names that spell a keyword are written in backticks.

use std::fmt::{self, Display, Formatter};

use crate::ast::*;
use crate::token::Keyword;

mod expr;
mod graph;

/// Writes `items` separated by `, `.
fn comma_separated<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        item.fmt(f)?;
    }
    Ok(())
}

fn is_plain_word(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a name must be written in backticks: reserved keywords cannot
/// be bare names, and a name spelling a statement keyword would start that
/// statement when it opens an expression statement.
fn needs_backticks(name: &str) -> bool {
    if !is_plain_word(name) {
        return true;
    }
    Keyword::from_word(name).is_some_and(|keyword| {
        keyword.is_reserved()
            || matches!(
                keyword,
                Keyword::Begin
                    | Keyword::Commit
                    | Keyword::Cancel
                    | Keyword::Use
                    | Keyword::Let
                    | Keyword::Return
                    | Keyword::Explain
                    | Keyword::Info
            )
    })
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !needs_backticks(&self.name) {
            f.write_str(&self.name)
        } else {
            write!(f, "`{}`", self.name)
        }
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (index, statement) in self.statements.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            statement.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl Display for StatementKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            StatementKind::Select(select) => select.fmt(f),
            StatementKind::Create(create) => {
                write!(f, "CREATE {}", create.target)?;
                match &create.data {
                    Some(Data::Content(value)) if is_object(value) => write!(f, " SET {value}"),
                    Some(data) => write!(f, " {data}"),
                    None => Ok(()),
                }
            }
            StatementKind::Update(update) => {
                write!(f, "UPDATE {} ", update.target)?;
                match &update.data {
                    Data::Merge(value) if is_object(value) => write!(f, "SET {value}")?,
                    data => data.fmt(f)?,
                }
                if let Some(condition) = &update.condition {
                    write!(f, " WHERE {condition}")?;
                }
                Ok(())
            }
            StatementKind::Delete(delete) => {
                write!(f, "DELETE {}", delete.target)?;
                if let Some(condition) = &delete.condition {
                    write!(f, " WHERE {condition}")?;
                }
                Ok(())
            }
            StatementKind::Relate(relate) => relate.fmt(f),
            StatementKind::Insert(insert) => {
                write!(f, "INSERT INTO {} {}", insert.table, insert.value)
            }
            StatementKind::Define(define) => define.fmt(f),
            StatementKind::Remove(target) => {
                write!(f, "REMOVE {}", SchemaTargetDisplay(target, "IF EXISTS"))
            }
            StatementKind::Describe(target) => {
                write!(f, "DESCRIBE {}", SchemaTargetDisplay(target, "IF EXISTS"))
            }
            StatementKind::Use {
                namespace,
                database,
            } => {
                f.write_str("USE")?;
                if let Some(namespace) = namespace {
                    write!(f, " NS {namespace}")?;
                }
                if let Some(database) = database {
                    write!(f, " DB {database}")?;
                }
                Ok(())
            }
            StatementKind::Let {
                name,
                type_sig,
                value,
            } => {
                write!(f, "LET ${}", name.name)?;
                if let Some(type_sig) = type_sig {
                    write!(f, " TYPE {type_sig}")?;
                }
                write!(f, " = {value}")
            }
            StatementKind::SetParam { name, op, value } => {
                write!(f, "SET ${} {} {value}", name.name, op.as_str())
            }
            StatementKind::Begin => f.write_str("BEGIN TRANSACTION"),
            StatementKind::Commit => f.write_str("COMMIT TRANSACTION"),
            StatementKind::Cancel => f.write_str("CANCEL TRANSACTION"),
            StatementKind::Return(value) => write!(f, "RETURN {value}"),
            StatementKind::Explain(statement) => write!(f, "EXPLAIN {statement}"),
            StatementKind::Expr(expr) => expr.fmt(f),
        }
    }
}

fn is_object(expr: &Expr) -> bool {
    matches!(expr.kind, ExprKind::Object(_))
}

impl Display for SelectStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        comma_separated(f, &self.fields)?;
        if !self.omit.is_empty() {
            f.write_str(" OMIT ")?;
            comma_separated(f, &self.omit)?;
        }
        f.write_str(" FROM ")?;
        comma_separated(f, &self.from)?;
        if let Some(condition) = &self.condition {
            write!(f, " WHERE {condition}")?;
        }
        match &self.with_index {
            Some(IndexHint::NoIndex) => f.write_str(" WITH NO INDEX")?,
            Some(IndexHint::Indexes(indexes)) => {
                f.write_str(" WITH INDEX ")?;
                comma_separated(f, indexes)?;
            }
            None => {}
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            comma_separated(f, &self.group_by)?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            comma_separated(f, &self.order_by)?;
        }
        if let Some(start) = &self.start {
            write!(f, " START {start}")?;
        }
        if let Some(limit) = &self.limit {
            write!(f, " LIMIT {limit}")?;
        }
        Ok(())
    }
}

impl Display for SelectField {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectField::All(_) => f.write_str("*"),
            SelectField::Expr { expr, alias } => {
                expr.fmt(f)?;
                match alias {
                    Some(alias) => write!(f, " AS {alias}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl Display for OrderItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let direction = match self.direction {
            Direction::Ascending => "ASC",
            Direction::Descending => "DESC",
        };
        write!(f, "{} {direction}", self.expr)
    }
}

impl Display for Data {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Data::Set(assignments) => {
                f.write_str("SET ")?;
                comma_separated(f, assignments)
            }
            Data::Content(value) => write!(f, "CONTENT {value}"),
            Data::Merge(value) => write!(f, "MERGE {value}"),
            Data::Values { columns, rows } => {
                f.write_str("SET (")?;
                comma_separated(f, columns)?;
                f.write_str(") VALUES ")?;
                for (index, row) in rows.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str("(")?;
                    comma_separated(f, row)?;
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

impl Display for Assignment {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.field, self.op.as_str(), self.value)
    }
}

impl AssignOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignOp::Set => "=",
            AssignOp::Add => "+=",
            AssignOp::Subtract => "-=",
            AssignOp::Multiply => "*=",
            AssignOp::Divide => "/=",
            AssignOp::Modulo => "%=",
            AssignOp::Power => "**=",
            AssignOp::BitAnd => "&=",
            AssignOp::BitOr => "|=",
            AssignOp::BitXor => "^=",
            AssignOp::BitNot => "~=",
            AssignOp::ShiftLeft => "<<=",
            AssignOp::ShiftRight => ">>=",
        }
    }
}

impl Display for DefineStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("DEFINE ")?;
        let if_not_exists = |f: &mut Formatter<'_>, yes: bool| {
            if yes {
                f.write_str("IF NOT EXISTS ")
            } else {
                Ok(())
            }
        };
        let on = |f: &mut Formatter<'_>, kind: &str, name: &Option<Ident>| match name {
            Some(name) => write!(f, " ON {kind} {name}"),
            None => Ok(()),
        };
        match self {
            DefineStatement::Namespace {
                name,
                if_not_exists: yes,
            } => {
                f.write_str("NAMESPACE ")?;
                if_not_exists(f, *yes)?;
                name.fmt(f)
            }
            DefineStatement::Database {
                name,
                if_not_exists: yes,
                on_namespace,
            } => {
                f.write_str("DATABASE ")?;
                if_not_exists(f, *yes)?;
                name.fmt(f)?;
                on(f, "NAMESPACE", on_namespace)
            }
            DefineStatement::Table {
                name,
                edge,
                if_not_exists: yes,
                on_database,
                fields,
                schema,
            } => {
                f.write_str(if *edge { "EDGE " } else { "TABLE " })?;
                if_not_exists(f, *yes)?;
                name.fmt(f)?;
                on(f, "DATABASE", on_database)?;
                match schema {
                    Some(SchemaMode::Full) => f.write_str(" SCHEMAFULL")?,
                    Some(SchemaMode::Less) => f.write_str(" SCHEMALESS")?,
                    None => {}
                }
                if !fields.is_empty() {
                    f.write_str(" FIELDS ")?;
                    comma_separated(f, fields)?;
                }
                Ok(())
            }
            DefineStatement::Field {
                field,
                if_not_exists: yes,
                table,
                on_database,
            } => {
                f.write_str("FIELD ")?;
                if_not_exists(f, *yes)?;
                write!(f, "{} ON TABLE {table}", field.name)?;
                on(f, "DATABASE", on_database)?;
                field.write_clauses(f)
            }
            DefineStatement::Index {
                name,
                if_not_exists: yes,
                table,
                on_database,
                fields,
                unique,
                with,
            } => {
                f.write_str("INDEX ")?;
                if_not_exists(f, *yes)?;
                write!(f, "{name} ON TABLE {table}")?;
                on(f, "DATABASE", on_database)?;
                f.write_str(" FIELDS ")?;
                comma_separated(f, fields)?;
                if *unique {
                    f.write_str(" UNIQUE")?;
                }
                match with {
                    Some(with) => write!(f, " WITH {with}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl FieldDefinition {
    fn write_clauses(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(type_sig) = &self.type_sig {
            write!(f, " TYPE {type_sig}")?;
        }
        if let Some(value) = &self.value {
            write!(f, " VALUE {value}")?;
        }
        for assert in &self.asserts {
            write!(f, " ASSERT {assert}")?;
        }
        if self.readonly {
            f.write_str(" READONLY")?;
        }
        if self.unique {
            f.write_str(" UNIQUE")?;
        }
        Ok(())
    }
}

impl Display for FieldDefinition {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.name.fmt(f)?;
        self.write_clauses(f)
    }
}

impl Display for TypeSig {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TypeKind::Named { path, arguments } => {
                for (index, segment) in path.iter().enumerate() {
                    if index > 0 {
                        f.write_str("::")?;
                    }
                    segment.fmt(f)?;
                }
                if !arguments.is_empty() {
                    f.write_str("[")?;
                    comma_separated(f, arguments)?;
                    f.write_str("]")?;
                }
            }
            TypeKind::List(element) => write!(f, "[{element}]")?,
            TypeKind::Array(element, length) => write!(f, "[{element} {length}]")?,
            TypeKind::Tuple(elements) => {
                f.write_str("(")?;
                comma_separated(f, elements)?;
                f.write_str(")")?;
            }
        }
        if self.optional {
            f.write_str("?")?;
        }
        Ok(())
    }
}

/// A schema target with the words for its existence check.
struct SchemaTargetDisplay<'a>(&'a SchemaTarget, &'static str);

impl Display for SchemaTargetDisplay<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let SchemaTargetDisplay(target, if_exists) = self;
        f.write_str(match target.kind {
            SchemaKind::Namespace => "NAMESPACE",
            SchemaKind::Database => "DATABASE",
            SchemaKind::Table => "TABLE",
            SchemaKind::Edge => "EDGE",
            SchemaKind::Field => "FIELD",
            SchemaKind::Index => "INDEX",
        })?;
        if target.if_exists {
            write!(f, " {if_exists}")?;
        }
        if let Some(name) = &target.name {
            write!(f, " {name}")?;
        }
        for (kind, name) in [
            ("NAMESPACE", &target.on_namespace),
            ("TABLE", &target.on_table),
            ("DATABASE", &target.on_database),
        ] {
            if let Some(name) = name {
                write!(f, " ON {kind} {name}")?;
            }
        }
        Ok(())
    }
}
