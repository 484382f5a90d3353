//! What the queue view shows: payments not settled yet, recent declines and failures, counts,
//! approval rate, amounts and processing latency over the last 1, 15 and 60 minutes, and the
//! day's refunds.

use crate::money::Money;
use crate::status::PaymentStatus;
use serde::{Deserialize, Serialize};

/// The windows the queue view compares, in minutes.
pub const WINDOWS_MINUTES: [u32; 3] = [1, 15, 60];

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowStats {
    pub minutes: u32,
    /// Payments decided in the window, by their status then.
    pub counts: Vec<(PaymentStatus, u64)>,
    /// Approved over decided, in tenths of a percent (1000 = all approved); `None` when none.
    pub approval_per_mille: Option<u32>,
    /// Approved amounts, one per currency.
    pub approved_amounts: Vec<Money>,
    /// Time from received to decided, in milliseconds.
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

impl WindowStats {
    pub fn count(&self, status: PaymentStatus) -> u64 {
        self.counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }
}

/// A payment the queue view lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    pub payment_id: String,
    pub application: String,
    pub status: PaymentStatus,
    pub amount: Money,
    /// How long since it was received.
    pub age_ms: i64,
    pub code: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub at_ms: i64,
    /// One per entry of `WINDOWS_MINUTES`.
    pub windows: Vec<WindowStats>,
    /// Payments decided per minute over the last hour, oldest first (60 values).
    pub per_minute: Vec<u64>,
    /// Payments `processing` or `in_doubt`, oldest first.
    pub unsettled: Vec<QueueItem>,
    /// Declines and failures of the last hour, newest first.
    pub recent_failures: Vec<QueueItem>,
    #[serde(default)]
    pub refunds_today: RefundsToday,
}

/// Refunds of the day so far, in the time zone of the application signed in to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundsToday {
    /// Refunds that succeeded today.
    pub succeeded: u64,
    /// What they gave back, one amount per currency.
    pub refunded: Vec<Money>,
    /// Refunds the processor declined today.
    pub failed: u64,
    /// Refunds still waiting on the processor, whenever asked.
    pub pending: u64,
}
