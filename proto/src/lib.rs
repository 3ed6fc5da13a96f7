//! ZeroDB's wire types: what crosses the wire between clients and nodes.
//!
//! Owns: keys and versions ([`types`]), operations, requests and answers
//! ([`request`], [`api`]), the errors a client can act on ([`error`]), the
//! protocol version and the one codec that knows bincode ([`codec`]). Does
//! not own: the peer protocol between nodes (`zerodb_txn::Message`), how
//! frames travel (`zerodb_transport`), or what a node does with a request.
//!
//! This crate depends on no other ZeroDB crate, so a client needs nothing
//! of the server to speak to it.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
// `ClientError` is a wire type that carries the key and the value found.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod codec;
pub mod error;
pub mod request;
pub mod types;

pub use api::{
    ClientRequest, ClientResponse, ExecuteRequest, InfoReport, MemberStatus, PrepareRequest,
    PreparedStatement, QueryAnswer, QueryError, QueryErrorKind, QueryRequest, ScanEntry, ScanQuery,
    StatusReport, ValidateReport, QUERY_PARAMS_MAX, SCAN_LIMIT_MAX,
};
pub use codec::PROTOCOL_VERSION;
pub use error::{ClientError, CodecError, ServiceError};
pub use request::{
    decode_int, encode_int, ClientId, CompareOp, Condition, Level, Op, OpResult, RangeAssert,
    Request, Response, RANGE_ASSERT_RECORDS_MAX,
};
pub use types::{Epoch, Key, PartitionId, TxnId, Ver, Versioned};
