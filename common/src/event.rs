//! Events: every committed change a feed shows, numbered by `seq` in commit order: payments as
//! they move, and security events (sign-ins, failures, lockouts, unlocks) for supervisors.

use crate::money::Money;
use crate::payment::Mode;
use crate::refund::RefundStatus;
use crate::status::PaymentStatus;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// An approval turned up for a payment CIP had reported not charged: CIP is voiding it.
    PaymentLateApproval,
    /// That late approval is voided: nothing stays charged.
    PaymentLateApprovalVoided,
    /// The agency's callback took the notification of a paid hand-off.
    AgencyNotified,
    /// A notification attempt failed; it is tried again later.
    AgencyNotifyFailed,
    /// A batch report's file is complete in the agency's outbox.
    BatchTransmitted,
    /// A refund is committed and on its way to the processor.
    RefundRequested,
    RefundSucceeded,
    /// The processor declined a refund: nothing was given back.
    RefundFailed,
    SignIn,
    SignInFailed,
    Lockout,
    Unlock,
}

impl EventKind {
    pub const ALL: [EventKind; 19] = [
        EventKind::PaymentReceived,
        EventKind::PaymentApproved,
        EventKind::PaymentDeclined,
        EventKind::PaymentFailed,
        EventKind::PaymentInDoubt,
        EventKind::PaymentResolved,
        EventKind::PaymentVoided,
        EventKind::PaymentLateApproval,
        EventKind::PaymentLateApprovalVoided,
        EventKind::AgencyNotified,
        EventKind::AgencyNotifyFailed,
        EventKind::BatchTransmitted,
        EventKind::RefundRequested,
        EventKind::RefundSucceeded,
        EventKind::RefundFailed,
        EventKind::SignIn,
        EventKind::SignInFailed,
        EventKind::Lockout,
        EventKind::Unlock,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EventKind::PaymentReceived => "payment.received",
            EventKind::PaymentApproved => "payment.approved",
            EventKind::PaymentDeclined => "payment.declined",
            EventKind::PaymentFailed => "payment.failed",
            EventKind::PaymentInDoubt => "payment.in_doubt",
            EventKind::PaymentResolved => "payment.resolved",
            EventKind::PaymentVoided => "payment.voided",
            EventKind::PaymentLateApproval => "payment.late_approval",
            EventKind::PaymentLateApprovalVoided => "payment.late_approval_voided",
            EventKind::AgencyNotified => "agency.notified",
            EventKind::AgencyNotifyFailed => "agency.notify_failed",
            EventKind::BatchTransmitted => "batch.transmitted",
            EventKind::RefundRequested => "refund.requested",
            EventKind::RefundSucceeded => "refund.succeeded",
            EventKind::RefundFailed => "refund.failed",
            EventKind::SignIn => "security.sign_in",
            EventKind::SignInFailed => "security.sign_in_failed",
            EventKind::Lockout => "security.lockout",
            EventKind::Unlock => "security.unlock",
        }
    }

    pub fn from_code(code: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Sign-ins, failures, lockouts and unlocks: shown to supervisors only.
    pub fn is_security(self) -> bool {
        matches!(
            self,
            EventKind::SignIn | EventKind::SignInFailed | EventKind::Lockout | EventKind::Unlock
        )
    }

    /// The event a refund's move into `status` produces.
    pub fn for_refund(status: RefundStatus) -> EventKind {
        match status {
            RefundStatus::Pending => EventKind::RefundRequested,
            RefundStatus::Succeeded => EventKind::RefundSucceeded,
            RefundStatus::Failed => EventKind::RefundFailed,
        }
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

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "subject")]
pub enum EventDetail {
    Payment {
        payment_id: String,
        /// The payment's status after this event.
        status: PaymentStatus,
        amount: Money,
        confirmation_code: Option<String>,
        /// Decline or failure code.
        code: Option<String>,
        last_four: String,
        payer_name: String,
        /// Who keyed the payment: the agent in full mode, the agency's API user otherwise.
        keyed_by: String,
        /// The channel it came through: gateway, partial (hosted page) or full (console).
        mode: Mode,
    },
    Security {
        /// The user the event is about (who signed in, who was locked or unlocked).
        user: String,
        /// Who acted, when not the user (the supervisor or operator who unlocked).
        actor: Option<String>,
        /// Where from: a socket peer, the command line.
        origin: String,
    },
    /// A refund of a payment, as it moves.
    Refund {
        refund_id: String,
        payment_id: String,
        /// The refund's status after this event.
        status: RefundStatus,
        /// What the refund gives back.
        amount: Money,
        /// The processor's code when it declined.
        code: Option<String>,
        last_four: String,
        payer_name: String,
        /// The supervisor or `api` user who asked for it.
        asked_by: String,
    },
    /// A batch report, for supervisors.
    Batch {
        batch_id: String,
        payment_count: u64,
        /// What its approved payments come to.
        approved: Money,
        /// Who ran it: an operator at the command line, or `schedule`.
        actor: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The event's place in the feed, rising in commit order: a feed resumes after the last seq
    /// it showed. On SQLite seqs follow one another; on PostgreSQL they leave gaps.
    pub seq: u64,
    pub at_ms: i64,
    pub kind: EventKind,
    /// The application concerned; `None` for a security event that names no application.
    pub application: Option<String>,
    pub detail: EventDetail,
}

impl Event {
    /// What the event says beyond its kind, in a few words: a payment's status and its
    /// confirmation or decline code, a refund's status, amount and code, the user, the batch.
    pub fn summary(&self) -> String {
        match &self.detail {
            EventDetail::Payment {
                status,
                confirmation_code,
                code,
                ..
            } => {
                let extra = confirmation_code.as_ref().or(code.as_ref());
                format!("{status} {}", extra.map_or("", String::as_str))
            }
            EventDetail::Refund {
                status,
                amount,
                code,
                ..
            } => format!("{status} {amount} {}", code.as_deref().unwrap_or_default()),
            EventDetail::Security { user, .. } => user.clone(),
            EventDetail::Batch { batch_id, .. } => batch_id.clone(),
        }
    }

    pub fn payment_id(&self) -> Option<&str> {
        match &self.detail {
            EventDetail::Payment { payment_id, .. } | EventDetail::Refund { payment_id, .. } => {
                Some(payment_id)
            }
            EventDetail::Security { .. } | EventDetail::Batch { .. } => None,
        }
    }
}

/// An answer to `events`: what the session may see after `after_seq`, and where to go on from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBatch {
    pub events: Vec<Event>,
    /// Ask for events after this next time (the last seq examined, even if none was visible).
    pub next_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_security_is_told_apart() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_code(kind.code()), Some(kind));
            assert_eq!(kind.is_security(), kind.code().starts_with("security."));
        }
    }
}
