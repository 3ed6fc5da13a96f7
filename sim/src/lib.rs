//! ZeroDB deterministic cluster simulator: simulated network, clocks and
//! disks, fault injection, workloads and history checkers (DESIGN.md
//! section 11).
//!
//! Owns: recorded client histories ([`history`]) and the checkers that judge
//! them ([`check`]). Does not own any protocol logic: the simulator drives the
//! node core ([`zerodb_node::core::NodeCore`], built without the tokio
//! runtime) with the runtime's batch semantics ([`driver`]), so catalog
//! changes, forwarding, purges and gossip run under seeds like the
//! transaction protocol.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod check;
pub mod clock;
pub mod cluster;
pub mod disk;
mod disk_faults;
pub mod driver;
pub mod faults;
pub mod history;
mod inject;
pub mod membership_gossip;
pub mod net;
pub mod queue;
pub mod run;
pub mod run_config;
pub mod workload;
