//! The queue view's figures, kept in memory from the decisions committed (`engine/figures.rs`):
//! per application and minute of decision, counts by status now, approved amounts and a latency
//! histogram. Filled from the database at start, so a restart loses nothing of the last hour. A void moves its
//! payment from approved to voided in the minute it was decided: the figures read as the
//! payments do now, as reconciliation reads them, whether or not the daemon restarted between.

use cip_common::money::{Currency, Money};
use cip_common::stats::{WINDOWS_MINUTES, WindowStats};
use cip_common::status::PaymentStatus;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::watch;

const MINUTE_MS: i64 = 60_000;
/// Minutes kept: the longest window.
const KEPT_MINUTES: i64 = 60;
/// Upper bounds of the latency buckets, in milliseconds; percentiles are read as these bounds.
const LATENCY_BOUNDS_MS: [u64; 40] = [
    1,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    12,
    15,
    20,
    25,
    30,
    40,
    50,
    60,
    80,
    100,
    120,
    150,
    200,
    250,
    300,
    400,
    500,
    600,
    800,
    1_000,
    1_500,
    2_000,
    3_000,
    4_000,
    5_000,
    6_000,
    8_000,
    10_000,
    15_000,
    30_000,
    60_000,
    u64::MAX,
];

/// The largest finite latency bound.
const LONGEST_BOUND_MS: u64 = 60_000;

#[derive(Clone)]
struct Minute {
    minute: i64,
    counts: [u64; PaymentStatus::ALL.len()],
    approved: Vec<(Currency, i64)>,
    latency: [u64; LATENCY_BOUNDS_MS.len()],
}

impl Minute {
    fn new(minute: i64) -> Minute {
        Minute {
            minute,
            counts: [0; PaymentStatus::ALL.len()],
            approved: Vec::new(),
            latency: [0; LATENCY_BOUNDS_MS.len()],
        }
    }
}

fn status_index(status: PaymentStatus) -> usize {
    PaymentStatus::ALL
        .iter()
        .position(|s| *s == status)
        .expect("every status is in ALL")
}

fn count(all: &mut HashMap<String, VecDeque<Minute>>, decision: &Decision<'_>) {
    let minute = decision.decided_ms.div_euclid(MINUTE_MS);
    // Looked up by `&str`: an application's id is copied once, not on every payment.
    if !all.contains_key(decision.application) {
        all.insert(decision.application.to_owned(), VecDeque::new());
    }
    let minutes = all
        .get_mut(decision.application)
        .expect("inserted just above");
    let newest = minutes.back().map_or(minute, |m| m.minute.max(minute));
    if minute <= newest - KEPT_MINUTES {
        return; // Older than the longest window.
    }
    // Decisions arrive nearly in order; one from a minute just passed still finds its place.
    let slot = minutes.partition_point(|m| m.minute < minute);
    if minutes.get(slot).is_none_or(|m| m.minute != minute) {
        minutes.insert(slot, Minute::new(minute));
    }
    while minutes
        .front()
        .is_some_and(|m| m.minute <= newest - KEPT_MINUTES)
    {
        minutes.pop_front();
    }
    let slot = minutes.partition_point(|m| m.minute < minute);
    let bucket = &mut minutes[slot];
    bucket.counts[status_index(decision.status)] += 1;
    let amount = decision.amount;
    if decision.status == PaymentStatus::Approved {
        match bucket
            .approved
            .iter_mut()
            .find(|(c, _)| *c == amount.currency)
        {
            Some((_, total)) => *total = total.saturating_add(amount.minor),
            None => bucket.approved.push((amount.currency, amount.minor)),
        }
    }
    if let Some(latency) = decision.latency_ms {
        let slot = LATENCY_BOUNDS_MS.partition_point(|bound| *bound < latency);
        bucket.latency[slot] += 1;
    }
}

pub struct Figures {
    by_application: Mutex<HashMap<String, VecDeque<Minute>>>,
    /// The event seq up to which every decision is counted.
    counted: watch::Sender<u64>,
}

impl Default for Figures {
    fn default() -> Figures {
        Figures {
            by_application: Mutex::default(),
            counted: watch::Sender::new(0),
        }
    }
}

/// A decision as the figures count it.
pub struct Decision<'a> {
    pub application: &'a str,
    pub status: PaymentStatus,
    pub amount: Money,
    /// From received to decided, for a payment the processor answered (not a void, not a
    /// payment settled later by inquiry).
    pub latency_ms: Option<u64>,
    pub decided_ms: i64,
}

impl Figures {
    /// Every decision up to the event `seq` is counted.
    pub fn counted_up_to(&self, seq: u64) {
        self.counted.send_replace(seq);
    }

    /// The event seq up to which every decision is counted, as it moves.
    pub fn counted(&self) -> watch::Receiver<u64> {
        self.counted.subscribe()
    }

