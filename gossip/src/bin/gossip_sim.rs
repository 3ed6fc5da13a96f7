//! Measures gossip in the deterministic simulator: join convergence, crash
//! detection, false down events, bandwidth and convergence rounds for
//! several cluster sizes and loss rates, with the default settings.
//!
//! `cargo run --release -p zerodb-gossip --bin gossip_sim -- [--quick] [--seed N]
//! [--sizes 5,50] [--losses 0,0.05] [--cold]`

use std::time::Instant;

use zerodb_gossip::simulation::{sim_metadata, NetworkConfig, SimCluster};
use zerodb_gossip::GossipConfig;

/// Tokens per node, as in the default node configuration.
const TOKENS: usize = 64;

/// Node-hours the steady window aims for (bounded by the plan's window).
const STEADY_NODE_HOURS: f64 = 20.0;

/// Gap between the starts of the initial members.
const START_STAGGER_MS: u64 = 5;

struct Plan {
    sizes: Vec<usize>,
    losses: Vec<f64>,
    steady_min_ms: u64,
    steady_max_ms: u64,
    cold_formation_max: usize,
    crashes: usize,
    seed: u64,
}

struct Row {
    nodes: usize,
    loss: f64,
    formation_ms: Option<u64>,
    join_ms: Option<u64>,
    detect_mean_ms: Option<u64>,
    detect_max_ms: Option<u64>,
    false_downs_per_node_hour: f64,
    bytes_per_node_second: f64,
    largest_datagram: usize,
    errors: u64,
    wall_ms: u128,
}

