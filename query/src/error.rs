//! Parse errors and their rendering against the source text.

use crate::ast::Span;

/// A lexing or parsing failure: what went wrong, where, and what would
/// have been accepted there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at bytes {}..{})", span.start, span.end)]
pub struct ParseError {
    /// One sentence, such as "expected expression, found `;`".
    pub message: String,
    /// The offending text; `start == end` at the end of input.
    pub span: Span,
    /// What the parser would have accepted at `span`, if it knows.
    pub expected: Vec<String>,
}

impl ParseError {
    /// An error that is not about a missing token, such as a bad escape.
    pub fn new(message: impl Into<String>, span: Span) -> ParseError {
        ParseError {
            message: message.into(),
            span,
            expected: Vec::new(),
        }
    }

    /// "expected A, B or C, found F".
    pub fn expected(expected: Vec<String>, found: &str, span: Span) -> ParseError {
        let message = format!("expected {}, found {found}", join_alternatives(&expected));
        ParseError {
            message,
            span,
            expected,
        }
    }

    /// 1-based line and column (in characters) of the start of the span.
    pub fn line_column(&self, source: &str) -> (usize, usize) {
        let start = clamp_to_boundary(source, self.span.start);
        let before = &source[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = source[line_start..start].chars().count() + 1;
        (line, column)
    }

    /// The error as a person reads it:
    ///
    /// ```text
    /// error: expected expression, found end of input
    ///  --> 1:15
    ///   |
    /// 1 | SELECT * FROM
    ///   |               ^
    /// ```
    ///
    /// The carets cover the span's characters on its first line (at least
    /// one caret, placed just past the text when the span is at its end).
    pub fn render(&self, source: &str) -> String {
        let (line, column) = self.line_column(source);
        let start = clamp_to_boundary(source, self.span.start);
        let end = clamp_to_boundary(source, self.span.end.max(start));
        let line_start = source[..start].rfind('\n').map_or(0, |newline| newline + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |newline| start + newline);
        let line_text = source[line_start..line_end].trim_end_matches('\r');
        let caret_count = source[start..end.min(line_end)].chars().count().max(1);
        let (shown, caret_column) = window(line_text, column - 1);
        let caret_count = caret_count.min(LINE_CHARS_SHOWN_MAX);
        let gutter = " ".repeat(line.to_string().len());
        format!(
            "error: {message}\n{gutter}--> {line}:{column}\n{gutter} |\n{line} | {shown}\n{gutter} | {pad}{carets}\n",
            message = self.message,
            pad = " ".repeat(caret_column),
            carets = "^".repeat(caret_count),
        )
    }
}

/// Longest source line shown whole; longer lines are cut to a window
/// around the error so one error on a huge line stays readable.
const LINE_CHARS_SHOWN_MAX: usize = 100;

/// The part of `line` to show and the caret's column within it, for an
/// error at character `column` (0-based). Cut ends are marked `...`.
fn window(line: &str, column: usize) -> (String, usize) {
    let length = line.chars().count();
    if length <= LINE_CHARS_SHOWN_MAX {
        return (line.to_string(), column);
    }
    let first = column.saturating_sub(LINE_CHARS_SHOWN_MAX / 2);
    let last = (first + LINE_CHARS_SHOWN_MAX).min(length);
    let mut shown = String::new();
    let mut caret_column = column - first;
    if first > 0 {
        shown.push_str("...");
        caret_column += 3;
    }
    shown.extend(line.chars().skip(first).take(last - first));
    if last < length {
        shown.push_str("...");
    }
    (shown, caret_column)
}

/// "A", "A or B", "A, B or C".
fn join_alternatives(alternatives: &[String]) -> String {
    match alternatives {
        [] => "something else".to_string(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The nearest character boundary at or before `offset`, within `source`.
/// Spans from the lexer are always on boundaries; this keeps rendering safe
/// for spans built by hand.
fn clamp_to_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let source = "SELECT \"héllo\" ⊇ x\nFROM ☃ t";
        let snowman = source.find('☃').unwrap();
        let error = ParseError::new("bad", Span::new(snowman, snowman + '☃'.len_utf8()));
        assert_eq!(error.line_column(source), (2, 6));
        assert_eq!(
            error.render(source),
            "error: bad\n --> 2:6\n  |\n2 | FROM ☃ t\n  |      ^\n"
        );
        let x = source.find('x').unwrap();
        let error = ParseError::new("bad", Span::new(x, x + 1));
        assert_eq!(error.line_column(source), (1, 18));
    }

    #[test]
    fn carets_span_the_token_and_stop_at_the_line_end() {
        let source = "a\nSELECT nope\nb";
        let start = source.find("nope").unwrap();
        let error = ParseError::new("bad", Span::new(start, source.len()));
        assert_eq!(
            error.render(source),
            "error: bad\n --> 2:8\n  |\n2 | SELECT nope\n  |        ^^^^\n"
        );
    }

    #[test]
    fn an_error_at_the_end_gets_one_caret_past_the_text() {
        let source = "SELECT * FROM";
        let error = ParseError::expected(
            vec![
                "a table".into(),
                "a record id".into(),
                "an expression".into(),
            ],
            "end of input",
            Span::new(13, 13),
        );
        assert_eq!(
            error.render(source),
            "error: expected a table, a record id or an expression, found end of input\n --> 1:14\n  |\n1 | SELECT * FROM\n  |              ^\n"
        );
    }

    #[test]
    fn long_lines_are_cut_to_a_window_around_the_error() {
        let source = format!("{}ERR{}", "a ".repeat(100), " b".repeat(100));
        let error = ParseError::new("bad", Span::new(200, 203));
        let rendered = error.render(&source);
        let expected_line = format!("...{}ERR{}...", "a ".repeat(25), " b".repeat(23) + " ");
        assert_eq!(
            rendered,
            format!(
                "error: bad\n --> 1:201\n  |\n1 | {expected_line}\n  | {}^^^\n",
                " ".repeat(53)
            )
        );
    }

    #[test]
    fn the_gutter_widens_with_the_line_number() {
        let source = format!("{}x", "\n".repeat(11));
        let error = ParseError::new("bad", Span::new(11, 12));
        assert_eq!(
            error.render(&source),
            "error: bad\n  --> 12:1\n   |\n12 | x\n   | ^\n"
        );
    }
}
