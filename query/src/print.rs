//! The canonical printer: `Display` for the syntax tree.
//!
//! The output parses back to the same tree (spans aside). To make that
//! hold without tracking precedence, every binary operation and range is
//! printed in parentheses, which also makes tests show how an expression
//! grouped: `1 + 2 * 3` prints as `(1 + (2 * 3))`. Keywords are upper case;
//! names that spell a keyword are written in backticks.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;
use crate::token::Keyword;

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
                if_not_exists: yes,
                on_database,
                fields,
                schema,
            } => {
                f.write_str("TABLE ")?;
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

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(literal) => literal.fmt(f),
            ExprKind::Array(items) => {
                f.write_str("[")?;
                comma_separated(f, items)?;
                f.write_str("]")
            }
            ExprKind::Object(entries) => {
                f.write_str("{")?;
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    if is_plain_word(&key.name) {
                        f.write_str(&key.name)?;
                    } else {
                        write_string(f, &key.name)?;
                    }
                    write!(f, ": {value}")?;
                }
                f.write_str("}")
            }
            ExprKind::Tuple(items) => {
                f.write_str("(")?;
                comma_separated(f, items)?;
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            ExprKind::Ident(ident) => ident.fmt(f),
            ExprKind::Scoped(path) => write_path(f, path),
            ExprKind::Param(name) => write!(f, "${}", name.name),
            ExprKind::RecordId { table, key } => {
                write!(f, "{table}:")?;
                match key {
                    RecordKey::Ident(ident) => ident.fmt(f),
                    RecordKey::Int(value) => write!(f, "{value}"),
                    RecordKey::Str(value) => write_string(f, value),
                    RecordKey::Any => f.write_str("*"),
                    RecordKey::Param(name) => write!(f, "${}", name.name),
                    RecordKey::Value(value) => value.fmt(f),
                }
            }
            ExprKind::Field {
                base,
                field,
                optional,
            } => {
                write_postfix_base(f, base)?;
                let dot = if *optional { "?." } else { "." };
                write!(f, "{dot}{}", FieldName(&field.name))
            }
            ExprKind::AllFields(base) => {
                write_postfix_base(f, base)?;
                f.write_str(".*")
            }
            ExprKind::Index { base, index } => {
                write_postfix_base(f, base)?;
                write!(f, "[{index}]")
            }
            ExprKind::Call {
                function,
                arguments,
            } => {
                write_path(f, function)?;
                f.write_str("(")?;
                for (index, argument) in arguments.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(name) = &argument.name {
                        write!(f, "{name} = ")?;
                    }
                    argument.value.fmt(f)?;
                }
                f.write_str(")")
            }
            ExprKind::Unary { op, operand } => {
                f.write_str(op.as_str())?;
                // `--` would start a comment and `!~` is one operator, so a
                // prefix operator never touches another one.
                if matches!(operand.kind, ExprKind::Unary { .. }) {
                    write!(f, "({operand})")
                } else {
                    operand.fmt(f)
                }
            }
            ExprKind::Binary { op, left, right } => {
                let right_text = right.to_string();
                // `a CONTAINS (any[0])` must not read as `a CONTAINS ANY [0]`.
                let first_word = right_text
                    .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .next();
                let first_keyword = first_word.and_then(Keyword::from_word);
                // ... and `a CONTAINS ANY (value)` must not read as a
                // `CONTAINS` whose operand is missing.
                let glues = match op {
                    BinaryOp::Contains => matches!(
                        first_keyword,
                        Some(Keyword::None | Keyword::All | Keyword::Any)
                    ),
                    BinaryOp::ContainsNone | BinaryOp::ContainsAll | BinaryOp::ContainsAny => {
                        first_keyword.is_some()
                            && right_text.starts_with(|c: char| c.is_ascii_alphabetic())
                    }
                    _ => false,
                };
                if glues {
                    write!(f, "({left} {} ({right_text}))", op.as_str())
                } else {
                    write!(f, "({left} {} {right_text})", op.as_str())
                }
            }
            ExprKind::Range {
                start,
                end,
                inclusive,
            } => {
                let op = if *inclusive { "..=" } else { ".." };
                write!(f, "({start}{op}{end})")
            }
            ExprKind::Subquery(statement) => write!(f, "({statement})"),
        }
    }
}

