//! Tests of the range checker on hand-built histories of one group.
use super::*;
use crate::history::{Operation, ProcessId};

fn op(
    process: u32,
    invoke: u64,
    complete: u64,
    op: RangeOp,
    outcome: Outcome<()>,
) -> RangeOperation {
    Operation {
        process: ProcessId(process),
        invoke_us: invoke,
        complete_us: complete,
        op,
        outcome,
    }
}

fn ids(seen: &[&str]) -> Vec<String> {
    seen.iter().map(|s| s.to_string()).collect()
}

/// An insert of `id` into group 0 that saw `seen`, with `outcome`.
fn insert(p: u32, i: u64, c: u64, id: &str, seen: &[&str], outcome: Outcome<()>) -> RangeOperation {
    let seen = ids(seen);
    op(
        p,
        i,
        c,
        RangeOp::Insert {
            group: 0,
            id: id.into(),
            seen,
        },
        outcome,
    )
}

fn read(p: u32, i: u64, c: u64, seen: &[&str]) -> RangeOperation {
    op(
        p,
        i,
        c,
        RangeOp::Read {
            group: 0,
            seen: ids(seen),
        },
        Outcome::Ok(()),
    )
}

fn ok() -> Outcome<()> {
    Outcome::Ok(())
}

fn unknown() -> Outcome<()> {
    Outcome::Info("client timeout".into())
}

fn failed() -> Outcome<()> {
    Outcome::Fail("condition failed".into())
}

/// Group 0's final state: each id with its value.
fn state(records: &[(&str, i64)]) -> BTreeMap<u32, BTreeMap<String, i64>> {
    let records = records.iter().map(|(id, v)| (id.to_string(), *v)).collect();
    BTreeMap::from([(0, records)])
}

fn anomalies(history: &[RangeOperation], records: &[(&str, i64)]) -> Vec<String> {
    let report = check_ranges(history, &state(records), 1).unwrap();
    assert!(report.inconclusive.is_empty(), "{report:?}");
    report.anomalies
}

fn assert_one(found: &[String], needle: &str) {
    assert!(
        found.iter().any(|a| a.contains(needle)),
        "no anomaly mentions {needle:?}: {found:#?}"
    );
}

/// a, b, c inserted in turn, e (unknown outcome) committed after them, d
/// (unknown) and f (failed) did not; reads in between.
fn clean_history() -> Vec<RangeOperation> {
    vec![
        insert(0, 0, 10, "a", &[], ok()),
        read(1, 11, 15, &["a"]),
        insert(1, 12, 20, "b", &["a"], ok()),
        insert(2, 13, 30, "f", &["a"], failed()),
        insert(3, 14, 1_000, "d", &["a"], unknown()),
        insert(2, 31, 40, "c", &["a", "b"], ok()),
        read(0, 35, 41, &["a", "b"]),
        insert(1, 41, 1_000, "e", &["a", "b", "c"], unknown()),
        read(0, 50, 60, &["a", "b", "c"]),
        read(0, 2_000, 2_010, &["a", "b", "c", "e"]),
        op(4, 0, 5, RangeOp::Put { id: "a".into() }, ok()),
    ]
}

const CLEAN_STATE: &[(&str, i64)] = &[("a", 0), ("b", 1), ("c", 2), ("e", 3)];

#[test]
fn a_clean_history_passes() {
    assert_eq!(
        anomalies(&clean_history(), CLEAN_STATE),
        Vec::<String>::new()
    );
}

#[test]
fn two_inserts_with_one_count_are_a_phantom() {
    let history = vec![
        insert(0, 0, 10, "a", &[], ok()),
        insert(1, 11, 20, "b", &["a"], ok()),
        insert(2, 12, 21, "c", &["a"], ok()),
    ];
    let found = anomalies(&history, &[("a", 0), ("b", 1), ("c", 1)]);
    assert_one(&found, "phantom: 2 committed inserts counted 1");
    assert_one(&found, "hole");
}

