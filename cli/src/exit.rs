//! Exit codes of the `zerodb` command and the error that carries one.

use zerodb_txn::ClientError;

use zerodb_node::api::ServiceError;

/// Success.
pub const OK: u8 = 0;
/// `get`: the key holds no value.
pub const NOT_FOUND: u8 = 1;
/// Bad usage: unknown command, bad arguments, a malformed transaction.
pub const USAGE: u8 = 2;
/// A conflict (retry later) or a failed condition: nothing was written.
pub const CONFLICT: u8 = 3;
/// The cluster cannot serve the request now (no quorum, shutting down,
/// node unreachable before the request was sent): nothing was written.
pub const UNAVAILABLE: u8 = 4;
/// Timed out or the connection broke after sending: a write may or may
/// not have been applied; read before retrying.
pub const UNKNOWN_OUTCOME: u8 = 5;
/// Configuration, certificate or file problem.
pub const CONFIG: u8 = 6;
/// Storage error or an unexpected answer.
pub const INTERNAL: u8 = 7;

/// The text of `zerodb --help` about exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  1  not found (get of a key without a value)
  2  usage error (bad arguments, malformed transaction, refused request)
  3  conflict or failed condition: nothing written; retry or re-read
  4  unavailable (no quorum, node shutting down, no node reachable): nothing written
  5  timeout or connection lost after sending: outcome unknown, read before retrying
  6  configuration, certificate or file problem
  7  storage error or unexpected answer";

/// A failed command: the message for stderr and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// Exit code (see the constants of this module).
    pub code: u8,
    /// What went wrong and what to do.
    pub message: String,
}

impl CliError {
    /// An error with `code`.
    pub fn new(code: u8, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
        }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(USAGE, message)
    }

    /// A configuration problem.
    pub fn config(message: impl std::fmt::Display) -> CliError {
        CliError::new(CONFIG, message.to_string())
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit code of a data error.
pub fn client_error_code(error: &ClientError) -> u8 {
    match error {
        ClientError::Conflict { .. }
        | ClientError::ConditionFailed { .. }
        | ClientError::RangeChanged { .. } => CONFLICT,
        ClientError::Unavailable { .. } | ClientError::WrongEpoch { .. } => UNAVAILABLE,
        ClientError::Timeout {
            outcome_unknown: true,
        } => UNKNOWN_OUTCOME,
        ClientError::Timeout {
            outcome_unknown: false,
        } => UNAVAILABLE,
        ClientError::BadRequest { .. } => USAGE,
    }
}

/// The exit code of a node-level error.
pub fn service_error_code(error: &ServiceError) -> u8 {
    match error {
        ServiceError::ShuttingDown {
            outcome_unknown: true,
        } => UNKNOWN_OUTCOME,
        ServiceError::ShuttingDown { .. } | ServiceError::ScanIncomplete { .. } => UNAVAILABLE,
        ServiceError::Refused { .. } => USAGE,
        ServiceError::Storage(_) => INTERNAL,
    }
}

/// The exit code and message of a request that got no answer (or was
/// refused before it was sent).
pub fn client_failure(error: zerodb_client::Error) -> CliError {
    use zerodb_client::Error;
    let code = match &error {
        Error::Conflict { .. } | Error::ConditionFailed { .. } | Error::RangeChanged(_) => CONFLICT,
        Error::Unavailable(_)
        | Error::Timeout {
            outcome_unknown: false,
            ..
        } => UNAVAILABLE,
        Error::Timeout {
            outcome_unknown: true,
            ..
        } => UNKNOWN_OUTCOME,
        Error::BadRequest(_) => USAGE,
        Error::Config(_) => CONFIG,
        Error::Internal(_) => INTERNAL,
        Error::Query { kind, .. } => crate::sql::error_code(*kind),
    };
    CliError::new(code, error.to_string())
}
