//! The documents workload's checker: a unique index that holds, indexes
//! that agree with their records, and acknowledged writes that stay.
//!
//! Judged against the history and one final read (one transaction after
//! healing: the table read whole without an index, and every email and
//! group through the indexes):
//!
//! 1. **Unique during the run:** a read by email that committed returned
//!    at most one record, and only records with that email.
//! 2. **Index agrees during the run:** a read by group returned only
//!    records of that group.
//! 3. **Unique at the end:** no two records of the final table share an
//!    email.
//! 4. **Index agrees at the end:** each email's and each group's index
//!    read returned exactly the records of the table read that hold it.
//! 5. **Acknowledged creates stay:** a record whose create was
//!    acknowledged and that no client tried to delete is in the final
//!    table, with the email of its create unless an update of it was tried.
//! 6. **Acknowledged deletes stay:** a record whose create was acknowledged
//!    before its delete was invoked, and whose delete was acknowledged, is
//!    not in the final table (ids are never created twice, and `UPDATE`
//!    skips a missing record). A delete that overlapped its create, or
//!    followed a create of unknown outcome, may have found nothing to
//!    delete: the create can take effect after it (zerodb-sim --seed 2233
//!    --workload documents --engine zero --disk-faults).
//! 7. **Nothing from nowhere:** every record read was created by a client
//!    (its create acknowledged, or of unknown outcome).
//!
//! Without range locks two concurrent creates of one email both find it
//! free and both commit: rule 1 or 3 catches it (pinned in the sim's tests).

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Operation, Outcome};

/// A `person` record as read: its id, email number and group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    /// The record key (`person:<id>`).
    pub id: String,
    /// `e<n>` as `n`.
    pub email: u32,
    /// The group.
    pub group: u32,
}

/// A client operation of the documents workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocOp {
    /// `CREATE person:id SET email, group`.
    Create {
        /// The new record's key.
        id: String,
        /// Its email.
        email: u32,
        /// Its group.
        group: u32,
    },
    /// `UPDATE person:id SET email`.
    Update {
        /// The record.
        id: String,
        /// The new email.
        email: u32,
    },
    /// `DELETE person:id`.
    Delete {
        /// The record.
        id: String,
    },
    /// `SELECT * FROM person WHERE email = e` (the unique index).
    ByEmail {
        /// The email.
        email: u32,
    },
    /// `SELECT * FROM person WHERE team = g` (index `by_team`).
    ByGroup {
        /// The group.
        group: u32,
    },
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocResult {
    /// A write that committed.
    Written,
    /// The records a read returned.
    Rows(Vec<Row>),
}

/// The final read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalDocuments {
    /// The table read whole, without an index.
    pub rows: Vec<Row>,
    /// Per email, what its index read returned.
    pub by_email: BTreeMap<u32, Vec<Row>>,
    /// Per group, what its index read returned.
    pub by_group: BTreeMap<u32, Vec<Row>>,
}

