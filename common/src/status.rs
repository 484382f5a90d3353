//! Payment states and the one table of allowed transitions.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Committed before the processor is called; the outcome is not known yet.
    Processing,
    Approved,
    Declined,
    /// The processor answered that nothing was charged.
    Failed,
    /// The processor did not answer in time: only an inquiry can tell what happened.
    InDoubt,
    Voided,
}

/// Every allowed move. `in_doubt` is resolved only by asking the processor, never by sending again.
const TRANSITIONS: [(PaymentStatus, PaymentStatus); 8] = {
    use PaymentStatus::*;
    [
        (Processing, Approved),
        (Processing, Declined),
        (Processing, Failed),
        (Processing, InDoubt),
        (InDoubt, Approved),
        (InDoubt, Failed),
        (Approved, Voided),
        // An inquiry after a crash may find a payment the processor declined.
        (InDoubt, Declined),
    ]
};

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Processing,
        PaymentStatus::Approved,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
        PaymentStatus::InDoubt,
        PaymentStatus::Voided,
    ];

    pub fn can_become(self, next: PaymentStatus) -> bool {
        TRANSITIONS.contains(&(self, next))
    }

    /// No further transition is possible.
    pub fn is_final(self) -> bool {
        !TRANSITIONS.iter().any(|(from, _)| *from == self)
    }

    /// The outcome is known (the caller can be answered with it).
    pub fn is_decided(self) -> bool {
        !matches!(self, PaymentStatus::Processing | PaymentStatus::InDoubt)
    }

    pub fn code(self) -> &'static str {
        match self {
            PaymentStatus::Processing => "processing",
            PaymentStatus::Approved => "approved",
            PaymentStatus::Declined => "declined",
            PaymentStatus::Failed => "failed",
            PaymentStatus::InDoubt => "in_doubt",
            PaymentStatus::Voided => "voided",
        }
    }

    pub fn from_code(code: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::PaymentStatus::{self, *};

    /// The whole table, state by state: a new state or transition must be added here too.
    #[test]
    fn every_state_has_exactly_its_transitions() {
        let expected: [(PaymentStatus, &[PaymentStatus]); 6] = [
            (Processing, &[Approved, Declined, Failed, InDoubt]),
            (Approved, &[Voided]),
            (Declined, &[]),
            (Failed, &[]),
            (InDoubt, &[Approved, Declined, Failed]),
            (Voided, &[]),
        ];
        assert_eq!(expected.len(), PaymentStatus::ALL.len());
        for (from, allowed) in expected {
            for to in PaymentStatus::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&to), "{from} -> {to}");
            }
            assert_eq!(from.is_final(), allowed.is_empty(), "{from}");
        }
    }

    #[test]
    fn in_doubt_is_never_sent_again() {
        assert!(!InDoubt.can_become(Processing));
        assert!(!Failed.can_become(Processing));
    }

    #[test]
    fn codes_round_trip() {
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::from_code(s.code()), Some(s));
        }
        assert_eq!(PaymentStatus::from_code("pending"), None);
    }
}
