//! Where a hand-off stands, from its payments: the one state machine of partial mode.

use crate::store::handoffs::Handoff;
use cip_common::payment::Payment;
use cip_common::status::PaymentStatus;
use serde::Serialize;

/// Where a hand-off stands. It is open until a payment for it is approved (a declined or failed
/// attempt leaves it open for another), pending while an attempt's outcome is unknown, and
/// expired once its link's time is up with nothing paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Open,
    Pending,
    Paid,
    Voided,
    Expired,
}

impl Standing {
    /// Where `handoff` stands at `now_ms`, given the payment that counts (see [`counting`]).
    pub fn of(handoff: &Handoff, payment: Option<&Payment>, now_ms: i64) -> Standing {
        match payment.map(|p| p.status) {
            Some(PaymentStatus::Approved) => Standing::Paid,
            Some(PaymentStatus::Voided) => Standing::Voided,
            Some(PaymentStatus::Processing | PaymentStatus::InDoubt) => Standing::Pending,
            _ if now_ms >= handoff.expires_ms => Standing::Expired,
            _ => Standing::Open,
        }
    }
}

/// Of a hand-off's payments (oldest first), the one that says where it stands: the paid (or
/// voided) one, else one still being decided, else the latest attempt.
pub fn counting(payments: Vec<Payment>) -> Option<Payment> {
    let rank = |p: &Payment| match p.status {
        PaymentStatus::Approved | PaymentStatus::Voided => 2,
        PaymentStatus::Processing | PaymentStatus::InDoubt => 1,
        PaymentStatus::Declined | PaymentStatus::Failed => 0,
    };
    payments.into_iter().max_by_key(rank)
}

/// Whether the form that sent `payment` is done with: a declined or failed attempt is final, so
/// the next attempt is a new payment under a new key.
pub fn attempt_is_over(payment: &Payment) -> bool {
    matches!(
        payment.status,
        PaymentStatus::Declined | PaymentStatus::Failed
    )
}
