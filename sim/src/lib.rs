//! ZeroDB deterministic cluster simulator: simulated network, clocks and
//! disks, fault injection, workloads and history checkers (DESIGN.md
//! section 11).
//!
//! Owns: recorded client histories ([`history`]) and the checkers that judge
//! them ([`check`]). Does not own any protocol logic: the simulator drives the
//! same sans-IO state machines the real node runs.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod check;
pub mod clock;
pub mod cluster;
pub mod disk;
pub mod faults;
pub mod history;
mod inject;
pub mod membership_gossip;
pub mod net;
pub mod queue;
pub mod run;
pub mod workload;
