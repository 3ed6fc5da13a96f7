//! The scan checker (see [`crate::workload::scans`] for what a scan
//! promises): every answer in range, in order, within its limit and made
//! of values clients wrote and did not see fail; the final scan equal to
//! the final reads.

use std::collections::BTreeMap;

use zerodb_txn::request::decode_int;

use crate::history::{Micros, Outcome, RegisterOp, RegisterOperation, RegisterResult};
use crate::workload::scans::{ScanRecord, WRONG_ANSWER};

/// Anomalies of `scans` against the register history and the final reads
/// (`final_values`: register -> value, every register read).
pub fn check_scans(
    scans: &[ScanRecord],
    history: &[RegisterOperation],
    final_values: &BTreeMap<u64, Option<u64>>,
) -> Vec<String> {
    // value -> (register, invoked at, definitely not applied)
    let mut writes: BTreeMap<u64, (u64, Micros, bool)> = BTreeMap::new();
    for op in history {
        if let RegisterOp::Put { key, value }
        | RegisterOp::Cas {
            key, new: value, ..
        } = op.op
        {
            let failed = matches!(
                op.outcome,
                Outcome::Fail(_) | Outcome::Ok(RegisterResult::Swapped(false))
            );
            writes.insert(value, (key, op.invoke_us, failed));
        }
    }
    let mut anomalies = Vec::new();
    for (index, scan) in scans.iter().enumerate() {
        let entries = match &scan.result {
            Ok(entries) => entries,
            Err(why) if why.starts_with(WRONG_ANSWER) => {
                anomalies.push(format!("scan #{index}: {why}"));
                continue;
            }
            Err(_) => continue,
        };
        let mut problems = Vec::new();
        if entries.len() > scan.bounds.limit as usize {
            problems.push(format!(
                "{} records, limit {}",
                entries.len(),
                scan.bounds.limit
            ));
        }
        let mut previous: Option<&[u8]> = None;
        let mut seen = BTreeMap::new();
        for entry in entries {
            let id = entry.id.as_slice();
            if previous.is_some_and(|p| p >= id) {
                problems.push(format!("id {:?} out of order", lossy(id)));
            }
            previous = Some(id);
            let in_range = id >= scan.bounds.start.as_slice()
                && scan.bounds.end.as_deref().is_none_or(|end| id < end);
            if !in_range {
                problems.push(format!("id {:?} outside the range asked", lossy(id)));
            }
            let register = std::str::from_utf8(id)
                .ok()
                .and_then(|s| s.strip_prefix('k'))
                .and_then(|n| n.parse::<u64>().ok());
            let value = entry
                .value
                .value
                .as_deref()
                .and_then(decode_int)
                .map(|v| v as u64);
            let (Some(register), Some(value)) = (register, value) else {
                problems.push(format!("record {entry:?} is not a register value"));
                continue;
            };
            seen.insert(register, value);
            match writes.get(&value) {
                None => problems.push(format!("register {register} = {value}: no client wrote it")),
                Some((key, _, _)) if *key != register => problems.push(format!(
                    "register {register} = {value}: written to register {key}"
                )),
                Some((_, invoked, _)) if *invoked > scan.complete_us => problems.push(format!(
                    "register {register} = {value}: written only after the scan ended"
                )),
                Some((_, _, true)) => problems.push(format!(
                    "register {register} = {value}: that write definitely failed"
                )),
                Some(_) => {}
            }
        }
        if scan.is_final {
            let expected: BTreeMap<u64, u64> = final_values
                .iter()
                .filter_map(|(k, v)| Some((*k, (*v)?)))
                .collect();
            if seen != expected {
                problems.push(format!(
                    "the final scan returned {seen:?}, the final reads {expected:?}"
                ));
            }
        }
        anomalies.extend(
            problems
                .into_iter()
                .map(|p| format!("scan #{index} (invoked at {} us): {p}", scan.invoke_us)),
        );
    }
    anomalies
}

