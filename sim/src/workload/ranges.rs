//! Range reads with inserts (DESIGN.md section 11, "phantoms"): every
//! insert counts the records of its group and writes the count, under a
//! shared range lock ([`Op::AssertRange`]) that keeps the group as it read
//! it until the insert commits.
//!
//! The groups are ranges of one table, ids `g<n>/<sequence>` ([`group_id`]),
//! each range `[g<n>/, g<n>0)` exactly one group (`'0'` follows `'/'`).
//! They live in [`RANGES_NAMESPACE`], whose partition level is `database`
//! so that the table sits on one replica ring (range locks need that). A
//! client operation is one of:
//!
//! - **insert**: guess the group's records, then send ONE transaction
//!   `[AssertRange(group, expect = the guess), Put(new id, count)]` where
//!   count is the size of the guess. A `RangeChanged` wrote nothing.
//! - **range read**: `[AssertRange(group, expect = the guess)]`; when it
//!   commits, the group held exactly the guess at its commit point.
//! - **plain put**: a single-key put into another table of the same
//!   database (same replica ring, ids shaped like the groups' ids), so range
//!   locks meet unrelated traffic on the same replicas and must not
//!   contend with it. Its outcome is recorded, not checked.
//!
//! The guess is the union of what the clients learned about the group:
//! acknowledged inserts with their commit versions, the record a failed
//! assert names, and now and then a scan ([`SCAN_ONE_IN`]; a scan is not
//! linearizable, which is fine for a guess). A stale guess only makes the
//! assert fail, and teaches the record it missed.
//!
//! No deletes: the checker's argument is that the committed inserts of a
//! group, ordered by their counts, are its serial order (counts exactly
//! `0..n`, each once). A delete would make a count no longer the number of
//! earlier inserts, so the workload leaves them out.
//!
//! After healing, each group is read whole in one transaction (the range
//! assert plus a `Get` of every record); a record present means its insert
//! committed. [`crate::check::ranges`] judges the history against it.

use std::collections::{BTreeMap, VecDeque};

use rand::rngs::StdRng;
use rand::RngExt;
use zerodb_node::api::{ScanQuery, SCAN_LIMIT_MAX};
use zerodb_txn::request::{decode_int, encode_int};
use zerodb_txn::{ClientError, Key, Level, Op, OpResult, RangeAssert, Request, Response, Ver};

use super::FINAL_READ_TRIES_MAX;
use super::{failure_outcome, Answer, Call, OutcomeCounts, Verdict, Workload};
use crate::check::ranges::check_ranges;
use crate::history::{Micros, Operation, Outcome, ProcessId};

/// Namespace of the range workload: strong, partition level `database`.
pub const RANGES_NAMESPACE: &str = "ranges";
/// Database of the range workload.
pub const DATABASE: &str = "sim";
/// Table of the groups.
pub const GROUP_TABLE: &str = "groups";
/// Table of the plain puts.
pub const PLAIN_TABLE: &str = "plain";
/// Groups (ranges) the inserts and reads spread over: few, so that
/// concurrent inserts into one group are common.
pub const GROUPS: u32 = 3;
/// One operation in this many guesses after a scan of its group.
pub const SCAN_ONE_IN: u32 = 4;
/// Percent of operations that are plain puts.
pub const PLAIN_PUT_PERCENT: u32 = 15;
/// Percent of operations that are range reads.
pub const RANGE_READ_PERCENT: u32 = 20;

/// The namespace the range workload needs besides the run's others.
pub fn ranges_policy(strong: &zerodb_config::NamespacePolicy) -> zerodb_config::NamespacePolicy {
    zerodb_config::NamespacePolicy {
        partition_level: zerodb_config::PartitionLevel::Database,
        ..strong.clone()
    }
}

/// The id of record `sequence` of group `group`.
pub fn group_id(group: u32, sequence: u64) -> String {
    format!("g{group}/{sequence:06}")
}

/// The group an id of [`GROUP_TABLE`] belongs to.
pub fn group_of(id: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(id).ok()?;
    let (group, _) = text.strip_prefix('g')?.split_once('/')?;
    group.parse().ok()
}

/// A client operation of the range workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeOp {
    /// Insert `id` into `group` after asserting the group holds exactly
    /// `seen` (ids); the value written is `seen.len()`, its count.
    Insert {
        /// The group.
        group: u32,
        /// The new record's id.
        id: String,
        /// The records the insert asserted the group holds.
        seen: Vec<String>,
    },
    /// Assert that `group` holds exactly `seen`.
    Read {
        /// The group.
        group: u32,
        /// The records asserted.
        seen: Vec<String>,
    },
    /// A plain put of `id` in [`PLAIN_TABLE`].
    Put {
        /// The id written.
        id: String,
    },
}

