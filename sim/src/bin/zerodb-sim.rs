//! `zerodb-sim`: run one seed of the deterministic cluster simulator, or
//! sweep many, and report anomalies with the command that reproduces each.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use zerodb_sim::faults::{FaultCounts, FaultKind, FaultLevel};
use zerodb_sim::membership_gossip::MembershipKind;
use zerodb_sim::run::{run, EngineKind, RunConfig, UnsafeSwitches};
use zerodb_sim::workload::{OutcomeCounts, WorkloadKind};

/// ZeroDB deterministic cluster simulator.
#[derive(Parser, Debug)]
#[command(name = "zerodb-sim", version, about)]
struct Args {
    /// Run this one seed and print its summary.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Sweep this many seeds (starting at --start).
    #[arg(long)]
    seeds: Option<u64>,
    /// First seed of a sweep.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Cluster size.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Replication factor of the workload's namespaces (at most --nodes).
    #[arg(long, default_value_t = 3)]
    rf: usize,
    /// Client operations per seed (before healing and final reads).
    #[arg(long, default_value_t = 300)]
    ops: usize,
    /// Workload: register, append, bank, mixed-ns (strong and eventual
    /// registers side by side), ranges (inserts that count their group
    /// under a range lock, and range reads: phantoms) or documents (zeroql
    /// statements on a table with a unique index, run by the nodes' query
    /// loop), graph (zeroql RELATE, cascading deletes and traversals, run
    /// by the nodes' query loop) or ttl (strong writes with TTLs, read until
    /// the expiry sweep deletes them: never before a quorum of clocks
    /// passed the expiry).
    #[arg(long, default_value = "register")]
    workload: WorkloadKind,
    /// Fault level: none, light, heavy or mixed (drawn per seed).
    #[arg(long, default_value = "mixed")]
    faults: FaultLevel,
    /// Storage engine of the nodes: memory or zero (ZeroEngine over a
    /// fault-injecting file system).
    #[arg(long, default_value = "memory")]
    engine: EngineKind,
    /// Failure detector of the nodes: gossip (SWIM over the simulated
    /// network) or static (a perfect detector that knows every crash at once).
    #[arg(long, default_value = "gossip")]
    membership: MembershipKind,
    /// Inject disk faults on ZeroDB's engine (failed fsyncs, writes and
    /// reads, bit flips): off by default while the failures they find are
    /// open (sim/FAILING.md).
    #[arg(long)]
    disk_faults: bool,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 8)]
    clients: u32,
    /// Run the register workload on an eventual namespace (expected to be
    /// reported non-linearizable under partitions).
    #[arg(long)]
    eventual: bool,
    /// Test only: locks live only in memory.
    #[arg(long)]
    unsafe_skip_lock_durability: bool,
    /// Test only: strong reads skip read-time repair (a learned commit is
    /// neither counted nor applied; no write-back to a quorum).
    #[arg(long)]
    unsafe_skip_read_repair: bool,
    /// Test only: a replica with lost state votes at once.
    #[arg(long)]
    unsafe_skip_lost_state_recovery: bool,
    /// Test only: strong reads ignore write locks.
    #[arg(long)]
    unsafe_ignore_read_locks: bool,
    /// Test only: replicas of eventual namespaces never run anti-entropy.
    #[arg(long)]
    unsafe_skip_anti_entropy: bool,
    /// Test only: the released watermark ignores held locks (decision
    /// records deleted while still needed).
    #[arg(long)]
    unsafe_watermark_ignores_locks: bool,
    /// Test only: hints are kept but never replayed to the node they are
    /// for (caught by the end-of-run rest check).
    #[arg(long)]
    unsafe_skip_hint_replay: bool,
    /// Test only: range locks are taken and their records read, but they
    /// conflict with nothing (a phantom becomes possible; caught by the
    /// ranges workload).
    #[arg(long)]
    unsafe_skip_range_locks: bool,
    /// Test only: the driver syncs a batch only before an answer to a
    /// client, so votes and grants reach peers before they are durable
    /// (the driver's durability rule broken).
    #[arg(long)]
    unsafe_release_votes_before_sync: bool,
    /// Test only: a node counts the votes it sends itself inside the batch
    /// that wrote them, before their sync, while its requests (a `Decide`
    /// resting on those votes) leave before that sync.
    #[arg(long)]
    unsafe_count_own_answers_in_batch: bool,
    /// Test only: a replica prepares a blind write whose commit version is
    /// not above the version it stores (breaks I8: a later write can lose
    /// to an earlier one).
    #[arg(long)]
    unsafe_blind_ignores_stored_version: bool,
    /// Test only: termination takes "not prepared here" as a refusal
    /// without making it durable (breaks I5: the prepare may still arrive
    /// and complete the fast path of an attempt decided aborted).
    #[arg(long)]
    unsafe_abort_blind_without_refusal: bool,
    /// Test only: a blind write takes the fast path with a quorum of
    /// prepares instead of every replica's (breaks I3).
    #[arg(long)]
    unsafe_fast_path_on_quorum: bool,
    /// Test only: a strong read goes on without a blind prepare whose
    /// register accepted nothing (breaks I7: it may have committed on the
    /// fast path).
    #[arg(long)]
    unsafe_read_skips_blind_prepare: bool,
    /// Test only: a replica whose lock lease expired drops the prepare
    /// without an outcome instead of terminating it (breaks I4).
    #[arg(long)]
    unsafe_drop_expired_prepares: bool,
    /// Test only: a strong record's expiry is judged by the coordinator's
    /// clock alone, not the lowest clock of the replicas read (caught by
    /// the ttl workload).
    #[arg(long)]
    unsafe_expire_on_coordinator_clock: bool,
    /// Test only: zeroql deletes a vertex without its edges, leaving them
    /// and their adjacency entries behind (caught by the graph workload).
    #[arg(long)]
    unsafe_skip_edge_cascade: bool,
    /// Print every anomaly of a single seed (default: the first 20).
    #[arg(long)]
    verbose: bool,
    /// Switch a kind of fault off (repeatable): crash, wipe, mid-batch,
    /// partition, one-way, pause, clock, jump, network, and the disk faults
    /// of `--engine zero` (the memory engine has no files to fail):
    /// sync-fail, write-error, read-error, bit-flip.
    #[arg(long, value_name = "KIND")]
    without: Vec<FaultKind>,
    /// Print the history of a single seed, one operation per line.
    #[arg(long)]
    history: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.nodes == 0 {
        eprintln!("--nodes must be at least 1");
        return ExitCode::from(2);
    }
    if args.rf == 0 || args.rf > args.nodes {
        eprintln!(
            "--rf must be between 1 and --nodes ({}), not {}",
            args.nodes, args.rf
        );
        return ExitCode::from(2);
    }
    let base = RunConfig {
        seed: args.seed.unwrap_or(args.start),
        nodes: args.nodes,
        rf: args.rf,
        ops: args.ops,
        workload: args.workload,
        faults: args.faults,
        eventual: args.eventual,
        clients: args.clients.max(1),
        unsafe_switches: UnsafeSwitches {
            skip_lock_durability: args.unsafe_skip_lock_durability,
            skip_read_repair: args.unsafe_skip_read_repair,
            skip_lost_state_recovery: args.unsafe_skip_lost_state_recovery,
            ignore_read_locks: args.unsafe_ignore_read_locks,
            skip_anti_entropy: args.unsafe_skip_anti_entropy,
            watermark_ignores_locks: args.unsafe_watermark_ignores_locks,
            skip_hint_replay: args.unsafe_skip_hint_replay,
            skip_range_locks: args.unsafe_skip_range_locks,
            release_votes_before_sync: args.unsafe_release_votes_before_sync,
            count_own_answers_in_batch: args.unsafe_count_own_answers_in_batch,
            blind_ignores_stored_version: args.unsafe_blind_ignores_stored_version,
            abort_blind_without_refusal: args.unsafe_abort_blind_without_refusal,
            fast_path_on_quorum: args.unsafe_fast_path_on_quorum,
            read_skips_blind_prepare: args.unsafe_read_skips_blind_prepare,
            drop_expired_prepares: args.unsafe_drop_expired_prepares,
            expire_on_coordinator_clock: args.unsafe_expire_on_coordinator_clock,
            skip_edge_cascade: args.unsafe_skip_edge_cascade,
        },
        keep_history: args.history,
        without: args.without.clone(),
        engine: args.engine,
        membership: args.membership,
        disk_faults: args.disk_faults,
    };
    match (args.seed, args.seeds) {
        (Some(_), _) => single(&base, args.verbose),
        (None, Some(count)) => sweep(&base, args.start, count),
        (None, None) => {
            eprintln!("give --seed S to run one seed or --seeds N [--start S] to sweep");
            ExitCode::from(2)
        }
    }
}

