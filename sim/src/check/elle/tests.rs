//! Hand-made good and known-bad list-append histories.

use std::collections::BTreeMap;

use super::*;
use crate::history::{Micro, Operation, Outcome, ProcessId};

fn append(key: u64, value: u64) -> Micro {
    Micro::Append { key, value }
}

fn read(key: u64, values: &[u64]) -> Micro {
    Micro::Read {
        key,
        values: Some(values.to_vec()),
    }
}

fn request(steps: &[Micro]) -> Vec<Micro> {
    steps
        .iter()
        .map(|m| match m {
            Micro::Read { key, .. } => Micro::Read {
                key: *key,
                values: None,
            },
            other => other.clone(),
        })
        .collect()
}

fn ok(process: u32, invoke: u64, complete: u64, steps: &[Micro]) -> TxnOperation {
    Operation {
        process: ProcessId(process),
        invoke_us: invoke,
        complete_us: complete,
        op: request(steps),
        outcome: Outcome::Ok(steps.to_vec()),
    }
}

fn failed(process: u32, invoke: u64, complete: u64, steps: &[Micro]) -> TxnOperation {
    Operation {
        outcome: Outcome::Fail("aborted".into()),
        ..ok(process, invoke, complete, steps)
    }
}

fn info(process: u32, invoke: u64, steps: &[Micro]) -> TxnOperation {
    Operation {
        outcome: Outcome::Info("timeout".into()),
        ..ok(process, invoke, invoke + 1, steps)
    }
}

