//! The measured part: neighbourhood queries from chosen start vertices,
//! each answer checked against the generated graph.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zerodb_client::{Client, Value};

use crate::generate::Graph;

/// One cell of the table: a query shape from a set of start vertices.
#[derive(Clone)]
pub struct Cell {
    /// Printed name.
    pub name: String,
    /// Hops out along `follows`.
    pub hops: u32,
    /// Start vertices, each with the number of vertices its answer must
    /// hold; queries cycle through them.
    pub starts: Vec<(u32, usize)>,
    /// Adjacency lists a query reads, on average over the starts.
    pub lists_mean: f64,
    /// Queries per run.
    pub queries: usize,
    /// Concurrent clients.
    pub clients: usize,
}

/// One run of one cell.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Latencies of the answers that were right, sorted.
    pub latencies: Vec<Duration>,
    pub wall: Duration,
    /// Failed or wrong answers, by message.
    pub errors: BTreeMap<String, usize>,
}

impl Measured {
    pub fn ok(&self) -> usize {
        self.latencies.len()
    }

    pub fn percentile(&self, share: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let at = ((self.latencies.len() as f64 * share).ceil() as usize).max(1) - 1;
        Some(self.latencies[at.min(self.latencies.len() - 1)])
    }

    /// Right answers per second of the run's wall time.
    pub fn throughput(&self) -> f64 {
        self.ok() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The traversal of `hops` hops from `$id`.
pub fn query_text(hops: u32) -> String {
    let mut text = String::from("RETURN person:$id");
    for _ in 0..hops {
        text.push_str(" -> follows -> person");
    }
    text
}

impl Cell {
    /// A cell of `queries` queries of `hops` hops cycling through
    /// `vertices`, with their expected answers from `graph`.
    pub fn new(
        name: String,
        graph: &Graph,
        vertices: &[u32],
        hops: u32,
        queries: usize,
        clients: usize,
    ) -> Cell {
        let mut lists = 0;
        let starts = vertices
            .iter()
            .map(|&vertex| {
                let (reached, read) = graph.walk(vertex, hops);
                lists += read;
                (vertex, reached)
            })
            .collect();
        Cell {
            name,
            hops,
            starts,
            lists_mean: lists as f64 / vertices.len().max(1) as f64,
            queries,
            clients,
        }
    }

    /// Vertices an answer holds, on average over the starts.
    pub fn reached_mean(&self) -> f64 {
        let sum: usize = self.starts.iter().map(|(_, reached)| reached).sum();
        sum as f64 / self.starts.len().max(1) as f64
    }
}

/// Runs `cell` once with its own clients.
pub async fn run(cell: &Cell, clients: &[Arc<Client>]) -> Measured {
    let text = Arc::new(query_text(cell.hops));
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Measured::default()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in clients.iter().cycle().take(cell.clients) {
        let (client, text, next, results) =
            (client.clone(), text.clone(), next.clone(), results.clone());
        let (starts, queries) = (cell.starts.clone(), cell.queries);
        tasks.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= queries {
                    return;
                }
                let (start, expected) = starts[index % starts.len()];
                let sent = Instant::now();
                let answer = client
                    .query(&text, &[("id", Value::Int(i64::from(start)))])
                    .await;
                let latency = sent.elapsed();
                let verdict = match answer {
                    Ok(values) => match values.as_slice() {
                        [Value::Array(items)] if items.len() == expected => Ok(()),
                        [Value::Array(items)] => Err(format!(
                            "wrong answer: {} vertices where the graph has {expected}",
                            items.len()
                        )),
                        other => Err(format!("unexpected answer {other:?}")),
                    },
                    Err(error) => Err(error.to_string()),
                };
                let mut results = results.lock().expect("results");
                match verdict {
                    Ok(()) => results.latencies.push(latency),
                    Err(message) => {
                        *results.errors.entry(short(&message)).or_default() += 1;
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut measured = Arc::try_unwrap(results)
        .map(|m| m.into_inner().expect("results"))
        .unwrap_or_else(|shared| shared.lock().expect("results").clone());
    measured.wall = started.elapsed();
    measured.latencies.sort();
    measured
}

/// The first line of an error, without the source excerpt zeroql adds.
fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    line.chars().take(160).collect()
}
