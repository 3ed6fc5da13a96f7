//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod db;
pub mod graph;
pub mod upstream;
pub mod vector_examples;

use zerodb_query::{parse, parse_expression};

/// The tree's `{:?}` dump with every `span: a..b` removed, so trees parsed
/// from differently spaced text compare equal when they mean the same.
pub fn without_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("span: ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "span: ".len()..];
        let skip = after
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(after.len());
        rest = &after[skip..];
    }
    out.push_str(rest);
    // `All(3..4)` in select fields carries a bare span.
    let mut cleaned = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("All(") {
        cleaned.push_str(&rest[..at + 4]);
        let after = &rest[at + 4..];
        let skip = after
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(after.len());
        rest = &after[skip..];
    }
    cleaned.push_str(rest);
    cleaned
}

/// Parses, prints canonically, and checks the printed form parses to the
/// same tree (spans aside) and prints identically. Returns the printed form.
pub fn canonical(source: &str) -> String {
    let query = parse(source).unwrap_or_else(|error| panic!("{}", error.render(source)));
    let printed = query.to_string();
    let reparsed = parse(&printed)
        .unwrap_or_else(|error| panic!("printed form does not parse:\n{}", error.render(&printed)));
    assert_eq!(
        without_spans(&format!("{query:?}")),
        without_spans(&format!("{reparsed:?}")),
        "round trip changed the tree: {source} -> {printed}"
    );
    assert_eq!(reparsed.to_string(), printed);
    printed
}

/// Like [`canonical`] for one expression.
pub fn expression(source: &str) -> String {
    let expr = parse_expression(source).unwrap_or_else(|error| panic!("{}", error.render(source)));
    let printed = expr.to_string();
    let reparsed = parse_expression(&printed)
        .unwrap_or_else(|error| panic!("printed form does not parse:\n{}", error.render(&printed)));
    assert_eq!(
        without_spans(&format!("{expr:?}")),
        without_spans(&format!("{reparsed:?}")),
        "round trip changed the tree: {source} -> {printed}"
    );
    printed
}

/// The rendered error for a query that must fail.
pub fn error(source: &str) -> String {
    match parse(source) {
        Ok(query) => panic!("expected an error, parsed as: {query}"),
        Err(error) => error.render(source),
    }
}

/// Every `span: a..b` in a tree's `{:?}` dump, as (start, end).
pub fn spans_in(debug: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    for (at, _) in debug.match_indices("span: ") {
        let after = &debug[at + "span: ".len()..];
        let text: String = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if let Some((start, end)) = text.split_once("..") {
            spans.push((start.parse().unwrap(), end.parse().unwrap()));
        }
    }
    spans
}
