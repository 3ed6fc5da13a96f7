//! `graphbench`: generates a power-law graph (deterministic for a seed),
//! loads it into a fresh `zerodb dev` cluster (3 nodes on loopback in one
//! process, started by the benchmark), and measures 2-hop and 3-hop
//! neighbourhood traversals in zeroql:
//!
//! ```text
//! RETURN person:$id -> follows -> person -> follows -> person
//! ```
//!
//! from random vertices and from the hubs (largest out-degree); prints the
//! load time and rate, then one Markdown table of medians over the runs
//! (p50 and p99 latency of right answers, and right answers per second).
//! Every answer is checked against the generated graph: a wrong one counts
//! as an error, not as throughput.
//!
//! ```text
//! graphbench [--vertices 100000] [--edges 1000000] [--exponent 2.5] [--seed 1]
//!            [--queries 200] [--deep-queries 20] [--clients 4] [--hubs 3] [--hub-queries 3] [--runs 3]
//!            [--load-clients 8] [--edges-per-block 150] [--no-prefetch]
//!            [--zerodb PATH] [--dir DIR] [--base-port 27401]
//!            [--engine zerodb] [--keep]
//! ```

mod dev;
mod generate;
mod load;
mod measure;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_client::{Client, ClientConfig};

use measure::{Cell, Measured};

/// The command line.
#[derive(Debug, Clone)]
struct Options {
    vertices: u32,
    edges: u64,
    exponent: f64,
    seed: u64,
    queries: usize,
    deep_queries: usize,
    clients: usize,
    hubs: usize,
    hub_queries: usize,
    runs: usize,
    load_clients: usize,
    blocks: load::Blocks,
    zerodb: PathBuf,
    dir: PathBuf,
    base_port: u16,
    engine: String,
    keep: bool,
}

const USAGE: &str = "graphbench [--vertices N] [--edges N] [--exponent X] [--seed N] \
[--queries N] [--deep-queries N] [--clients N] [--hubs N] [--hub-queries N] [--runs N] [--load-clients N] \
[--edges-per-block N] [--no-prefetch] [--zerodb PATH] [--dir DIR] [--base-port PORT] [--engine zerodb|sled|memory] [--keep]";

impl Options {
    fn parse() -> Result<Options, String> {
        let beside_me = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("zerodb")))
            .unwrap_or_else(|| PathBuf::from("zerodb"));
        let mut options = Options {
            vertices: 100_000,
            edges: 1_000_000,
            exponent: 2.5,
            seed: 1,
            queries: 200,
            deep_queries: 20,
            clients: 4,
            hubs: 3,
            hub_queries: 3,
            runs: 3,
            load_clients: 8,
            blocks: load::Blocks {
                edges: load::EDGES_PER_BLOCK,
                prefetch: true,
            },
            zerodb: beside_me,
            dir: std::env::temp_dir().join(format!("graphbench-{}", std::process::id())),
            base_port: 27_401,
            engine: "zerodb".into(),
            keep: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--keep" {
                options.keep = true;
                continue;
            }
            if flag == "--no-prefetch" {
                options.blocks.prefetch = false;
                continue;
            }
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.into());
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\nusage: {USAGE}"))?;
            let number = |what: &str| -> Result<u64, String> {
                value
                    .replace('_', "")
                    .parse::<u64>()
                    .map_err(|_| format!("{what} takes a whole number, not {value:?}"))
            };
            match flag.as_str() {
                "--vertices" => {
                    options.vertices = u32::try_from(number("--vertices")?)
                        .map_err(|_| "--vertices: at most 4294967295".to_string())?
                }
                "--edges" => options.edges = number("--edges")?,
                "--exponent" => {
                    options.exponent = value
                        .parse()
                        .map_err(|_| format!("--exponent takes a number, not {value:?}"))?
                }
                "--seed" => options.seed = number("--seed")?,
                "--queries" => options.queries = number("--queries")? as usize,
                "--deep-queries" => options.deep_queries = number("--deep-queries")? as usize,
                "--clients" => options.clients = number("--clients")?.max(1) as usize,
                "--hubs" => options.hubs = number("--hubs")? as usize,
                "--hub-queries" => options.hub_queries = number("--hub-queries")? as usize,
                "--runs" => options.runs = number("--runs")?.max(1) as usize,
                "--load-clients" => {
                    options.load_clients = number("--load-clients")?.max(1) as usize
                }
                "--edges-per-block" => {
                    options.blocks.edges = number("--edges-per-block")?.max(1) as usize
                }
                "--zerodb" => options.zerodb = PathBuf::from(value),
                "--dir" => options.dir = PathBuf::from(value),
                "--base-port" => {
                    options.base_port = u16::try_from(number("--base-port")?)
                        .map_err(|_| "--base-port: at most 65535".to_string())?
                }
                "--engine" => options.engine = value,
                other => return Err(format!("unknown option {other}\nusage: {USAGE}")),
            }
        }
        Ok(options)
    }
}

#[tokio::main]
async fn main() {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if let Err(message) = run(&options).await {
        eprintln!("graphbench: {message}");
        std::process::exit(1);
    }
}

