//! History checkers: pure functions from a recorded history to a verdict.
//!
//! Every checker here has been shown to catch hand-made bad histories in its
//! tests; a checker is only trusted after it has caught a known-bad run.

pub mod bank;
pub mod convergence;
pub mod documents;
pub mod durability;
pub mod elle;
pub mod graph;
pub mod ranges;
pub mod register;
pub mod rest;
pub mod scan;
pub mod ttl;

/// A history the checkers cannot interpret (a bug in the recorder, not an
/// anomaly of the system under test).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// An operation's result does not fit its request.
    #[error(
        "history operation #{index} is malformed: {reason}; fix the recorder that produced it"
    )]
    Malformed {
        /// Index of the operation in the history.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}