/// A recorded range operation: `Ok(())` when it committed (or was
/// written).
pub type RangeOperation = Operation<RangeOp, ()>;

/// What a process is doing.
#[derive(Clone, Debug)]
enum Pending {
    /// Scanning `group` before an insert (`insert`), a read or the final
    /// read (`last`).
    Scanning {
        group: u32,
        insert: bool,
        last: bool,
    },
    /// Waiting for the answer to `op`, sent at `invoke_us`.
    Sent {
        invoke_us: Micros,
        op: RangeOp,
        last: bool,
    },
}

/// Range workload state.
pub struct RangesWorkload {
    groups: u32,
    next_sequence: u64,
    /// Per group, every record clients learned exists: id -> version.
    known: BTreeMap<u32, BTreeMap<String, Ver>>,
    pending: BTreeMap<ProcessId, Pending>,
    history: Vec<RangeOperation>,
    final_phase: bool,
    final_queue: VecDeque<u32>,
    final_tries: BTreeMap<u32, u32>,
    /// Per group whose final read committed: id -> value.
    final_state: BTreeMap<u32, BTreeMap<String, i64>>,
    final_failures: Vec<String>,
    protocol_errors: Vec<String>,
}

impl RangesWorkload {
    /// Inserts and range reads over `groups` groups.
    pub fn new(groups: u32) -> RangesWorkload {
        RangesWorkload {
            groups: groups.max(1),
            next_sequence: 0,
            known: BTreeMap::new(),
            pending: BTreeMap::new(),
            history: Vec::new(),
            final_phase: false,
            final_queue: VecDeque::new(),
            final_tries: BTreeMap::new(),
            final_state: BTreeMap::new(),
            final_failures: Vec::new(),
            protocol_errors: Vec::new(),
        }
    }

    /// The recorded history.
    pub fn history(&self) -> &[RangeOperation] {
        &self.history
    }

    fn group_range(&self, group: u32, expect: Vec<(Vec<u8>, Ver)>) -> RangeAssert {
        RangeAssert {
            start: Key::new(
                RANGES_NAMESPACE,
                DATABASE,
                GROUP_TABLE,
                format!("g{group}/"),
            ),
            end_id: format!("g{group}0").into_bytes(),
            expect,
        }
    }

    fn scan(&self, group: u32) -> ScanQuery {
        ScanQuery {
            namespace: RANGES_NAMESPACE.to_string(),
            database: DATABASE.to_string(),
            table: GROUP_TABLE.to_string(),
            start: format!("g{group}/").into_bytes(),
            end: Some(format!("g{group}0").into_bytes()),
            limit: SCAN_LIMIT_MAX,
        }
    }

    /// The transaction of an insert, read or final read of `group` over
    /// the current guess; records the pending operation of `process`.
    fn send(
        &mut self,
        process: ProcessId,
        now_us: Micros,
        group: u32,
        insert: bool,
        last: bool,
    ) -> Request {
        let guess = self.known.get(&group).cloned().unwrap_or_default();
        let seen: Vec<String> = guess.keys().cloned().collect();
        let expect = guess
            .iter()
            .map(|(id, version)| (id.clone().into_bytes(), *version))
            .collect();
        let mut ops = vec![Op::AssertRange(self.group_range(group, expect))];
        let op = if insert {
            let id = group_id(group, self.next_sequence);
            self.next_sequence += 1;
            let key = Key::new(RANGES_NAMESPACE, DATABASE, GROUP_TABLE, id.clone());
            ops.push(Op::Put(key, encode_int(seen.len() as i64)));
            RangeOp::Insert { group, id, seen }
        } else {
            if last {
                // Read every record's value under the same lock.
                for id in &seen {
                    let key = Key::new(RANGES_NAMESPACE, DATABASE, GROUP_TABLE, id.clone());
                    ops.push(Op::Get(key));
                }
            }
            RangeOp::Read { group, seen }
        };
        self.pending.insert(
            process,
            Pending::Sent {
                invoke_us: now_us,
                op,
                last,
            },
        );
        Request::Txn { ops }
    }

