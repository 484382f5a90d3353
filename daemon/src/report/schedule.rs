//! The daily batch run: each application with a `report_daily_at` gets its batch at that local
//! time in its time zone. A run missed while the daemon was down happens at the next start, and
//! a run cut short (a stop, a full disk) is tried again at the next look. Daemons sharing a
//! store look alike; the first to hold an application's run makes its batch, and the others
//! find it done.

use super::batch;
use super::{Reports, Runner};
use crate::engine::Engine;
use crate::store::Store;
use cip_common::calendar;
use cip_common::form::ApplicationSpec;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the schedule looks at the clock.
const TICK: Duration = Duration::from_secs(20);

/// Runs every application's daily batch when it is due, until the daemon stops.
pub async fn run(reports: Reports, engine: Arc<Engine>, outbox: PathBuf) {
    let runner = Runner {
        actor: "schedule".to_owned(),
        origin: format!("cipd pid={}", std::process::id()),
    };
    loop {
        match reports.store.applications().await {
            Ok(applications) => {
                for spec in applications {
                    if let Err(e) =
                        run_if_due(&reports.store, &engine, &spec, &outbox, &runner).await
                    {
                        tracing::error!("batch report of {}: {e:#}", spec.id);
                    }
                }
            }
            Err(e) => tracing::error!("batch reports: {e}"),
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Runs the application's batch if its daily time has passed since its last batch (or its
/// creation), or if a batch is unfinished.
async fn run_if_due(
    store: &Store,
    engine: &Engine,
    spec: &ApplicationSpec,
    outbox: &std::path::Path,
    runner: &Runner,
) -> anyhow::Result<()> {
    let Some(at) = spec
        .report_daily_at
        .as_deref()
        .and_then(|t| calendar::parse_daily_at(t).ok())
    else {
        return Ok(());
    };
    let due_ms = calendar::last_due_ms(&spec.zone(), at, engine.clock().now_ms());
    let done_since = store.batch_done_since_ms(&spec.id).await?;
    if done_since.is_some_and(|ms| ms >= due_ms) {
        return Ok(());
    }
    let Some(files) = batch::run(
        store,
        engine.clock(),
        engine.entropy(),
        spec,
        outbox,
        runner,
        Some(due_ms),
    )
    .await?
    else {
        tracing::debug!("batch report of {}: another run holds it", spec.id);
        return Ok(());
    };
    for file in files {
        tracing::info!(
            "batch {} of {}: {} payments and {} refunds in {}",
            file.id,
            spec.id,
            file.payment_count,
            file.refund_count,
            file.csv.display()
        );
    }
    Ok(())
}
