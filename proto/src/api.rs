//! What a client sends a node and gets back: data operations (the
//! [`Request`]s of [`crate::request`]), scans, and the operator surface
//! (status, info, checkpoint, validate), and zeroql queries
//! ([`ClientRequest::Query`]). Nodes also use [`ClientRequest::LocalScan`]
//! among themselves to gather a scan.
//!
//! ## zeroql queries on the wire
//!
//! [`QueryRequest`] carries the text of one or more zeroql statements, the
//! namespace and database they start in (`USE` inside the text changes
//! them for the statements after it) and `$parameters`. A parameter's
//! value, and every result, is a zeroql `Value` in the query crate's value
//! codec (`zerodb_query::value::codec`: a version byte, then tag + body);
//! this crate carries them as opaque bytes so that it depends on no other
//! ZeroDB crate. The answer, [`ClientResponse::Query`], holds one encoded
//! value per statement that ran (none for `BEGIN` and `COMMIT`) and, when a
//! statement failed, a [`QueryError`] whose message is already rendered
//! for a person (line:column and a caret under the problem). Statements
//! before the failed one (each a transaction of its own, or one
//! `BEGIN ... COMMIT` block) stay committed; nothing of the failed one is.
//!
//! The two variants were appended to [`ClientRequest`] and
//! [`ClientResponse`], so every older frame still decodes the same and the
//! protocol version stays 1; a node without zeroql refuses a `Query` frame
//! as malformed.
//!
//! ## Prepared statements
//!
//! [`ClientRequest::Prepare`] parses a text once on the receiving node and
//! answers [`ClientResponse::Prepared`] with its handle: the xxh3-64 hash
//! of the text, so every node computes the same handle for the same text.
//! A text that does not parse is answered as a failed query would be
//! ([`ClientResponse::Query`] with no results and an
//! [`QueryErrorKind::Invalid`] error). [`ClientRequest::Execute`] runs the
//! prepared statements with parameters and answers like a `Query`. Each
//! node keeps its prepared statements in a bounded cache of its own: an
//! `Execute` whose handle the node does not hold (prepared on another
//! node, evicted, or the node restarted) fails with
//! [`QueryErrorKind::UnknownStatement`], and the client prepares the text
//! again on that node. These variants were appended too (protocol version
//! 1 still); a node without them refuses their frames as malformed.

use bincode::{Decode, Encode};

use crate::error::ServiceError;
use crate::request::{Request, Response};
use crate::types::Versioned;

/// Scan bounds: the records of one table with ids in `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ScanQuery {
    /// Namespace.
    pub namespace: String,
    /// Database.
    pub database: String,
    /// Table.
    pub table: String,
    /// First id (inclusive).
    pub start: Vec<u8>,
    /// End id (exclusive); `None` runs to the end of the table.
    pub end: Option<Vec<u8>>,
    /// Most records returned.
    pub limit: u32,
}

/// Most records of a namespace a status report counts on one node (the
/// count stops there and the report says "at least").
pub const LOCAL_COUNT_MAX: usize = 10_000;

/// Largest `limit` of a scan.
pub const SCAN_LIMIT_MAX: u32 = 10_000;

/// Most parameters one query may carry.
pub const QUERY_PARAMS_MAX: usize = 1_024;

/// A zeroql query: see the module documentation for the wire format.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QueryRequest {
    /// Namespace the statements start in.
    pub namespace: String,
    /// Database the statements start in.
    pub database: String,
    /// The zeroql text: one or more statements separated by `;`.
    pub text: String,
    /// `$name` -> value encoded with the query crate's value codec, at most
    /// [`QUERY_PARAMS_MAX`].
    pub params: Vec<(String, Vec<u8>)>,
}

/// What kind of failure stopped a query, so that a program (and the exit
/// code of `zerodb sql`) can act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum QueryErrorKind {
    /// The text does not parse, names something unknown, or a statement
    /// cannot run (wrong kinds, unsupported form, too large): fix the query.
    Invalid,
    /// A statement broke a rule of the data: the record exists, a unique
    /// index holds the value, a field's type, `ASSERT` or `READONLY`.
    /// Nothing of it was written.
    Violation,
    /// The statement kept conflicting with concurrent transactions after
    /// every retry; nothing of it was written. Retry later.
    Conflict,
    /// The cluster could not serve a read or the commit; nothing of the
    /// statement was written. Retry later.
    Unavailable,
    /// The commit of the statement timed out: it may or may not have been
    /// applied. Read before retrying.
    OutcomeUnknown,
    /// The caller may not do this, or the namespace cannot run zeroql (the
    /// system namespace), or not this statement (a `BEGIN ... COMMIT` block
    /// or a uniqueness rule in an eventual namespace).
    Refused,
    /// A stored value did not decode, or the node failed.
    Internal,
    /// An [`ExecuteRequest`] named a handle this node does not hold:
    /// prepare the text again on it (nothing ran).
    UnknownStatement,
}

