//! What can go wrong, typed so that programs can act on it.

use zerodb_proto::api::QueryErrorKind;
use zerodb_proto::{ClientError, Condition, Key, ServiceError, TxnId, Versioned};
use zerodb_transport::TransportError;

/// A failed client call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Another transaction held a lock after every retry; nothing was
    /// written. Retry later.
    #[error("conflict on {key}: held by {holder:?}; nothing was written, retry later")]
    Conflict {
        /// The contended key.
        key: Key,
        /// The transaction holding it.
        holder: TxnId,
    },
    /// An assertion did not hold; the transaction wrote nothing.
    #[error("condition {condition:?} on {key} failed (found {found:?}); nothing was written")]
    ConditionFailed {
        /// The key checked.
        key: Key,
        /// The condition.
        condition: Condition,
        /// What was found.
        found: Option<Versioned>,
    },
    /// A range the transaction asserted changed since it was read (a
    /// record inserted, deleted or updated in it); nothing was written.
    #[error("{0}; nothing was written")]
    RangeChanged(String),
    /// No node could serve the request (no quorum, shutting down, none
    /// reachable); nothing was written.
    #[error("unavailable: {0}; nothing was written, retry later")]
    Unavailable(String),
    /// No answer in time, or the connection broke after the request left.
    /// `outcome_unknown`: a write may have been applied; read before
    /// retrying it.
    #[error("timed out (outcome unknown: {outcome_unknown}): {detail}")]
    Timeout {
        /// Whether a write may have been applied.
        outcome_unknown: bool,
        /// What happened.
        detail: String,
    },
    /// The request is malformed or refused; fix it.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Certificates or settings are unusable.
    #[error("client configuration: {0}")]
    Config(String),
    /// A zeroql query stopped: the message is rendered for a person (line,
    /// column and caret when it is about the text). `kind` says what to do.
    #[error("{message}")]
    Query {
        /// What kind of failure.
        kind: QueryErrorKind,
        /// The rendered message.
        message: String,
    },
    /// The node answered something unexpected or its storage failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Whether the request certainly had no effect, so that retrying it
    /// (on any node) is safe.
    pub fn not_applied(&self) -> bool {
        matches!(
            self,
            Error::Unavailable(_)
                | Error::Timeout {
                    outcome_unknown: false,
                    ..
                }
        )
    }
}

impl From<ClientError> for Error {
    fn from(error: ClientError) -> Error {
        match error {
            ClientError::Conflict { key, holder } => Error::Conflict { key, holder },
            ClientError::ConditionFailed {
                key,
                condition,
                found,
            } => Error::ConditionFailed {
                key,
                condition,
                found,
            },
            error @ ClientError::RangeChanged { .. } => Error::RangeChanged(error.to_string()),
            error @ (ClientError::Unavailable { .. } | ClientError::WrongEpoch { .. }) => {
                Error::Unavailable(error.to_string())
            }
            ClientError::Timeout { outcome_unknown } => Error::Timeout {
                outcome_unknown,
                detail: "the coordinator gave up".into(),
            },
            ClientError::BadRequest { reason } => Error::BadRequest(reason),
        }
    }
}

impl From<ServiceError> for Error {
    fn from(error: ServiceError) -> Error {
        match error {
            ServiceError::ShuttingDown {
                outcome_unknown: true,
            } => Error::Timeout {
                outcome_unknown: true,
                detail: error.to_string(),
            },
            ServiceError::ShuttingDown { .. } | ServiceError::ScanIncomplete { .. } => {
                Error::Unavailable(error.to_string())
            }
            ServiceError::Refused { reason } => Error::BadRequest(reason),
            ServiceError::Storage(reason) => Error::Internal(reason),
        }
    }
}

/// A transport failure of a request that was sent.
pub(crate) fn from_transport(error: TransportError) -> Error {
    match error {
        TransportError::Tls(_) | TransportError::Identity(_) | TransportError::WrongPeer { .. } => {
            Error::Config(error.to_string())
        }
        TransportError::Connect { .. } | TransportError::UnknownPeer(_) => {
            Error::Unavailable(error.to_string())
        }
        TransportError::Remote { .. } | TransportError::Frame { .. } => {
            Error::Internal(error.to_string())
        }
        other => Error::Timeout {
            outcome_unknown: true,
            detail: other.to_string(),
        },
    }
}
