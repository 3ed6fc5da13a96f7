//! Operator precedence and associativity, level by level. The printer
//! parenthesizes every binary operation, so the printed form shows how the
//! parser grouped.

mod common;

use common::expression;

fn check(cases: &[(&str, &str)]) {
    for (source, expected) in cases {
        assert_eq!(expression(source), *expected, "for {source}");
    }
}

#[test]
fn each_level_binds_tighter_than_the_one_below_it() {
    // From loosest to tightest; each pair is checked in both orders.
    check(&[
        ("a..b OR c", "(a..(b OR c))"),
        ("a OR b..c", "((a OR b)..c)"),
        ("a OR b AND c", "(a OR (b AND c))"),
        ("a AND b OR c", "((a AND b) OR c)"),
        ("a ?: b AND c", "(a ?: (b AND c))"),
        ("a AND b | c", "(a AND (b | c))"),
        ("a | b AND c", "((a | b) AND c)"),
        ("a | b ^ c", "(a | (b ^ c))"),
        ("a ^ b | c", "((a ^ b) | c)"),
        ("a ^ b & c", "(a ^ (b & c))"),
        ("a & b ^ c", "((a & b) ^ c)"),
        ("a & b = c", "(a & (b = c))"),
        ("a = b & c", "((a = b) & c)"),
        ("a = b < c", "(a = (b < c))"),
        ("a < b = c", "((a < b) = c)"),
        ("a == b IN c", "(a == (b IN c))"),
        ("a < b ~ c", "(a < (b ~ c))"),
        ("a ~ b < c", "((a ~ b) < c)"),
        ("a ~ b << c", "(a ~ (b << c))"),
        ("a << b ~ c", "((a << b) ~ c)"),
        ("a << b + c", "(a << (b + c))"),
        ("a + b << c", "((a + b) << c)"),
        ("a + b * c", "(a + (b * c))"),
        ("a * b + c", "((a * b) + c)"),
        ("a * b ** c", "(a * (b ** c))"),
        ("a ** b * c", "((a ** b) * c)"),
        ("-a ** b", "(-a ** b)"),
        ("a ** -b", "(a ** -b)"),
        ("-a.b", "-a.b"),
        ("(-a).b", "(-a).b"),
        ("!a[0]", "!a[0]"),
    ]);
}

#[test]
fn operators_group_left_except_power() {
    check(&[
        ("a - b - c", "((a - b) - c)"),
        ("a / b / c % d", "(((a / b) / c) % d)"),
        ("a OR b OR c", "((a OR b) OR c)"),
        ("a AND b AND c", "((a AND b) AND c)"),
        ("a = b = c", "((a = b) = c)"),
        ("a < b > c", "((a < b) > c)"),
        ("a ** b ** c", "(a ** (b ** c))"),
        ("2 ** 3 ** 2 * 4", "((2 ** (3 ** 2)) * 4)"),
    ]);
}

#[test]
fn word_and_symbol_spellings_mean_the_same() {
    check(&[
        ("a && b || c", "((a AND b) OR c)"),
        ("a and b or not c", "((a AND b) OR !c)"),
        ("NOT a = b", "(!a = b)"),
        ("a IS b", "(a = b)"),
        ("a IS NOT b", "(a != b)"),
        ("a NOT IN [1, 2]", "(a NOT IN [1, 2])"),
        ("tags CONTAINS 'x'", "(tags CONTAINS \"x\")"),
        ("tags ∋ 'x'", "(tags CONTAINS \"x\")"),
        ("tags NOT CONTAINS 'x'", "(tags NOT CONTAINS \"x\")"),
        ("tags ∌ 'x'", "(tags NOT CONTAINS \"x\")"),
        (
            "tags CONTAINS ALL ['a'] AND tags ⊇ ['b']",
            "((tags CONTAINS ALL [\"a\"]) AND (tags CONTAINS ALL [\"b\"]))",
        ),
        (
            "tags CONTAINS ANY [1] OR tags ⊃ [2]",
            "((tags CONTAINS ANY [1]) OR (tags CONTAINS ANY [2]))",
        ),
        (
            "tags CONTAINS NONE [1] OR tags ⊅ [2]",
            "((tags CONTAINS NONE [1]) OR (tags CONTAINS NONE [2]))",
        ),
        (
            "name MATCH //a// OR name NOT MATCH //b//i",
            "((name ~ //a//) OR (name !~ //b//i))",
        ),
        ("a × b ÷ c", "((a * b) / c)"),
        ("a <> b", "(a <> b)"),
    ]);
}