fn lossy(id: &[u8]) -> String {
    String::from_utf8_lossy(id).into_owned()
}

#[cfg(test)]
mod tests {
    use zerodb_node::api::ScanEntry;
    use zerodb_txn::request::encode_int;
    use zerodb_txn::{Ver, Versioned};

    use super::*;
    use crate::history::{Operation, ProcessId};
    use crate::workload::scans::{register_id, ScanBounds};

    fn put(
        key: u64,
        value: u64,
        invoke_us: Micros,
        outcome: Outcome<RegisterResult>,
    ) -> RegisterOperation {
        Operation {
            process: ProcessId(0),
            invoke_us,
            complete_us: invoke_us + 10,
            op: RegisterOp::Put { key, value },
            outcome,
        }
    }

    fn entry(key: u64, value: u64) -> ScanEntry {
        ScanEntry {
            id: register_id(key),
            value: Versioned {
                version: Ver::ZERO,
                value: Some(encode_int(value as i64)),
                expires_at_ms: None,
            },
        }
    }

    fn scan(entries: Vec<ScanEntry>, limit: u32, is_final: bool) -> ScanRecord {
        ScanRecord {
            process: ProcessId(1),
            invoke_us: 100,
            complete_us: 200,
            bounds: ScanBounds {
                start: register_id(1),
                end: Some(register_id(5)),
                limit,
            },
            result: Ok(entries),
            is_final,
        }
    }

    fn history() -> Vec<RegisterOperation> {
        vec![
            put(1, 10, 0, Outcome::Ok(RegisterResult::Written)),
            put(2, 20, 0, Outcome::Info("timeout".into())),
            put(3, 30, 0, Outcome::Fail("aborted".into())),
            put(4, 40, 500, Outcome::Ok(RegisterResult::Written)),
        ]
    }

    #[test]
    fn written_values_in_range_and_order_pass() {
        let scans = [scan(vec![entry(1, 10), entry(2, 20)], 2, false)];
        assert!(check_scans(&scans, &history(), &BTreeMap::new()).is_empty());
    }

    #[test]
    fn each_broken_promise_is_reported() {
        let cases = [
            (vec![entry(2, 20), entry(1, 10)], 5, "out of order"),
            (vec![entry(1, 10), entry(2, 20)], 1, "limit 1"),
            (vec![entry(0, 10)], 5, "outside the range"),
            (vec![entry(1, 99)], 5, "no client wrote it"),
            (vec![entry(2, 10)], 5, "written to register 1"),
            (vec![entry(3, 30)], 5, "definitely failed"),
            (vec![entry(4, 40)], 5, "after the scan ended"),
        ];
        for (entries, limit, expected) in cases {
            let found = check_scans(&[scan(entries, limit, false)], &history(), &BTreeMap::new());
            assert!(
                found.iter().any(|a| a.contains(expected)),
                "{expected}: {found:?}"
            );
        }
    }

    #[test]
    fn the_final_scan_must_equal_the_final_reads() {
        let finals = BTreeMap::from([(1, Some(10)), (2, Some(20)), (3, None)]);
        let good = scan(vec![entry(1, 10), entry(2, 20)], 5, true);
        assert!(check_scans(&[good], &history(), &finals).is_empty());
        let missing = scan(vec![entry(1, 10)], 5, true);
        let found = check_scans(&[missing], &history(), &finals);
        assert!(found[0].contains("the final scan returned"), "{found:?}");
    }

    #[test]
    fn a_wrong_kind_of_answer_is_reported_and_service_errors_are_not() {
        let mut wrong = scan(Vec::new(), 5, false);
        wrong.result = Err(format!("{WRONG_ANSWER}Done"));
        let mut refused = scan(Vec::new(), 5, false);
        refused.result = Err("scan incomplete".into());
        let found = check_scans(&[wrong, refused], &history(), &BTreeMap::new());
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
