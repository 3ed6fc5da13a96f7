//! Lexer unit tests.

use super::number::{NANOSECONDS_PER_DAY, NANOSECONDS_PER_SECOND};
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
    let ops: Vec<TokenKind> = kinds("->> -> <- <<- <<= << <= < ..= .. . ?. ?: :: : ** **= × ÷ ∋")
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
    assert_eq!(
        error("x ~ //ab"),
        "error: unterminated regex: expected closing `//`, found end of input\n --> 1:5\n  |\n1 | x ~ //ab\n  |     ^^\n"
    );
    assert_eq!(
        error("x ~ //a\nb//"),
        "error: unterminated regex: expected closing `//`, found end of line\n --> 1:5\n  |\n1 | x ~ //a\n  |     ^^\n"
    );
}
