//! `vecbench`: nearest-neighbour search on the same vectors by zeroql's
//! HNSW graph (`zerodb_query::vector::hnsw`, what `index::hnsw` keeps),
//! exact search (every vector measured, what zeroql does without an index),
//! and the `instant-distance` crate's HNSW; prints one Markdown table of
//! medians over the runs.
//!
//! ```text
//! vecbench [--vectors 100000] [--dimensions 128] [--queries 200] [--k 10]
//!          [--m 16] [--ef 64] [--ef-search 64] [--runs 3] [--seed 1]
//! ```
//!
//! Vectors are clustered (each is one of `CLUSTERS` random centres plus
//! noise), as embeddings of related things are; queries are drawn the same
//! way and are not in the data. Recall@k is the share of the exact `k`
//! nearest found. Memory is the growth of the process's resident set while
//! the structure is built (the vectors it copies included), and, for
//! zeroql's graph, its own count of the bytes it holds.

use std::time::{Duration, Instant};

use instant_distance::{Builder, HnswMap, Point, Search};
use zerodb_query::vector::hnsw::{Hnsw, HnswOptions};
use zerodb_query::vector::Metric;

/// Centres the vectors gather around.
const CLUSTERS: usize = 100;
/// Exact search, zeroql's graph, instant-distance.
const ENGINES: usize = 3;
/// Bytes of one page of the resident set (`/proc/self/statm` counts pages).
const PAGE_BYTES: usize = 4_096;

/// The command line.
#[derive(Debug, Clone)]
struct Options {
    vectors: usize,
    dimensions: usize,
    queries: usize,
    k: usize,
    m: usize,
    ef: usize,
    ef_search: usize,
    runs: usize,
    seed: u64,
    /// Measure this engine once and print its figures (the child mode the
    /// parent starts for each engine and run, so that each builds in a
    /// fresh process and its resident-set growth is its own).
    engine: Option<usize>,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut options = Options {
            vectors: 100_000,
            dimensions: 128,
            queries: 200,
            k: 10,
            m: 16,
            ef: 64,
            ef_search: 64,
            runs: 3,
            seed: 1,
            engine: None,
        };
        let mut arguments = std::env::args().skip(1);
        while let Some(flag) = arguments.next() {
            let value = arguments
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?;
            let number: u64 = value
                .parse()
                .map_err(|_| format!("{flag} takes a number, found {value}"))?;
            let count = usize::try_from(number).map_err(|_| format!("{flag} is too large"))?;
            match flag.as_str() {
                "--vectors" => options.vectors = count,
                "--dimensions" => options.dimensions = count,
                "--queries" => options.queries = count,
                "--k" => options.k = count,
                "--m" => options.m = count,
                "--ef" => options.ef = count,
                "--ef-search" => options.ef_search = count,
                "--runs" => options.runs = count,
                "--seed" => options.seed = number,
                "--engine" if count < ENGINES => options.engine = Some(count),
                other => return Err(format!("unknown flag {other}")),
            }
        }
        if options.vectors == 0 || options.dimensions == 0 || options.queries == 0 {
            return Err("--vectors, --dimensions and --queries must be at least 1".into());
        }
        if options.k == 0 || options.runs == 0 || options.m < 2 || options.ef == 0 {
            return Err("--k, --runs and --ef must be at least 1, --m at least 2".into());
        }
        Ok(options)
    }
}

/// SplitMix64, so every run and engine sees the same vectors.
struct Numbers(u64);

impl Numbers {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal: the sum of four uniforms, centred.
    fn next_normal(&mut self) -> f64 {
        (0..4).map(|_| self.next_unit()).sum::<f64>() - 2.0
    }
}

fn clustered(numbers: &mut Numbers, centres: &[Vec<f64>], count: usize) -> Vec<Vec<f64>> {
    (0..count)
        .map(|_| {
            let centre =
                &centres[(numbers.next_unit() * centres.len() as f64) as usize % centres.len()];
            centre
                .iter()
                .map(|x| x + 0.35 * numbers.next_normal())
                .collect()
        })
        .collect()
}

/// One vector as `instant-distance` takes it.
#[derive(Clone, Debug)]
struct Vector(Vec<f32>);

impl Point for Vector {
    fn distance(&self, other: &Self) -> f32 {
        squared_distance(&self.0, &other.0)
    }
}

fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// A built structure that answers queries.
enum Engine {
    Exact { flat: Vec<f32>, dimensions: usize },
    Zeroql(Box<Hnsw>),
    Instant(Box<HnswMap<Vector, usize>>),
}

