//! The daemon's figures for Prometheus (`GET /metrics` on `[metrics] listen`, in the OpenMetrics
//! text format). Counters and histograms are kept as things happen, each a few atomic adds;
//! gauges are read from the daemon's parts when scraped, so the hot path keeps none of them.
//! Labels are only names CIP itself chose (applications, modes, outcomes, results): never card
//! data, a payer or an idempotency key.

use crate::health::Health;
use cip_common::payment::Mode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::LazyLock;
use std::time::Duration;

/// The process's figures: one daemon per process.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PaymentLabels {
    application: String,
    mode: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefundLabels {
    application: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Why a sign-in failed.
#[derive(Clone, Copy)]
pub enum SignInFailure {
    UnknownUser,
    WrongPassword,
    LockedOut,
}

pub struct Metrics {
    registry: Registry,
    payments: Family<PaymentLabels, Counter>,
    refunds: Family<RefundLabels, Counter>,
    sign_in_failures: Family<ReasonLabels, Counter>,
    lockouts: Counter,
    webhook_deliveries: Family<ResultLabels, Counter>,
    payment_seconds: Histogram,
    processor_seconds: Histogram,
    in_flight: Gauge,
    in_doubt: Gauge,
    write_queue: Gauge,
    group_commit: Gauge,
    connections_in_use: Gauge,
    connections: Gauge,
    feed_subscribers: Gauge,
    consoles: Gauge,
}

/// Latency buckets from 0.5 ms to about 16 s, doubling.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_5, 2.0, 16)
}

impl Metrics {
    fn new() -> Metrics {
        let metrics = Metrics {
            registry: Registry::with_prefix("cip"),
            payments: Family::default(),
            refunds: Family::default(),
            sign_in_failures: Family::default(),
            lockouts: Counter::default(),
            webhook_deliveries: Family::default(),
            payment_seconds: Histogram::new(latency_buckets()),
            processor_seconds: Histogram::new(latency_buckets()),
            in_flight: Gauge::default(),
            in_doubt: Gauge::default(),
            write_queue: Gauge::default(),
            group_commit: Gauge::default(),
            connections_in_use: Gauge::default(),
            connections: Gauge::default(),
            feed_subscribers: Gauge::default(),
            consoles: Gauge::default(),
        };
        metrics.registered()
    }

    fn registered(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "payments",
            "Payments this daemon took and answered, by application, mode and outcome",
            self.payments.clone(),
        );
        r.register(
            "refunds",
            "Refunds this daemon sent and answered, by application and outcome",
            self.refunds.clone(),
        );
        r.register(
            "sign_in_failures",
            "Sign-ins refused, by reason",
            self.sign_in_failures.clone(),
        );
        r.register(
            "lockouts",
            "Users locked out by failed sign-ins",
            self.lockouts.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Attempts to deliver a notice to an agency's callback, by result",
            self.webhook_deliveries.clone(),
        );
        r.register_with_unit(
            "payment_duration",
            "From a payment's request to its answer, for payments taken",
            Unit::Seconds,
            self.payment_seconds.clone(),
        );
        r.register_with_unit(
            "processor_duration",
            "From an authorization's call to the processor's answer (or the deadline)",
            Unit::Seconds,
            self.processor_seconds.clone(),
        );
        for (name, help, gauge) in [
            (
                "payments_in_flight",
                "Payments between their first commit and their answer in this daemon",
                &self.in_flight,
            ),
            (
                "payments_in_doubt",
                "Payments in the store waiting in doubt for the processor's word",
                &self.in_doubt,
            ),
            (
                "store_write_queue",
                "Writes queued for the store's writer, not yet taken",
                &self.write_queue,
            ),
            (
                "store_group_commit_size",
                "Writes the store's last group commit held",
                &self.group_commit,
            ),
            (
                "store_connections_in_use",
                "Store connections in use (SQLite: readers; PostgreSQL: the pool)",
                &self.connections_in_use,
            ),
            (
                "store_connections",
                "Store connections there may be",
                &self.connections,
            ),
            (
                "feed_subscribers",
                "Consoles waiting on the live feed",
                &self.feed_subscribers,
            ),
            (
                "console_connections",
                "Consoles connected, on the socket and over TLS",
                &self.consoles,
            ),
        ] {
            r.register(name, help, gauge.clone());
        }
        self
    }

    /// A payment taken and answered (not a replay of one taken before).
    pub fn payment(&self, application: &str, mode: Mode, outcome: &'static str, took: Duration) {
        self.payments
            .get_or_create(&PaymentLabels {
                application: application.to_owned(),
                mode: mode.code(),
                outcome,
            })
            .inc();
        self.payment_seconds.observe(took.as_secs_f64());
    }

    /// How long the processor took to answer an authorization (or the deadline, without one).
    pub fn processor_call(&self, took: Duration) {
        self.processor_seconds.observe(took.as_secs_f64());
    }

    pub fn refund(&self, application: &str, outcome: &'static str) {
        self.refunds
            .get_or_create(&RefundLabels {
                application: application.to_owned(),
                outcome,
            })
            .inc();
    }

    pub fn sign_in_failed(&self, why: SignInFailure, locked_now: bool) {
        let reason = match why {
            SignInFailure::UnknownUser => "unknown_user",
            SignInFailure::WrongPassword => "wrong_password",
            SignInFailure::LockedOut => "locked_out",
        };
        self.sign_in_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
        if locked_now {
            self.lockouts.inc();
        }
    }

    /// One attempt to deliver a notice: `taken`, `refused` (any other HTTP answer), `timeout` or
    /// `unreachable`.
    pub fn webhook_delivery(&self, result: &'static str) {
        self.webhook_deliveries
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts a console waiting on the live feed while the guard lives.
    pub fn feed_subscriber(&self) -> Held<'_> {
        Held::new(&self.feed_subscribers)
    }

    /// Counts a console connection while the guard lives.
    pub fn console(&self) -> Held<'_> {
        Held::new(&self.consoles)
    }

    pub fn consoles(&self) -> u64 {
        u64::try_from(self.consoles.get()).unwrap_or(0)
    }

    /// The text a scrape answers, with the gauges read from `health` now.
    pub async fn scrape(&self, health: &Health) -> String {
        let load = health.load().await;
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.in_flight.set(count(load.in_flight));
        if let Some(in_doubt) = load.in_doubt {
            self.in_doubt
                .set(i64::try_from(in_doubt).unwrap_or(i64::MAX));
        }
        self.write_queue.set(count(load.store.queued_writes));
        self.group_commit.set(count(load.store.last_batch));
        self.connections_in_use
            .set(count(load.store.connections_in_use));
        self.connections.set(count(load.store.connections));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// One held unit of a gauge, given back when dropped.
pub struct Held<'a>(&'a Gauge);

impl<'a> Held<'a> {
    fn new(gauge: &'a Gauge) -> Held<'a> {
        gauge.inc();
        Held(gauge)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
