//! A longer run of the model checker (see `zerodb_txn::model`):
//!
//! ```text
//! cargo run --release -p zerodb-txn --example model_check -- \
//!     [--scenario contention|two-partitions|termination|range-scan|blind|case-1|range-unlocked|blind-unrefused|all] \
//!     [--depth N] [--states-max N] [--unsafe-case-1] [--unsafe-skip-range-locks] \
//!     [--drops N] [--duplicates N] [--ticks N] [--crashes N] [--faults N] \
//!     [--unchecked PREFIX-OF-AN-INVARIANT-NAME]...
//! ```
//!
//! Prints, per scenario, the states explored, the maximum depth, the
//! invariants checked and the violations (with the trace of the first).
//! Exits with status 1 when a violation was found.

use zerodb_txn::model::{self, Scenario};

fn main() {
    let mut which = "all".to_string();
    let mut depth = 12usize;
    let mut states_max = u64::MAX;
    let mut unsafe_case_1 = false;
    let mut unsafe_skip_range_locks = false;
    let mut bounds: Vec<(String, u32)> = Vec::new();
    let mut unchecked: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--scenario" => which = value(),
            "--depth" => depth = value().parse().expect("--depth N"),
            "--states-max" => states_max = value().parse().expect("--states-max N"),
            "--unsafe-case-1" => unsafe_case_1 = true,
            "--unsafe-skip-range-locks" => unsafe_skip_range_locks = true,
            "--drops" | "--duplicates" | "--ticks" | "--crashes" | "--faults" => {
                bounds.push((arg.clone(), value().parse().expect("a count")))
            }
            "--unchecked" => unchecked.push(value()),
            other => panic!("unknown argument {other}; see the example's docs"),
        }
    }
    let scenarios: Vec<Scenario> = match which.as_str() {
        "contention" => vec![model::contention(depth)],
        "two-partitions" => vec![model::two_partitions(depth)],
        "termination" => vec![model::termination(depth)],
        "range-scan" => vec![model::range_scan(depth)],
        "case-1" => vec![model::case_1(depth)],
        "range-unlocked" => vec![model::range_scan_unlocked(depth)],
        "blind" => vec![model::blind(depth)],
        "blind-unrefused" => vec![model::blind_unrefused(depth)],
        "all" => vec![
            model::contention(depth),
            model::two_partitions(depth),
            model::termination(depth),
            model::range_scan(depth),
            model::blind(depth),
        ],
        other => panic!("unknown scenario {other}"),
    };
    let mut violations = 0;
    for mut scenario in scenarios {
        scenario.states_max = states_max;
        scenario.unsafe_case_1 |= unsafe_case_1;
        scenario.unsafe_skip_range_locks |= unsafe_skip_range_locks;
        for (flag, n) in &bounds {
            match flag.as_str() {
                "--drops" => scenario.bounds.drops = *n,
                "--duplicates" => scenario.bounds.duplicates = *n,
                "--ticks" => scenario.bounds.ticks = *n,
                "--faults" => scenario.bounds.faults = *n,
                _ => scenario.bounds.crashes = *n,
            }
        }
        for name in &unchecked {
            let found = model::STATE_INVARIANTS
                .iter()
                .find(|i| i.starts_with(name.as_str()));
            scenario
                .unchecked
                .push(found.expect("--unchecked: a prefix of a state invariant's name"));
        }
        let started = std::time::Instant::now();
        let mut report = model::check(&scenario);
        report.elapsed = started.elapsed();
        print!("{report}");
        violations += usize::from(report.violation.is_some());
    }
    println!("invariants per state: {:?}", model::STATE_INVARIANTS);
    println!("invariants per ended run: {:?}", model::END_INVARIANTS);
    println!("violations: {violations}");
    if violations > 0 {
        std::process::exit(1);
    }
}
