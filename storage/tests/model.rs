//! Model-based property tests: random sequences of batches, reads, scans,
//! sweeps, syncs, checkpoints, crashes and reopens run against an engine
//! and against a `BTreeMap` model, and every read must agree.
//!
//! After a crash only synced state is guaranteed: the engine must hold the
//! synced state plus some prefix (possibly empty) of the batches written
//! since the last sync, because a batch is atomic and a WAL keeps order.

mod support;

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use support::{Harness, MemoryHarness, SledHarness, ZeroDirHarness, ZeroFaultHarness};
use zerodb_storage::{Direction, Engine, Record, ScanRange, Space, Version, WriteBatch};

type State = BTreeMap<(Space, Vec<u8>), Record>;

#[derive(Clone, Debug)]
enum Change {
    Put(Record),
    Remove,
}

#[derive(Clone, Debug)]
enum Op {
    Batch(Vec<(Space, Vec<u8>, Change)>),
    Get(Space, Vec<u8>),
    Scan {
        space: Space,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        direction: Direction,
        limit: usize,
    },
    Sweep {
        now_ms: u64,
        limit: usize,
    },
    Sync,
    Checkpoint,
    Crash,
    Reopen,
}

/// The model: what was synced and the batches written since.
#[derive(Default)]
struct Model {
    durable: State,
    unsynced: Vec<Vec<(Space, Vec<u8>, Change)>>,
}

fn apply(state: &mut State, batch: &[(Space, Vec<u8>, Change)]) {
    for (space, key, change) in batch {
        match change {
            Change::Put(record) => {
                state.insert((*space, key.clone()), record.clone());
            }
            Change::Remove => {
                state.remove(&(*space, key.clone()));
            }
        }
    }
}

impl Model {
    fn live(&self) -> State {
        let mut state = self.durable.clone();
        for batch in &self.unsynced {
            apply(&mut state, batch);
        }
        state
    }

    fn sync(&mut self) {
        for batch in std::mem::take(&mut self.unsynced) {
            apply(&mut self.durable, &batch);
        }
    }

    /// Every state a crash may leave: synced state plus a prefix of the
    /// unsynced batches.
    fn crash_candidates(&self) -> Vec<State> {
        let mut state = self.durable.clone();
        let mut out = vec![state.clone()];
        for batch in &self.unsynced {
            apply(&mut state, batch);
            out.push(state.clone());
        }
        out
    }
}

fn in_range(key: &[u8], start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    let range = ScanRange {
        space: Space::Data,
        start: start.clone(),
        end: end.clone(),
    };
    range.contains(key)
}

fn model_scan(state: &State, op: &Op) -> Vec<(Vec<u8>, Record)> {
    let Op::Scan {
        space,
        start,
        end,
        direction,
        limit,
    } = op
    else {
        unreachable!("model_scan takes a scan")
    };
    let rows = state
        .iter()
        .filter(|((s, k), _)| s == space && in_range(k, start, end))
        .map(|((_, k), r)| (k.clone(), r.clone()));
    match direction {
        Direction::Forward => rows.take(*limit).collect(),
        Direction::Reverse => {
            let all: Vec<_> = rows.collect();
            all.into_iter().rev().take(*limit).collect()
        }
    }
}

/// The sweep the default `sweep_expired` performs, as a batch.
fn model_sweep(state: &State, now_ms: u64, limit: usize) -> Vec<(Space, Vec<u8>, Change)> {
    state
        .iter()
        .filter(|((s, _), r)| *s == Space::Data && !r.is_tombstone() && r.is_expired(now_ms))
        .take(limit)
        .map(|((s, k), r)| (*s, k.clone(), Change::Put(Record::tombstone(r.version))))
        .collect()
}

fn engine_state<E: Engine>(engine: &mut E) -> State {
    let mut state = State::new();
    for space in [Space::Data, Space::System] {
        let rows = engine
            .scan(&ScanRange::all(space), Direction::Forward, usize::MAX)
            .expect("full scan");
        for (key, record) in rows {
            state.insert((space, key), record);
        }
    }
    state
}

/// A state in brief (values by length), for failure messages.
fn summary(state: &State) -> String {
    let entries: Vec<String> = state
        .iter()
        .map(|((space, key), r)| {
            let value = r
                .value
                .as_ref()
                .map_or("tombstone".to_string(), |v| format!("{} bytes", v.len()));
            format!(
                "{space:?}/{key:?}: {:?} {value} expires {:?}",
                r.version, r.expires_at_ms
            )
        })
        .collect();
    format!("{{{}}}", entries.join(", "))
}

fn to_write_batch(batch: &[(Space, Vec<u8>, Change)]) -> WriteBatch {
    let mut out = WriteBatch::new();
    for (space, key, change) in batch {
        match change {
            Change::Put(record) => out.put(*space, key.clone(), record.clone()),
            Change::Remove => out.remove(*space, key.clone()),
        };
    }
    out
}

