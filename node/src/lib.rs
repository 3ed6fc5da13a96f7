//! ZeroDB node: the per-node state machine that composes gossip and txn,
//! the runtime (tokio, quinn, rustls) and the `zerodb` binary.
//!
//! - [`core`]: the sans-IO node state machine (transaction layer plus
//!   membership and liveness).
//! - [`runtime`]: the tokio driver of one node: event loop, batching with
//!   one engine sync per batch, timers, shutdown, metrics endpoint.
//! - [`api`]: the wire types clients and nodes exchange.
//! - [`cli`]: the `zerodb` command line.
//! - [`transport`], [`tls`], [`certs`]: QUIC with mutual TLS.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod core;
pub mod runtime;
