//! Reports on the wire: which payments an export takes, a CSV export in chunks, and a day's
//! reconciliation. Days are the application's local days (its `time_zone`).

use crate::form::MethodKind;
use crate::money::Money;
use crate::payment::{Mode, Payment};
use crate::refund::RefundStatus;
use crate::status::PaymentStatus;
use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};

/// Which of an application's payments an export (or a staff page's list) takes: created from
/// `from` (at `from_at`, or the day's start) up to and including `to` (its minute `to_at`, or the
/// day's end), in the application's local time, and matching every other filter given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFilter {
    pub application: String,
    pub from: Option<Date>,
    pub from_at: Option<Time>,
    pub to: Option<Date>,
    pub to_at: Option<Time>,
    pub status: Option<PaymentStatus>,
    pub mode: Option<Mode>,
    /// Only payments some of whose amount went back to the payer.
    pub refunded: bool,
    /// As a person types it: any case, spaces, hyphens, O for 0.
    pub confirmation_code: Option<String>,
    pub payment_id: Option<String>,
    pub last_four: Option<String>,
    /// Part of the payer's name or email, any case.
    pub payer: Option<String>,
    pub min_amount_minor: Option<i64>,
    pub max_amount_minor: Option<i64>,
    /// Only the payments this batch report (`bat_…`) took to the agency.
    pub batch: Option<String>,
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