    /// Counts a payment that reached its status at its decision.
    pub fn record(&self, decision: &Decision<'_>) {
        count(&mut self.lock(), decision);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, VecDeque<Minute>>> {
        self.by_application
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// An approved payment decided at `decided_ms` was voided: it counts as voided from now on,
    /// and its amount is no longer approved.
    pub fn void(&self, application: &str, amount: Money, decided_ms: i64) {
        let minute = decided_ms.div_euclid(MINUTE_MS);
        let mut all = self.lock();
        // Decided more than an hour ago: no longer in any window.
        let Some(bucket) = all
            .get_mut(application)
            .and_then(|minutes| minutes.iter_mut().find(|m| m.minute == minute))
        else {
            return;
        };
        let approved = &mut bucket.counts[status_index(PaymentStatus::Approved)];
        *approved = approved.saturating_sub(1);
        bucket.counts[status_index(PaymentStatus::Voided)] += 1;
        if let Some((_, total)) = bucket
            .approved
            .iter_mut()
            .find(|(c, _)| *c == amount.currency)
        {
            *total = total.saturating_sub(amount.minor);
        }
    }

    /// The windows of `WINDOWS_MINUTES` and payments decided per minute over the last hour
    /// (oldest first), for `applications`, as of `now_ms`. A window of N minutes holds the
    /// current minute and the N - 1 before it.
    pub fn snapshot(&self, applications: &[String], now_ms: i64) -> (Vec<WindowStats>, Vec<u64>) {
        let now = now_ms.div_euclid(MINUTE_MS);
        let all = self.lock();
        let minutes: Vec<&Minute> = applications
            .iter()
            .filter_map(|app| all.get(app))
            .flatten()
            .filter(|m| m.minute > now - KEPT_MINUTES && m.minute <= now)
            .collect();
        let mut per_minute = vec![0u64; KEPT_MINUTES as usize];
        for m in &minutes {
            let slot = (KEPT_MINUTES - 1 - (now - m.minute)) as usize;
            per_minute[slot] += m.counts.iter().sum::<u64>();
        }
        let windows = WINDOWS_MINUTES
            .iter()
            .map(|&window| {
                let inside: Vec<&&Minute> = minutes
                    .iter()
                    .filter(|m| m.minute > now - i64::from(window))
                    .collect();
                window_stats(window, &inside)
            })
            .collect();
        (windows, per_minute)
    }
}

fn window_stats(minutes: u32, inside: &[&&Minute]) -> WindowStats {
    let mut counts = [0u64; PaymentStatus::ALL.len()];
    let mut latency = [0u64; LATENCY_BOUNDS_MS.len()];
    let mut approved: Vec<(Currency, i64)> = Vec::new();
    for m in inside {
        for (total, n) in counts.iter_mut().zip(m.counts) {
            *total += n;
        }
        for (total, n) in latency.iter_mut().zip(m.latency) {
            *total += n;
        }
        for (currency, minor) in &m.approved {
            match approved.iter_mut().find(|(c, _)| c == currency) {
                Some((_, total)) => *total = total.saturating_add(*minor),
                None => approved.push((*currency, *minor)),
            }
        }
    }
    let of = |status| counts[status_index(status)];
    // The processor approved a payment voided since: the rate is the processor's.
    let approved_by_processor = of(PaymentStatus::Approved) + of(PaymentStatus::Voided);
    let decided = approved_by_processor + of(PaymentStatus::Declined) + of(PaymentStatus::Failed);
    let percentile = |p: u64| -> Option<u64> {
        let total: u64 = latency.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = (total * p).div_ceil(100);
        let mut seen = 0;
        LATENCY_BOUNDS_MS
            .iter()
            .zip(latency)
            .find_map(|(bound, n)| {
                seen += n;
                // The last bucket has no upper bound: it reads as its lower one, "at least a minute".
                (seen >= wanted).then_some((*bound).min(LONGEST_BOUND_MS))
            })
    };
    approved.sort_by_key(|(c, _)| c.code());
    WindowStats {
        minutes,
        counts: PaymentStatus::ALL
            .iter()
            .map(|s| (*s, of(*s)))
            .filter(|(_, n)| *n > 0)
            .collect(),
        approval_per_mille: (decided > 0)
            .then(|| u32::try_from(approved_by_processor * 1000 / decided).unwrap_or(1000)),
        approved_amounts: approved
            .into_iter()
            .map(|(c, minor)| Money::new(minor, c))
            .collect(),
        p50_ms: percentile(50),
        p95_ms: percentile(95),
        p99_ms: percentile(99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(
        application: &str,
        status: PaymentStatus,
        amount: Money,
        latency_ms: Option<u64>,
        decided_ms: i64,
    ) -> Decision<'_> {
        Decision {
            application,
            status,
            amount,
            latency_ms,
            decided_ms,
        }
    }

    const T0: i64 = 1_800_000_000_000;

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::Usd)
    }

    #[test]
    fn windows_count_rates_amounts_and_latency() {
        let figures = Figures::default();
        let apps = vec!["A".to_owned()];
        // 90 approvals taking 4 ms, 9 declines taking 20 ms, 1 failure taking 3 s: in this minute.
        for _ in 0..90 {
            figures.record(&decided(
                "A",
                PaymentStatus::Approved,
                usd(1_000),
                Some(4),
                T0 + 4,
            ));
        }
        for _ in 0..9 {
            figures.record(&decided(
                "A",
                PaymentStatus::Declined,
                usd(500),
                Some(20),
                T0 + 20,
            ));
        }
        figures.record(&decided(
            "A",
            PaymentStatus::Failed,
            usd(500),
            Some(3_000),
            T0 + 3_000,
        ));
        // Another application's payments are not seen.
        figures.record(&decided(
            "B",
            PaymentStatus::Approved,
            usd(99),
            Some(1),
            T0 + 1,
        ));
        // Thirty minutes earlier: in the 60-minute window only.
        figures.record(&decided(
            "A",
            PaymentStatus::Approved,
            usd(7),
            Some(1),
            T0 - 30 * MINUTE_MS + 1,
        ));
        let (windows, per_minute) = figures.snapshot(&apps, T0 + 10);
        let one = &windows[0];
        assert_eq!(one.minutes, 1);
        assert_eq!(one.count(PaymentStatus::Approved), 90);
        assert_eq!(one.approval_per_mille, Some(900));
        assert_eq!(one.approved_amounts, vec![usd(90_000)]);
        assert_eq!(
            (one.p50_ms, one.p95_ms, one.p99_ms),
            (Some(4), Some(20), Some(20))
        );
        let hour = &windows[2];
        assert_eq!(hour.count(PaymentStatus::Approved), 91);
        assert_eq!(hour.approved_amounts, vec![usd(90_007)]);
        assert_eq!(per_minute.len(), 60);
        assert_eq!(per_minute[59], 100);
        assert_eq!(per_minute[29], 1);
        assert_eq!(per_minute.iter().sum::<u64>(), 101);
    }

    #[test]
    fn a_void_moves_its_payment_from_approved_to_voided_in_the_minute_it_was_decided() {
        let figures = Figures::default();
        let apps = vec!["A".to_owned()];
        figures.record(&decided(
            "A",
            PaymentStatus::Approved,
            usd(1_000),
            Some(4),
            T0,
        ));
        figures.record(&decided(
            "A",
            PaymentStatus::Approved,
            usd(300),
            Some(4),
            T0 + 1,
        ));
        figures.record(&decided(
            "A",
            PaymentStatus::Declined,
            usd(500),
            Some(4),
            T0 + 2,
        ));
        figures.void("A", usd(1_000), T0);
        let (windows, per_minute) = figures.snapshot(&apps, T0 + 10 * MINUTE_MS);
        let window = &windows[1];
        assert_eq!(window.count(PaymentStatus::Approved), 1);
        assert_eq!(window.count(PaymentStatus::Voided), 1);
        assert_eq!(window.approved_amounts, vec![usd(300)]);
        // The processor approved two of three.
        assert_eq!(window.approval_per_mille, Some(666));
        assert_eq!(per_minute.iter().sum::<u64>(), 3);
        // As the fill at start counts the same payments, read as they are now.
        let filled = Figures::default();
        filled.record(&decided(
            "A",
            PaymentStatus::Voided,
            usd(1_000),
            Some(4),
            T0,
        ));
        filled.record(&decided(
            "A",
            PaymentStatus::Approved,
            usd(300),
            Some(4),
            T0 + 1,
        ));
        filled.record(&decided(
            "A",
            PaymentStatus::Declined,
            usd(500),
            Some(4),
            T0 + 2,
        ));
        assert_eq!(
            filled.snapshot(&apps, T0 + 10 * MINUTE_MS),
            (windows, per_minute)
        );
    }

    #[test]
    fn a_decision_after_a_minute_reads_as_at_least_a_minute() {
        let figures = Figures::default();
        figures.record(&decided(
            "A",
            PaymentStatus::Approved,
            usd(1),
            Some(3_600_000),
            T0,
        ));
        let (windows, _) = figures.snapshot(&["A".to_owned()], T0);
        assert_eq!(windows[0].p50_ms, Some(60_000));
    }

    #[test]
    fn an_hour_later_the_figures_are_empty() {
        let figures = Figures::default();
        figures.record(&decided(
            "A",
            PaymentStatus::Approved,
            usd(1),
            Some(1),
            T0 + 1,
        ));
        let (windows, per_minute) = figures.snapshot(&["A".to_owned()], T0 + 61 * MINUTE_MS);
        assert!(
            windows.iter().all(|w| w.counts.is_empty()
                && w.p50_ms.is_none()
                && w.approval_per_mille.is_none())
        );
        assert!(per_minute.iter().all(|n| *n == 0));
    }
}
