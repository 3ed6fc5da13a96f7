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

const USAGE: &str = "\
usage: model_check [--scenario NAME] [--depth N] [--states-max N]
                   [--unsafe-case-1] [--unsafe-skip-range-locks]
                   [--drops N] [--duplicates N] [--ticks N] [--crashes N] [--faults N]
                   [--unchecked PREFIX-OF-AN-INVARIANT-NAME]...

  --scenario     contention, two-partitions, termination, range-scan, blind,
                 case-1, range-unlocked, blind-unrefused, or all (default: all
                 five protocol scenarios)
  --depth        most steps per run (default 12)
  --states-max   stop after this many states (default: no limit)
  --drops ...    fault bounds of each run (default: the scenario's)
  --unchecked    do not check the state invariant whose name starts so
Prints the states explored, the depth reached, the invariants checked and
the violations (with the trace of the first); exits 1 on a violation, 2 on
bad arguments.";

/// Stops with the usage and `problem` (exit status 2).
fn usage_error(problem: &str) -> ! {
    eprintln!("model_check: {problem}\n\n{USAGE}");
    std::process::exit(2);
}

fn number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> T {
    let Some(value) = value else {
        usage_error(&format!("{flag} needs a value"));
    };
    value
        .parse()
        .unwrap_or_else(|_| usage_error(&format!("{flag} {value}: not a number")))
}

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
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            "--scenario" => {
                which = args
                    .next()
                    .unwrap_or_else(|| usage_error("--scenario needs a name"))
            }
            "--depth" => depth = number(&arg, args.next()),
            "--states-max" => states_max = number(&arg, args.next()),
            "--unsafe-case-1" => unsafe_case_1 = true,
            "--unsafe-skip-range-locks" => unsafe_skip_range_locks = true,
            "--drops" | "--duplicates" | "--ticks" | "--crashes" | "--faults" => {
                let count = number(&arg, args.next());
                bounds.push((arg, count))
            }
            "--unchecked" => unchecked.push(
                args.next()
                    .unwrap_or_else(|| usage_error("--unchecked needs a prefix")),
            ),
            other => usage_error(&format!("unknown argument {other}")),
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
        other => usage_error(&format!("unknown scenario {other}")),
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
            let Some(found) = found else {
                usage_error(&format!(
                    "--unchecked {name}: no state invariant starts so; they are {:?}",
                    model::STATE_INVARIANTS
                ));
            };
            scenario.unchecked.push(found);
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
