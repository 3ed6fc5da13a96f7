//! zeroql documents with indexes under faults: the nodes' own query loop
//! ([`run_query`], what a node runs for `zerodb sql`) driven as a client of
//! the simulated cores.
//!
//! Each client runs whole zeroql statements. The query loop's requests
//! (strong gets, scans, the commit's transaction) go out one at a time
//! through the simulated network to the run's coordinators, so every fault
//! of the run reaches the statements: lost and duplicated messages,
//! partitions, crashes, clock jumps, lost disks. The loop runs without
//! tokio: its future is polled with a waker that does nothing, each time an
//! answer arrives ([`SimCore`]).
//!
//! The table `person` of [`DOCUMENTS_NAMESPACE`] (partition level
//! `database`, for range reads) has a unique field `email` (values
//! `e0..e{EMAILS}`) and an index `by_team` on `team` (the "group" of the
//! checker; `group` is a zeroql keyword). A client:
//!
//! - **creates** `person:<fresh id>` with an email and a group: a unique
//!   violation when the email is taken;
//! - **updates** the email of a record created before;
//! - **deletes** a record created before;
//! - **reads by email** through the unique index, and **by group** through
//!   the other index.
//!
//! The table and its indexes are defined first, before the run injects
//! faults ([`Workload::set_up`]). After healing, one `BEGIN ... COMMIT`
//! block reads the whole table
//! without an index and every email and group through the indexes. The
//! checker ([`crate::check::documents`]) judges the history against it:
//! uniqueness, index and record agreeing, acknowledged writes kept.

use rand::rngs::StdRng;
use rand::RngExt;
use zerodb_node::api::{QueryAnswer, QueryErrorKind};
use zerodb_query::value::{codec, Value};
use zerodb_txn::Request;

use super::query_client::{Finished, FollowUp, Next, QueryClients};
use super::{Answer, Call, OutcomeCounts, Verdict, Workload, FINAL_READ_TRIES_MAX};
use crate::check::documents::{check_documents, DocOp, DocResult, FinalDocuments, Row};
use crate::history::{Micros, Operation, Outcome, ProcessId};

/// Namespace of the documents workload: strong, partition level
/// `database`.
pub const DOCUMENTS_NAMESPACE: &str = "docs";
/// Database of the documents workload.
pub const DATABASE: &str = "sim";
/// Distinct emails: few, so that creates and updates collide.
pub const EMAILS: u32 = 8;
/// Distinct groups.
pub const GROUPS: u32 = 3;
/// Defines the table, its unique field and its index; runs again after an
/// unknown outcome.
pub const SETUP: &str = "DEFINE TABLE IF NOT EXISTS person SCHEMALESS; \
    DEFINE FIELD IF NOT EXISTS email ON person TYPE string UNIQUE; \
    DEFINE INDEX IF NOT EXISTS by_team ON person FIELDS team";

/// A recorded documents operation.
pub type DocOperation = Operation<DocOp, DocResult>;

/// What a running query is for.
#[derive(Clone, Debug)]
enum Purpose {
    Setup,
    Op(DocOp),
    Final,
}

/// Documents workload state.
pub struct DocumentsWorkload {
    setup: SetupState,
    next_id: u64,
    /// Ids whose create may have taken effect (acknowledged or unknown).
    created: Vec<String>,
    queries: QueryClients<Purpose>,
    history: Vec<DocOperation>,
    final_phase: bool,
    final_wanted: bool,
    final_tries: u32,
    final_state: Option<FinalDocuments>,
    final_failures: Vec<String>,
    protocol_errors: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetupState {
    NotStarted,
    Running,
    Done,
}

impl Default for DocumentsWorkload {
    fn default() -> Self {
        DocumentsWorkload::new()
    }
}

impl DocumentsWorkload {
    /// A documents workload over an empty namespace.
    pub fn new() -> DocumentsWorkload {
        DocumentsWorkload {
            setup: SetupState::NotStarted,
            next_id: 0,
            created: Vec::new(),
            queries: QueryClients::new(DOCUMENTS_NAMESPACE, DATABASE),
            history: Vec::new(),
            final_phase: false,
            final_wanted: false,
            final_tries: 0,
            final_state: None,
            final_failures: Vec::new(),
            protocol_errors: Vec::new(),
        }
    }

    /// The recorded history.
    pub fn history(&self) -> &[DocOperation] {
        &self.history
    }

