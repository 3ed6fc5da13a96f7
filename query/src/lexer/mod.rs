//! The lexer: source text to tokens with byte spans, following the upstream
//! zeroql lexer grammar (see `query/GRAMMAR.md` for the differences).
//!
//! Hand-written rather than generated: the context rules (`1..2` is a range,
//! not a float; `1h30m` is one duration; `--` starts a comment; `//` starts
//! a regex) are a few lines each here, and errors can name the exact
//! character that is wrong.

use crate::ast::Span;
use crate::error::ParseError;
use crate::token::{Keyword, Token, TokenKind, OPERATOR_SPELLINGS};

mod number;
mod text;

/// Turns `source` into tokens ending with one [`TokenKind::Eof`].
pub fn lex(source: &str) -> Result<Vec<Token>, ParseError> {
    let mut lexer = Lexer {
        source,
        position: 0,
        tokens: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'s> {
    source: &'s str,
    position: usize,
    tokens: Vec<Token>,
}

type LexResult<T> = Result<T, ParseError>;

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        &self.source[self.position..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.position += c.len_utf8();
        Some(c)
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        // Error rendering and the parser slice the source by token spans.
        debug_assert!(
            start <= self.position
                && self.source.is_char_boundary(start)
                && self.source.is_char_boundary(self.position),
            "token span {start}..{} is not on character boundaries",
            self.position
        );
        self.tokens.push(Token {
            kind,
            span: Span::new(start, self.position),
        });
    }

    fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.position)
    }

    fn run(&mut self) -> LexResult<()> {
        loop {
            self.skip_trivia();
            let start = self.position;
            let Some(c) = self.peek() else {
                self.push(TokenKind::Eof, start);
                return Ok(());
            };
            let second = self.peek_second();
            match c {
                'b' if matches!(second, Some('"' | '\'')) => {
                    self.bump();
                    let bytes = self.quoted(true)?;
                    self.push(TokenKind::Bytes(bytes), start);
                }
                c if is_ident_start(c) => self.word(),
                '`' => self.escaped_ident()?,
                '$' => self.param()?,
                '0'..='9' => self.number()?,
                '.' if second.is_some_and(|next| next.is_ascii_digit()) => self.number()?,
                '"' | '\'' => {
                    let bytes = self.quoted(false)?;
                    // `quoted` only produces valid UTF-8 for text strings.
                    let text = String::from_utf8(bytes).expect("text strings are UTF-8");
                    self.push(TokenKind::Str(text), start);
                }
                '/' if second == Some('/') => self.regex()?,
                _ => self.operator(c)?,
            }
        }
    }

    /// Whitespace, `--` comments to the end of the line, and `\` line
    /// continuations (upstream uses them before newlines in long statements).
    fn skip_trivia(&mut self) {
        loop {
            let rest = self.rest();
            if let Some(c) = rest.chars().next().filter(|c| c.is_whitespace()) {
                self.position += c.len_utf8();
            } else if rest.starts_with("--") {
                self.position += rest.find('\n').unwrap_or(rest.len());
            } else if rest.starts_with("\\\n") {
                self.position += 2;
            } else if rest.starts_with("\\\r\n") {
                self.position += 3;
            } else {
                return;
            }
        }
    }

    fn word(&mut self) {
        let start = self.position;
        while self.peek().is_some_and(is_ident_continue) {
            self.bump();
        }
        let keyword = Keyword::from_word(&self.source[start..self.position]);
        self.push(TokenKind::Word(keyword), start);
    }

    fn escaped_ident(&mut self) -> LexResult<()> {
        let start = self.position;
        self.bump();
        let name_start = self.position;
        if self.peek().is_some_and(is_ident_start) {
            while self.peek().is_some_and(is_ident_continue) {
                self.bump();
            }
        }
        let name = self.source[name_start..self.position].to_string();
        if name.is_empty() || self.peek() != Some('`') {
            let found = self.describe_char_here();
            let span = self.char_span_here();
            return Err(ParseError::expected(
                vec![if name.is_empty() {
                    "an identifier after '`'".to_string()
                } else {
                    "closing '`'".to_string()
                }],
                &found,
                span,
            ));
        }
        self.bump();
        self.push(TokenKind::EscapedIdent(name), start);
        Ok(())
    }

    fn param(&mut self) -> LexResult<()> {
        let start = self.position;
        self.bump();
        if !self.peek().is_some_and(is_ident_start) {
            let found = self.describe_char_here();
            return Err(ParseError::expected(
                vec!["a parameter name after `$`".to_string()],
                &found,
                self.char_span_here(),
            ));
        }
        let name_start = self.position;
        while self.peek().is_some_and(is_ident_continue) {
            self.bump();
        }
        let name = self.source[name_start..self.position].to_string();
        self.push(TokenKind::Param(name), start);
        Ok(())
    }

    /// The span of the character at the current position (empty at the end).
    fn char_span_here(&self) -> Span {
        let width = self.peek().map_or(0, char::len_utf8);
        Span::new(self.position, self.position + width)
    }

    fn describe_char_here(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some('\n') => "end of line".to_string(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn operator(&mut self, c: char) -> LexResult<()> {
        let start = self.position;
        let rest = self.rest();
        let Some((spelling, op)) = OPERATOR_SPELLINGS
            .iter()
            .find(|(spelling, _)| rest.starts_with(spelling))
        else {
            return Err(ParseError::new(
                format!("unexpected character `{c}`"),
                self.char_span_here(),
            ));
        };
        self.position += spelling.len();
        self.push(TokenKind::Op(*op), start);
        Ok(())
    }
}

impl ParseError {
    fn with_prefix(mut self, prefix: &str) -> ParseError {
        self.message = format!("{prefix}{}", self.message);
        self
    }
}

#[cfg(test)]
mod tests;
