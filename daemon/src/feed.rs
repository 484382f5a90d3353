//! The live feed: events after a seq, answered at once or as soon as one is committed.

use crate::store::{Store, StoreError, payments};
use cip_common::event::EventBatch;
use std::sync::Arc;
use std::time::Duration;

/// Events after `after_seq` in `applications`; when there are none yet, waits up to `wait` for
/// a commit that brings one.
pub async fn events_after(
    store: &Store,
    after_seq: u64,
    applications: Vec<String>,
    max: u32,
    wait: Duration,
) -> Result<EventBatch, StoreError> {
    let applications = Arc::new(applications);
    let mut committed = store.committed_seq();
    let deadline = tokio::time::Instant::now() + wait;
    let mut from = after_seq;
    loop {
        committed.borrow_and_update();
        let apps = Arc::clone(&applications);
        let (events, next_seq) = store
            .read(move |conn| payments::events_after(conn, from, &apps, max))
            .await?;
        if !events.is_empty() {
            return Ok(EventBatch { events, next_seq });
        }
        from = next_seq;
        let newer = tokio::time::timeout_at(deadline, committed.wait_for(|seq| *seq > from)).await;
        if !matches!(newer, Ok(Ok(_))) {
            return Ok(EventBatch {
                events,
                next_seq: from,
            });
        }
    }
}
