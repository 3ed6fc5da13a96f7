//! `Display` for expressions and literals.

use std::fmt::{self, Display, Formatter, Write};

use super::{comma_separated, is_plain_word};
use crate::ast::*;
use crate::token::Keyword;

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
            ExprKind::Graph(graph) => graph.fmt(f),
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
