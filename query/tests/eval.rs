//! Expressions and functions, through `RETURN`.

mod common;

use common::db::Db;

fn value(text: &str) -> String {
    Db::new().last(&format!("RETURN {text}"))
}

fn error(text: &str) -> String {
    Db::new().error(&format!("RETURN {text}"))
}

#[test]
fn arithmetic_on_ints_and_floats() {
    assert_eq!(value("1 + 2 * 3"), "7");
    assert_eq!(value("7 / 2"), "3.5");
    assert_eq!(value("8 / 2"), "4");
    assert_eq!(value("7 % 3"), "1");
    assert_eq!(value("2 ** 10"), "1024");
    assert_eq!(value("1.5 + 1"), "2.5");
    assert_eq!(value("-(3)"), "-3");
    assert_eq!(value("'a' + 'b'"), "'ab'");
    assert_eq!(value("[1] + [2]"), "[1, 2]");
}

#[test]
fn integer_overflow_and_division_by_zero_are_errors() {
    assert!(error("9223372036854775807 + 1").contains("overflows"));
    assert!(error("1 / 0").contains("division by zero"));
    let text = "RETURN 1 + 'a'";
    let rendered = Db::new().error(text);
    assert!(
        rendered.contains("cannot apply Add to int 1 and string 'a'"),
        "{rendered}"
    );
    assert!(rendered.contains("^^^^^^^"), "{rendered}");
}

#[test]
fn comparison_uses_the_value_order() {
    assert_eq!(value("1 = 1.0"), "true");
    assert_eq!(value("1 == 1.0"), "true");
    assert_eq!(value("2 > 1.5"), "true");
    assert_eq!(value("'a' > 5"), "true");
    assert_eq!(value("NONE < NULL"), "true");
    assert_eq!(value("'abc' != 'abd'"), "true");
}

#[test]
fn membership_and_containment() {
    assert_eq!(value("2 IN [1, 2]"), "true");
    assert_eq!(value("3 NOT IN [1, 2]"), "true");
    assert_eq!(value("'ell' IN 'hello'"), "true");
    assert_eq!(value("[1, 2, 3] CONTAINS 2"), "true");
    assert_eq!(value("[1, 2, 3] CONTAINS ALL [1, 3]"), "true");
    assert_eq!(value("[1, 2, 3] CONTAINS ALL [1, 4]"), "false");
    assert_eq!(value("[1, 2, 3] CONTAINS ANY [4, 3]"), "true");
    assert_eq!(value("[1, 2, 3] CONTAINS NONE [4, 5]"), "true");
}

#[test]
fn logic_short_circuits() {
    assert!(error("true AND 1 / 0").contains("division by zero"));
    assert_eq!(value("false AND 1 / 0"), "false");
    assert_eq!(value("true OR 1 / 0"), "true");
    assert_eq!(value("NOT false"), "true");
    assert_eq!(value("NONE ?: 3"), "3");
    assert_eq!(value("2 ?: 3"), "2");
}

#[test]
fn string_and_math_functions() {
    assert_eq!(value("string::len('héllo')"), "5");
    assert_eq!(value("string::lowercase('AbC')"), "'abc'");
    assert_eq!(value("string::uppercase('AbC')"), "'ABC'");
    assert_eq!(value("string::concat('a', 1, 'b')"), "'a1b'");
    assert_eq!(value("math::abs(-4)"), "4");
    assert_eq!(value("math::floor(2.7)"), "2.0");
    assert_eq!(value("math::ceil(2.1)"), "3.0");
    assert_eq!(value("math::max([1, 5.5, 3])"), "5.5");
    assert_eq!(value("math::min(4, 2, 8)"), "2");
    assert_eq!(value("string::contains('hello', 'ell')"), "true");
    assert_eq!(value("array::len([1, [2, 3]])"), "2");
    assert_eq!(value("array::distinct([2, 1, 2.0, 'a'])"), "[2, 1, 'a']");
    assert_eq!(
        value("array::sort(['b', 2, 1.5, NONE])"),
        "[NONE, 1.5, 2, 'b']"
    );
    assert!(error("string::len(3)").contains("string::len() takes one string, got (int 3)"));
    assert!(error("nope::nothing()").contains("unknown function `nope::nothing()`"));
}

#[test]
fn time_comes_from_the_caller_and_durations_add() {
    let mut db = Db::new();
    db.now = 0;
    assert_eq!(db.last("RETURN time::now()"), "d'1970-01-01T00:00:00Z'");
    assert_eq!(
        db.last("RETURN time::now() + 1d2h"),
        "d'1970-01-02T02:00:00Z'"
    );
    assert_eq!(db.last("RETURN (time::now() + 90s) - time::now()"), "1m30s");
    assert_eq!(db.last("RETURN 1h + 30m"), "1h30m");
    assert_eq!(db.last("RETURN duration::secs(2m)"), "120");
    assert_eq!(db.last("RETURN duration::from_secs(90)"), "1m30s");
}

#[test]
fn fields_records_and_parameters() {
    let mut db = Db::new();
    db.run("CREATE person:a SET address = {city: 'Oslo'}, tags = ['x', 'y'], friend = person:b");
    db.run("CREATE person:b SET name = 'Bob'");
    assert_eq!(
        db.last("SELECT address.city AS city, tags[1] AS second FROM person:a"),
        "[{ city: 'Oslo', second: 'y' }]"
    );
    db.run("LET $who = person:a");
    assert_eq!(db.last("SELECT friend FROM $who"), "[{ friend: person:b }]");
    assert_eq!(
        db.last("RETURN (SELECT name FROM person:b)"),
        "[{ name: 'Bob' }]"
    );
    db.run("LET $n = 1; SET $n += 2");
    assert_eq!(db.last("RETURN $n"), "3");
}

#[test]
fn regex_matching() {
    assert_eq!(value("'Alice' ~ //^[aA].*//"), "true");
    assert_eq!(value("'bob' ~ //^[aA]//"), "false");
    assert_eq!(value("'BOB' ~ //^b//i"), "true");
    assert_eq!(value("'bob' !~ //^b//"), "false");
    assert_eq!(value("'bob' ~ '^b'"), "true");
    assert_eq!(value("3 ~ //3//"), "false");
    let rendered = Db::new().error("RETURN 'a' ~ //(//");
    assert!(rendered.contains("invalid regex //(//"), "{rendered}");
    assert!(rendered.contains("^^^^^"), "{rendered}");
}
