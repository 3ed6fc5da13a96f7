//! Loading the graph: vertices as multi-row `CREATE`s, edges as
//! `BEGIN ... COMMIT` blocks of `RELATE person:a -> follows:n -> person:b`
//! statements (edge `n` of the generated graph, so every edge has a known
//! key), sent by concurrent clients.
//!
//! Every statement (or block) is one strictly serializable transaction of
//! at most `TXN_OPS_MAX` (1,024) operations, so a block is sized to stay
//! below it: each edge costs four (the assert that its key is new, the
//! edge, and its two adjacency entries) and each distinct vertex it names
//! one (the assert of its version: `RELATE` reads both ends). One `RELATE`
//! per transaction (`--edges-per-block 1`) is the slow way, to compare.
//!
//! The node learns a block's reads statement by statement: a `RELATE` that
//! finds an end not fetched yet stops that run of the block, the node
//! fetches what it asked for, and runs the block again, so a block of
//! `n` statements took `n` rounds of fetches. A block therefore starts by
//! reading every vertex it names (`SELECT id FROM [..] LIMIT 1`, which reads
//! them all before anything can stop it), and the node fetches them in its
//! first round (`--no-prefetch` turns that off).
//!
//! A statement that failed without effect is sent again; so is one whose
//! outcome is unknown (a commit that timed out): keys are fixed, so if the
//! first try committed, the next finds its first record there
//! ("already exists") and the statement counts as loaded.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zerodb_client::{Client, Error, QueryErrorKind, Value};

use crate::generate::Graph;

/// Vertices per `CREATE ... VALUES` statement (two operations each: the
/// assert that the id is new, and the record).
const VERTICES_PER_STATEMENT: usize = 400;
/// Edges (`RELATE` statements) per block, by default.
pub const EDGES_PER_BLOCK: usize = 150;

/// How edges are grouped into transactions.
#[derive(Clone, Copy, Debug)]
pub struct Blocks {
    /// Most edges of one block.
    pub edges: usize,
    /// Read every vertex of a block first (see [`edge_blocks`]).
    pub prefetch: bool,
}
/// Tries of one statement that failed without effect (a conflict, or no
/// node available) before the load gives up.
const TRIES_MAX: u32 = 5;

/// What loading took.
pub struct Loaded {
    pub vertices_time: Duration,
    pub vertex_statements: usize,
    pub edges_time: Duration,
    pub edge_blocks: usize,
    pub retries: u64,
}

/// The statements that create every vertex.
fn vertex_statements(vertices: u32) -> Vec<String> {
    let ids: Vec<u32> = (0..vertices).collect();
    ids.chunks(VERTICES_PER_STATEMENT)
        .map(|chunk| {
            let rows: Vec<String> = chunk.iter().map(|id| format!("({id})")).collect();
            format!("CREATE person SET (id) VALUES {}", rows.join(", "))
        })
        .collect()
}

/// The blocks that relate every edge (see the module documentation).
pub fn edge_blocks(graph: &Graph, limits: Blocks) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut block = Block::default();
    let mut key = 0u64;
    for (from, targets) in graph.out.iter().enumerate() {
        for to in targets {
            if block.statements.len() == limits.edges {
                blocks.extend(block.text(limits.prefetch));
                block = Block::default();
            }
            block.vertices.insert(from as u32);
            block.vertices.insert(*to);
            block.statements.push(format!(
                "RELATE person:{from} -> follows:{key} -> person:{to}"
            ));
            key += 1;
        }
    }
    blocks.extend(block.text(limits.prefetch));
    blocks
}

/// One block being built.
#[derive(Default)]
struct Block {
    statements: Vec<String>,
    vertices: BTreeSet<u32>,
}

impl Block {
    /// The block's text: its statements, in `BEGIN ... COMMIT` if more
    /// than one. With `prefetch`, a block of several statements starts by
    /// reading every vertex it names (`SELECT id FROM [..] LIMIT 1`), so
    /// that the node fetches them all in its first round.
    fn text(&self, prefetch: bool) -> Option<String> {
        match self.statements.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            many => {
                let mut text = String::from("BEGIN; ");
                if prefetch {
                    let ids: Vec<String> = self
                        .vertices
                        .iter()
                        .map(|v| format!("person:{v}"))
                        .collect();
                    text.push_str(&format!("SELECT id FROM [{}] LIMIT 1; ", ids.join(", ")));
                }
                text.push_str(&many.join("; "));
                text.push_str("; COMMIT");
                Some(text)
            }
        }
    }
}

/// Whether a failed statement certainly had no effect.
fn not_applied(error: &Error) -> bool {
    error.not_applied()
        || matches!(
            error,
            Error::Query {
                kind: QueryErrorKind::Conflict | QueryErrorKind::Unavailable,
                ..
            }
        )
}

/// Whether a statement may have committed although it failed.
fn outcome_unknown(error: &Error) -> bool {
    matches!(
        error,
        Error::Timeout {
            outcome_unknown: true,
            ..
        } | Error::Query {
            kind: QueryErrorKind::OutcomeUnknown,
            ..
        }
    )
}

