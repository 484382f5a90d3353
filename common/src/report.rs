//! Reports on the wire: which payments an export takes, a CSV export in chunks, and a day's
//! reconciliation. Days are the application's local days (its `time_zone`).

use crate::form::MethodKind;
use crate::money::Money;
use crate::payment::{Mode, Payment};
use crate::refund::RefundStatus;
use crate::status::PaymentStatus;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Which of an application's payments an export takes: created from the start of `from` to the
/// end of `to` (local days, both optional), with the given status and mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFilter {
    pub application: String,
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub status: Option<PaymentStatus>,
    pub mode: Option<Mode>,
}

/// Part of a CSV export: the header and the first rows when asked from the start, then the
/// rows after the last payment of the previous part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPart {
    pub csv: String,
    pub rows: u32,
    /// Ask for the rows after this payment next; `None`: the export is complete.
    pub next_after: Option<String>,
}

/// One line of a reconciliation: the payments of one status and method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationLine {
    pub status: PaymentStatus,
    pub method: MethodKind,
    pub count: u64,
    pub total: Money,
}

/// Refunds of one status: decided on the day (or asked for by its end and still pending),
/// counted and totalled, the total negative (what went back to payers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundReconciliationLine {
    pub status: RefundStatus,
    pub count: u64,
    pub total: Money,
}

/// An application's payments created on one local day, counted and totalled by status and
/// method, with every one still in doubt (or still processing) listed, and beside them the
/// refunds decided that day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub application: String,
    pub day: Date,
    pub time_zone: String,
    pub lines: Vec<ReconciliationLine>,
    /// How many of the day's payments batch reports have taken to the agency, and how many not.
    pub reported: u64,
    pub unreported: u64,
    pub unsettled: Vec<Payment>,
    #[serde(default)]
    pub refunds: Vec<RefundReconciliationLine>,
}

impl Reconciliation {
    /// What the day moved to the agency: its approved payments less the refunds that succeeded
    /// on it; `None` when it had neither.
    pub fn net(&self) -> Option<Money> {
        let approved = self
            .lines
            .iter()
            .filter(|l| l.status == PaymentStatus::Approved)
            .map(|l| l.total);
        let refunded = self
            .refunds
            .iter()
            .filter(|l| l.status == RefundStatus::Succeeded)
            .map(|l| l.total);
        approved
            .chain(refunded)
            .reduce(|sum, t| Money::new(sum.minor + t.minor, sum.currency))
    }
}