/// Why a query stopped.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QueryError {
    /// What kind of failure.
    pub kind: QueryErrorKind,
    /// The message for a person, rendered with line, column and caret when
    /// it is about a place in the text.
    pub message: String,
}

/// The answer to a [`QueryRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QueryAnswer {
    /// One value per statement that ran, in the value codec.
    pub results: Vec<Vec<u8>>,
    /// Set when a statement failed; the statements of `results` ran.
    pub error: Option<QueryError>,
}

/// Prepare zeroql statements: parse them once on the receiving node, to
/// be run by [`ExecuteRequest`]s naming the handle.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PrepareRequest {
    /// Namespace the statements are meant to start in. Preparing reads no
    /// data, so nothing is checked against it; each execution names its
    /// own.
    pub namespace: String,
    /// Database the statements are meant to start in (as `namespace`).
    pub database: String,
    /// The zeroql text: one or more statements separated by `;`.
    pub text: String,
}

/// The answer to a [`PrepareRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PreparedStatement {
    /// The xxh3-64 hash of the text: the same on every node.
    pub handle: u64,
    /// How many statements the text holds (`BEGIN` and `COMMIT` included).
    pub statements: u32,
}

/// Run statements prepared with a [`PrepareRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ExecuteRequest {
    /// The handle [`PreparedStatement::handle`] gave.
    pub handle: u64,
    /// Namespace the statements start in.
    pub namespace: String,
    /// Database the statements start in.
    pub database: String,
    /// `$name` -> value in the query crate's value codec, as in
    /// [`QueryRequest::params`].
    pub params: Vec<(String, Vec<u8>)>,
}

/// A request to a node.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ClientRequest {
    /// A data operation or transaction, coordinated by the node.
    Data(Request),
    /// A scan of one table, gathered from every node (see [`ScanQuery`]).
    Scan(ScanQuery),
    /// Node to node: the records this node holds locally for a scan.
    LocalScan(ScanQuery),
    /// The cluster as this node sees it.
    Status,
    /// The cluster as this node sees it, with ownership of this
    /// namespace's data (its RF and regions).
    NamespaceStatus(String),
    /// This node's figures (the INFO surface).
    Info,
    /// Checkpoint this node's storage engine.
    Checkpoint,
    /// Validate this node's storage engine (ZeroDB engine only).
    Validate,
    /// Run zeroql statements, coordinated by the receiving node (see the
    /// module documentation).
    Query(QueryRequest),
    /// Parse zeroql statements once and keep them on the receiving node.
    Prepare(PrepareRequest),
    /// Run statements prepared on the receiving node.
    Execute(ExecuteRequest),
}

/// One record of a scan answer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ScanEntry {
    /// The record id.
    pub id: Vec<u8>,
    /// Its version and value (`None` for a tombstone in local scans).
    pub value: Versioned,
}

/// A member as a status report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct MemberStatus {
    /// Node id.
    pub id: u32,
    /// Its address.
    pub address: String,
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: String,
    /// Tokens it holds.
    pub tokens: u32,
    /// Share of the ring it replicates, in parts per million (with the
    /// default policy's replication factor).
    pub ownership_ppm: u32,
    /// Whether the reporting node considers it up.
    pub up: bool,
    /// Its health according to gossip: `up`, `suspect` or `down`.
    pub health: String,
    /// The cluster catalog version it holds: the reporting node's own, or
    /// what the member advertises in gossip (0: not known yet).
    pub catalog_version: u64,
}

/// The cluster as one node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StatusReport {
    /// The reporting node.
    pub node: u32,
    /// Ring epoch.
    pub ring_epoch: u64,
    /// Replication factor of the default policy.
    pub replication_factor: u32,
    /// Whether the reporting replica votes (`normal`) or is copying lost
    /// state (`recovering`).
    pub replica_status: String,
    /// Every member.
    pub members: Vec<MemberStatus>,
    /// For a namespace status: how many records of the namespace (values
    /// and tombstones) the reporting node holds on its own disk, counted
    /// up to [`LOCAL_COUNT_MAX`].
    pub local_records: Option<u64>,
}

