//! Tests of the register linearizability checker.
use super::*;
use crate::history::{Operation, ProcessId};

fn op(
    process: u32,
    invoke: u64,
    complete: u64,
    op: RegisterOp,
    outcome: Outcome<RegisterResult>,
) -> RegisterOperation {
    Operation {
        process: ProcessId(process),
        invoke_us: invoke,
        complete_us: complete,
        op,
        outcome,
    }
}
fn put(p: u32, i: u64, c: u64, value: u64) -> RegisterOperation {
    op(
        p,
        i,
        c,
        RegisterOp::Put { key: 1, value },
        Outcome::Ok(RegisterResult::Written),
    )
}
fn get(p: u32, i: u64, c: u64, value: Option<u64>) -> RegisterOperation {
    op(
        p,
        i,
        c,
        RegisterOp::Get { key: 1 },
        Outcome::Ok(RegisterResult::Value(value)),
    )
}
fn cas(
    p: u32,
    i: u64,
    c: u64,
    expected: Option<u64>,
    new: u64,
    swapped: bool,
) -> RegisterOperation {
    op(
        p,
        i,
        c,
        RegisterOp::Cas {
            key: 1,
            expected,
            new,
        },
        Outcome::Ok(RegisterResult::Swapped(swapped)),
    )
}
fn info_put(p: u32, i: u64, value: u64) -> RegisterOperation {
    op(
        p,
        i,
        i + 1,
        RegisterOp::Put { key: 1, value },
        Outcome::Info("timeout".into()),
    )
}

fn delete(p: u32, i: u64, c: u64) -> RegisterOperation {
    op(
        p,
        i,
        c,
        RegisterOp::Delete { key: 1 },
        Outcome::Ok(RegisterResult::Written),
    )
}

#[test]
fn a_delete_empties_the_register_and_a_read_of_the_old_value_after_it_is_caught() {
    let ok = vec![
        put(0, 0, 1, 5),
        delete(0, 2, 3),
        get(1, 4, 5, None),
        cas(1, 6, 7, None, 6, true),
    ];
    assert!(check_registers(&ok).unwrap().is_linearizable());
    let resurrected = vec![put(0, 0, 1, 5), delete(0, 2, 3), get(1, 4, 5, Some(5))];
    assert!(!check_registers(&resurrected).unwrap().is_linearizable());
}

#[test]
fn sequential_history_is_linearizable() {
    let h = vec![
        get(0, 0, 1, None),
        put(0, 2, 3, 5),
        get(1, 4, 5, Some(5)),
        cas(1, 6, 7, Some(5), 6, true),
    ];
    assert!(check_registers(&h).unwrap().is_linearizable());
}

#[test]
fn stale_read_after_completed_write_is_caught() {
    let h = vec![put(0, 0, 10, 1), put(0, 20, 30, 2), get(1, 40, 50, Some(1))];
    let report = check_registers(&h).unwrap();
    assert_eq!(report.violations.len(), 1, "{report:?}");
    assert_eq!(report.violations[0].key, 1);
}

#[test]
fn concurrent_reads_may_see_either_value() {
    // Reads overlapping a write may see old or new, but not new then old
    // by real-time order.
    let ok = vec![
        put(0, 0, 100, 1),
        get(1, 10, 20, Some(1)),
        get(2, 30, 40, None),
    ];
    // get(None) at 30..40 after get(Some(1)) completed at 20: the write
    // had taken effect by 20, so None later is stale.
    assert!(!check_registers(&ok).unwrap().is_linearizable());
    let fine = vec![
        put(0, 0, 100, 1),
        get(1, 10, 20, None),
        get(2, 30, 40, Some(1)),
    ];
    assert!(check_registers(&fine).unwrap().is_linearizable());
}

#[test]
fn indeterminate_write_may_take_effect_late_or_never() {
    // The timed-out put of 2 shows up long after it was invoked.
    let late = vec![
        put(0, 0, 1, 1),
        info_put(1, 2, 2),
        get(0, 100, 101, Some(1)),
        get(0, 200, 201, Some(2)),
    ];
    assert!(check_registers(&late).unwrap().is_linearizable());
    let never = vec![
        put(0, 0, 1, 1),
        info_put(1, 2, 2),
        get(0, 100, 101, Some(1)),
    ];
    assert!(check_registers(&never).unwrap().is_linearizable());
    // But once it is seen, the older value cannot come back.
    let flip = vec![
        put(0, 0, 1, 1),
        info_put(1, 2, 2),
        get(0, 100, 101, Some(2)),
        get(0, 200, 201, Some(1)),
    ];
    assert!(!check_registers(&flip).unwrap().is_linearizable());
}