/// Every broken rule (see the module documentation), worded.
pub fn check_documents(
    history: &[Operation<DocOp, DocResult>],
    last: &FinalDocuments,
) -> Vec<String> {
    let mut anomalies = Vec::new();
    let mut created: BTreeMap<&str, (u32, bool)> = BTreeMap::new();
    let mut creates: BTreeMap<&str, &Operation<DocOp, DocResult>> = BTreeMap::new();
    let mut maybe_created: BTreeSet<&str> = BTreeSet::new();
    let mut delete_tried: BTreeSet<&str> = BTreeSet::new();
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    let mut update_tried: BTreeSet<&str> = BTreeSet::new();
    for op in history {
        let ok = op.outcome.is_ok();
        match (&op.op, &op.outcome) {
            (DocOp::Create { id, email, .. }, outcome) => {
                if !matches!(outcome, Outcome::Fail(_)) {
                    maybe_created.insert(id);
                }
                if ok {
                    created.insert(id, (*email, true));
                    creates.insert(id, op);
                }
            }
            (DocOp::Update { id, .. }, Outcome::Ok(_) | Outcome::Info(_)) => {
                update_tried.insert(id);
            }
            (DocOp::Update { .. }, Outcome::Fail(_)) => {}
            (DocOp::Delete { id }, outcome) => {
                delete_tried.insert(id);
                let after_create = creates
                    .get(id.as_str())
                    .is_some_and(|create| create.precedes(op));
                if outcome.is_ok() && after_create {
                    deleted.insert(id);
                }
            }
            (DocOp::ByEmail { email }, Outcome::Ok(DocResult::Rows(rows))) => {
                if rows.len() > 1 {
                    anomalies.push(format!(
                        "a read of email e{email} returned {} records: {rows:?}",
                        rows.len()
                    ));
                }
                if let Some(row) = rows.iter().find(|row| row.email != *email) {
                    anomalies.push(format!("a read of email e{email} returned {row:?}"));
                }
            }
            (DocOp::ByGroup { group }, Outcome::Ok(DocResult::Rows(rows))) => {
                if let Some(row) = rows.iter().find(|row| row.group != *group) {
                    anomalies.push(format!("a read of group {group} returned {row:?}"));
                }
            }
            (op, Outcome::Ok(result)) => {
                anomalies.push(format!("{op:?} returned {result:?}"));
            }
            _ => {}
        }
    }
    for op in history {
        if let Outcome::Ok(DocResult::Rows(rows)) = &op.outcome {
            for row in rows {
                if !maybe_created.contains(row.id.as_str()) {
                    anomalies.push(format!("a read returned {row:?}, which no client created"));
                }
            }
        }
    }
    // The final read.
    let mut owners: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for row in &last.rows {
        owners.entry(row.email).or_default().push(&row.id);
        if !maybe_created.contains(row.id.as_str()) {
            anomalies.push(format!(
                "the final table holds {row:?}, which no client created"
            ));
        }
        if deleted.contains(row.id.as_str()) {
            anomalies.push(format!(
                "the final table holds {row:?}, whose delete was acknowledged after its create was"
            ));
        }
    }
    for (email, ids) in &owners {
        if ids.len() > 1 {
            anomalies.push(format!(
                "email e{email} is held by {} records: {ids:?}",
                ids.len()
            ));
        }
    }
    let mut table: Vec<&Row> = last.rows.iter().collect();
    table.sort();
    for (email, indexed) in &last.by_email {
        let mut indexed: Vec<&Row> = indexed.iter().collect();
        indexed.sort();
        let expected: Vec<&Row> = table
            .iter()
            .copied()
            .filter(|row| row.email == *email)
            .collect();
        if indexed != expected {
            anomalies.push(format!(
                "the unique index gives {indexed:?} for email e{email}, the table {expected:?}"
            ));
        }
    }
    for (group, indexed) in &last.by_group {
        let mut indexed: Vec<&Row> = indexed.iter().collect();
        indexed.sort();
        let expected: Vec<&Row> = table
            .iter()
            .copied()
            .filter(|row| row.group == *group)
            .collect();
        if indexed != expected {
            anomalies.push(format!(
                "index by_team gives {indexed:?} for group {group}, the table {expected:?}"
            ));
        }
    }
    let present: BTreeMap<&str, &Row> =
        last.rows.iter().map(|row| (row.id.as_str(), row)).collect();
    for (id, (email, _)) in &created {
        if delete_tried.contains(id) {
            continue;
        }
        match present.get(id) {
            None => anomalies.push(format!(
                "the create of person:{id} was acknowledged, no delete was tried, and it is gone"
            )),
            Some(row) if !update_tried.contains(id) && row.email != *email => anomalies.push(
                format!("person:{id} was created with e{email}, never updated, and holds {row:?}"),
            ),
            Some(_) => {}
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: DocOp, outcome: Outcome<DocResult>) -> Operation<DocOp, DocResult> {
        at(0, op, outcome)
    }

    /// An operation invoked at `time` and answered just after.
    fn at(time: u64, op: DocOp, outcome: Outcome<DocResult>) -> Operation<DocOp, DocResult> {
        Operation {
            process: crate::history::ProcessId(0),
            invoke_us: time * 10,
            complete_us: time * 10 + 1,
            op,
            outcome,
        }
    }

    fn row(id: &str, email: u32, group: u32) -> Row {
        Row {
            id: id.into(),
            email,
            group,
        }
    }

    fn create(id: &str, email: u32) -> Operation<DocOp, DocResult> {
        op(
            DocOp::Create {
                id: id.into(),
                email,
                group: 0,
            },
            Outcome::Ok(DocResult::Written),
        )
    }

    fn last(rows: Vec<Row>) -> FinalDocuments {
        let mut state = FinalDocuments {
            rows: rows.clone(),
            ..FinalDocuments::default()
        };
        for email in 0..2 {
            let held = rows.iter().filter(|r| r.email == email).cloned().collect();
            state.by_email.insert(email, held);
        }
        state
            .by_group
            .insert(0, rows.iter().filter(|r| r.group == 0).cloned().collect());
        state
    }

    #[test]
    fn a_clean_history_passes() {
        let history = vec![
            create("a", 0),
            create("b", 1),
            op(
                DocOp::ByEmail { email: 0 },
                Outcome::Ok(DocResult::Rows(vec![row("a", 0, 0)])),
            ),
            op(
                DocOp::Delete { id: "b".into() },
                Outcome::Ok(DocResult::Written),
            ),
        ];
        assert_eq!(
            check_documents(&history, &last(vec![row("a", 0, 0)])),
            Vec::<String>::new()
        );
    }

    #[test]
    fn two_records_with_one_email_are_caught_during_the_run_and_at_the_end() {
        let history = vec![
            create("a", 0),
            create("b", 0),
            op(
                DocOp::ByEmail { email: 0 },
                Outcome::Ok(DocResult::Rows(vec![row("a", 0, 0), row("b", 0, 0)])),
            ),
        ];
        let anomalies = check_documents(&history, &last(vec![row("a", 0, 0), row("b", 0, 0)]));
        assert!(
            anomalies.iter().any(|a| a.contains("returned 2 records")),
            "{anomalies:?}"
        );
        assert!(
            anomalies.iter().any(|a| a.contains("held by 2 records")),
            "{anomalies:?}"
        );
    }

    #[test]
    fn an_index_that_disagrees_with_its_records_is_caught() {
        let history = vec![create("a", 0)];
        let mut state = last(vec![row("a", 0, 0)]);
        state.by_email.insert(1, vec![row("a", 0, 0)]);
        state.by_group.insert(0, Vec::new());
        let anomalies = check_documents(&history, &state);
        assert!(
            anomalies.iter().any(|a| a.contains("unique index gives")),
            "{anomalies:?}"
        );
        assert!(
            anomalies.iter().any(|a| a.contains("by_team gives")),
            "{anomalies:?}"
        );
    }

    #[test]
    fn a_delete_may_precede_a_create_of_unknown_outcome() {
        let created = DocOp::Create {
            id: "b".into(),
            email: 1,
            group: 0,
        };
        let history = vec![
            at(1, created, Outcome::Info("client timeout".into())),
            at(
                2,
                DocOp::Delete { id: "b".into() },
                Outcome::Ok(DocResult::Written),
            ),
        ];
        let anomalies = check_documents(&history, &last(vec![row("b", 1, 0)]));
        assert_eq!(anomalies, Vec::<String>::new());
    }

    #[test]
    fn lost_creates_kept_deletes_and_records_from_nowhere_are_caught() {
        let created = DocOp::Create {
            id: "b".into(),
            email: 1,
            group: 0,
        };
        let history = vec![
            create("a", 0),
            at(1, created, Outcome::Ok(DocResult::Written)),
            at(
                2,
                DocOp::Delete { id: "b".into() },
                Outcome::Ok(DocResult::Written),
            ),
        ];
        let anomalies = check_documents(&history, &last(vec![row("b", 1, 0), row("z", 0, 0)]));
        assert!(
            anomalies
                .iter()
                .any(|a| a.contains("person:a") && a.contains("gone")),
            "{anomalies:?}"
        );
        assert!(
            anomalies
                .iter()
                .any(|a| a.contains("delete was acknowledged")),
            "{anomalies:?}"
        );
        assert!(
            anomalies.iter().any(|a| a.contains("no client created")),
            "{anomalies:?}"
        );
    }
}
