//! Disk faults on ZeroDB's engine (issue 14): failed syncs, writes and
//! reads stop a node's engine and the node restarts; flipped bits are
//! caught on reopen (the disk is then lost) or leave every synced record
//! intact. Each kind must strike and no checker may complain.

use zerodb_sim::faults::{FaultKind, FaultLevel};
use zerodb_sim::run::{run, EngineKind, RunConfig};
use zerodb_sim::workload::WorkloadKind;

fn zero_config(seed: u64, workload: WorkloadKind) -> RunConfig {
    RunConfig {
        seed,
        workload,
        faults: FaultLevel::Heavy,
        engine: EngineKind::Zero,
        disk_faults: true,
        ..RunConfig::default()
    }
}

/// No anomaly and no inconclusive check in `config`'s run.
fn assert_clean(config: &RunConfig, summary: &zerodb_sim::run::RunSummary) {
    assert!(
        summary.anomalies.is_empty() && summary.unknown.is_empty(),
        "`{}`: {:?} {:?}",
        config.command(),
        &summary.anomalies[..summary.anomalies.len().min(3)],
        summary.unknown
    );
}

#[test]
fn every_disk_fault_strikes_and_no_checker_complains() {
    let mut total = zerodb_sim::faults::DiskFaultCounts::default();
    for seed in [0, 3] {
        let config = zero_config(seed, WorkloadKind::Bank);
        let summary = run(&config);
        assert_clean(&config, &summary);
        let disk = summary
            .faults
            .disk
            .expect("the zero engine counts disk faults");
        total.sync_failures += disk.sync_failures;
        total.write_errors += disk.write_errors;
        total.read_errors += disk.read_errors;
        total.bit_flips += disk.bit_flips;
        total.flips_caught += disk.flips_caught;
    }
    assert!(total.sync_failures > 0, "{total:?}");
    assert!(total.write_errors > 0, "{total:?}");
    assert!(total.read_errors > 0, "{total:?}");
    assert!(total.bit_flips > 0, "{total:?}");
    assert!(total.flips_caught > 0, "{total:?}");
    assert!(total.flips_caught < total.bit_flips, "{total:?}");
}

/// The memory engine has no files: it draws no disk fault, and says so.
#[test]
fn the_memory_engine_draws_no_disk_fault() {
    let config = RunConfig {
        engine: EngineKind::Memory,
        ..zero_config(2, WorkloadKind::Register)
    };
    let summary = run(&config);
    assert!(summary.faults.disk.is_none());
    assert!(summary
        .faults
        .to_string()
        .contains("no disk faults (the memory engine has no files to fail)"));
}

#[test]
fn disk_fault_kinds_have_command_line_names() {
    for (name, kind) in [
        ("sync-fail", FaultKind::SyncFail),
        ("write-error", FaultKind::WriteError),
        ("read-error", FaultKind::ReadError),
        ("bit-flip", FaultKind::BitFlip),
    ] {
        assert_eq!(name.parse::<FaultKind>(), Ok(kind));
        assert_eq!(kind.name(), name);
    }
}

/// Seeds that stayed `recovering` for good after the vote fence (issue
/// 14): a bit flip cut a node's WAL on reopen, keeping a `Prepared` whose
/// `Resolved` was lost; the new incarnation held that lock, below the
/// released watermark, so nothing could resolve it and its low kept the
/// watermark short of its fence. A store that lost state now drops the
/// locks left in it and rebuilds its lock table from the copy.
#[test]
fn a_lock_left_in_a_store_that_lost_state_does_not_hold_the_fence() {
    for (seed, workload) in [(5, WorkloadKind::Bank), (60, WorkloadKind::Register)] {
        let config = RunConfig {
            faults: FaultLevel::Mixed,
            ..zero_config(seed, workload)
        };
        let summary = run(&config);
        assert_clean(&config, &summary);
    }
}