    fn finish(&mut self, process: ProcessId, now_us: Micros, finished: Finished<Purpose>) {
        let Finished {
            purpose,
            invoke_us,
            answer,
        } = finished;
        match purpose {
            Purpose::Setup => {
                self.setup = match &answer.error {
                    None => SetupState::Done,
                    Some(error)
                        if matches!(
                            error.kind,
                            QueryErrorKind::Invalid | QueryErrorKind::Internal
                        ) =>
                    {
                        // Running it again cannot help: report and go on,
                        // so that the run ends.
                        self.protocol_errors
                            .push(format!("setup: {:?}: {}", error.kind, error.message));
                        SetupState::Done
                    }
                    Some(_) => SetupState::NotStarted,
                };
            }
            Purpose::Final => match answer.error {
                None => match final_of(&answer) {
                    Ok(state) => self.final_state = Some(state),
                    Err(error) => self.protocol_errors.push(format!("final read: {error}")),
                },
                Some(error) => {
                    self.final_tries += 1;
                    if self.final_tries < FINAL_READ_TRIES_MAX {
                        self.final_wanted = true;
                    } else {
                        self.final_failures.push(format!(
                            "the final read failed {} times, last: {}",
                            self.final_tries, error.message
                        ));
                    }
                }
            },
            Purpose::Op(op) => {
                let outcome = self.outcome(&op, &answer);
                if let (DocOp::Create { id, .. }, false) =
                    (&op, matches!(outcome, Outcome::Fail(_)))
                {
                    self.created.push(id.clone());
                }
                self.history.push(Operation {
                    process,
                    invoke_us,
                    complete_us: now_us,
                    op,
                    outcome,
                });
            }
        }
    }

    /// The outcome a client records for `op` from the query's answer.
    fn outcome(&mut self, op: &DocOp, answer: &QueryAnswer) -> Outcome<DocResult> {
        if let Some(error) = &answer.error {
            return match error.kind {
                QueryErrorKind::Violation
                | QueryErrorKind::Conflict
                | QueryErrorKind::Unavailable
                | QueryErrorKind::Refused => {
                    Outcome::Fail(format!("{:?}: {}", error.kind, error.message))
                }
                QueryErrorKind::OutcomeUnknown => Outcome::Info(error.message.clone()),
                QueryErrorKind::Invalid
                | QueryErrorKind::Internal
                | QueryErrorKind::UnknownStatement => {
                    self.protocol_errors
                        .push(format!("{op:?}: {:?}: {}", error.kind, error.message));
                    Outcome::Info(error.message.clone())
                }
            };
        }
        match op {
            DocOp::ByEmail { .. } | DocOp::ByGroup { .. } => match rows_of(&answer.results, 0) {
                Ok(rows) => Outcome::Ok(DocResult::Rows(rows)),
                Err(error) => {
                    self.protocol_errors.push(format!("{op:?}: {error}"));
                    Outcome::Info(error)
                }
            },
            _ => Outcome::Ok(DocResult::Written),
        }
    }

