//! The model checker of `zerodb_txn::model` in CI: every run of the three
//! scenarios up to a small depth bound (about a minute in the test
//! profile), and issue 14 case 1 found again with its fix reverted. Longer
//! runs: `cargo run --release -p zerodb-txn --example model_check`.

use zerodb_txn::model::{self, Report, Scenario, STATE_INVARIANTS};

fn run(scenario: Scenario) -> Report {
    let started = std::time::Instant::now();
    let mut report = model::check(&scenario);
    report.elapsed = started.elapsed();
    println!("{report}");
    report
}

fn assert_clean(report: &Report) {
    if let Some(v) = &report.violation {
        panic!("{}: {}\n{}", v.invariant, v.detail, v.trace.join("\n"));
    }
    assert!(
        report.exhausted,
        "every state within the bound was explored"
    );
    assert!(report.states > 1_000, "the search went somewhere");
}

#[test]
fn contention_on_one_key_breaks_no_invariant() {
    assert_clean(&run(model::contention(4)));
}

#[test]
fn transactions_over_two_partitions_break_no_invariant() {
    assert_clean(&run(model::two_partitions(5)));
}

#[test]
fn termination_racing_the_coordinators_decide_breaks_no_invariant() {
    assert_clean(&run(model::termination(4)));
}

/// Issue 14 case 1 with `unsafe_grant_woken_without_recheck`: two
/// attempts of one transaction queued at one replica.
#[test]
fn case_1_is_found_with_its_fix_reverted() {
    let report = run(model::case_1(8));
    let v = report.violation.expect("case 1 is found");
    assert_eq!(v.invariant, STATE_INVARIANTS[1], "{}", v.detail);
}

/// Past the queue check, the harm itself: a lock of one attempt replaced
/// by another attempt's grant, with no outcome recorded (I4).
#[test]
fn case_1_loses_a_lock_without_an_outcome() {
    let mut scenario = model::case_1(8);
    scenario.unchecked = vec![STATE_INVARIANTS[1]];
    let report = run(scenario);
    let v = report.violation.expect("the lost lock is found");
    assert_eq!(v.invariant, STATE_INVARIANTS[2], "{}", v.detail);
}

/// The same search with the fix in place finds nothing.
#[test]
fn case_1_scenario_is_clean_with_the_fix() {
    let mut scenario = model::case_1(6);
    scenario.unsafe_case_1 = false;
    scenario.shortest_trace = false;
    let report = run(scenario);
    assert_clean(&report);
}

#[test]
fn a_range_scan_racing_an_insert_into_it_breaks_no_invariant() {
    assert_clean(&run(model::range_scan(4)));
}

/// The checker is trusted with ranges only because it catches the phantom
/// when range locks conflict with nothing.
#[test]
fn a_range_scan_without_range_locks_is_caught() {
    let report = run(model::range_scan_unlocked(8));
    let v = report.violation.expect("the phantom is found");
    assert_eq!(v.invariant, STATE_INVARIANTS[6], "{}", v.detail);
}

/// Past the replica's lock table, the harm itself: the scan and the insert
/// both believe they hold their locks at a quorum.
#[test]
fn a_range_scan_without_range_locks_lets_both_transactions_lock_at_a_quorum() {
    let mut scenario = model::range_scan_unlocked(8);
    scenario.unchecked = vec![STATE_INVARIANTS[6]];
    let report = run(scenario);
    let v = report.violation.expect("the double belief is found");
    assert_eq!(v.invariant, STATE_INVARIANTS[5], "{}", v.detail);
}

#[test]
fn blind_writes_on_the_fast_and_classic_paths_break_no_invariant() {
    assert_clean(&run(model::blind(4)));
}

/// The checker is trusted with protocol v2 only because it catches an
/// attempt committed on the fast path and aborted by termination when a
/// replica's "not prepared" is not made a durable refusal.
#[test]
fn termination_without_a_durable_refusal_is_caught() {
    let report = run(model::blind_unrefused(10));
    let v = report.violation.expect("the two outcomes are found");
    assert_eq!(v.invariant, STATE_INVARIANTS[3], "{}", v.detail);
}
