//! Events: every committed change a feed shows, numbered by `seq` in commit order.

use crate::money::Money;
use crate::status::PaymentStatus;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    PaymentReceived,
    PaymentApproved,
    PaymentDeclined,
    PaymentFailed,
    PaymentInDoubt,
    /// An in-doubt payment was settled by asking the processor.
    PaymentResolved,
    PaymentVoided,
}

impl EventKind {
    pub fn code(self) -> &'static str {
        match self {
            EventKind::PaymentReceived => "payment.received",
            EventKind::PaymentApproved => "payment.approved",
            EventKind::PaymentDeclined => "payment.declined",
            EventKind::PaymentFailed => "payment.failed",
            EventKind::PaymentInDoubt => "payment.in_doubt",
            EventKind::PaymentResolved => "payment.resolved",
            EventKind::PaymentVoided => "payment.voided",
        }
    }

    pub fn from_code(code: &str) -> Option<EventKind> {
        use EventKind::*;
        [
            PaymentReceived,
            PaymentApproved,
            PaymentDeclined,
            PaymentFailed,
            PaymentInDoubt,
            PaymentResolved,
            PaymentVoided,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }

    /// The event a payment's move into `status` produces.
    pub fn for_status(status: PaymentStatus, resolved: bool) -> EventKind {
        match status {
            _ if resolved => EventKind::PaymentResolved,
            PaymentStatus::Processing => EventKind::PaymentReceived,
            PaymentStatus::Approved => EventKind::PaymentApproved,
            PaymentStatus::Declined => EventKind::PaymentDeclined,
            PaymentStatus::Failed => EventKind::PaymentFailed,
            PaymentStatus::InDoubt => EventKind::PaymentInDoubt,
            PaymentStatus::Voided => EventKind::PaymentVoided,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Commit order, gap-free per database: a feed resumes after the last seq it showed.
    pub seq: u64,
    pub at_ms: i64,
    pub kind: EventKind,
    pub application: String,
    pub payment_id: String,
    pub status: PaymentStatus,
    pub amount: Money,
    pub confirmation_code: Option<String>,
    /// Decline or failure code.
    pub code: Option<String>,
}

/// An answer to `events`: what the session may see after `after_seq`, and where to go on from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBatch {
    pub events: Vec<Event>,
    /// Ask for events after this next time (the last seq examined, even if none was visible).
    pub next_seq: u64,
}
