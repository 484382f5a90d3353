//! Every refusal a caller can get, each a case a console or an agency's server can act on.

use crate::fields::FieldErrors;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ApiError {
    #[error("check the highlighted fields: {0}")]
    Fields(FieldErrors),
    /// Never says which of application, user or password was wrong.
    #[error("the application id, user id or password is not right: check them and sign in again")]
    BadCredentials,
    #[error(
        "this user is locked after too many failed sign-ins until {until}; a supervisor can unlock it sooner"
    )]
    Locked { until_ms: i64, until: String },
    #[error("the session has ended: sign in again")]
    SessionExpired,
    #[error("this user may not {action}")]
    Forbidden { action: String },
    #[error(
        "idempotency key {key:?} was already used for a different request: use a new key for each new payment or refund"
    )]
    IdempotencyConflict { key: String },
    /// What the caller saw is no longer so (a payment's refundable amount moved): the message
    /// names the figure as it is now.
    #[error("{message}")]
    Stale { message: String },
    #[error("no {what} matches {id:?}")]
    NotFound { what: String, id: String },
    #[error("{message}")]
    InvalidRequest { message: String },
    #[error(
        "CIP is busy ({reason}): try again in a moment; a retry with the same idempotency key is safe"
    )]
    Unavailable { reason: String },
}