fn single(config: &RunConfig, verbose: bool) -> ExitCode {
    let started = Instant::now();
    let summary = run(config);
    let wall = started.elapsed().as_secs_f64();
    if let Some(history) = &summary.history {
        print!("{history}");
    }
    println!("seed {} ({})", config.seed, config.command());
    println!("  operations: {} ({})", summary.ops, summary.outcomes);
    println!("  faults: {}", summary.faults);
    println!(
        "  simulated time: {} ms, events: {}",
        summary.simulated_ms, summary.events
    );
    let (batches, inputs) = summary.batches;
    println!(
        "  node batches: {batches} (one sync each), {inputs} inputs, {:.2} inputs per batch",
        inputs as f64 / batches.max(1) as f64
    );
    println!(
        "  requests handed to peers (forwards, scans): {}; newest acknowledged catalog version: {}",
        summary.asks, summary.catalog_version
    );
    println!("  node clocks (skew ms, drift ppm): {:?}", summary.clocks);
    println!(
        "  decision records: {} deleted below the released watermark, {} stored",
        summary.decision_records.0, summary.decision_records.1
    );
    println!("  history hash: {:016x}", summary.history_hash);
    println!(
        "  wall clock: {:.3} s, {:.0} simulated ops per second",
        wall,
        summary.ops as f64 / wall.max(1e-9)
    );
    for unknown in &summary.unknown {
        println!("  unknown: {unknown}");
    }
    let shown = if verbose { summary.anomalies.len() } else { 20 };
    for anomaly in summary.anomalies.iter().take(shown) {
        println!("  ANOMALY: {anomaly}");
    }
    println!("  anomalies: {}", summary.anomalies.len());
    // An inconclusive check is a failure, not a pass.
    if summary.anomalies.is_empty() && summary.unknown.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn sweep(base: &RunConfig, start: u64, count: u64) -> ExitCode {
    let started = Instant::now();
    let mut operations = 0usize;
    let mut outcomes = OutcomeCounts::default();
    let mut faults = FaultCounts::default();
    let mut anomalies = 0usize;
    let mut failing_seeds = 0u64;
    let mut inconclusive_seeds = 0u64;
    for seed in start..start.saturating_add(count) {
        let config = RunConfig {
            seed,
            ..base.clone()
        };
        let summary = run(&config);
        operations += summary.ops;
        outcomes.add(summary.outcomes);
        faults.add(&summary.faults);
        if summary.anomalies.is_empty() && !summary.unknown.is_empty() {
            // An inconclusive check is a failure, not a pass.
            inconclusive_seeds += 1;
            println!(
                "INCONCLUSIVE seed {seed}: {}\n  reproduce: {}",
                summary.unknown[0],
                config.command()
            );
        }
        if !summary.anomalies.is_empty() {
            failing_seeds += 1;
            anomalies += summary.anomalies.len();
            println!(
                "FAIL seed {seed}: {} anomalies, first: {}\n  reproduce: {}",
                summary.anomalies.len(),
                summary.anomalies[0],
                config.command()
            );
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "seeds {count}, operations {operations} ({outcomes}), faults injected {} ({faults}), \
         anomalies {anomalies} in {failing_seeds} seeds, inconclusive {inconclusive_seeds} seeds, \
         {:.0} simulated ops per wall-clock second",
        faults.total(),
        operations as f64 / wall.max(1e-9)
    );
    if anomalies == 0 && inconclusive_seeds == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
