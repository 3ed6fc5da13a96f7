//! Numbers: decimal, `0x` / `0o` / `0b` integers, floats, and durations.

use super::{is_ident_continue, LexResult, Lexer};
use crate::error::ParseError;
use crate::token::TokenKind;

pub(super) const NANOSECONDS_PER_SECOND: u64 = 1_000_000_000;
pub(super) const NANOSECONDS_PER_DAY: u64 = 86_400 * NANOSECONDS_PER_SECOND;

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

impl<'s> Lexer<'s> {
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

    pub(super) fn number(&mut self) -> LexResult<()> {
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
}
