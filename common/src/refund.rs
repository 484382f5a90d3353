//! Refunds: money given back from an approved payment to the card or account it was paid with.
//! Each is a record of its own with one table of allowed moves, and the refunds of a payment
//! that succeeded or are still pending never come to more than it was paid.

use crate::error::ApiError;
use crate::fields::FieldErrors;
use crate::free_text::refuse_card_number;
use crate::money::Money;
use crate::payment::Payment;
use crate::status::PaymentStatus;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why money is given back, as an agency's finance office files it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// The payer paid the same thing twice.
    Duplicate,
    RequestedByCustomer,
    Fraudulent,
    Other,
}

impl RefundReason {
    pub const ALL: [RefundReason; 4] = [
        RefundReason::Duplicate,
        RefundReason::RequestedByCustomer,
        RefundReason::Fraudulent,
        RefundReason::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RefundReason::Duplicate => "duplicate",
            RefundReason::RequestedByCustomer => "requested_by_customer",
            RefundReason::Fraudulent => "fraudulent",
            RefundReason::Other => "other",
        }
    }

    pub fn from_code(code: &str) -> Option<RefundReason> {
        RefundReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The reason in words, for a person choosing it.
    pub fn label(self) -> &'static str {
        match self {
            RefundReason::Duplicate => "duplicate payment",
            RefundReason::RequestedByCustomer => "requested by the customer",
            RefundReason::Fraudulent => "fraudulent",
            RefundReason::Other => "other",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Committed before the processor is asked, and while its answer is not known: it counts
    /// against what may still be refunded.
    Pending,
    Succeeded,
    /// The processor declined it: nothing was given back.
    Failed,
}

/// Every allowed move. A pending refund whose answer was lost is settled by sending it again
/// under its own reference, which the processor makes once.
const TRANSITIONS: [(RefundStatus, RefundStatus); 2] = [
    (RefundStatus::Pending, RefundStatus::Succeeded),
    (RefundStatus::Pending, RefundStatus::Failed),
];

impl RefundStatus {
    pub const ALL: [RefundStatus; 3] = [
        RefundStatus::Pending,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    pub fn can_become(self, next: RefundStatus) -> bool {
        TRANSITIONS.contains(&(self, next))
    }

    pub fn code(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn from_code(code: &str) -> Option<RefundStatus> {
        RefundStatus::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refund as CIP records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// CIP's refund id, also the processor's reference for it: `ref_…`.
    pub id: String,
    pub payment_id: String,
    pub application: String,
    /// In the payment's currency.
    pub amount: Money,
    pub reason: RefundReason,
    pub note: String,
    pub status: RefundStatus,
    /// The processor's code when it declined.
    pub code: Option<String>,
    pub idempotency_key: String,
    /// The supervisor or `api` user who asked for it.
    pub asked_by: String,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
    /// The batch report that took it to the agency: the first after it was decided.
    #[serde(default)]
    pub batch_id: Option<String>,
}

/// What a supervisor or an agency's server asks to give back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// In the payment's currency's minor units.
    pub amount_minor: i64,
    pub reason: RefundReason,
    #[serde(default)]
    pub note: String,
    /// What the asker saw as still refundable: when that is no longer so, the refund is
    /// refused and the answer names the figure as it is now.
    #[serde(default)]
    pub expected_refundable_minor: Option<i64>,
}

/// The longest note a refund keeps, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

impl RefundRequest {
    /// Every field that is wrong whatever the payment, each named with what to do.
    pub fn check(&self) -> Result<(), ApiError> {
        let mut errors = FieldErrors::default();
        if self.amount_minor <= 0 {
            errors.add("amount_minor", "enter an amount above zero to refund");
        }
        if self.note.chars().count() > MAX_NOTE_CHARS {
            errors.add(
                "note",
                format!("shorten the note to at most {MAX_NOTE_CHARS} characters"),
            );
        } else {
            refuse_card_number(&mut errors, "note", &self.note);
        }
        errors.into_result().map_err(ApiError::Fields)
    }
}

/// What has been given back of a payment, kept with it and moved in the same transaction as
/// its refunds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundTotals {
    /// Refunds that succeeded.
    pub refunded_minor: i64,
    /// Refunds still waiting on the processor's answer.
    pub pending_minor: i64,
}

/// How much of a payment has been given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    None,
    Partial,
    Full,
}

impl RefundState {
    pub fn code(self) -> &'static str {
        match self {
            RefundState::None => "none",
            RefundState::Partial => "partial",
            RefundState::Full => "full",
        }
    }
}

impl Payment {
    /// What may still be refunded: an approved payment's amount less its refunds that succeeded
    /// or are pending; nothing for any other status.
    pub fn refundable(&self) -> Money {
        let minor = if self.status == PaymentStatus::Approved {
            self.amount.minor - self.refunds.refunded_minor - self.refunds.pending_minor
        } else {
            0
        };
        Money::new(minor, self.amount.currency)
    }

    pub fn refunded(&self) -> Money {
        Money::new(self.refunds.refunded_minor, self.amount.currency)
    }

    pub fn refund_state(&self) -> RefundState {
        match self.refunds.refunded_minor {
            0 => RefundState::None,
            r if r >= self.amount.minor => RefundState::Full,
            _ => RefundState::Partial,
        }
    }
}

/// CIP's refund id: `ref_`, then time-sorted like a payment id.
pub fn refund_id(now_ms: i64, random: u64) -> String {
    crate::payment::time_sorted_id("ref_", now_ms, random)
}

#[cfg(test)]
mod tests {
    use super::RefundStatus::{self, *};
    use super::*;

    /// The whole table, state by state: a new state or move must be added here too.
    #[test]
    fn every_state_has_exactly_its_moves() {
        let expected: [(RefundStatus, &[RefundStatus]); 3] = [
            (Pending, &[Succeeded, Failed]),
            (Succeeded, &[]),
            (Failed, &[]),
        ];
        assert_eq!(expected.len(), RefundStatus::ALL.len());
        for (from, allowed) in expected {
            for to in RefundStatus::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn codes_round_trip() {
        for s in RefundStatus::ALL {
            assert_eq!(RefundStatus::from_code(s.code()), Some(s));
        }
        for r in RefundReason::ALL {
            assert_eq!(RefundReason::from_code(r.code()), Some(r));
        }
    }

    #[test]
    fn a_request_names_each_wrong_field() {
        let mut request = RefundRequest {
            amount_minor: 0,
            reason: RefundReason::Duplicate,
            note: "card 4242 4242 4242 4242".to_owned(),
            expected_refundable_minor: None,
        };
        let Err(ApiError::Fields(errors)) = request.check() else {
            panic!("refused");
        };
        assert!(errors.get("amount_minor").is_some());
        assert!(
            errors
                .get("note")
                .is_some_and(|m| m.contains("card number"))
        );
        request.amount_minor = 1;
        request.note = "x".repeat(MAX_NOTE_CHARS + 1);
        let Err(ApiError::Fields(errors)) = request.check() else {
            panic!("refused");
        };
        assert!(errors.get("note").is_some_and(|m| m.contains("500")));
        request.note = "paid twice at the desk".to_owned();
        assert_eq!(request.check(), Ok(()));
    }
}