/// A field name after `.`: any word may stand there, so only names that
/// are not plain words need backticks.
struct FieldName<'a>(&'a str);

impl Display for FieldName<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if is_plain_word(self.0) {
            f.write_str(self.0)
        } else {
            write!(f, "`{}`", self.0)
        }
    }
}

fn write_path(f: &mut Formatter<'_>, path: &[Ident]) -> fmt::Result {
    for (index, segment) in path.iter().enumerate() {
        if index > 0 {
            write!(f, "::{}", FieldName(&segment.name))?;
        } else {
            segment.fmt(f)?;
        }
    }
    Ok(())
}

/// Postfix access binds tighter than prefix operators, so a prefix
/// operation as the base needs parentheses: `(-a).b`.
fn write_postfix_base(f: &mut Formatter<'_>, base: &Expr) -> fmt::Result {
    if matches!(base.kind, ExprKind::Unary { .. }) {
        write!(f, "({base})")
    } else {
        base.fmt(f)
    }
}

impl UnaryOp {
    /// The operator as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Not => "!",
            UnaryOp::Negate => "-",
            UnaryOp::Plus => "+",
            UnaryOp::BitNot => "~",
        }
    }
}

impl BinaryOp {
    /// The operator as printed.
    pub fn as_str(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Power => "**",
            Multiply => "*",
            Divide => "/",
            Modulo => "%",
            Add => "+",
            Subtract => "-",
            ShiftLeft => "<<",
            ShiftRight => ">>",
            Match => "~",
            NotMatch => "!~",
            Similar => "<>",
            LessThan => "<",
            GreaterThan => ">",
            LessOrEqual => "<=",
            GreaterOrEqual => ">=",
            In => "IN",
            NotIn => "NOT IN",
            Contains => "CONTAINS",
            NotContains => "NOT CONTAINS",
            ContainsNone => "CONTAINS NONE",
            ContainsAll => "CONTAINS ALL",
            ContainsAny => "CONTAINS ANY",
            Equal => "==",
            Is => "=",
            IsNot => "!=",
            BitAnd => "&",
            BitXor => "^",
            BitOr => "|",
            And => "AND",
            Or => "OR",
            NullCoalesce => "?:",
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::None => f.write_str("NONE"),
            Literal::Null => f.write_str("NULL"),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Int(value) => write!(f, "{value}"),
            // `{:?}` is the shortest text that reads back as the same f64,
            // and always has a `.` or an exponent.
            Literal::Float(value) => write!(f, "{value:?}"),
            Literal::Str(value) => write_string(f, value),
            Literal::Bytes(bytes) => {
                f.write_str("b\"")?;
                for byte in bytes {
                    match byte {
                        b'"' => f.write_str("\\\"")?,
                        b'\\' => f.write_str("\\\\")?,
                        0x20..=0x7e => f.write_char(char::from(*byte))?,
                        _ => write!(f, "\\x{byte:02x}")?,
                    }
                }
                f.write_str("\"")
            }
            Literal::Duration(nanoseconds) => write_duration(f, *nanoseconds),
            Literal::Regex { pattern, flags } => write!(f, "//{pattern}//{flags}"),
        }
    }
}

fn write_string(f: &mut Formatter<'_>, value: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Largest units first: `90m` prints as `1h30m`; zero as `0ns`.
fn write_duration(f: &mut Formatter<'_>, nanoseconds: u64) -> fmt::Result {
    const SECOND: u64 = 1_000_000_000;
    const DAY: u64 = 86_400 * SECOND;
    const UNITS: &[(&str, u64)] = &[
        ("y", 365 * DAY),
        ("w", 7 * DAY),
        ("d", DAY),
        ("h", 3_600 * SECOND),
        ("m", 60 * SECOND),
        ("s", SECOND),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    if nanoseconds == 0 {
        return f.write_str("0ns");
    }
    let mut rest = nanoseconds;
    for (unit, length) in UNITS {
        if rest >= *length {
            write!(f, "{}{unit}", rest / length)?;
            rest %= length;
        }
    }
    Ok(())
}
