//! ZeroDB node: the per-node state machine that composes gossip and txn,
//! the runtime (tokio, quinn, rustls) and the `zerodb` binary.
#![forbid(unsafe_code)]

pub mod certs;
pub mod tls;
pub mod transport;