    /// The next operation of the workload phase.
    fn draw(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) {
        let roll = rng.random_range(0..100);
        let email = rng.random_range(0..EMAILS);
        let group = rng.random_range(0..GROUPS);
        let known = (!self.created.is_empty())
            .then(|| self.created[rng.random_range(0..self.created.len())].clone());
        let (op, text, params) = match (roll, known) {
            (0..35, _) | (_, None) => {
                let id = format!("{process}n{}", self.next_id);
                self.next_id += 1;
                let params = vec![
                    ("id", Value::Str(id.clone())),
                    ("email", Value::Str(email_of(email))),
                    ("team", Value::Int(i64::from(group))),
                ];
                let text = "CREATE person:$id SET email = $email, team = $team";
                (DocOp::Create { id, email, group }, text, params)
            }
            (35..55, Some(id)) => {
                let params = vec![
                    ("id", Value::Str(id.clone())),
                    ("email", Value::Str(email_of(email))),
                ];
                let text = "UPDATE person:$id SET email = $email";
                (DocOp::Update { id, email }, text, params)
            }
            (55..70, Some(id)) => {
                let params = vec![("id", Value::Str(id.clone()))];
                (DocOp::Delete { id }, "DELETE person:$id", params)
            }
            (70..90, _) => {
                let params = vec![("email", Value::Str(email_of(email)))];
                let text = "SELECT * FROM person WHERE email = $email";
                (DocOp::ByEmail { email }, text, params)
            }
            _ => {
                let params = vec![("team", Value::Int(i64::from(group)))];
                let text = "SELECT * FROM person WHERE team = $team";
                (DocOp::ByGroup { group }, text, params)
            }
        };
        self.queries
            .start(process, now_us, Purpose::Op(op), text.to_string(), params);
    }
}

/// The email number `n` stands for.
pub fn email_of(n: u32) -> String {
    format!("e{n}")
}

/// The final block: the table read whole without an index, then each email
/// and each group through the indexes, in one transaction.
fn final_text() -> String {
    let mut text = String::from("BEGIN; SELECT * FROM person WITH NO INDEX; ");
    for email in 0..EMAILS {
        text.push_str(&format!(
            "SELECT * FROM person WHERE email = '{}'; ",
            email_of(email)
        ));
    }
    for group in 0..GROUPS {
        text.push_str(&format!("SELECT * FROM person WHERE team = {group}; "));
    }
    text.push_str("COMMIT");
    text
}

fn final_of(answer: &QueryAnswer) -> Result<FinalDocuments, String> {
    let expected = 1 + EMAILS + GROUPS;
    if answer.results.len() != expected as usize {
        return Err(format!(
            "{} results, expected {expected}",
            answer.results.len()
        ));
    }
    let mut state = FinalDocuments {
        rows: rows_of(&answer.results, 0)?,
        ..FinalDocuments::default()
    };
    for email in 0..EMAILS {
        state
            .by_email
            .insert(email, rows_of(&answer.results, 1 + email as usize)?);
    }
    for group in 0..GROUPS {
        state.by_group.insert(
            group,
            rows_of(&answer.results, (1 + EMAILS + group) as usize)?,
        );
    }
    Ok(state)
}

/// The rows of result `index`: `person` records with their email and group.
fn rows_of(results: &[Vec<u8>], index: usize) -> Result<Vec<Row>, String> {
    let bytes = results
        .get(index)
        .ok_or_else(|| format!("no result {index}"))?;
    let value = codec::decode(bytes).map_err(|error| format!("result {index}: {error}"))?;
    let Value::Array(records) = value else {
        return Err(format!("result {index} is {value}, not an array"));
    };
    records.iter().map(row_of).collect()
}

fn row_of(record: &Value) -> Result<Row, String> {
    let id = match record.field("id") {
        Value::RecordId(id) if id.table == "person" => match *id.key {
            Value::Str(key) => key,
            other => return Err(format!("record key {other}")),
        },
        other => return Err(format!("a row without a person id: {other}")),
    };
    let email = match record.field("email") {
        Value::Str(text) => text
            .strip_prefix('e')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{id}: email {text:?}"))?,
        other => return Err(format!("{id}: email {other}")),
    };
    let group = match record.field("team") {
        Value::Int(n) => u32::try_from(n).map_err(|_| format!("{id}: group {n}"))?,
        other => return Err(format!("{id}: group {other}")),
    };
    Ok(Row { id, email, group })
}

impl DocumentsWorkload {
    /// The call of `process`'s running query, or `None` when it finished.
    fn call_of_running(&mut self, process: ProcessId, now_us: Micros) -> Option<Call> {
        match self.queries.next(process, now_us) {
            Next::Call(call) => Some(call),
            Next::Finished(finished) => {
                self.finish(process, now_us, finished);
                None
            }
            Next::Nothing => None,
        }
    }
}

impl Workload for DocumentsWorkload {
    fn invoke(
        &mut self,
        _process: ProcessId,
        _now_us: Micros,
        _rng: &mut StdRng,
    ) -> Option<Request> {
        unreachable!("the documents workload is driven through `call`")
    }

    fn call(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Call> {
        if !self.queries.is_running(process) {
            if self.final_phase {
                if !self.final_wanted || !self.queries.idle() {
                    return None;
                }
                self.final_wanted = false;
                self.queries
                    .start(process, now_us, Purpose::Final, final_text(), Vec::new());
            } else {
                match self.setup {
                    SetupState::Done => self.draw(process, now_us, rng),
                    SetupState::Running => return None,
                    SetupState::NotStarted => {
                        self.setup = SetupState::Running;
                        self.queries.start(
                            process,
                            now_us,
                            Purpose::Setup,
                            SETUP.to_string(),
                            Vec::new(),
                        );
                    }
                }
            }
        }
        self.call_of_running(process, now_us)
    }

    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request> {
        match self.queries.complete(process, now_us, answer) {
            FollowUp::Send(request) => Some(request),
            FollowUp::Finished(finished) => {
                self.finish(process, now_us, finished);
                None
            }
            FollowUp::Wait => None,
        }
    }

    fn recorded(&self) -> usize {
        self.history.len()
    }

    fn set_up(&self) -> bool {
        self.setup == SetupState::Done
    }

    fn begin_final(&mut self) {
        self.final_phase = true;
        self.final_wanted = true;
    }

    fn final_done(&self) -> bool {
        self.final_phase
            && self.queries.idle()
            && (self.final_state.is_some() || !self.final_failures.is_empty())
    }

    fn check(&self) -> Verdict {
        let mut verdict = Verdict::default();
        verdict.anomalies.extend(
            (self.queries.protocol_errors.iter())
                .chain(&self.protocol_errors)
                .map(|e| format!("documents: {e}")),
        );
        verdict.anomalies.extend(
            self.final_failures
                .iter()
                .map(|f| format!("documents: {f}")),
        );
        if let Some(state) = &self.final_state {
            verdict.anomalies.extend(
                check_documents(&self.history, state)
                    .into_iter()
                    .map(|a| format!("documents: {a}")),
            );
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
