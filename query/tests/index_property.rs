//! Property: a query answered by an index scan returns exactly what the
//! same filter over a table scan returns, after any mix of writes.

mod common;

use common::db::Db;
use proptest::prelude::*;

/// A value as zeroql text: ints and floats that collide (`1` and `1.0`),
/// strings, booleans, null, and none (the field left out).
fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (-4i64..4).prop_map(|int| int.to_string()),
        (-4i64..4).prop_map(|int| format!("{}.5", int)),
        (-2i64..2).prop_map(|int| format!("{}.0", int)),
        "[ab]{0,2}".prop_map(|text| format!("'{text}'")),
        Just("true".to_string()),
        Just("NULL".to_string()),
        Just("NONE".to_string()),
    ]
}

fn comparison() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("="), Just("<"), Just("<="), Just(">"), Just(">=")]
}

#[derive(Debug, Clone)]
enum Write {
    Create(u8, String),
    Update(u8, String),
    Delete(u8),
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        3 => (0u8..12, literal()).prop_map(|(id, value)| Write::Create(id, value)),
        1 => (0u8..12, literal()).prop_map(|(id, value)| Write::Update(id, value)),
        1 => (0u8..12).prop_map(Write::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn an_index_scan_answers_like_a_filtered_table_scan(
        unique in any::<bool>(),
        writes in proptest::collection::vec(write(), 0..24),
        first in (comparison(), literal()),
        second in proptest::option::of((comparison(), literal())),
    ) {
        let mut db = Db::new();
        let unique = if unique { " UNIQUE" } else { "" };
        db.run(&format!("DEFINE INDEX by_v ON t FIELDS v{unique}"));
        for write in &writes {
            let text = match write {
                Write::Create(id, value) => format!("CREATE t:{id} SET v = {value}, w = {id}"),
                Write::Update(id, value) => format!("UPDATE t:{id} SET v = {value}"),
                Write::Delete(id) => format!("DELETE t:{id}"),
            };
            // Duplicates (existing id, unique value) fail and write nothing.
            let _ = db.try_run(&text);
        }
        let mut condition = format!("v {} {}", first.0, first.1);
        if let Some((op, value)) = &second {
            condition = format!("{condition} AND {value} {} v", flip(op));
        }
        let indexed = db.last(&format!("SELECT id FROM t WHERE {condition} ORDER BY id"));
        let scanned = db.last(&format!("SELECT id FROM t WITH NO INDEX WHERE {condition} ORDER BY id"));
        prop_assert_eq!(&indexed, &scanned, "WHERE {}", condition);
        let plan = db.last(&format!("EXPLAIN SELECT id FROM t WHERE {condition}"));
        prop_assert!(plan.contains("IndexScan"), "{}", plan);
        let everything = db.last("SELECT id FROM t WHERE v >= NONE ORDER BY id");
        let all = db.last("SELECT id FROM t ORDER BY id");
        prop_assert_eq!(everything, all);
    }
}

/// The operator with its sides swapped: `v < 3` is `3 > v`.
fn flip(op: &str) -> &'static str {
    match op {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        ">=" => "<=",
        _ => "=",
    }
}