/// One node's figures (the INFO surface and the metrics endpoint).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct InfoReport {
    /// The node.
    pub node: u32,
    /// Version of the node software.
    pub version: String,
    /// Wire protocol version.
    pub protocol_version: u8,
    /// Storage engine name.
    pub engine: String,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
    /// Client requests answered.
    pub requests: u64,
    /// Client requests answered with an error.
    pub request_errors: u64,
    /// Median request latency, microseconds.
    pub latency_p50_us: u64,
    /// 99th percentile request latency, microseconds.
    pub latency_p99_us: u64,
    /// 99.9th percentile request latency, microseconds.
    pub latency_p999_us: u64,
    /// Transactions and writes committed.
    pub committed: u64,
    /// Transactions aborted (conflict or failed condition).
    pub aborted: u64,
    /// Client requests in flight at this coordinator.
    pub in_flight: u64,
    /// Lock sets held by this replica.
    pub locks_held: u64,
    /// Engine syncs (group commits) by the runtime.
    pub batches_synced: u64,
    /// Blind writes this coordinator committed on the fast path (every
    /// replica prepared; one round trip).
    pub fast_path_commits: u64,
    /// Blind writes this coordinator committed on the classic path (a
    /// quorum prepared; `Decide` at the home replicas).
    pub classic_path_commits: u64,
    /// Inputs handled by the runtime.
    pub inputs_handled: u64,
    /// Records in the engine.
    pub records: u64,
    /// Bytes on disk.
    pub disk_bytes: u64,
    /// WAL bytes.
    pub wal_bytes: u64,
    /// WAL position.
    pub wal_position: u64,
    /// Checkpoints completed since open.
    pub checkpoints: u64,
    /// Page cache size, bytes.
    pub cache_bytes: u64,
    /// Page cache hits.
    pub cache_hits: u64,
    /// Page cache misses.
    pub cache_misses: u64,
    /// Members considered up (this node included).
    pub members_up: u32,
    /// Members considered down.
    pub members_down: u32,
    /// Bytes of the engine's data file (its log excluded).
    pub file_bytes: u64,
    /// Bytes the live data takes in the data file (ZeroDB's engine: pages
    /// in use at the last checkpoint times the page size; 0 when the engine
    /// cannot tell).
    pub live_bytes: u64,
    /// Bytes of the data file free for reuse (ZeroDB's engine: free pages
    /// times the page size; 0 when unknown).
    pub garbage_bytes: u64,
    /// Median request latency of the last 10 to 20 s, microseconds (0: no
    /// request in that time).
    pub recent_latency_p50_us: u64,
    /// 99th percentile request latency of the last 10 to 20 s,
    /// microseconds (0: no request in that time).
    pub recent_latency_p99_us: u64,
    /// Passes of the expiry sweep over this node's data finished.
    pub expiry_passes: u64,
    /// Eventual records whose TTL ran out that this node swept into
    /// tombstones.
    pub expired_tombstoned: u64,
    /// Expiring deletes of strong records this node committed.
    pub expiring_deletes_committed: u64,
}

/// The result of validating the storage engine.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ValidateReport {
    /// Pages checked.
    pub pages_checked: u64,
    /// Records found.
    pub records: u64,
    /// Problems found (empty when the engine is sound).
    pub problems: Vec<String>,
}

/// A node's answer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ClientResponse {
    /// Answer to [`ClientRequest::Data`].
    Data(Response),
    /// Answer to a scan: live records in id order.
    Scan(Vec<ScanEntry>),
    /// Answer to [`ClientRequest::Status`].
    Status(StatusReport),
    /// Answer to [`ClientRequest::Info`].
    Info(InfoReport),
    /// Answer to [`ClientRequest::Validate`].
    Validate(ValidateReport),
    /// Answer to an operation with nothing to report.
    Done,
    /// A node-level failure.
    Error(ServiceError),
    /// Answer to [`ClientRequest::Query`] and [`ClientRequest::Execute`]
    /// (and to a [`ClientRequest::Prepare`] whose text does not parse).
    Query(QueryAnswer),
    /// Answer to [`ClientRequest::Prepare`].
    Prepared(PreparedStatement),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};

    /// The tag of an encoded enum value: the byte after the version (the
    /// standard config writes small variant indices as one byte).
    fn tag<T: Encode>(value: &T) -> u8 {
        encode(value).unwrap()[1]
    }

    #[test]
    fn prepare_and_execute_are_appended_so_older_frames_keep_their_tags() {
        let query = ClientRequest::Query(QueryRequest {
            namespace: "ns".into(),
            database: "db".into(),
            text: "RETURN 1".into(),
            params: Vec::new(),
        });
        let prepare = ClientRequest::Prepare(PrepareRequest {
            namespace: "ns".into(),
            database: "db".into(),
            text: "RETURN $a".into(),
        });
        let execute = ClientRequest::Execute(ExecuteRequest {
            handle: u64::MAX - 1,
            namespace: "ns".into(),
            database: "db".into(),
            params: vec![("a".into(), vec![1, 2])],
        });
        assert_eq!(
            [tag(&query), tag(&prepare), tag(&execute)],
            [8, 9, 10],
            "Status is 3, Query 8: new variants go after them"
        );
        for request in [query, prepare, execute] {
            assert_eq!(
                decode::<ClientRequest>(&encode(&request).unwrap()).unwrap(),
                request
            );
        }
        let prepared = ClientResponse::Prepared(PreparedStatement {
            handle: 7,
            statements: 2,
        });
        assert_eq!(tag(&prepared), 8);
        assert_eq!(
            decode::<ClientResponse>(&encode(&prepared).unwrap()).unwrap(),
            prepared
        );
        assert_eq!(tag(&QueryErrorKind::Internal), 6);
        assert_eq!(tag(&QueryErrorKind::UnknownStatement), 7);
    }
}