    /// A plain put into the other table.
    fn plain_put(&mut self, process: ProcessId, now_us: Micros, group: u32) -> Request {
        let id = format!("g{group}/p{:06}", self.next_sequence);
        self.next_sequence += 1;
        let key = Key::new(RANGES_NAMESPACE, DATABASE, PLAIN_TABLE, id.clone());
        self.pending.insert(
            process,
            Pending::Sent {
                invoke_us: now_us,
                op: RangeOp::Put { id },
                last: false,
            },
        );
        Request::Put {
            key,
            value: encode_int(1),
            level: Level::One,
            ttl_ms: None,
        }
    }

    fn learn(&mut self, id: &[u8], version: Ver) {
        if let (Some(group), Ok(id)) = (group_of(id), std::str::from_utf8(id)) {
            self.known
                .entry(group)
                .or_default()
                .insert(id.to_string(), version);
        }
    }

    /// What a failed range assert teaches: the record it names exists at
    /// that version, or does not exist.
    fn learn_from_error(&mut self, answer: &Answer) {
        let Answer::Response(Response::Error(ClientError::RangeChanged { key, found, .. })) =
            answer
        else {
            return;
        };
        if key.table != GROUP_TABLE {
            return;
        }
        match found {
            Some(version) => self.learn(&key.id, *version),
            None => {
                // Without deletes a record once seen never goes; if the
                // cluster lost one the checker reports it. Forget it here
                // so that later guesses can commit.
                if let (Some(group), Ok(id)) = (group_of(&key.id), std::str::from_utf8(&key.id)) {
                    if let Some(known) = self.known.get_mut(&group) {
                        known.remove(id);
                    }
                }
            }
        }
    }

    fn outcome(&mut self, op: &RangeOp, last: bool, answer: &Answer) -> Outcome<()> {
        if let Some(outcome) = failure_outcome(answer) {
            return outcome;
        }
        let Answer::Response(response) = answer else {
            unreachable!("scans and timeouts handled above")
        };
        match (op, response) {
            (RangeOp::Put { .. }, Response::Written { .. }) => Outcome::Ok(()),
            (RangeOp::Insert { .. }, Response::Committed { results, .. })
                if results[..] == [OpResult::Checked, OpResult::Written] =>
            {
                Outcome::Ok(())
            }
            (RangeOp::Read { group, seen }, Response::Committed { results, .. })
                if results.first() == Some(&OpResult::Checked)
                    && results.len() == if last { seen.len() + 1 } else { 1 } =>
            {
                if last {
                    self.take_final_values(*group, seen, &results[1..]);
                }
                Outcome::Ok(())
            }
            (op, response) => super::unexpected(&mut self.protocol_errors, op, response),
        }
    }

    /// The final state of `group`: the records the final read asserted,
    /// with the values its `Get`s returned.
    fn take_final_values(&mut self, group: u32, seen: &[String], results: &[OpResult]) {
        let mut values = BTreeMap::new();
        for (id, result) in seen.iter().zip(results) {
            let value = match result {
                OpResult::Value(Some(found)) => found.value.as_deref().and_then(decode_int),
                _ => None,
            };
            match value {
                Some(value) => {
                    values.insert(id.clone(), value);
                }
                None => self.protocol_errors.push(format!(
                    "group {group}: the final read asserted record {id} but its get returned {result:?}"
                )),
            }
        }
        self.final_state.insert(group, values);
    }

    /// After a final read of `group` that did not commit: try again, up to
    /// [`FINAL_READ_TRIES_MAX`] times.
    fn retry_final(&mut self, group: u32, outcome: &Outcome<()>) {
        let tries = self.final_tries.entry(group).or_insert(0);
        *tries += 1;
        if *tries < FINAL_READ_TRIES_MAX {
            self.final_queue.push_back(group);
        } else {
            self.final_failures.push(format!(
                "group {group}: the final read failed {tries} times, last: {outcome:?}"
            ));
        }
    }
}

/// The kind of operation a process starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Intent {
    Insert,
    Read,
    Put,
}

impl RangesWorkload {
    /// The next operation of the workload phase: its kind and group.
    fn draw(&self, rng: &mut StdRng) -> (Intent, u32) {
        let roll = rng.random_range(0..100);
        let intent = if roll < PLAIN_PUT_PERCENT {
            Intent::Put
        } else if roll < PLAIN_PUT_PERCENT + RANGE_READ_PERCENT {
            Intent::Read
        } else {
            Intent::Insert
        };
        (intent, rng.random_range(0..self.groups))
    }
}