/// Runs `ops` against a fresh `H` and the model, failing on any difference.
fn run<H: Harness>(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut harness = H::fresh();
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let engine = harness.engine();
        match op {
            Op::Batch(batch) => {
                engine.write(to_write_batch(batch)).expect("write");
                model.unsynced.push(batch.clone());
            }
            Op::Get(space, key) => {
                let want = model.live().get(&(*space, key.clone())).cloned();
                let got = engine.get(*space, key).expect("get");
                prop_assert_eq!(got, want, "step {}: {:?}", step, op);
            }
            Op::Scan {
                space,
                start,
                end,
                direction,
                limit,
            } => {
                let range = ScanRange {
                    space: *space,
                    start: start.clone(),
                    end: end.clone(),
                };
                let got = engine.scan(&range, *direction, *limit).expect("scan");
                prop_assert_eq!(
                    got,
                    model_scan(&model.live(), op),
                    "step {}: {:?}",
                    step,
                    op
                );
            }
            Op::Sweep { now_ms, limit } => {
                let batch = model_sweep(&model.live(), *now_ms, *limit);
                let turned = engine.sweep_expired(*now_ms, *limit).expect("sweep");
                prop_assert_eq!(turned, batch.len(), "step {}: {:?}", step, op);
                if !batch.is_empty() {
                    model.unsynced.push(batch);
                }
            }
            Op::Sync => {
                engine.sync().expect("sync");
                model.sync();
            }
            Op::Checkpoint => {
                engine.checkpoint().expect("checkpoint");
                model.sync();
            }
            Op::Reopen => {
                harness.reopen();
                model.sync();
            }
            Op::Crash => {
                let incarnation = harness.engine().incarnation();
                harness.crash_and_reopen();
                let got = engine_state(harness.engine());
                let candidates = model.crash_candidates();
                let Some(kept) = candidates.iter().position(|c| *c == got) else {
                    return Err(TestCaseError::fail(format!(
                        "step {step}: after a crash the engine holds {}, which is not \
                         the synced state plus a prefix of the {} unsynced batches",
                        summary(&got),
                        model.unsynced.len()
                    )));
                };
                // Losing unsynced batches is allowed and keeps the incarnation.
                prop_assert_eq!(harness.engine().incarnation(), incarnation);
                model.unsynced.truncate(kept);
                model.sync();
            }
        }
        if H::COUNTS_RECORDS {
            // The count is live: every write, recovery and checkpoint keeps
            // it equal to the records stored (tombstones included).
            let records = harness.engine().stats().records;
            prop_assert_eq!(
                records,
                model.live().len() as u64,
                "step {}: record count after {:?}",
                step,
                op
            );
        }
    }
    // The final state agrees in full, in both directions.
    let got = engine_state(harness.engine());
    prop_assert_eq!(got, model.live());
    Ok(())
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![0u8, b'a', b'b', b'c', 0xff]),
        0..4,
    )
}

fn space() -> impl Strategy<Value = Space> {
    prop_oneof![4 => Just(Space::Data), 1 => Just(Space::System)]
}

fn record() -> impl Strategy<Value = Record> {
    let version =
        (0u64..1_000, 0u32..3, 1u32..4).prop_map(|(physical_ms, logical, node)| Version {
            physical_ms,
            logical,
            node,
        });
    // Now and then a value large enough (hundreds of KiB) that a WAL
    // buffering appends must write it out before the sync, so crashes can
    // leave unsynced, torn records on disk for recovery to cut.
    let bytes = prop_oneof![
        30 => prop::collection::vec(any::<u8>(), 0..40),
        1 => (any::<u8>(), 200_000usize..500_000).prop_map(|(b, len)| vec![b; len]),
    ];
    let value = prop::option::weighted(0.8, bytes);
    let expiry = prop::option::weighted(0.3, 0u64..200);
    (version, value, expiry).prop_map(|(version, value, expires_at_ms)| Record {
        version,
        value,
        expires_at_ms,
    })
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![4 => record().prop_map(Change::Put), 1 => Just(Change::Remove)]
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        Just(Bound::Unbounded),
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
    ]
}

fn op(can_crash: bool) -> impl Strategy<Value = Op> {
    let batch = prop::collection::vec((space(), key(), change()), 0..6).prop_map(Op::Batch);
    let get = (space(), key()).prop_map(|(s, k)| Op::Get(s, k));
    let direction = prop_oneof![Just(Direction::Forward), Just(Direction::Reverse)];
    let scan = (space(), bound(), bound(), direction, 0usize..8).prop_map(
        |(space, start, end, direction, limit)| Op::Scan {
            space,
            start,
            end,
            direction,
            limit,
        },
    );
    let sweep = (0u64..250, 1usize..4).prop_map(|(now_ms, limit)| Op::Sweep { now_ms, limit });
    let crash_weight = if can_crash { 2 } else { 0 };
    prop_oneof![
        8 => batch,
        4 => get,
        3 => scan,
        1 => sweep,
        2 => Just(Op::Sync),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
        crash_weight => Just(Op::Crash),
    ]
}

fn ops(can_crash: bool) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(can_crash), 1..60)
}

/// `cases` cases, or `PROPTEST_CASES` when set (for longer runs by hand).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]
    #[test]
    fn memory_engine_matches_the_model(ops in ops(MemoryHarness::CAN_CRASH)) {
        run::<MemoryHarness>(&ops)?;
    }
}

proptest! {
    // Each sled reopen costs milliseconds: fewer cases keep this fast.
    #![proptest_config(config(48))]
    #[test]
    fn sled_engine_matches_the_model(ops in ops(SledHarness::CAN_CRASH)) {
        run::<SledHarness>(&ops)?;
    }
}

proptest! {
    // Crashes over a FaultVfs that keeps a random prefix of the unsynced
    // writes and tears the next one; small options force checkpoints.
    #![proptest_config(config(128))]
    #[test]
    fn zero_engine_over_fault_vfs_matches_the_model(ops in ops(ZeroFaultHarness::CAN_CRASH)) {
        run::<ZeroFaultHarness>(&ops)?;
    }
}

proptest! {
    #![proptest_config(config(24))]
    #[test]
    fn zero_engine_on_disk_matches_the_model(ops in ops(ZeroDirHarness::CAN_CRASH)) {
        run::<ZeroDirHarness>(&ops)?;
    }
}
