//! The range workload through the client library: the simulator's
//! `workload::ranges` operations against real processes, judged by its
//! `check::ranges` (no phantoms, strict serializability of range reads).
//!
//! Each worker picks a group (one id range of one table), guesses what it
//! holds with a scan (not linearizable: a wrong guess only fails the
//! assert), then either inserts a record whose value is the number of
//! records it saw, in ONE transaction `[AssertRange(group, guess),
//! Put(new id, count)]`, or reads the group with `[AssertRange(group,
//! guess)]`. A failed assert (`RangeChanged`) is a definite failure. After
//! healing, each group is read whole under its range lock; that decides
//! which inserts of unknown outcome committed.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_client::{Client, Error, Key, Op, RangeAssert, ScanQuery, Ver, Versioned};
use zerodb_sim::history::{Outcome, ProcessId};
use zerodb_sim::workload::ranges::{group_id, RangeOp};

use crate::workload::{decode, encode, error_outcome, record, Limits, Recorder};
use crate::workload::{DATABASE, FINAL_READ_TRIES_MAX, NAMESPACE};

/// Groups the workers spread over: few, so that inserts contend.
pub const RANGE_GROUPS: u32 = 3;
/// The table of the groups.
const TABLE: &str = "groups";
/// Percent of operations that are range reads (the rest insert).
const RANGE_READ_PERCENT: u32 = 30;
/// Pause between a worker's operations.
const THINK_MS: u64 = 20;

fn group_assert(group: u32, expect: &[(String, Ver)]) -> RangeAssert {
    RangeAssert {
        start: Key::new(NAMESPACE, DATABASE, TABLE, format!("g{group}/")),
        end_id: format!("g{group}0").into_bytes(),
        expect: expect
            .iter()
            .map(|(id, version)| (id.as_bytes().to_vec(), *version))
            .collect(),
    }
}

/// What the group holds by a scan: ids and versions, in id order.
async fn guess(client: &Client, group: u32) -> Result<Vec<(String, Ver)>, Error> {
    Ok(scan_group(client, group)
        .await?
        .into_iter()
        .map(|(id, found)| (id, found.version))
        .collect())
}

/// The group's records by a scan (not linearizable: a guess that a range
/// assert then checks), with their versions and values.
async fn scan_group(client: &Client, group: u32) -> Result<Vec<(String, Versioned)>, Error> {
    let query = ScanQuery {
        namespace: NAMESPACE.into(),
        database: DATABASE.into(),
        table: TABLE.into(),
        start: format!("g{group}/").into_bytes(),
        end: Some(format!("g{group}0").into_bytes()),
        limit: 10_000,
    };
    let entries = client.scan(query).await?;
    Ok(entries
        .into_iter()
        .map(|e| (String::from_utf8_lossy(&e.id).to_string(), e.value))
        .collect())
}

/// One range worker: inserts and range reads until the limits say stop.
pub async fn range_worker(
    client: Client,
    process: ProcessId,
    seed: u64,
    limits: Limits,
    recorder: Arc<Recorder>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    while limits.take() {
        let group = rng.random_range(0..RANGE_GROUPS);
        let Ok(seen) = guess(&client, group).await else {
            tokio::time::sleep(Duration::from_millis(THINK_MS)).await;
            continue;
        };
        let ids: Vec<String> = seen.iter().map(|(id, _)| id.clone()).collect();
        let assert = Op::AssertRange(group_assert(group, &seen));
        let (op, ops) = if rng.random_range(0..100) < RANGE_READ_PERCENT {
            (RangeOp::Read { group, seen: ids }, vec![assert])
        } else {
            let sequence = recorder.next_value.fetch_add(1, Ordering::SeqCst);
            let id = group_id(group, sequence);
            let put = Op::Put(
                Key::new(NAMESPACE, DATABASE, TABLE, id.clone()),
                encode(seen.len() as i64),
            );
            (
                RangeOp::Insert {
                    group,
                    id,
                    seen: ids,
                },
                vec![assert, put],
            )
        };
        let invoke_us = recorder.now_us();
        let outcome = match client.transaction(ops).await {
            Ok(_) => Outcome::Ok(()),
            Err(error) => error_outcome(&error),
        };
        let complete_us = recorder.now_us();
        record(
            &recorder.ranges,
            process,
            invoke_us,
            complete_us,
            op,
            outcome,
        );
        tokio::time::sleep(Duration::from_millis(THINK_MS)).await;
    }
    client.close().await;
}

/// Reads every group whole under its range lock after healing (retrying
/// each until it commits); the reads join the history. Returns group ->
/// id -> value for every group that answered.
pub async fn final_range_reads(
    client: &Client,
    process: ProcessId,
    recorder: &Recorder,
) -> BTreeMap<u32, BTreeMap<String, i64>> {
    let mut state = BTreeMap::new();
    for group in 0..RANGE_GROUPS {
        let mut last = String::new();
        for _ in 0..FINAL_READ_TRIES_MAX {
            let scanned = scan_group(client, group).await;
            if let Err(error) = &scanned {
                last = format!("the scan failed: {error}");
            }
            if let Ok(scanned) = scanned {
                // The range assert alone: it holds only if the group holds
                // exactly these records at these versions (under its range
                // lock at a quorum), and a version is one write, so the
                // scanned values are the group's. (A `Get` per record made
                // a group of over 1,023 records one transaction too many.)
                let seen: Vec<(String, Ver)> = scanned
                    .iter()
                    .map(|(id, v)| (id.clone(), v.version))
                    .collect();
                let ops = vec![Op::AssertRange(group_assert(group, &seen))];
                let ids: Vec<String> = seen.iter().map(|(id, _)| id.clone()).collect();
                let invoke_us = recorder.now_us();
                let answer = client.transaction(ops).await;
                let complete_us = recorder.now_us();
                let outcome = match &answer {
                    Ok(_) => Outcome::Ok(()),
                    Err(error) => error_outcome(error),
                };
                let op = RangeOp::Read { group, seen: ids };
                record(
                    &recorder.ranges,
                    process,
                    invoke_us,
                    complete_us,
                    op,
                    outcome,
                );
                match answer {
                    Ok(_) => {
                        let values = scanned
                            .into_iter()
                            .map(|(id, found)| (id, decode(Some(found)).unwrap_or(i64::MIN)))
                            .collect();
                        state.insert(group, values);
                        break;
                    }
                    Err(error) => {
                        last = format!(
                            "the range assert over {} records failed: {error}",
                            seen.len()
                        );
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if !state.contains_key(&group) {
            eprintln!(
                "zerodb-harness: ranges group {group}: no final read committed in {FINAL_READ_TRIES_MAX} tries; the last: {last}"
            );
        }
    }
    state
}