async fn run(options: &Options) -> Result<(), String> {
    let started = Instant::now();
    let graph = generate::generate(
        options.vertices,
        options.edges,
        options.exponent,
        options.seed,
    )?;
    let (max_out, median_out, max_in) = graph.degrees();
    eprintln!("generated in {:.1} s", started.elapsed().as_secs_f64());
    let base_port = dev::free_base_port(options.base_port)?;
    let mut dev = dev::Dev::start(&options.zerodb, &options.dir, base_port, &options.engine)?;
    if options.keep {
        dev.keep();
    }
    let first = dev.client().await?;
    let mut clients = vec![Arc::new(first)];
    let config = ClientConfig::dev(&options.dir.join("cluster")).map_err(|e| e.to_string())?;
    while clients.len() < options.load_clients.max(options.clients) {
        let mut config = config.clone();
        config.request_timeout = dev::REQUEST_TIMEOUT;
        clients.push(Arc::new(Client::new(config).map_err(|e| e.to_string())?));
    }
    eprintln!(
        "loading {} vertices and {} edges...",
        options.vertices, graph.edges
    );
    let loaded = load::load(&clients[..options.load_clients], &graph, options.blocks).await?;
    let cells = cells(options, &graph);
    let mut measured: Vec<Vec<Measured>> = vec![Vec::new(); cells.len()];
    for run in 0..options.runs {
        for (cell, results) in cells.iter().zip(&mut measured) {
            eprintln!("run {} of {}: {}", run + 1, options.runs, cell.name);
            results.push(measure::run(cell, &clients[..cell.clients]).await);
        }
    }
    println!(
        "{} vertices, {} edges, power-law degrees (exponent {}, seed {}): out-degree max {max_out}, \
         median {median_out}; in-degree max {max_in}; `zerodb dev` (3 nodes, engine {}), medians of {} runs",
        options.vertices, graph.edges, options.exponent, options.seed, options.engine, options.runs
    );
    print_load(options, &graph, &loaded);
    print_table(&cells, &measured);
    Ok(())
}

/// The measured cells: 2 and 3 hops from random vertices, then from hubs.
fn cells(options: &Options, graph: &generate::Graph) -> Vec<Cell> {
    let mut rng = StdRng::seed_from_u64(options.seed ^ 0x5eed);
    let random: Vec<u32> = (0..options.queries.max(1))
        .map(|_| rng.random_range(0..graph.vertices()))
        .collect();
    let hubs = graph.hubs(options.hubs.max(1));
    let mut cells = Vec::new();
    // 3-hop queries from random vertices are fewer (`--deep-queries`):
    // on a power-law graph they reach most of it.
    for (hops, queries) in [(2, options.queries), (3, options.deep_queries)] {
        let name = format!("{hops} hops, random vertices");
        cells.push(Cell::new(
            name,
            graph,
            &random,
            hops,
            queries,
            options.clients,
        ));
    }
    for hops in [2, 3] {
        let name = format!("{hops} hops, the {} largest hubs", hubs.len());
        cells.push(Cell::new(name, graph, &hubs, hops, options.hub_queries, 1));
    }
    cells
}

fn rate(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64().max(1e-9)
}

fn print_load(options: &Options, graph: &generate::Graph, loaded: &load::Loaded) {
    println!(
        "load ({} clients): vertices {:.1} s ({:.0}/s, {} statements), edges {:.1} s ({:.0}/s, \
         {} transactions of at most {} edges{}), {} retries",
        options.load_clients,
        loaded.vertices_time.as_secs_f64(),
        rate(u64::from(options.vertices), loaded.vertices_time),
        loaded.vertex_statements,
        loaded.edges_time.as_secs_f64(),
        rate(graph.edges, loaded.edges_time),
        loaded.edge_blocks,
        options.blocks.edges,
        if options.blocks.prefetch {
            ", vertices read first"
        } else {
            ""
        },
        loaded.retries,
    );
    println!();
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

fn millis(value: Option<f64>) -> String {
    value.map_or("-".into(), |ms| format!("{ms:.2}"))
}

fn print_table(cells: &[Cell], measured: &[Vec<Measured>]) {
    println!(
        "| query | clients | queries per run | vertices reached (mean) | adjacency lists read (mean) \
         | right answers | p50 ms | p99 ms | queries/s | errors (all runs) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (cell, runs) in cells.iter().zip(measured) {
        let percentile = |share: f64| {
            median(
                runs.iter()
                    .filter_map(|m| m.percentile(share))
                    .map(|d| d.as_secs_f64() * 1e3)
                    .collect(),
            )
        };
        let ok = median(runs.iter().map(|m| m.ok() as f64).collect()).unwrap_or(0.0);
        let throughput = median(runs.iter().map(Measured::throughput).collect()).unwrap_or(0.0);
        let mut errors: std::collections::BTreeMap<&str, usize> = Default::default();
        for run in runs {
            for (message, count) in &run.errors {
                *errors.entry(message).or_default() += count;
            }
        }
        let errors = if errors.is_empty() {
            "0".to_string()
        } else {
            errors
                .iter()
                .map(|(message, count)| format!("{count}: {message}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {ok:.0} | {} | {} | {throughput:.1} | {errors} |",
            cell.name,
            cell.clients,
            cell.queries,
            cell.reached_mean(),
            cell.lists_mean,
            millis(percentile(0.5)),
            millis(percentile(0.99)),
        );
    }
}