impl Workload for RangesWorkload {
    fn invoke(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Request> {
        if self.final_phase {
            let group = self.final_queue.pop_front()?;
            return Some(self.send(process, now_us, group, false, true));
        }
        Some(match self.draw(rng) {
            (Intent::Put, group) => self.plain_put(process, now_us, group),
            (intent, group) => self.send(process, now_us, group, intent == Intent::Insert, false),
        })
    }

    fn call(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Call> {
        // The final read always starts from a scan; during the workload
        // one insert or read in SCAN_ONE_IN does.
        let (intent, group) = if self.final_phase {
            (Intent::Read, self.final_queue.pop_front()?)
        } else {
            self.draw(rng)
        };
        let last = self.final_phase;
        let scan_first = last || rng.random_range(0..SCAN_ONE_IN) == 0;
        let insert = intent == Intent::Insert;
        let request = match intent {
            Intent::Put => self.plain_put(process, now_us, group),
            _ if scan_first => {
                let scanning = Pending::Scanning {
                    group,
                    insert,
                    last,
                };
                self.pending.insert(process, scanning);
                return Some(Call::Scan(self.scan(group)));
            }
            _ => self.send(process, now_us, group, insert, last),
        };
        Some(Call::Data(request))
    }

    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request> {
        match self.pending.remove(&process)? {
            Pending::Scanning {
                group,
                insert,
                last,
            } => {
                // A failed scan leaves the guess as it was.
                if let Answer::Scanned(Ok(entries)) = &answer {
                    for entry in entries.iter().filter(|e| e.value.value.is_some()) {
                        if group_of(&entry.id) == Some(group) {
                            self.learn(&entry.id, entry.value.version);
                        }
                    }
                }
                Some(self.send(process, now_us, group, insert, last))
            }
            Pending::Sent {
                invoke_us,
                op,
                last,
            } => {
                let outcome = self.outcome(&op, last, &answer);
                match (&op, &outcome, &answer) {
                    (
                        RangeOp::Insert { id, .. },
                        Outcome::Ok(()),
                        Answer::Response(Response::Committed { version, .. }),
                    ) => self.learn(id.as_bytes(), *version),
                    (RangeOp::Insert { .. } | RangeOp::Read { .. }, Outcome::Fail(_), _) => {
                        self.learn_from_error(&answer)
                    }
                    _ => {}
                }
                if let (true, RangeOp::Read { group, .. }, false) = (last, &op, outcome.is_ok()) {
                    self.retry_final(*group, &outcome);
                }
                self.history.push(Operation {
                    process,
                    invoke_us,
                    complete_us: now_us,
                    op,
                    outcome,
                });
                None
            }
        }
    }

    fn recorded(&self) -> usize {
        self.history.len()
    }

    fn begin_final(&mut self) {
        self.final_phase = true;
        self.final_queue = (0..self.groups).collect();
    }

    fn final_done(&self) -> bool {
        self.final_phase && self.final_queue.is_empty() && self.pending.is_empty()
    }

    fn check(&self) -> Verdict {
        let mut verdict = Verdict::default();
        verdict
            .anomalies
            .extend(self.protocol_errors.iter().cloned());
        verdict
            .anomalies
            .extend(self.final_failures.iter().map(|f| format!("ranges: {f}")));
        match check_ranges(&self.history, &self.final_state, self.groups) {
            Ok(report) => {
                verdict
                    .anomalies
                    .extend(report.anomalies.iter().map(|a| format!("ranges: {a}")));
                verdict
                    .unknown
                    .extend(report.inconclusive.iter().map(|u| format!("ranges: {u}")));
            }
            Err(error) => verdict.anomalies.push(format!("checker error: {error}")),
        }
        verdict
    }

    fn outcomes(&self) -> OutcomeCounts {
        OutcomeCounts::of(&self.history)
    }

    fn history_text(&self) -> String {
        super::render(&self.history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_range_holds_exactly_its_own_ids() {
        let workload = RangesWorkload::new(12);
        let range = workload.group_range(1, Vec::new());
        assert!(range.contains_id(group_id(1, 0).as_bytes()));
        assert!(range.contains_id(group_id(1, 999_999).as_bytes()));
        for other in [0, 2, 10, 11] {
            assert!(!range.contains_id(group_id(other, 5).as_bytes()), "{other}");
        }
        assert_eq!(group_of(group_id(10, 3).as_bytes()), Some(10));
        assert_eq!(group_of(b"k3"), None);
    }
}