/// Whether a statement failed because its first record is there already.
fn already_there(error: &Error) -> bool {
    matches!(
        error,
        Error::Query {
            kind: QueryErrorKind::Violation,
            message,
        } if message.contains("already exists")
    )
}

/// Sends `statements` from `clients` concurrent clients, each taking the
/// next statement not sent yet. Returns the retries of statements that
/// failed without effect.
async fn send_all(
    clients: &[Arc<Client>],
    statements: Arc<Vec<String>>,
    what: &'static str,
) -> Result<u64, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in clients {
        let (client, statements, next) = (client.clone(), statements.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut retries = 0u64;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(text) = statements.get(index) else {
                    return Ok(retries);
                };
                let mut tries = 0;
                let mut maybe_committed = false;
                loop {
                    tries += 1;
                    match client.query(text, &[]).await {
                        Ok(_) => break,
                        // An earlier try committed (see the module documentation).
                        Err(error) if maybe_committed && already_there(&error) => break,
                        Err(error)
                            if (not_applied(&error) || outcome_unknown(&error))
                                && tries < TRIES_MAX =>
                        {
                            maybe_committed |= outcome_unknown(&error);
                            retries += 1;
                        }
                        Err(error) => {
                            return Err(format!(
                                "loading {what} failed at statement {index} (try {tries}): {error}"
                            ))
                        }
                    }
                }
                if index.is_multiple_of(500) {
                    eprintln!("  {what}: {index} of {} statements", statements.len());
                }
            }
        }));
    }
    let mut retries = 0;
    for task in tasks {
        retries += task.await.map_err(|e| e.to_string())??;
    }
    Ok(retries)
}

/// Defines the tables and loads `graph` (see the module documentation).
pub async fn load(
    clients: &[Arc<Client>],
    graph: &Graph,
    limits: Blocks,
) -> Result<Loaded, String> {
    clients[0]
        .query(
            "DEFINE TABLE person SCHEMALESS; DEFINE EDGE follows SCHEMALESS",
            &[],
        )
        .await
        .map_err(|e| format!("defining the tables failed: {e}"))?;
    let vertices = Arc::new(vertex_statements(graph.vertices()));
    let started = Instant::now();
    let mut retries = send_all(clients, vertices.clone(), "vertices").await?;
    let vertices_time = started.elapsed();
    let blocks = Arc::new(edge_blocks(graph, limits));
    let started = Instant::now();
    retries += send_all(clients, blocks.clone(), "edges").await?;
    let edges_time = started.elapsed();
    // One spot check: the first vertex with edges has them all.
    if let Some((from, targets)) = graph.out.iter().enumerate().find(|(_, t)| !t.is_empty()) {
        let reached = clients[0]
            .query(
                "RETURN person:$id -> follows -> person",
                &[("id", Value::Int(from as i64))],
            )
            .await
            .map_err(|e| format!("checking the load failed: {e}"))?;
        let count = match reached.as_slice() {
            [Value::Array(items)] => items.len(),
            other => return Err(format!("checking the load: unexpected answer {other:?}")),
        };
        if count != targets.len() {
            return Err(format!(
                "after the load person:{from} reaches {count} vertices, not {}",
                targets.len()
            ));
        }
    }
    Ok(Loaded {
        vertices_time,
        vertex_statements: vertices.len(),
        edges_time,
        edge_blocks: blocks.len(),
        retries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_edge_once_with_its_own_key_and_prefetch_their_vertices() {
        let graph = crate::generate::generate(500, 5_000, 2.5, 3).unwrap();
        let limits = Blocks {
            edges: EDGES_PER_BLOCK,
            prefetch: true,
        };
        let blocks = edge_blocks(&graph, limits);
        let mut keys = BTreeSet::new();
        for block in &blocks {
            let (select, rest) = block.split_once(" LIMIT 1; ").expect("a prefetch");
            let statements: Vec<&str> = rest
                .split("; ")
                .filter(|s| s.starts_with("RELATE"))
                .collect();
            assert!(statements.len() <= EDGES_PER_BLOCK, "{block}");
            for statement in statements {
                let words: Vec<&str> = statement.split(' ').collect();
                let [_, from, _, key, _, to] = words[..] else {
                    panic!("{statement}");
                };
                for vertex in [from, to] {
                    assert!(
                        select.contains(&format!("{vertex},"))
                            || select.contains(&format!("{vertex}]")),
                        "{vertex} not prefetched: {block}"
                    );
                }
                assert!(keys.insert(key.to_string()), "{key} twice");
            }
        }
        assert_eq!(keys.len(), 5_000);
        let single = Blocks {
            edges: 1,
            prefetch: true,
        };
        let blocks = edge_blocks(&graph, single);
        assert_eq!(blocks.len(), 5_000);
        assert!(blocks.iter().all(|b| b.starts_with("RELATE")), "{blocks:?}");
    }
}