impl Engine {
    fn name(&self) -> &'static str {
        match self {
            Engine::Exact { .. } => "exact search (every vector)",
            Engine::Zeroql(_) => "zeroql index::hnsw",
            Engine::Instant(_) => "instant-distance 0.6",
        }
    }

    /// The `k` nearest vectors' numbers in the data.
    fn search(&self, query: &[f64], k: usize, ef_search: usize, search: &mut Search) -> Vec<usize> {
        match self {
            Engine::Exact { flat, dimensions } => {
                let query: Vec<f32> = query.iter().map(|x| *x as f32).collect();
                let mut ranked: Vec<(f32, usize)> = flat
                    .chunks_exact(*dimensions)
                    .enumerate()
                    .map(|(at, vector)| (squared_distance(&query, vector), at))
                    .collect();
                let k = k.min(ranked.len());
                if k < ranked.len() {
                    ranked.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
                    ranked.truncate(k);
                }
                ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
                ranked.into_iter().map(|(_, at)| at).collect()
            }
            Engine::Zeroql(graph) => graph
                .search(query, k, ef_search)
                .into_iter()
                .map(|(point, _)| point as usize)
                .collect(),
            Engine::Instant(map) => {
                let query = Vector(query.iter().map(|x| *x as f32).collect());
                map.search(&query, search)
                    .take(k)
                    .map(|item| *item.value)
                    .collect()
            }
        }
    }
}

fn build(kind: usize, data: &[Vec<f64>], options: &Options) -> Engine {
    match kind {
        0 => Engine::Exact {
            flat: data.iter().flatten().map(|x| *x as f32).collect(),
            dimensions: options.dimensions,
        },
        1 => {
            let hnsw_options = HnswOptions {
                m: options.m,
                ef: options.ef,
                metric: Metric::Euclidean,
            };
            let mut graph = Hnsw::new(hnsw_options, options.dimensions, options.seed);
            for vector in data {
                graph.insert(vector);
            }
            Engine::Zeroql(Box::new(graph))
        }
        _ => {
            let points: Vec<Vector> = data
                .iter()
                .map(|vector| Vector(vector.iter().map(|x| *x as f32).collect()))
                .collect();
            let values: Vec<usize> = (0..data.len()).collect();
            let map = Builder::default()
                .ef_construction(options.ef)
                .ef_search(options.ef_search.max(options.k))
                .seed(options.seed)
                .build(points, values);
            Engine::Instant(Box::new(map))
        }
    }
}

/// Resident bytes of this process now.
fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * PAGE_BYTES)
}

/// One engine's figures in one run.
#[derive(Debug, Clone, Default)]
struct Figures {
    build: Duration,
    resident_bytes: usize,
    own_bytes: Option<usize>,
    recall: f64,
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

fn measure(
    kind: usize,
    data: &[Vec<f64>],
    queries: &[Vec<f64>],
    truth: Option<&[Vec<usize>]>,
    options: &Options,
) -> (Figures, Vec<Vec<usize>>, &'static str) {
    let before = resident_bytes();
    let started = Instant::now();
    let engine = build(kind, data, options);
    let build_time = started.elapsed();
    let resident = resident_bytes().saturating_sub(before);
    let own_bytes = match &engine {
        Engine::Zeroql(graph) => Some(graph.memory_bytes()),
        Engine::Exact { flat, .. } => Some(flat.len() * std::mem::size_of::<f32>()),
        Engine::Instant(_) => None,
    };
    let mut search = Search::default();
    let mut latencies = Vec::with_capacity(queries.len());
    let mut answers = Vec::with_capacity(queries.len());
    let all = Instant::now();
    for query in queries {
        let started = Instant::now();
        let found = engine.search(query, options.k, options.ef_search, &mut search);
        latencies.push(started.elapsed());
        answers.push(found);
    }
    let total = all.elapsed();
    latencies.sort();
    let at = |share: f64| latencies[((latencies.len() - 1) as f64 * share).round() as usize];
    let recall = match truth {
        None => 1.0,
        Some(truth) => {
            let found: usize = answers
                .iter()
                .zip(truth)
                .map(|(answer, exact)| answer.iter().filter(|at| exact.contains(at)).count())
                .sum();
            found as f64 / truth.iter().map(Vec::len).sum::<usize>() as f64
        }
    };
    let figures = Figures {
        build: build_time,
        resident_bytes: resident,
        own_bytes,
        recall,
        p50: at(0.50),
        p99: at(0.99),
        per_second: queries.len() as f64 / total.as_secs_f64(),
    };
    (figures, answers, engine.name())
}

fn median<T: Clone>(values: &[T], key: impl Fn(&T) -> f64) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted[sorted.len() / 2].clone()
}

fn mib(bytes: usize) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// The exact `k` nearest of each query, by brute force.
fn exact_answers(data: &[Vec<f64>], queries: &[Vec<f64>], options: &Options) -> Vec<Vec<usize>> {
    let exact = build(0, data, options);
    let mut search = Search::default();
    queries
        .iter()
        .map(|query| exact.search(query, options.k, options.ef_search, &mut search))
        .collect()
}

