//! TTLs against real processes: each TTL worker writes a fresh key with a
//! short TTL through the client, then reads it every 50 ms until the
//! nodes' expiry sweep deleted it. The simulator's `check::ttl` judges
//! every absent read: a strong record may be deleted only once a quorum of
//! node clocks passed its expiry (DESIGN.md 6.3), and clock offsets
//! (libfaketime) put some node clocks seconds ahead.
//!
//! The harness cannot read a node's clock; it bounds it instead. A node
//! reads the machine's wall clock plus the offset of its current life, so
//! at any moment every reading it ever made is at most the wall clock now
//! plus the largest offset it has run with ([`ClockBook`]). Judging with
//! that upper bound never reports an early deletion that did not happen
//! (it may miss some).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_client::{Client, Key};
use zerodb_sim::check::ttl::{TtlOp, TtlResult};
use zerodb_sim::history::{Outcome, ProcessId};

use crate::workload::{error_outcome, record, Limits, Recorder, DATABASE, NAMESPACE};

/// Shortest TTL a put carries.
const TTL_MS_MIN: u64 = 300;
/// Longest TTL a put carries.
const TTL_MS_MAX: u64 = 2_000;
/// Pause between two reads of one key.
const READ_INTERVAL_MS: u64 = 50;
/// Reads of one key before the worker moves on (the sweep is late by
/// seconds: a liveness matter, not judged here).
const READS_PER_KEY_MAX: u32 = 400;
/// Keys one worker writes at most (key numbers are `process * this + n`).
const KEYS_PER_WORKER_MAX: u64 = 1_000_000;

/// The largest clock offset each node has run with, in seconds (its first
/// life runs with none).
#[derive(Clone, Debug)]
pub struct ClockBook {
    offsets_s: Arc<Vec<AtomicI64>>,
}

impl ClockBook {
    /// A book for `nodes` nodes, all on true time.
    pub fn new(nodes: u32) -> ClockBook {
        ClockBook {
            offsets_s: Arc::new((0..nodes).map(|_| AtomicI64::new(0)).collect()),
        }
    }

    /// Node `id` (from 1) starts a life with its clock `offset_s` off.
    pub fn started(&self, id: u32, offset_s: i64) {
        if let Some(slot) = self.offsets_s.get((id as usize).wrapping_sub(1)) {
            slot.fetch_max(offset_s, Ordering::SeqCst);
        }
    }

    /// Per node, an upper bound of every clock reading it has made so far
    /// (ms since the Unix epoch).
    pub fn highs(&self) -> Vec<u64> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i128);
        self.offsets_s
            .iter()
            .map(|slot| {
                let offset_ms = i128::from(slot.load(Ordering::SeqCst)) * 1_000;
                (now_ms + offset_ms).max(0) as u64
            })
            .collect()
    }
}

fn ttl_key(key: u64) -> Key {
    Key::new(NAMESPACE, DATABASE, "ttl", format!("k{key}"))
}

/// One TTL worker: writes and polls keys until the limits say stop.
pub async fn ttl_worker(
    client: Client,
    process: ProcessId,
    seed: u64,
    limits: Limits,
    recorder: Arc<Recorder>,
    book: ClockBook,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let first = u64::from(process.0) * KEYS_PER_WORKER_MAX;
    for key in first..first + KEYS_PER_WORKER_MAX {
        if !limits.take() {
            return;
        }
        let ttl_ms = rng.random_range(TTL_MS_MIN..=TTL_MS_MAX);
        let invoke_us = recorder.now_us();
        let result = client
            .put_with_ttl(&ttl_key(key), b"t".to_vec(), Duration::from_millis(ttl_ms))
            .await;
        let outcome = match result {
            Ok(version) => Outcome::Ok(TtlResult::Written {
                expires_at_ms: version.physical_ms + ttl_ms,
            }),
            Err(error) => error_outcome(&error),
        };
        let written = outcome.is_ok();
        let op = TtlOp::Put { key, ttl_ms };
        record(
            &recorder.ttl,
            process,
            invoke_us,
            recorder.now_us(),
            op,
            outcome,
        );
        if written && !poll(&client, process, key, &limits, &recorder, &book).await {
            return;
        }
    }
}

/// Reads `key` until it is gone or [`READS_PER_KEY_MAX`] reads; returns
/// false when the limits stopped it.
async fn poll(
    client: &Client,
    process: ProcessId,
    key: u64,
    limits: &Limits,
    recorder: &Recorder,
    book: &ClockBook,
) -> bool {
    for _ in 0..READS_PER_KEY_MAX {
        tokio::time::sleep(Duration::from_millis(READ_INTERVAL_MS)).await;
        if !limits.take() {
            return false;
        }
        let invoke_us = recorder.now_us();
        let result = client.get(&ttl_key(key)).await;
        let complete_us = recorder.now_us();
        let outcome = match result {
            Ok(found) => Outcome::Ok(TtlResult::Read {
                present: found.is_some(),
                clock_highs: book.highs(),
            }),
            Err(error) => error_outcome(&error),
        };
        let gone = matches!(outcome, Outcome::Ok(TtlResult::Read { present: false, .. }));
        let op = TtlOp::Read { key };
        record(&recorder.ttl, process, invoke_us, complete_us, op, outcome);
        if gone {
            return true;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_bounds_each_node_by_its_largest_offset() {
        let book = ClockBook::new(3);
        book.started(2, 30);
        book.started(2, -10);
        book.started(3, -5);
        let highs = book.highs();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(highs[0] <= now_ms && highs[0] + 1_000 > now_ms);
        assert!(highs[1] >= now_ms + 29_000 && highs[1] <= now_ms + 30_000);
        assert!(
            highs[2] <= now_ms,
            "a negative offset never lowers the first life's bound"
        );
    }
}
