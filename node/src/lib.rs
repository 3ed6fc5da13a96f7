//! ZeroDB node: the per-node state machine that composes gossip, the
//! transaction layer and the cluster catalog, and the runtime that drives
//! it.
//!
//! - [`core`]: the sans-IO node state machine (transaction layer plus
//!   membership, liveness, catalog, forwarding and purge). No clock, no
//!   sockets, no threads: the runtime and the simulator drive it.
//! - [`runtime`] (feature `runtime`, on by default): the tokio driver of one
//!   node: event loop, batching with one engine sync per batch, timers,
//!   shutdown, metrics endpoint, over `zerodb-transport`.
//! - [`api`]: the messages nodes exchange (client wire types come from
//!   `zerodb-proto`).
//!
//! The `zerodb` binary lives in `zerodb-cli`.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api;
pub mod core;
#[cfg(feature = "query")]
pub mod query;
#[cfg(feature = "runtime")]
pub mod runtime;