/// Child mode: one engine, one run; prints its figures on one line.
fn measure_one(kind: usize, options: &Options) {
    let (data, queries) = vectors(options);
    let (mut figures, answers, _) = measure(kind, &data, &queries, None, options);
    let truth = exact_answers(&data, &queries, options);
    let found: usize = answers
        .iter()
        .zip(&truth)
        .map(|(answer, exact)| answer.iter().filter(|at| exact.contains(at)).count())
        .sum();
    figures.recall = found as f64 / truth.iter().map(Vec::len).sum::<usize>() as f64;
    println!(
        "figures {} {} {} {} {} {} {}",
        figures.build.as_secs_f64(),
        figures.resident_bytes,
        figures.own_bytes.map_or(-1, |bytes| bytes as i64),
        figures.recall,
        figures.p50.as_secs_f64(),
        figures.p99.as_secs_f64(),
        figures.per_second
    );
}

/// Runs this program in child mode for `kind` and reads its figures.
fn measure_in_child(kind: usize) -> Result<Figures, String> {
    let program = std::env::current_exe().map_err(|error| error.to_string())?;
    let output = std::process::Command::new(program)
        .args(std::env::args().skip(1))
        .args(["--engine", &kind.to_string()])
        .output()
        .map_err(|error| error.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("figures "))
        .ok_or_else(|| {
            format!(
                "engine {kind} printed no figures: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .map(|word| {
            word.parse::<f64>()
                .map_err(|error| format!("{word}: {error}"))
        })
        .collect::<Result<_, _>>()?;
    let [build, resident, own, recall, p50, p99, per_second] = numbers[..] else {
        return Err(format!("engine {kind} printed {line}"));
    };
    Ok(Figures {
        build: Duration::from_secs_f64(build),
        resident_bytes: resident as usize,
        own_bytes: (own >= 0.0).then_some(own as usize),
        recall,
        p50: Duration::from_secs_f64(p50),
        p99: Duration::from_secs_f64(p99),
        per_second,
    })
}

/// The data and the queries, the same for every engine and run.
fn vectors(options: &Options) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut numbers = Numbers(options.seed);
    let centres: Vec<Vec<f64>> = (0..CLUSTERS)
        .map(|_| {
            (0..options.dimensions)
                .map(|_| numbers.next_normal())
                .collect()
        })
        .collect();
    let data = clustered(&mut numbers, &centres, options.vectors);
    let queries = clustered(&mut numbers, &centres, options.queries);
    (data, queries)
}

fn main() {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("vecbench: {message}");
            std::process::exit(2);
        }
    };
    if let Some(kind) = options.engine {
        measure_one(kind, &options);
        return;
    }
    let names = [
        "exact search (every vector)",
        "zeroql index::hnsw",
        "instant-distance 0.6",
    ];
    let mut runs: [Vec<Figures>; ENGINES] = Default::default();
    for run in 0..options.runs {
        for (kind, name) in names.iter().enumerate() {
            match measure_in_child(kind) {
                Ok(figures) => {
                    eprintln!("run {}: {name}: {figures:?}", run + 1);
                    runs[kind].push(figures);
                }
                Err(message) => {
                    eprintln!("vecbench: {message}");
                    std::process::exit(1);
                }
            }
        }
    }
    println!(
        "{} vectors of {} dimensions ({CLUSTERS} clusters), {} queries, k = {}, m = {}, ef (construction) = {}, ef (search) = {}; medians of {} runs",
        options.vectors, options.dimensions, options.queries, options.k, options.m, options.ef, options.ef_search, options.runs
    );
    println!();
    println!("| search | recall@{} | p50 | p99 | queries/s | build | memory (RSS growth) | memory (own count) |", options.k);
    println!("|---|---|---|---|---|---|---|---|");
    for (name, figures) in names.iter().zip(&runs) {
        let recall = median(figures, |f| f.recall).recall;
        let p50 = median(figures, |f| f.p50.as_secs_f64()).p50;
        let p99 = median(figures, |f| f.p99.as_secs_f64()).p99;
        let per_second = median(figures, |f| f.per_second).per_second;
        let build = median(figures, |f| f.build.as_secs_f64()).build;
        let resident = median(figures, |f| f.resident_bytes as f64).resident_bytes;
        let own = figures[0]
            .own_bytes
            .map_or("-".to_string(), |bytes| format!("{} MiB", mib(bytes)));
        println!(
            "| {name} | {recall:.3} | {:.3} ms | {:.3} ms | {per_second:.0} | {:.2} s | {} MiB | {own} |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            build.as_secs_f64(),
            mib(resident),
        );
    }
}