#[test]
fn parentheses_override_precedence_and_leave_no_node() {
    check(&[
        ("(a + b) * c", "((a + b) * c)"),
        ("a * (b + c)", "(a * (b + c))"),
        ("((a))", "a"),
        ("-(-a)", "-(-a)"),
        ("- -a", "-(-a)"),
        ("a - -b", "(a - -b)"),
        ("!!a", "!(!a)"),
    ]);
}

#[test]
fn postfix_access_calls_and_literals() {
    check(&[
        ("a.b.c", "a.b.c"),
        ("a[0].b[1 + 2]", "a[0].b[(1 + 2)]"),
        ("a?.b.*", "a?.b.*"),
        ("$p.name", "$p.name"),
        ("string::len(name) > 3", "(string::len(name) > 3)"),
        (
            "time::now() + duration::weeks(2)",
            "(time::now() + duration::weeks(2))",
        ),
        ("math::max([1, 2.5, -3e2])", "math::max([1, 2.5, -300.0])"),
        ("count()", "count()"),
        ("f(a = 1, 2)", "f(a = 1, 2)"),
        ("person:alice.name", "person:alice.name"),
        (
            "{a: 1, b: [true, false, null, none]}",
            "{a: 1, b: [TRUE, FALSE, NULL, NONE]}",
        ),
        ("(1, 'two')", "(1, \"two\")"),
        ("(1,)", "(1,)"),
        ("()", "()"),
        ("1h30m + 90s + 1500ms", "((1h30m + 1m30s) + 1s500ms)"),
        ("0x10 + 0o10 + 0b10 + 1_000", "(((16 + 8) + 2) + 1000)"),
        ("b'\\x00ab'", "b\"\\x00ab\""),
        ("'tab\\there' + \"q\\\"\"", "(\"tab\\there\" + \"q\\\"\")"),
        ("1..=10", "(1..=10)"),
        ("$x ?: 0", "($x ?: 0)"),
        ("~a", "~a"),
        ("+a", "+a"),
        ("1.5e300 * 2.0", "(1.5e300 * 2.0)"),
    ]);
}

#[test]
fn contains_none_all_any_need_an_operand_after_them() {
    check(&[
        // The printer wraps such an operand so it cannot glue on.
        ("a CONTAINS NONE", "(a CONTAINS (NONE))"),
        ("(a CONTAINS NONE) OR b", "((a CONTAINS (NONE)) OR b)"),
        ("a CONTAINS any", "(a CONTAINS (any))"),
        ("a CONTAINS (any[0])", "(a CONTAINS (any[0]))"),
        ("a CONTAINS (NONE[0])", "(a CONTAINS (NONE[0]))"),
        ("a CONTAINS any [0]", "(a CONTAINS ANY [0])"),
    ]);
}

#[test]
fn contains_none_before_a_clause_keyword_is_the_value_none() {
    assert_eq!(
        common::canonical("DEFINE FIELD f ON person VALUE a CONTAINS NONE ASSERT b"),
        "DEFINE FIELD f ON TABLE person VALUE (a CONTAINS (NONE)) ASSERT b"
    );
    check(&[
        ("a CONTAINS ANY `value`", "(a CONTAINS ANY (value))"),
        ("a CONTAINS ALL (TRUE)", "(a CONTAINS ALL (TRUE))"),
    ]);
}
