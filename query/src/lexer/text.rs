//! Quoted strings, byte strings with their escapes, and regex literals.

use super::{LexResult, Lexer};
use crate::ast::Span;
use crate::error::ParseError;
use crate::token::TokenKind;

const ESCAPES_ALLOWED: &[&str] = &[
    "`\\t`",
    "`\\n`",
    "`\\r`",
    "`\\0`",
    "`\\\\`",
    "`\\'`",
    "`\\\"`",
    "`\\xHH`",
    "`\\uHHHH`",
    "`\\UHHHHHHHH`",
];

impl Lexer<'_> {
    /// A quoted string starting at the quote; the `b` of a byte string is
    /// already consumed. Returns the decoded bytes (UTF-8 for text strings).
    pub(super) fn quoted(&mut self, is_bytes: bool) -> LexResult<Vec<u8>> {
        let literal_start = if is_bytes {
            self.position - 1
        } else {
            self.position
        };
        let quote = self.bump().expect("called at a quote");
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None | Some('\n') => {
                    let found = self.describe_char_here();
                    let mut error = ParseError::expected(
                        vec![format!("closing `{quote}`")],
                        &found,
                        Span::new(literal_start, literal_start + 1),
                    );
                    error.message = format!("unterminated string: {}", error.message);
                    return Err(error);
                }
                Some(c) if c == quote => {
                    self.bump();
                    return Ok(value);
                }
                Some('\\') => self.escape(is_bytes, &mut value)?,
                Some(c) => {
                    self.bump();
                    let mut buffer = [0; 4];
                    value.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                }
            }
        }
    }

    fn escape(&mut self, is_bytes: bool, value: &mut Vec<u8>) -> LexResult<()> {
        let start = self.position;
        self.bump();
        let simple = match self.peek() {
            Some('t') => Some(b'\t'),
            Some('n') => Some(b'\n'),
            Some('r') => Some(b'\r'),
            Some('0') => Some(0),
            Some('\\') => Some(b'\\'),
            Some('\'') => Some(b'\''),
            Some('"') => Some(b'"'),
            _ => None,
        };
        if let Some(byte) = simple {
            self.bump();
            value.push(byte);
            return Ok(());
        }
        let digits = match self.peek() {
            Some('x') => 2,
            Some('u') => 4,
            Some('U') => 8,
            _ => {
                self.bump();
                let shown = &self.source[start..self.position];
                let name = if shown == "\\" {
                    "`\\` at the end of input".to_string()
                } else {
                    format!("`{shown}`")
                };
                return Err(ParseError {
                    message: format!("unknown escape {name} in string"),
                    span: self.span_from(start),
                    expected: ESCAPES_ALLOWED.iter().map(|e| e.to_string()).collect(),
                });
            }
        };
        self.bump();
        let hex_start = self.position;
        for _ in 0..digits {
            if !self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                break;
            }
            self.bump();
        }
        let hex = &self.source[hex_start..self.position];
        let span = self.span_from(start);
        let escape_text = &self.source[start..self.position];
        if hex.len() != digits {
            return Err(ParseError::new(
                format!("invalid escape `{escape_text}`: expected {digits} hexadecimal digits"),
                span,
            ));
        }
        let code = u32::from_str_radix(hex, 16).expect("checked hexadecimal digits");
        if digits == 2 && is_bytes {
            value.push(code as u8);
            return Ok(());
        }
        let c = char::from_u32(code).ok_or_else(|| {
            ParseError::new(
                format!("invalid escape `{escape_text}`: not a Unicode scalar value"),
                span,
            )
        })?;
        let mut buffer = [0; 4];
        value.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
        Ok(())
    }

    /// `//pattern//flags`. `\` keeps the next character in the pattern, so
    /// `\/` does not end it; the pattern is stored as written.
    pub(super) fn regex(&mut self) -> LexResult<()> {
        let start = self.position;
        self.position += 2;
        let pattern_start = self.position;
        loop {
            let rest = self.rest();
            if rest.starts_with("//") {
                break;
            }
            if matches!(self.peek(), None | Some('\n')) {
                let found = self.describe_char_here();
                return Err(ParseError::expected(
                    vec!["closing `//`".to_string()],
                    &found,
                    Span::new(start, start + 2),
                )
                .with_prefix("unterminated regex: "));
            }
            // `\` keeps the next character (unless it ends the line).
            if self.bump() == Some('\\') && self.peek().is_some_and(|c| c != '\n') {
                self.bump();
            }
        }
        let pattern = self.source[pattern_start..self.position].to_string();
        self.position += 2;
        let flags_start = self.position;
        while self.peek().is_some_and(|c| "gimsux".contains(c)) {
            self.bump();
        }
        let flags = self.source[flags_start..self.position].to_string();
        self.push(TokenKind::Regex { pattern, flags }, start);
        Ok(())
    }
}
