//! ZeroDB Rust client library: connects with a client certificate to a
//! random node of a seed list (the node coordinates the request) and
//! speaks the node's wire API.
//!
//! - [`Client::get`], [`Client::put`], [`Client::delete`], [`Client::scan`],
//!   [`Client::transaction`]: async, typed errors ([`Error`]).
//! - [`Client::query`]: zeroql statements, run by the node connected to;
//!   parameters and results are zeroql [`Value`]s. [`Client::prepare`] and
//!   [`Client::execute`]: parse once, run many times ([`PreparedQuery`]);
//!   a node that does not hold the statement is given its text again.
//! - Retries: a call goes to another node when it is safe: reads always,
//!   writes only when the failure shows nothing was applied (no node
//!   reachable, no quorum, node shutting down before starting it). A write
//!   whose outcome is unknown returns [`Error::Timeout`] with
//!   `outcome_unknown: true`: read before retrying it.
//!
//! Dependencies: the wire types (`zerodb-proto`), the QUIC + mutual TLS
//! transport (`zerodb-transport`) and zeroql's values (`zerodb-query`, no
//! I/O) only; nothing of the server (no storage
//! engine, no gossip, no command line), so a program that embeds the
//! client builds quickly and small.
//!
//! ```no_run
//! use zerodb_client::{Client, ClientConfig, Key, Op};
//! # async fn demo() -> Result<(), zerodb_client::Error> {
//! let client = Client::connect(ClientConfig::dev("zerodb-dev".as_ref())?).await?;
//! let key = Key::new("default", "default", "kv", "hello");
//! client.put(&key, "world").await?;
//! let found = client.get(&key).await?;
//! assert_eq!(found.and_then(|v| v.value).as_deref(), Some(&b"world"[..]));
//! client.transaction(vec![Op::Incr(Key::new("default", "default", "kv", "n"), 1)]).await?;
//! # Ok(()) }
//! ```
//!
//! A runnable example: `cargo run -p zerodb-client --example quickstart`
//! against a running `zerodb dev`.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
// `Error::ConditionFailed` carries the key, condition and value found, as
// the txn crate's `ClientError` does; boxing it buys nothing measurable.
#![allow(clippy::result_large_err)]

mod client;
mod error;
mod prepared;

pub use client::{
    retry_safe, seeds_from_cluster_file, Client, ClientConfig, QueryOutput, ATTEMPTS_MAX_DEFAULT,
    QUERY_DATABASE_DEFAULT, QUERY_NAMESPACE_DEFAULT,
};
pub use error::Error;
pub use prepared::{PreparedQuery, REPREPARES_MAX};
pub use zerodb_proto::api::{ClientRequest, ClientResponse};
pub use zerodb_proto::api::{QueryError, QueryErrorKind};
pub use zerodb_proto::api::{ScanEntry, ScanQuery};
pub use zerodb_proto::{CompareOp, Condition, Key, Op, OpResult, RangeAssert, Ver, Versioned};
pub use zerodb_query::value::Value;
