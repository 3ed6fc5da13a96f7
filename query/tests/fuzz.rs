//! Property tests: no input panics; every error's span lies within the
//! input on character boundaries; whatever parses prints to text that
//! parses back to the same tree.

mod common;

use common::{spans_in, without_spans};
use proptest::prelude::*;
use zerodb_query::{parse, parse_expression, ParseError, KEYWORDS};

/// Checks the contract for any input: an error points inside the input
/// and renders; a success round-trips through the printer.
fn check_contract(source: &str) -> Result<(), TestCaseError> {
    match parse(source) {
        Err(error) => check_error(source, &error),
        Ok(query) => {
            for (start, end) in spans_in(&format!("{query:?}")) {
                prop_assert!(
                    start <= end && end <= source.len(),
                    "span {}..{} in {:?}",
                    start,
                    end,
                    source
                );
                prop_assert!(source.is_char_boundary(start) && source.is_char_boundary(end));
            }
            let printed = query.to_string();
            let reparsed = parse(&printed).map_err(|error| {
                TestCaseError::fail(format!(
                    "{source:?} printed as {printed:?} which fails:\n{}",
                    error.render(&printed)
                ))
            })?;
            prop_assert_eq!(
                without_spans(&format!("{query:?}")),
                without_spans(&format!("{reparsed:?}")),
                "{:?} printed as {:?}",
                source,
                printed
            );
            Ok(())
        }
    }
}

fn check_error(source: &str, error: &ParseError) -> Result<(), TestCaseError> {
    prop_assert!(error.span.start <= error.span.end, "{:?}", error);
    prop_assert!(error.span.end <= source.len(), "{:?}", error);
    prop_assert!(source.is_char_boundary(error.span.start), "{:?}", error);
    prop_assert!(source.is_char_boundary(error.span.end), "{:?}", error);
    let rendered = error.render(source);
    prop_assert!(rendered.starts_with("error: "));
    prop_assert!(rendered.contains('^'));
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(1_000)
}

/// Pieces of zeroql, good and bad, for random token sequences.
fn vocabulary() -> Vec<String> {
    let mut words: Vec<String> = KEYWORDS
        .iter()
        .map(|keyword| keyword.as_str().to_string())
        .collect();
    for piece in [
        "person",
        "age",
        "name",
        "person:alice",
        "t:1",
        "t:*",
        "t:$id",
        "t:[1]",
        "`esc`",
        "$p",
        "0",
        "1",
        "42",
        "2.5",
        ".5",
        "1e3",
        "0x1f",
        "0b1",
        "0o7",
        "1h30m",
        "5ms",
        "'s'",
        "\"x\\n\"",
        "b\"\\x00\"",
        "//a.*//i",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ";",
        ":",
        "::",
        ".",
        "..",
        "..=",
        "*",
        "**",
        "+",
        "-",
        "/",
        "%",
        "=",
        "==",
        "!=",
        "!",
        "<",
        "<=",
        ">",
        ">=",
        "<<",
        ">>",
        "&",
        "|",
        "^",
        "~",
        "!~",
        "&&",
        "||",
        "?.",
        "?:",
        "?",
        "+=",
        "-=",
        "->",
        "<-",
        "∋",
        "×",
        "÷",
        "--",
        "\\\n",
        "'",
        "\"",
        "`",
        "$",
        "#",
        "é",
        "string::len",
        "f(",
        "a.b",
        "x[0]",
    ] {
        words.push(piece.to_string());
    }
    words
}

