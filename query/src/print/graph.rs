//! `Display` for traversals and `RELATE`.
//!
//! A vertex with a filter or alias, a nested traversal and a value other
//! than a parameter or subquery are written in parentheses, so that what
//! follows a traversal (`.name`, an operator) never reads as part of its
//! last vertex.

use std::fmt::{self, Display, Formatter};

use super::comma_separated;
use crate::ast::*;

impl Display for Graph {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(start) = &self.start {
            start.fmt(f)?;
            f.write_str(" ")?;
        }
        for (index, step) in self.steps.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            step.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for GraphStep {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (first, second) = match self.direction {
            EdgeDirection::Out => ("->", "->"),
            EdgeDirection::In => ("<-", "<-"),
            EdgeDirection::Mutual => ("->", "<-"),
        };
        write!(f, "{first} {} {second} {}", self.edge, self.vertex)
    }
}

impl Display for EdgeSelector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            EdgeSelector::Table(table) => table.fmt(f),
            EdgeSelector::Not(table) => write!(f, "NOT {table}"),
            EdgeSelector::And(left, right) => write!(f, "{left} AND {right}"),
            // `AND` binds tighter, so an `OR` on the right of an `OR` is
            // only there when written in that order: left associative.
            EdgeSelector::Or(left, right) => write!(f, "{left} OR {right}"),
        }
    }
}

impl Display for EdgeTable {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let parenthesized = self.condition.is_some();
        if parenthesized {
            f.write_str("(")?;
        }
        self.name.fmt(f)?;
        if let Some(levels) = &self.levels {
            levels.fmt(f)?;
        }
        if let Some(condition) = &self.condition {
            write!(f, " WHERE {condition}")?;
        }
        if let Some(alias) = &self.alias {
            write!(f, " AS {alias}")?;
        }
        if parenthesized {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl Display for Levels {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "[{}]", self.first)
        } else {
            write!(f, "[{}..={}]", self.first, self.last)
        }
    }
}

impl Display for Vertex {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.condition.is_none() && self.alias.is_none() {
            return match &self.kind {
                VertexKind::Graph(graph) => write!(f, "({graph})"),
                VertexKind::Value(value) if !is_self_delimited(value) => write!(f, "({value})"),
                kind => kind.fmt(f),
            };
        }
        f.write_str("(")?;
        self.kind.fmt(f)?;
        if let Some(condition) = &self.condition {
            write!(f, " WHERE {condition}")?;
        }
        if let Some(alias) = &self.alias {
            write!(f, " AS {alias}")?;
        }
        f.write_str(")")
    }
}

/// A parameter or subquery reads back as itself before an arrow or after
/// a vertex position; other values need parentheses.
fn is_self_delimited(value: &Expr) -> bool {
    matches!(value.kind, ExprKind::Param(_) | ExprKind::Subquery(_))
}

impl Display for VertexKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            VertexKind::Any => f.write_str("*"),
            VertexKind::Table(table) => table.fmt(f),
            VertexKind::Record { table, key } => {
                let id = Expr {
                    kind: ExprKind::RecordId {
                        table: table.clone(),
                        key: key.clone(),
                    },
                    span: Span::default(),
                };
                id.fmt(f)
            }
            VertexKind::List(items) => {
                f.write_str("[")?;
                comma_separated(f, items)?;
                f.write_str("]")
            }
            VertexKind::Graph(graph) => graph.fmt(f),
            VertexKind::Value(value) => value.fmt(f),
        }
    }
}

impl Display for RelateStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "RELATE {} -> ", self.from)?;
        match &self.key {
            Some(key) => VertexKind::Record {
                table: self.edge.clone(),
                key: key.clone(),
            }
            .fmt(f)?,
            None => self.edge.fmt(f)?,
        }
        write!(f, " -> {}", self.to)?;
        match &self.data {
            Some(Data::Content(value)) if matches!(value.kind, ExprKind::Object(_)) => {
                write!(f, " SET {value}")
            }
            Some(data) => write!(f, " {data}"),
            None => Ok(()),
        }
    }
}
