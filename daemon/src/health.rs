//! Whether this daemon can take payments now, and how it is doing: the store must take a write
//! (checked when asked, at most once a second) and the processor's last probe (every
//! `[processor] probe_every_ms`) must have answered. Read by `/readyz`, `cipd status` and the
//! metrics.

use crate::engine::Engine;
use crate::metrics::METRICS;
use crate::notify::Notifier;
use crate::store::Store;
use crate::store::health::StoreLoad;
use cip_common::health::{Check, DaemonStatus, Readiness};
use cip_config::{ProcessorKind, Resolved};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a readiness check waits for the store's write, or for the processor's answer.
const CHECK_WITHIN: Duration = Duration::from_secs(2);
/// How long one store check answers for: load balancers that ask often cost one write a second.
const STORE_CHECK_HOLDS: Duration = Duration::from_secs(1);

pub struct Health {
    engine: Arc<Engine>,
    store: Store,
    notifier: Arc<Notifier>,
    started: Instant,
    store_name: String,
    processor_name: String,
    /// The processor's last probe; `Some("not asked yet")` until the first.
    processor: Mutex<Check>,
    /// The last store check and when it was made; one check at a time.
    store_check: tokio::sync::Mutex<Option<(Instant, Check)>>,
}

/// How busy the daemon is, for the metrics' gauges.
pub struct Load {
    pub in_flight: usize,
    pub in_doubt: Option<u64>,
    pub store: StoreLoad,
}

impl Health {
    pub fn new(
        resolved: &Resolved,
        engine: Arc<Engine>,
        store: Store,
        notifier: Arc<Notifier>,
    ) -> Health {
        Health {
            engine,
            store,
            notifier,
            started: Instant::now(),
            store_name: store_name(resolved),
            processor_name: processor_name(resolved),
            processor: Mutex::new(Some("not asked yet".to_owned())),
            store_check: tokio::sync::Mutex::new(None),
        }
    }

    /// Asks the processor whether it answers every `every`, keeping the last answer, until the
    /// task is dropped.
    pub async fn probe_processor(self: Arc<Self>, every: Duration) {
        loop {
            let answer = tokio::time::timeout(CHECK_WITHIN, self.engine.probe_processor()).await;
            let check = match answer {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no answer within {} s", CHECK_WITHIN.as_secs())),
            };
            if let Some(why) = &check {
                tracing::warn!("readiness: the processor's probe failed: {why}");
            }
            *self.processor.lock().unwrap_or_else(|p| p.into_inner()) = check;
            tokio::time::sleep(every).await;
        }
    }

    /// Whether the daemon can take payments now.
    pub async fn readiness(&self) -> Readiness {
        Readiness {
            store: self.store_check().await,
            processor: self
                .processor
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// The store's last check when it is fresh, else a new one: a small write, committed.
    async fn store_check(&self) -> Check {
        let mut last = self.store_check.lock().await;
        if let Some((at, check)) = last.as_ref()
            && at.elapsed() < STORE_CHECK_HOLDS
        {
            return check.clone();
        }
        let now_ms = self.engine.clock().now_ms();
        let check =
            match tokio::time::timeout(CHECK_WITHIN, self.store.prove_writable(now_ms)).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no write within {} s", CHECK_WITHIN.as_secs())),
            };
        if let Some(why) = &check {
            tracing::warn!("readiness: the store's check failed: {why}");
        }
        *last = Some((Instant::now(), check.clone()));
        check
    }

    /// How busy the daemon is now; what the store cannot tell in time is left out.
    pub async fn load(&self) -> Load {
        let in_doubt = tokio::time::timeout(CHECK_WITHIN, self.store.in_doubt_count()).await;
        Load {
            in_flight: self.engine.in_flight(),
            in_doubt: in_doubt.ok().and_then(Result::ok),
            store: self.store.load(),
        }
    }

    /// The daemon's state for `cipd status`.
    pub async fn status(&self) -> DaemonStatus {
        let (readiness, load) = tokio::join!(self.readiness(), self.load());
        let backlog = tokio::time::timeout(CHECK_WITHIN, self.notifier.backlog()).await;
        DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            store: self.store_name.clone(),
            processor: self.processor_name.clone(),
            readiness,
            in_flight: load.in_flight as u64,
            in_doubt: load.in_doubt,
            consoles: METRICS.consoles(),
            webhook_backlog: backlog.ok().and_then(Result::ok).map(|n| n as u64),
        }
    }
}

/// The store as an operator knows it, never with a password: the SQLite file, or PostgreSQL's
/// hosts and database.
fn store_name(resolved: &Resolved) -> String {
    let Some(url) = resolved.store_url() else {
        return format!("SQLite {}", resolved.database().display());
    };
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => {
            let hosts: Vec<String> = config
                .get_hosts()
                .iter()
                .map(|host| match host {
                    tokio_postgres::config::Host::Tcp(name) => name.clone(),
                    tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .collect();
            format!(
                "PostgreSQL {} database {}",
                hosts.join(","),
                config.get_dbname().unwrap_or("(the user's)")
            )
        }
        Err(_) => "PostgreSQL".to_owned(),
    }
}

fn processor_name(resolved: &Resolved) -> String {
    let settings = &resolved.settings.processor;
    match settings.kind {
        ProcessorKind::Sandbox => "sandbox (in this process)".to_owned(),
        ProcessorKind::SandboxHttp => format!("sandbox service at {}", settings.url),
        ProcessorKind::Stripe => format!("Stripe at {}", settings.api_base),
    }
}