#[test]
fn failed_operations_have_no_effect() {
    let failed = op(
        1,
        2,
        3,
        RegisterOp::Put { key: 1, value: 9 },
        Outcome::Fail("conflict".into()),
    );
    let h = vec![put(0, 0, 1, 1), failed, get(0, 10, 11, Some(9))];
    assert!(!check_registers(&h).unwrap().is_linearizable());
}

#[test]
fn lost_update_through_cas_is_caught() {
    // Two increments from 0 both claim to have swapped 0 -> 1 and 0 -> 2:
    // only one of them can have found 0.
    let h = vec![
        put(0, 0, 1, 0),
        cas(1, 10, 20, Some(0), 1, true),
        cas(2, 10, 20, Some(0), 2, true),
    ];
    assert!(!check_registers(&h).unwrap().is_linearizable());
    // A failed cas must not have seen the expected value.
    let h = vec![put(0, 0, 1, 0), cas(1, 10, 20, Some(0), 1, false)];
    assert!(!check_registers(&h).unwrap().is_linearizable());
}

#[test]
fn keys_are_checked_independently() {
    let mut h = vec![put(0, 0, 10, 1), get(1, 20, 30, Some(1))];
    h.push(op(
        2,
        0,
        10,
        RegisterOp::Put { key: 2, value: 7 },
        Outcome::Ok(RegisterResult::Written),
    ));
    h.push(op(
        2,
        20,
        30,
        RegisterOp::Get { key: 2 },
        Outcome::Ok(RegisterResult::Value(None)),
    ));
    let report = check_registers(&h).unwrap();
    assert_eq!(report.keys, 2);
    assert_eq!(
        report.violations.iter().map(|v| v.key).collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn malformed_result_is_an_error_not_a_panic() {
    let h = vec![op(
        0,
        0,
        1,
        RegisterOp::Get { key: 1 },
        Outcome::Ok(RegisterResult::Written),
    )];
    assert!(matches!(
        check_registers(&h),
        Err(CheckError::Malformed { index: 0, .. })
    ));
}

#[test]
fn unobserved_writes_are_searched_as_one_class() {
    // 30 concurrent writes nobody reads, then a read of one more
    // write: without the reduction the search tries every subset of
    // the 30; with it, one order per class.
    let mut h: Vec<_> = (0..30).map(|v| put(v as u32, 0, 1000 + v, v)).collect();
    h.extend((0..30).map(|v| info_put(40 + v as u32, 5, 100 + v)));
    h.push(put(98, 2000, 2100, 500));
    h.push(get(99, 2200, 2300, Some(500)));
    let report = check_registers_with_budget(&h, 20_000).unwrap();
    assert!(report.is_linearizable(), "{report:?}");
    // The same shape with a read no order explains is still refuted.
    h.push(get(99, 2400, 2500, Some(7)));
    let report = check_registers_with_budget(&h, 20_000).unwrap();
    assert_eq!(report.violations.len(), 1, "{report:?}");
}

#[test]
fn an_observed_write_is_not_merged_with_unobserved_ones() {
    // Writes 1 and 2 are concurrent; a read sees 1 after both
    // returned, so 1 must be last. Merging 1 with 2 would hide the
    // second read's impossible 2.
    let h = vec![
        put(0, 0, 10, 1),
        put(1, 0, 10, 2),
        get(2, 20, 30, Some(1)),
        get(3, 40, 50, Some(2)),
    ];
    assert!(!check_registers(&h).unwrap().is_linearizable());
}

#[test]
fn search_budget_reports_unknown() {
    // Many concurrent writes and a read that matches none: the search
    // must explore many orders before refuting it.
    let mut h: Vec<_> = (0..40).map(|v| put(v as u32, 0, 1000, v)).collect();
    h.push(get(99, 0, 1000, Some(1000)));
    let report = check_registers_with_budget(&h, 50).unwrap();
    assert_eq!(report.unknown, vec![1]);
}

#[test]
fn many_concurrent_writes_check_quickly() {
    // 12 processes, 600 operations, overlapping windows: memoisation keeps
    // this fast.
    let mut h = Vec::new();
    for round in 0..50u64 {
        let base = round * 100;
        // The writes overlap, so any of them may be linearized last.
        let last = Some(round * 100 + 6);
        for p in 0..12u32 {
            let value = round * 100 + u64::from(p);
            if p % 3 == 0 {
                h.push(put(p, base + u64::from(p), base + 50 + u64::from(p), value));
            } else {
                h.push(get(p, base + 70 + u64::from(p), base + 99, last));
            }
        }
    }
    let report = check_registers(&h).unwrap();
    assert!(report.is_linearizable(), "{report:?}");
}
