//! The live feed: events after a seq, answered at once or as soon as one is committed, and the
//! older events before a seq.

use crate::store::events::Visibility;
use crate::store::{Store, StoreError};
use cip_common::event::{Event, EventBatch};
use std::time::Duration;

/// The events a caller's visibility allows, for every adapter.
#[derive(Clone)]
pub struct Feed {
    store: Store,
}

impl Feed {
    pub fn new(store: Store) -> Feed {
        Feed { store }
    }

    /// Events after `after_seq` that `visibility` allows; when there are none yet, waits up to `wait`
    /// for a commit that brings one.
    pub async fn events_after(
        &self,
        after_seq: u64,
        visibility: Visibility,
        max: u32,
        wait: Duration,
    ) -> Result<EventBatch, StoreError> {
        let _waiting = crate::metrics::METRICS.feed_subscriber();
        let store = &self.store;
        let mut committed = store.committed_seq();
        let deadline = tokio::time::Instant::now() + wait;
        let mut from = after_seq;
        loop {
            committed.borrow_and_update();
            let (events, next_seq) = store.events_after(from, &visibility, max).await?;
            if !events.is_empty() {
                return Ok(EventBatch { events, next_seq });
            }
            from = next_seq;
            let newer =
                tokio::time::timeout_at(deadline, committed.wait_for(|seq| *seq > from)).await;
            if !matches!(newer, Ok(Ok(_))) {
                return Ok(EventBatch {
                    events,
                    next_seq: from,
                });
            }
        }
    }

    /// The `max` visible events just before `before_seq`, oldest first.
    pub async fn events_before(
        &self,
        before_seq: u64,
        visibility: Visibility,
        max: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.store.events_before(before_seq, &visibility, max).await
    }
}
