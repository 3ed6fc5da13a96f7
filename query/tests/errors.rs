//! Malformed queries give one error with the line, the column, the source
//! line and carets under the problem, and say what was expected.

mod common;

use common::error;
use zerodb_query::{
    parse, EXPRESSION_HEIGHT_MAX, INPUT_SIZE_BYTES_MAX, NESTING_DEPTH_MAX, STATEMENT_COUNT_MAX,
};

#[test]
fn unterminated_string_points_at_its_opening_quote() {
    assert_eq!(
        error("SELECT * FROM person WHERE name = \"alice"),
        "error: unterminated string: expected closing `\"`, found end of input\n --> 1:35\n  |\n1 | SELECT * FROM person WHERE name = \"alice\n  |                                   ^\n"
    );
    assert_eq!(
        error("SELECT 'a\nb'"),
        "error: unterminated string: expected closing `'`, found end of line\n --> 1:8\n  |\n1 | SELECT 'a\n  |        ^\n"
    );
}

#[test]
fn missing_from_target() {
    assert_eq!(
        error("SELECT * FROM"),
        "error: expected a table, record id, array or subquery after FROM, found end of input\n --> 1:14\n  |\n1 | SELECT * FROM\n  |              ^\n"
    );
    assert_eq!(
        error("SELECT * FROM WHERE age > 3"),
        "error: expected a table, record id, array or subquery after FROM, found `WHERE`\n --> 1:15\n  |\n1 | SELECT * FROM WHERE age > 3\n  |               ^^^^^\n"
    );
}

#[test]
fn bad_tokens() {
    assert_eq!(
        error("SELECT a b FROM t"),
        "error: expected `,`, `OMIT` or `FROM`, found `b`\n --> 1:10\n  |\n1 | SELECT a b FROM t\n  |          ^\n"
    );
    assert_eq!(
        error("SELECT * FROM person WHERE age > 40 #"),
        "error: unexpected character `#`\n --> 1:37\n  |\n1 | SELECT * FROM person WHERE age > 40 #\n  |                                     ^\n"
    );
    assert_eq!(
        error("SELECT * FROM t WHERE a = 1 ) "),
        "error: expected `;` or end of input, found `)`\n --> 1:29\n  |\n1 | SELECT * FROM t WHERE a = 1 ) \n  |                             ^\n"
    );
    assert_eq!(
        error("CREATE t SET a += 1"),
        "error: expected `=`, found `+=`\n --> 1:16\n  |\n1 | CREATE t SET a += 1\n  |                ^^\n"
    );
    assert_eq!(
        error("x = 'a\\qb'"),
        "error: unknown escape `\\q` in string\n --> 1:7\n  |\n1 | x = 'a\\qb'\n  |       ^^\n"
    );
}

#[test]
fn unclosed_brackets() {
    assert_eq!(
        error("SELECT [1, 2 FROM t"),
        "error: expected `,` or `]`, found `FROM`\n --> 1:14\n  |\n1 | SELECT [1, 2 FROM t\n  |              ^^^^\n"
    );
    assert_eq!(
        error("CREATE t SET {a: 1"),
        "error: expected `,` or `}`, found end of input\n --> 1:19\n  |\n1 | CREATE t SET {a: 1\n  |                   ^\n"
    );
    assert_eq!(
        error("SELECT * FROM t WHERE f(1, 2"),
        "error: expected `,` or `)`, found end of input\n --> 1:29\n  |\n1 | SELECT * FROM t WHERE f(1, 2\n  |                             ^\n"
    );
}

#[test]
fn ten_thousand_open_parentheses_hit_the_nesting_limit_not_the_stack() {
    let source = "(".repeat(10_000);
    let failure = parse(&source).unwrap_err();
    assert_eq!(
        failure.message,
        format!("nesting too deep: the limit is {NESTING_DEPTH_MAX} levels")
    );
    // The statement and its expression take two levels; each `(` one more.
    let at = NESTING_DEPTH_MAX - 1;
    assert_eq!(failure.span, zerodb_query::ast::Span::new(at, at + 1));
    assert_eq!(
        failure.render(&source),
        format!(
            "error: nesting too deep: the limit is 64 levels\n --> 1:64\n  |\n1 | ...{}...\n  | {}^\n",
            "(".repeat(100),
            " ".repeat(53)
        )
    );
    for source in [
        format!("SELECT {}", "[".repeat(10_000)),
        format!("SELECT * FROM t WHERE {}", "{a: ".repeat(10_000)),
        format!("RETURN {}a", "!".repeat(10_000)),
        format!("RETURN a{}", " ** a".repeat(10_000)),
        format!("{}SELECT * FROM t", "EXPLAIN ".repeat(10_000)),
        format!("LET $x TYPE {}u8 = 1", "[".repeat(10_000)),
    ] {
        let failure = parse(&source).unwrap_err();
        assert!(
            failure.message.starts_with("nesting too deep"),
            "{}",
            failure.message
        );
    }
}