/// Source text for random well-formed expressions.
fn expression_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0i64..1_000_000).prop_map(|n| n.to_string()),
        (0.0f64..1e6).prop_map(|x| format!("{x:?}")),
        "[a-z][a-z0-9_]{0,6}".prop_filter("not a keyword", |name| {
            zerodb_query::Keyword::from_word(name).is_none()
        }),
        "[a-z]{1,5}".prop_map(|name| format!("${name}")),
        "[a-z]{1,5}:[a-z][a-z0-9]{0,4}".prop_filter("not a keyword", |id| {
            id.split(':')
                .all(|part| zerodb_query::Keyword::from_word(part).is_none())
        }),
        "[ -~]{0,8}".prop_map(|text| format!("{text:?}")),
        Just("NONE".to_string()),
        Just("true".to_string()),
        Just("1h30m".to_string()),
        Just("//^a//i".to_string()),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        let binary = [
            "**",
            "*",
            "/",
            "%",
            "+",
            "-",
            "<<",
            ">>",
            "~",
            "!~",
            "<>",
            "<",
            ">",
            "<=",
            ">=",
            "IN",
            "NOT IN",
            "CONTAINS",
            "CONTAINS ANY",
            "∌",
            "==",
            "=",
            "IS NOT",
            "!=",
            "&",
            "^",
            "|",
            "AND",
            "&&",
            "OR",
            "||",
            "?:",
        ];
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(binary.to_vec()),
                inner.clone()
            )
                .prop_map(|(left, op, right)| format!("{left} {op} {right}")),
            (
                prop::sample::select(vec!["-", "!", "NOT ", "+", "~"]),
                inner.clone()
            )
                .prop_map(|(op, operand)| format!("{op} {operand}")),
            inner.clone().prop_map(|expr| format!("({expr})")),
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("math::max({})", items.join(", "))),
            (inner.clone(), "[a-z]{1,4}").prop_map(|(base, field)| format!("({base}).{field}")),
            (inner.clone(), inner.clone()).prop_map(|(base, index)| format!("({base})[{index}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{k: {a}, \"a b\": {b}}}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("(({a})..=({b}))")),
        ]
    })
}

proptest! {
    // 1,000 cases each by default; set PROPTEST_CASES for longer runs.
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let source = String::from_utf8_lossy(&bytes);
        check_contract(&source)?;
    }

    #[test]
    fn random_printable_text_never_panics(source in "[ -~\\n]{0,120}") {
        check_contract(&source)?;
    }

    #[test]
    fn random_token_sequences_never_panic(
        pieces in prop::collection::vec(prop::sample::select(vocabulary()), 0..30),
        separators in prop::collection::vec(prop::sample::select(vec![" ", "", "\n"]), 30),
    ) {
        let mut source = String::new();
        for (piece, separator) in pieces.iter().zip(&separators) {
            source.push_str(piece);
            source.push_str(separator);
        }
        check_contract(&source)?;
    }

    #[test]
    fn generated_expressions_parse_and_round_trip(source in expression_text()) {
        let expr = parse_expression(&source)
            .map_err(|error| TestCaseError::fail(error.render(&source)))?;
        let printed = expr.to_string();
        let reparsed = parse_expression(&printed)
            .map_err(|error| TestCaseError::fail(error.render(&printed)))?;
        prop_assert_eq!(without_spans(&format!("{expr:?}")), without_spans(&format!("{reparsed:?}")));
        prop_assert_eq!(reparsed.to_string(), printed);
    }

    #[test]
    fn generated_statements_round_trip(
        condition in expression_text(),
        value in expression_text(),
        limit in 0u32..1000,
    ) {
        for source in [
            format!("SELECT *, {value} AS v FROM person WHERE {condition} ORDER BY {value} DESC LIMIT {limit}"),
            format!("UPDATE person SET a = {value}, b += {value} WHERE {condition}"),
            format!("CREATE person:x SET a = {value}; DELETE person WHERE {condition}"),
            format!("LET $x = {value}; RETURN $x"),
            format!("DEFINE FIELD f ON person TYPE u8 VALUE {value} ASSERT {condition}"),
        ] {
            prop_assert!(parse(&source).is_ok(), "{}", parse(&source).unwrap_err().render(&source));
            check_contract(&source)?;
        }
    }
}
