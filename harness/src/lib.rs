//! ZeroDB's real-process harness: `zerodb start` processes, each in its own
//! network namespace, under kill -9, SIGSTOP/SIGCONT, two-way and one-way
//! partitions (blackhole routes) and clock offsets (libfaketime), while
//! clients drive register and bank workloads through `zerodb-client`; the
//! simulator's checkers judge the recorded histories (DESIGN.md section 11,
//! "Real processes").
//!
//! Owns: the namespaces and links it creates ([`net`]), the node processes
//! ([`cluster`]), the fault schedule ([`nemesis`]), the workloads
//! ([`workload`]) and the verdict ([`check`]); [`run`] ties them together.
//! Does not own: the checkers and history types (`zerodb-sim`, used
//! unchanged) or anything of the server (it runs the `zerodb` binary).
//!
//! Linux only, as root: `ip netns` needs it.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod check;
pub mod cluster;
pub mod nemesis;
pub mod net;
pub mod ranges;
pub mod run;
pub mod ttl;
pub mod workload;

/// Why a run could not be carried out (anomalies are not errors: they are
/// the run's result).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The machine, the namespaces or the cluster could not be set up.
    #[error("setup: {0}")]
    Setup(String),
    /// The cluster never became available.
    #[error("the cluster did not become available: {0}")]
    Unavailable(String),
    /// The run was interrupted (Ctrl-C); everything was cleaned up.
    #[error("interrupted; namespaces, processes and the run folder (unless --keep) were removed")]
    Interrupted,
}
