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

const NANOSECONDS_PER_SECOND: u64 = 1_000_000_000;
const NANOSECONDS_PER_DAY: u64 = 86_400 * NANOSECONDS_PER_SECOND;

/// Duration units and their length in nanoseconds. A year is 365 days.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", NANOSECONDS_PER_SECOND),
    ("m", 60 * NANOSECONDS_PER_SECOND),
    ("h", 3_600 * NANOSECONDS_PER_SECOND),
    ("d", NANOSECONDS_PER_DAY),
    ("w", 7 * NANOSECONDS_PER_DAY),
    ("y", 365 * NANOSECONDS_PER_DAY),
];

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

    /// Consumes `[0-9_]*` and checks underscores only separate digits.
    fn digit_part(&mut self, start: usize) -> LexResult<&'s str> {
        let part_start = self.position;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '_') {
            self.bump();
        }
        let part = &self.source[part_start..self.position];
        if part.starts_with('_') || part.ends_with('_') || part.contains("__") {
            return Err(self.bad_number(start, "`_` must sit between two digits"));
        }
        Ok(part)
    }

    /// An error covering the number and any letters glued to it.
    fn bad_number(&mut self, start: usize, why: &str) -> ParseError {
        while self.peek().is_some_and(is_ident_continue) {
            self.bump();
        }
        let text = &self.source[start..self.position];
        ParseError::new(
            format!("invalid number `{text}`: {why}"),
            self.span_from(start),
        )
    }

    fn number(&mut self) -> LexResult<()> {
        let start = self.position;
        let rest = self.rest();
        for (prefix, radix, name) in [
            ("0x", 16, "hexadecimal"),
            ("0o", 8, "octal"),
            ("0b", 2, "binary"),
        ] {
            if rest.starts_with(prefix) {
                return self.radix_integer(start, prefix.len(), radix, name);
            }
        }
        let integer_part = self.digit_part(start)?;
        let mut is_float = integer_part.is_empty();
        if self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.digit_part(start)?;
            is_float = true;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let after = self.rest()[1..].chars().next();
            let after_sign = self.rest()[1..].chars().nth(1);
            let exponent_follows = after.is_some_and(|c| c.is_ascii_digit())
                || (matches!(after, Some('+' | '-'))
                    && after_sign.is_some_and(|c| c.is_ascii_digit()));
            if exponent_follows {
                self.bump();
                if matches!(self.peek(), Some('+' | '-')) {
                    self.bump();
                }
                self.digit_part(start)?;
                is_float = true;
            }
        }
        if !is_float
            && self
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == 'µ')
        {
            return self.duration(start, integer_part);
        }
        if self.peek().is_some_and(is_ident_continue) {
            return Err(self.bad_number(start, "letters cannot follow a number"));
        }
        let text: String = self.source[start..self.position]
            .chars()
            .filter(|c| *c != '_')
            .collect();
        let kind = if is_float {
            match text.parse::<f64>() {
                Ok(value) if value.is_finite() => TokenKind::Float(value),
                _ => return Err(self.bad_number(start, "out of range for a 64-bit float")),
            }
        } else {
            match text.parse::<i64>() {
                Ok(value) => TokenKind::Int(value),
                Err(_) => return Err(self.bad_number(start, "out of range for a 64-bit integer")),
            }
        };
        self.push(kind, start);
        Ok(())
    }

    fn radix_integer(
        &mut self,
        start: usize,
        prefix_len: usize,
        radix: u32,
        name: &str,
    ) -> LexResult<()> {
        self.position += prefix_len;
        let digits_start = self.position;
        while self.peek().is_some_and(is_ident_continue) {
            self.bump();
        }
        let digits = &self.source[digits_start..self.position];
        let span = self.span_from(start);
        let text = &self.source[start..self.position];
        if digits.is_empty()
            || digits.starts_with('_')
            || digits.ends_with('_')
            || digits.contains("__")
        {
            return Err(ParseError::new(
                format!("invalid number `{text}`: expected {name} digits, `_` only between them"),
                span,
            ));
        }
        if let Some(bad) = digits.chars().find(|c| *c != '_' && !c.is_digit(radix)) {
            return Err(ParseError::new(
                format!("invalid number `{text}`: `{bad}` is not a {name} digit"),
                span,
            ));
        }
        let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
        let value = i64::from_str_radix(&cleaned, radix).map_err(|_| {
            ParseError::new(
                format!("invalid number `{text}`: out of range for a 64-bit integer"),
                span,
            )
        })?;
        self.push(TokenKind::Int(value), start);
        Ok(())
    }

    /// `1h30m`: the first amount is already consumed as `first_amount`.
    fn duration(&mut self, start: usize, first_amount: &str) -> LexResult<()> {
        let mut total: u64 = 0;
        let mut amount_text = first_amount.to_string();
        loop {
            let unit_start = self.position;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == 'µ')
            {
                self.bump();
            }
            let unit = &self.source[unit_start..self.position];
            let Some((_, unit_nanoseconds)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit)
            else {
                return Err(self.bad_number(
                    start,
                    "durations use the units ns, us, ms, s, m, h, d, w, y",
                ));
            };
            let amount: u64 = amount_text
                .chars()
                .filter(|c| *c != '_')
                .collect::<String>()
                .parse()
                .map_err(|_| self.bad_number(start, "duration out of range"))?;
            total = amount
                .checked_mul(*unit_nanoseconds)
                .and_then(|part| total.checked_add(part))
                .ok_or_else(|| self.bad_number(start, "duration out of range"))?;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                break;
            }
            amount_text = self.digit_part(start)?.to_string();
        }
        if self.peek().is_some_and(is_ident_continue) {
            return Err(self.bad_number(start, "letters cannot follow a duration"));
        }
        self.push(TokenKind::Duration(total), start);
        Ok(())
    }

    /// A quoted string starting at the quote; the `b` of a byte string is
    /// already consumed. Returns the decoded bytes (UTF-8 for text strings).
    fn quoted(&mut self, is_bytes: bool) -> LexResult<Vec<u8>> {
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
    fn regex(&mut self) -> LexResult<()> {
        let start = self.position;
        self.position += 2;
        let pattern_start = self.position;
        loop {
            let rest = self.rest();
            if rest.starts_with("//") {
                break;
            }
            match self.bump() {
                None | Some('\n') => {
                    return Err(ParseError::expected(
                        vec!["closing `//`".to_string()],
                        "end of line",
                        Span::new(start, start + 2),
                    )
                    .with_prefix("unterminated regex: "));
                }
                Some('\\') => {
                    if self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                Some(_) => {}
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

impl ParseError {
    fn with_prefix(mut self, prefix: &str) -> ParseError {
        self.message = format!("{prefix}{}", self.message);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Op;

    fn kinds(source: &str) -> Vec<TokenKind> {
        lex(source)
            .unwrap_or_else(|error| panic!("{}", error.render(source)))
            .into_iter()
            .map(|token| token.kind)
            .collect()
    }

    fn error(source: &str) -> String {
        lex(source).expect_err("should fail").render(source)
    }

    #[test]
    fn words_are_keywords_in_any_case_and_escaped_words_never_are() {
        assert_eq!(
            kinds("SeLeCt person `select`"),
            vec![
                TokenKind::Word(Some(Keyword::Select)),
                TokenKind::Word(None),
                TokenKind::EscapedIdent("select".into()),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn numbers_in_every_base_with_separators() {
        assert_eq!(
            kinds("1_000 0xff 0o17 0b10_10 .75 1.5e3 2E-2 7e+1"),
            vec![
                TokenKind::Int(1000),
                TokenKind::Int(255),
                TokenKind::Int(15),
                TokenKind::Int(10),
                TokenKind::Float(0.75),
                TokenKind::Float(1500.0),
                TokenKind::Float(0.02),
                TokenKind::Float(70.0),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn a_range_is_not_a_float() {
        assert_eq!(
            kinds("1..5 1..=2"),
            vec![
                TokenKind::Int(1),
                TokenKind::Op(Op::Range),
                TokenKind::Int(5),
                TokenKind::Int(1),
                TokenKind::Op(Op::RangeInclusive),
                TokenKind::Int(2),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn durations_add_their_parts() {
        let minute = 60 * NANOSECONDS_PER_SECOND;
        assert_eq!(
            kinds("1h30m 250ms 2w 1µs"),
            vec![
                TokenKind::Duration(90 * minute),
                TokenKind::Duration(250_000_000),
                TokenKind::Duration(14 * NANOSECONDS_PER_DAY),
                TokenKind::Duration(1_000),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn strings_decode_escapes() {
        assert_eq!(
            kinds(r#"'it\'s' "a\tb\n\u00e9\U0001F600\x41\\" b"\x00\xff""#),
            vec![
                TokenKind::Str("it's".into()),
                TokenKind::Str("a\tb\né😀A\\".into()),
                TokenKind::Bytes(vec![0, 255]),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn operators_take_the_longest_spelling() {
        let ops: Vec<TokenKind> =
            kinds("->> -> <- <<- <<= << <= < ..= .. . ?. ?: :: : ** **= × ÷ ∋")
                .into_iter()
                .collect();
        let expected = [
            Op::MultiArrowRight,
            Op::ArrowRight,
            Op::ArrowLeft,
            Op::MultiArrowLeft,
            Op::AssignShl,
            Op::Shl,
            Op::Lte,
            Op::Lt,
            Op::RangeInclusive,
            Op::Range,
            Op::Dot,
            Op::SafeNav,
            Op::NullCoalesce,
            Op::Scope,
            Op::Colon,
            Op::Pow,
            Op::AssignPow,
            Op::Star,
            Op::Div,
            Op::ContainsSymbol,
        ];
        let mut want: Vec<TokenKind> = expected.iter().map(|op| TokenKind::Op(*op)).collect();
        want.push(TokenKind::Eof);
        assert_eq!(ops, want);
    }

    #[test]
    fn comments_and_continuations_are_skipped() {
        assert_eq!(
            kinds("a -- note\n\\\n b"),
            vec![TokenKind::Word(None), TokenKind::Word(None), TokenKind::Eof]
        );
    }

    #[test]
    fn regex_keeps_escaped_slashes() {
        assert_eq!(
            kinds(r"//^a\/b.*//gi"),
            vec![
                TokenKind::Regex {
                    pattern: r"^a\/b.*".into(),
                    flags: "gi".into()
                },
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn spans_are_byte_ranges() {
        let tokens = lex("a ∋ $p 'x'").unwrap();
        let spans: Vec<Span> = tokens.iter().map(|token| token.span).collect();
        assert_eq!(
            spans,
            vec![
                Span::new(0, 1),
                Span::new(2, 5),
                Span::new(6, 8),
                Span::new(9, 12),
                Span::new(12, 12)
            ]
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            error("SELECT 'abc"),
            "error: unterminated string: expected closing `'`, found end of input\n --> 1:8\n  |\n1 | SELECT 'abc\n  |        ^\n"
        );
        assert_eq!(
            error(r#"x = "a\qb""#),
            "error: unknown escape `\\q` in string\n --> 1:7\n  |\n1 | x = \"a\\qb\"\n  |       ^^\n"
        );
        assert_eq!(
            error("LIMIT 12abc"),
            "error: invalid number `12abc`: durations use the units ns, us, ms, s, m, h, d, w, y\n --> 1:7\n  |\n1 | LIMIT 12abc\n  |       ^^^^^\n"
        );
        assert_eq!(
            error("1.5x"),
            "error: invalid number `1.5x`: letters cannot follow a number\n --> 1:1\n  |\n1 | 1.5x\n  | ^^^^\n"
        );
        assert_eq!(
            error("0x1g"),
            "error: invalid number `0x1g`: `g` is not a hexadecimal digit\n --> 1:1\n  |\n1 | 0x1g\n  | ^^^^\n"
        );
        assert_eq!(
            error("99999999999999999999"),
            "error: invalid number `99999999999999999999`: out of range for a 64-bit integer\n --> 1:1\n  |\n1 | 99999999999999999999\n  | ^^^^^^^^^^^^^^^^^^^^\n"
        );
        assert_eq!(
            error("a # b"),
            "error: unexpected character `#`\n --> 1:3\n  |\n1 | a # b\n  |   ^\n"
        );
        assert_eq!(
            error("1__0"),
            "error: invalid number `1__0`: `_` must sit between two digits\n --> 1:1\n  |\n1 | 1__0\n  | ^^^^\n"
        );
    }
}