#[test]
fn long_operator_chains_hit_the_height_limit() {
    let terms = |count: usize| {
        (0..count)
            .map(|i| format!("a{i}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    assert!(parse(&terms(EXPRESSION_HEIGHT_MAX)).is_ok());
    let failure = parse(&terms(EXPRESSION_HEIGHT_MAX + 1)).unwrap_err();
    assert!(
        failure.message.starts_with("expression too deep"),
        "{}",
        failure.message
    );
    let long_path = format!("a{}", ".b".repeat(10_000));
    assert!(parse(&long_path)
        .unwrap_err()
        .message
        .starts_with("expression too deep"));
}

#[test]
fn empty_input() {
    assert_eq!(
        error(""),
        "error: expected a statement, found end of input\n --> 1:1\n  |\n1 | \n  | ^\n"
    );
    assert_eq!(
        error("  -- only a comment\n"),
        "error: expected a statement, found end of input\n --> 2:1\n  |\n2 | \n  | ^\n"
    );
    assert_eq!(
        error(";;"),
        "error: expected a statement, found end of input\n --> 1:3\n  |\n1 | ;;\n  |   ^\n"
    );
}

#[test]
fn lines_and_columns_count_characters() {
    assert_eq!(
        error("SELECT *\nFROM person\nWHERE age >"),
        "error: expected an expression, found end of input\n --> 3:12\n  |\n3 | WHERE age >\n  |            ^\n"
    );
    assert_eq!(
        error("SELECT \"é\" FROM ☃"),
        "error: unexpected character `☃`\n --> 1:17\n  |\n1 | SELECT \"é\" FROM ☃\n  |                 ^\n"
    );
    assert_eq!(
        error("SELECT \"日本\" FROM t WHERE ∋"),
        "error: expected a condition or `*`, found `∋`\n --> 1:26\n  |\n1 | SELECT \"日本\" FROM t WHERE ∋\n  |                          ^\n"
    );
}

#[test]
fn statement_specific_errors() {
    assert_eq!(
        error("SELECT * FROM person ->> is_a ->> post"),
        "error: table relations (`->>`, `<<-`) are not supported yet (see query/GRAMMAR.md)\n --> 1:22\n  |\n1 | SELECT * FROM person ->> is_a ->> post\n  |                      ^^^\n"
    );
    assert_eq!(
        error("SELECT * FROM a WHERE x WHERE y"),
        "error: duplicate `WHERE` clause\n --> 1:25\n  |\n1 | SELECT * FROM a WHERE x WHERE y\n  |                         ^^^^^\n"
    );
    assert_eq!(
        error("DEFINE INDEX i ON TABLE t"),
        "error: expected `FIELDS`, found end of input\n --> 1:26\n  |\n1 | DEFINE INDEX i ON TABLE t\n  |                          ^\n"
    );
    assert_eq!(
        error("CREATE t SET (a, b) VALUES (1, 2), (3)"),
        "error: this row has 1 value but there are 2 fields\n --> 1:36\n  |\n1 | CREATE t SET (a, b) VALUES (1, 2), (3)\n  |                                    ^^^\n"
    );
    assert_eq!(
        error("UPDATE person WHERE x"),
        "error: expected `SET`, `MERGE`, `CONTENT` or `WHERE`, found end of input\n --> 1:22\n  |\n1 | UPDATE person WHERE x\n  |                      ^\n"
    );
    assert_eq!(
        error("DEFINE TABLE t ON TABLE x"),
        "error: table cannot be placed ON a table\n --> 1:16\n  |\n1 | DEFINE TABLE t ON TABLE x\n  |                ^^^^^^^^^^\n"
    );
    assert_eq!(
        error("LET age = 1"),
        "error: expected a parameter such as `$name`, found `age`\n --> 1:5\n  |\n1 | LET age = 1\n  |     ^^^\n"
    );
    assert_eq!(
        error("USE"),
        "error: expected `NS` or `DB`, found end of input\n --> 1:4\n  |\n1 | USE\n  |    ^\n"
    );
    assert_eq!(
        error("INSERT INTO t 5"),
        "error: expected an object or an array of objects, found `5`\n --> 1:15\n  |\n1 | INSERT INTO t 5\n  |               ^\n"
    );
}

#[test]
fn size_limits() {
    let big = "a".repeat(INPUT_SIZE_BYTES_MAX + 1);
    let failure = parse(&big).unwrap_err();
    assert!(
        failure.message.contains("the limit is 1048576 bytes"),
        "{}",
        failure.message
    );
    assert!(failure.span.end <= big.len());
    // Near the size limit, a flat query parses (and quickly: no step is
    // quadratic in the input).
    let wide = format!(
        "RETURN [{}1]",
        "1, ".repeat((INPUT_SIZE_BYTES_MAX - 16) / 3)
    );
    assert!(wide.len() <= INPUT_SIZE_BYTES_MAX);
    assert!(parse(&wide).is_ok());
    let many = "RETURN 1;".repeat(STATEMENT_COUNT_MAX);
    assert_eq!(parse(&many).unwrap().statements.len(), STATEMENT_COUNT_MAX);
    let too_many = format!("{many}RETURN 1");
    let failure = parse(&too_many).unwrap_err();
    assert_eq!(
        failure.message,
        "too many statements: the limit is 1000 per query"
    );
}

#[test]
fn upstream_forms_not_supported_yet_say_so() {
    assert_eq!(
        error("RELATE car ->> is_a ->> thing"),
        "error: table relations (`->>`, `<<-`) are not supported yet (see query/GRAMMAR.md)\n --> 1:12\n  |\n1 | RELATE car ->> is_a ->> thing\n  |            ^^^\n"
    );
    for source in [
        "FOR $id IN [1] DO CREATE person:$id END",
        "while $i > 0 DO SET $i -= 1 END",
        "IF $age > 40 THEN RETURN 1 END",
        "REMOVE PARAM $endpoint",
        "DESCRIBE ENUM color",
        "RELATE person:* -> buys -> product:* WHERE person.id = 'alice'",
    ] {
        let failure = zerodb_query::parse(source).unwrap_err();
        assert!(
            failure.message.contains("not supported yet"),
            "{source}: {}",
            failure.message
        );
    }
}