fn kinds(report: &ElleReport) -> Vec<ElleKind> {
    let mut kinds: Vec<_> = report.anomalies.iter().map(|a| a.kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

#[test]
fn serial_history_is_valid() {
    let h = vec![
        ok(0, 0, 10, &[append(1, 1), read(2, &[])]),
        ok(1, 20, 30, &[read(1, &[1]), append(2, 2)]),
        ok(0, 40, 50, &[read(1, &[1]), read(2, &[2]), append(1, 3)]),
        ok(1, 60, 70, &[read(1, &[1, 3]), read(2, &[2])]),
    ];
    let report = check_list_append(&h).unwrap();
    assert!(report.is_valid(), "{:?}", report.anomalies);
    assert!(report.edges > 0);
}

#[test]
fn write_cycle_is_g0() {
    let h = vec![
        ok(0, 0, 10, &[append(1, 1), append(2, 2)]),
        ok(1, 0, 10, &[append(1, 3), append(2, 4)]),
        ok(2, 20, 30, &[read(1, &[1, 3]), read(2, &[4, 2])]),
    ];
    let report = check_list_append(&h).unwrap();
    assert_eq!(kinds(&report), vec![ElleKind::G0], "{:?}", report.anomalies);
    let mut txns = report.anomalies[0].txns.clone();
    txns.sort();
    assert_eq!(txns, vec![0, 1]);
}

#[test]
fn aborted_read_is_g1a() {
    let h = vec![
        failed(0, 0, 10, &[append(1, 1)]),
        ok(1, 20, 30, &[read(1, &[1])]),
    ];
    let report = check_list_append(&h).unwrap();
    assert_eq!(kinds(&report), vec![ElleKind::G1a]);
    assert_eq!(report.anomalies[0].txns, vec![1, 0]);
}

#[test]
fn intermediate_read_is_g1b() {
    let h = vec![
        ok(0, 0, 10, &[append(1, 1), append(1, 2)]),
        ok(1, 5, 8, &[read(1, &[1])]),
    ];
    let report = check_list_append(&h).unwrap();
    assert!(report.has(ElleKind::G1b), "{:?}", report.anomalies);
}

#[test]
fn circular_information_flow_is_g1c() {
    let h = vec![
        ok(0, 0, 10, &[append(1, 1), read(2, &[2])]),
        ok(1, 0, 10, &[append(2, 2), read(1, &[1])]),
    ];
    let report = check_list_append(&h).unwrap();
    assert_eq!(
        kinds(&report),
        vec![ElleKind::G1c],
        "{:?}",
        report.anomalies
    );
}

#[test]
fn write_skew_is_g2() {
    let h = vec![
        ok(0, 0, 10, &[read(1, &[]), read(2, &[]), append(1, 1)]),
        ok(1, 0, 10, &[read(1, &[]), read(2, &[]), append(2, 2)]),
        ok(2, 20, 30, &[read(1, &[1]), read(2, &[2])]),
    ];
    let report = check_list_append(&h).unwrap();
    assert_eq!(kinds(&report), vec![ElleKind::G2], "{:?}", report.anomalies);
    assert!(report.anomalies[0].explanation.contains("rw(k1)"));
    assert!(report.anomalies[0].explanation.contains("rw(k2)"));
}

#[test]
fn lost_update_is_g_single() {
    let h = vec![
        ok(0, 0, 10, &[read(1, &[]), append(1, 1)]),
        ok(1, 0, 10, &[read(1, &[]), append(1, 2)]),
        ok(2, 20, 30, &[read(1, &[1, 2])]),
    ];
    let report = check_list_append(&h).unwrap();
    assert_eq!(
        kinds(&report),
        vec![ElleKind::GSingle],
        "{:?}",
        report.anomalies
    );
}

#[test]
fn non_repeatable_read_is_caught() {
    let h = vec![
        ok(0, 0, 100, &[read(1, &[]), read(1, &[1])]),
        ok(1, 10, 20, &[append(1, 1)]),
    ];
    let report = check_list_append(&h).unwrap();
    assert!(report.has(ElleKind::Internal), "{:?}", report.anomalies);
    assert!(report.has(ElleKind::GSingle), "{:?}", report.anomalies);
}

#[test]
fn stale_read_is_a_realtime_violation() {
    let h = vec![
        ok(0, 0, 10, &[append(1, 1)]),
        ok(1, 20, 30, &[read(1, &[])]),
        ok(2, 40, 50, &[read(1, &[1])]),
    ];
    let report = check_list_append(&h).unwrap();
    assert_eq!(
        kinds(&report),
        vec![ElleKind::GSingleRealtime],
        "{:?}",
        report.anomalies
    );
    // Concurrent, the same reads are serializable.
    let h = vec![
        ok(0, 0, 25, &[append(1, 1)]),
        ok(1, 20, 30, &[read(1, &[])]),
        ok(2, 40, 50, &[read(1, &[1])]),
    ];
    assert!(check_list_append(&h).unwrap().is_valid());
}

#[test]
fn incompatible_orders_and_garbage_are_caught() {
    let h = vec![
        ok(0, 0, 10, &[append(1, 1)]),
        ok(1, 0, 10, &[append(1, 2)]),
        ok(2, 20, 30, &[read(1, &[1, 2])]),
        ok(3, 20, 30, &[read(1, &[2])]),
        ok(4, 20, 30, &[read(5, &[77])]),
    ];
    let report = check_list_append(&h).unwrap();
    assert_eq!(
        kinds(&report),
        vec![ElleKind::IncompatibleOrder, ElleKind::GarbageRead]
    );
}

#[test]
fn indeterminate_writer_may_be_observed() {
    let h = vec![
        info(0, 0, &[append(1, 1)]),
        ok(1, 20, 30, &[read(1, &[1])]),
        ok(1, 40, 50, &[read(1, &[1])]),
    ];
    assert!(check_list_append(&h).unwrap().is_valid());
}

#[test]
fn malformed_results_are_errors() {
    let mut bad = ok(0, 0, 10, &[append(1, 1)]);
    bad.outcome = Outcome::Ok(vec![append(1, 2)]);
    assert!(matches!(
        check_list_append(&[bad]),
        Err(CheckError::Malformed { index: 0, .. })
    ));
    let dup = vec![ok(0, 0, 10, &[append(1, 1)]), ok(1, 0, 10, &[append(1, 1)])];
    assert!(matches!(
        check_list_append(&dup),
        Err(CheckError::Malformed { index: 1, .. })
    ));
}

/// A serial execution against a model, with overlapping but order-preserving
/// windows, must check clean; it also shows the checker is fast enough.
#[test]
fn generated_serial_history_is_valid() {
    let mut state: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut history = Vec::new();
    let mut value = 0u64;
    for t in 0..2000u64 {
        let mut steps = Vec::new();
        for _ in 0..(1 + next() % 4) {
            let key = next() % 8;
            if next() % 2 == 0 {
                value += 1;
                state.entry(key).or_default().push(value);
                steps.push(append(key, value));
            } else {
                steps.push(read(key, state.get(&key).map(Vec::as_slice).unwrap_or(&[])));
            }
        }
        // Transaction t takes effect at 10 * t; its window straddles it.
        history.push(ok(
            (t % 5) as u32,
            10 * t - (t > 0) as u64 * 3,
            10 * t + 3,
            &steps,
        ));
    }
    let report = check_list_append(&history).unwrap();
    assert!(
        report.is_valid(),
        "{:?}",
        &report.anomalies[..report.anomalies.len().min(3)]
    );
}