fn parse_args() -> Plan {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let seed = args
        .iter()
        .position(|arg| arg == "--seed")
        .and_then(|index| args.get(index + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(42);
    let sizes: Option<Vec<usize>> = args
        .iter()
        .position(|arg| arg == "--sizes")
        .and_then(|index| args.get(index + 1))
        .map(|list| {
            list.split(',')
                .filter_map(|size| size.parse().ok())
                .collect()
        });
    let losses: Option<Vec<f64>> = args
        .iter()
        .position(|arg| arg == "--losses")
        .and_then(|index| args.get(index + 1))
        .map(|list| {
            list.split(',')
                .filter_map(|loss| loss.parse().ok())
                .collect()
        });
    let mut plan = if quick {
        Plan {
            sizes: vec![5, 50, 200],
            losses: vec![0.0, 0.05, 0.10],
            steady_min_ms: 60_000,
            steady_max_ms: 600_000,
            cold_formation_max: 200,
            crashes: 2,
            seed,
        }
    } else {
        Plan {
            sizes: vec![5, 50, 200, 1000],
            losses: vec![0.0, 0.05, 0.10],
            steady_min_ms: 60_000,
            steady_max_ms: 3_600_000,
            cold_formation_max: 200,
            crashes: 3,
            seed,
        }
    };
    if let Some(sizes) = sizes {
        plan.sizes = sizes.into_iter().filter(|size| *size >= 5).collect();
    }
    if let Some(losses) = losses {
        plan.losses = losses;
    }
    if args.iter().any(|arg| arg == "--cold") {
        plan.cold_formation_max = usize::MAX;
    }
    plan
}

fn check_step(nodes: usize) -> u64 {
    if nodes >= 500 {
        250
    } else {
        50
    }
}

fn measure(nodes: usize, loss: f64, plan: &Plan) -> Row {
    let wall = Instant::now();
    let config = GossipConfig::default();
    let network = NetworkConfig {
        latency_min_ms: 1,
        latency_max_ms: 20,
        loss,
    };
    let mut sim = SimCluster::new(plan.seed ^ nodes as u64 ^ (loss * 1000.0) as u64, network);
    for index in 0..nodes {
        sim.add_node(&config, sim_metadata(index, TOKENS));
    }
    // Formation: all but the last node. Cold: each joins through three
    // seeds knowing nothing (measured for the smaller sizes). Warm: they
    // start as a configured initial cluster knowing each other.
    let seeds = [0, 1, 2];
    let joiner = nodes - 1;
    let joiner_gossip = sim.nodes[joiner].gossip.take();
    let step = check_step(nodes);
    let cold = nodes <= plan.cold_formation_max;
    let start = sim.now_ms;
    if cold {
        sim.start(0, &[]);
        for index in 1..joiner {
            sim.run_until(sim.now_ms + START_STAGGER_MS);
            sim.start(index, &seeds);
        }
    } else {
        let members: Vec<usize> = (0..joiner).collect();
        sim.warm_start(&members, &seeds);
    }
    let formed = sim.run_until_true(start + 300_000, step.max(200), SimCluster::views_agree);
    let formation_ms = if cold {
        formed.map(|at| at - start)
    } else {
        None
    };
    let verbose = std::env::var_os("GOSSIP_SIM_VERBOSE").is_some();
    if verbose {
        eprintln!(
            "formation done after {:.1} s wall",
            wall.elapsed().as_secs_f64()
        );
    }

    // Join: the last node joins the converged cluster.
    sim.nodes[joiner].gossip = joiner_gossip;
    let start = sim.now_ms;
    sim.start(joiner, &seeds);
    let join_ms = sim
        .run_until_true(start + 120_000, step, SimCluster::views_agree)
        .map(|at| at - start);

    if verbose {
        eprintln!("join done after {:.1} s wall", wall.elapsed().as_secs_f64());
    }
    // Steady state: bandwidth and false down events, over a window long
    // enough for about STEADY_NODE_HOURS node-hours.
    let steady_ms = (STEADY_NODE_HOURS * 3_600_000.0 / nodes as f64) as u64;
    let steady_ms = steady_ms.clamp(plan.steady_min_ms, plan.steady_max_ms);
    let false_before = sim.stats.false_downs;
    let kinds_before = sim.stats.bytes_by_kind.clone();
    let bytes_before = sim.stats.bytes_sent;
    let start = sim.now_ms;
    sim.run_until(start + steady_ms);
    let seconds = steady_ms as f64 / 1000.0;
    if verbose {
        eprintln!(
            "steady done after {:.1} s wall",
            wall.elapsed().as_secs_f64()
        );
    }
    let bytes_per_node_second =
        (sim.stats.bytes_sent - bytes_before) as f64 / nodes as f64 / seconds;
    let node_hours = nodes as f64 * seconds / 3600.0;
    let false_downs_per_node_hour = (sim.stats.false_downs - false_before) as f64 / node_hours;
    if verbose {
        for (kind, bytes) in &sim.stats.bytes_by_kind {
            let before = kinds_before.get(kind).copied().unwrap_or(0);
            eprintln!(
                "steady {kind}: {:.0} B/node/s",
                (bytes - before) as f64 / nodes as f64 / seconds
            );
        }
    }

    // Crash detection: crash nodes one by one, away from the seeds.
    let mut detections = Vec::new();
    for crash in 0..plan.crashes {
        let victim = 3 + (crash * 7919 + 13) % (nodes - 3).max(1);
        if victim >= nodes || !sim.nodes[victim].is_running() {
            continue;
        }
        sim.crash(victim);
        let start = sim.now_ms;
        let seen = sim.run_until_true(start + 60_000, 25, |sim| sim.all_see_down(victim));
        detections.push(seen.map(|at| at - start));
        if verbose {
            let subject = sim.nodes[victim].node;
            let times = |wanted: fn(zerodb_gossip::GossipEvent, zerodb_ring::NodeId) -> bool| {
                let list: Vec<u64> = sim
                    .events
                    .iter()
                    .filter(|(time, _, event)| *time >= start && wanted(*event, subject))
                    .map(|(time, _, _)| time - start)
                    .collect();
                (list.first().copied(), list.last().copied(), list.len())
            };
            let suspect = times(|event, node| event == zerodb_gossip::GossipEvent::Suspect(node));
            let down = times(|event, node| event == zerodb_gossip::GossipEvent::Down(node));
            eprintln!("crash {victim}: suspect first/last/count {suspect:?} down {down:?}");
        }
        sim.run_until(sim.now_ms + 5_000);
    }
    if verbose {
        if let Some(error) = &sim.stats.last_error {
            eprintln!("last error: {error}");
        }
    }
    let detected: Vec<u64> = detections.iter().flatten().copied().collect();
    let all_detected = !detections.is_empty() && detected.len() == detections.len();
    let detect_mean_ms = all_detected.then(|| detected.iter().sum::<u64>() / detected.len() as u64);
    let detect_max_ms = if all_detected {
        detected.iter().max().copied()
    } else {
        None
    };
    Row {
        nodes,
        loss,
        formation_ms,
        join_ms,
        detect_mean_ms,
        detect_max_ms,
        false_downs_per_node_hour,
        bytes_per_node_second,
        largest_datagram: sim.stats.largest_datagram,
        errors: sim.stats.errors,
        wall_ms: wall.elapsed().as_millis(),
    }
}

fn seconds(value: Option<u64>) -> String {
    value.map_or("-".to_string(), |ms| format!("{:.2}", ms as f64 / 1000.0))
}

fn main() {
    let plan = parse_args();
    let config = GossipConfig::default();
    println!(
        "gossip_sim: seed {}, latency 1-20 ms, {} tokens/node, steady window ~{} node-hours ({}-{} s), {} crashes/run",
        plan.seed,
        TOKENS,
        STEADY_NODE_HOURS,
        plan.steady_min_ms / 1000,
        plan.steady_max_ms / 1000,
        plan.crashes
    );
    println!(
        "settings: probe {} ms, rtt {} ms, suspect->down {} ms, gossip {} ms x{}, digest {} ms, datagram limit {} B",
        config.probe_period_ms,
        config.probe_rtt_ms,
        config.suspect_to_down_ms,
        config.gossip_period_ms,
        config.gossip_fanout,
        config.digest_period_ms,
        config.datagram_limit_bytes
    );
    println!(
        "{:>5} {:>5} | {:>8} {:>8} {:>6} {:>6} | {:>8} {:>8} | {:>10} | {:>9} {:>6} | {:>6} {:>7}",
        "nodes",
        "loss",
        "form_s",
        "join_s",
        "rounds",
        "log2N",
        "detect_s",
        "det_max",
        "false/n-h",
        "B/node/s",
        "max_B",
        "errors",
        "wall_s"
    );
    for &nodes in &plan.sizes {
        for &loss in &plan.losses {
            let row = measure(nodes, loss, &plan);
            let rounds = row.join_ms.map_or("-".to_string(), |ms| {
                ms.div_ceil(config.gossip_period_ms).to_string()
            });
            println!(
                "{:>5} {:>4.0}% | {:>8} {:>8} {:>6} {:>6.1} | {:>8} {:>8} | {:>10.3} | {:>9.0} {:>6} | {:>6} {:>7.1}",
                row.nodes,
                row.loss * 100.0,
                seconds(row.formation_ms),
                seconds(row.join_ms),
                rounds,
                (row.nodes as f64).log2(),
                seconds(row.detect_mean_ms),
                seconds(row.detect_max_ms),
                row.false_downs_per_node_hour,
                row.bytes_per_node_second,
                row.largest_datagram,
                row.errors,
                row.wall_ms as f64 / 1000.0
            );
        }
    }
    println!(
        "form_s: initial members joining from nothing until all views agree (sizes above 200 \
         start warm, as a configured initial cluster, unless --cold; '-' = not measured or never); join_s: one more node joins until all \
         views agree (members up with current metadata); rounds = join_s / gossip period; \
         detect_s/det_max: crash until every live node marks it down; false/n-h: down events \
         about running nodes per node-hour during the steady window; B/node/s: bytes sent per \
         node per second in the steady window; max_B: largest datagram."
    );
}