#[test]
fn an_unknown_insert_that_committed_with_a_taken_count_is_a_phantom() {
    let mut history = clean_history();
    history.push(insert(5, 45, 3_000, "g", &["a", "b", "c"], unknown()));
    let mut records = CLEAN_STATE.to_vec();
    records.push(("g", 3));
    assert_one(&anomalies(&history, &records), "phantom");
}

#[test]
fn a_real_time_inversion_is_caught() {
    // b was acknowledged before a was invoked, yet a counted first.
    let history = vec![
        insert(0, 0, 10, "b", &["a"], ok()),
        insert(1, 20, 30, "a", &[], ok()),
    ];
    let found = anomalies(&history, &[("a", 0), ("b", 1)]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_one(&found, "real-time order: insert b counted 1");
}

#[test]
fn a_lost_acknowledged_insert_is_caught() {
    let history = clean_history();
    let found = anomalies(&history, &[("a", 0), ("c", 2), ("e", 3)]);
    assert_one(
        &found,
        "insert b counted 1 (p1, invoked at 0.012 ms, acknowledged at 0.020 ms) is missing",
    );
}

#[test]
fn a_definitely_failed_insert_in_the_final_state_is_caught() {
    let history = vec![insert(0, 0, 10, "a", &[], failed())];
    assert_one(&anomalies(&history, &[("a", 0)]), "definitely failed");
}

#[test]
fn a_read_with_a_hole_is_caught() {
    let mut history = clean_history();
    history.push(read(3, 60, 70, &["a", "c"]));
    let found = anomalies(&history, CLEAN_STATE);
    assert_one(&found, "saw [c] that it should not have and missed [b]");
}

#[test]
fn a_read_that_misses_an_acknowledged_insert_is_caught() {
    let mut history = clean_history();
    // A prefix, but c was acknowledged (at 40) before the read began.
    history.push(read(3, 45, 70, &["a", "b"]));
    let found = anomalies(&history, CLEAN_STATE);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_one(&found, "missed insert c counted 2");
}

#[test]
fn a_read_that_sees_a_later_insert_is_caught() {
    let mut history = clean_history();
    // e was invoked at 41, after this read was acknowledged.
    history.push(read(3, 30, 40, &["a", "b", "c", "e"]));
    assert_one(
        &anomalies(&history, CLEAN_STATE),
        "invoked after the read was acknowledged",
    );
}

#[test]
fn reads_that_go_backwards_are_caught() {
    let mut history = clean_history();
    history.push(read(3, 2_020, 2_030, &["a", "b", "c"]));
    let found = anomalies(&history, CLEAN_STATE);
    assert_one(&found, "range read of 4 records");
    assert_one(
        &found,
        "was acknowledged before the range read of 3 records",
    );
}

#[test]
fn an_insert_that_saw_other_records_than_its_predecessors_is_caught() {
    let history = vec![
        insert(0, 0, 10, "a", &[], ok()),
        insert(1, 11, 20, "b", &["x"], ok()),
    ];
    let found = anomalies(&history, &[("a", 0), ("b", 1)]);
    assert_one(&found, "insert b counted 1");
    assert_one(&found, "saw [x] that it should not have and missed [a]");
}

#[test]
fn records_nobody_wrote_or_with_other_values_are_caught() {
    let history = vec![insert(0, 0, 10, "a", &[], ok())];
    let found = anomalies(&history, &[("a", 7), ("z", 1)]);
    assert_one(&found, "record a holds 7");
    assert_one(&found, "record z = 1, which no client inserted");
}

#[test]
fn a_group_without_a_final_read_is_inconclusive() {
    let history = vec![insert(0, 0, 10, "a", &[], ok())];
    let report = check_ranges(&history, &BTreeMap::new(), 1).unwrap();
    assert!(report.anomalies.is_empty());
    assert_eq!(report.inconclusive.len(), 1, "{report:?}");
}

#[test]
fn an_id_inserted_twice_is_a_recorder_bug() {
    let history = vec![
        insert(0, 0, 10, "a", &[], ok()),
        insert(1, 0, 10, "a", &[], failed()),
    ];
    assert!(check_ranges(&history, &state(&[]), 1).is_err());
}
