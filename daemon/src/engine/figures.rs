//! The queue's figures follow what is committed: filled at start from the last hour's
//! decisions, then kept up by reading each commit's decisions from the store, whichever daemon
//! made them. A supervisor's figures count the decisions committed before the request, waited
//! for 2 s at most (on PostgreSQL, for the feed's horizon to pass them: a transaction older
//! than they, still committing, holds it back).

use super::Engine;
use crate::figures::Decision;
use crate::store::StoreError;
use crate::store::events::{DecisionEvent, DecisionsRead};
use cip_common::event::EventKind;
use cip_common::status::PaymentStatus;
use std::sync::Arc;
use std::time::Duration;

/// How long the figures let commits gather before reading their decisions.
const GATHER: Duration = Duration::from_millis(20);
/// After a failed read, how long before the next.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a request for the figures waits for the decisions committed before it.
const CATCH_UP: Duration = Duration::from_secs(2);

impl Engine {
    /// Fills the queue figures with the last hour's decisions (at start); where to follow on.
    pub async fn load_figures(&self) -> Result<DecisionsRead, StoreError> {
        let since = self.clock.now_ms() - 3_600_000;
        let counted = Arc::clone(&self.figures);
        self.store
            .for_each_decided_since(since, move |p| {
                // Counted by status now, as a void left them live; one in doubt is not decided.
                if matches!(p.status, PaymentStatus::InDoubt | PaymentStatus::Processing) {
                    return;
                }
                counted.record(&Decision {
                    application: p.application,
                    status: p.status,
                    amount: p.amount,
                    latency_ms: Some(u64::try_from(p.decided_ms - p.received_ms).unwrap_or(0)),
                    decided_ms: p.decided_ms,
                });
            })
            .await
    }

    /// Counts every decision committed after `read`, as it is committed, until the store closes.
    pub async fn follow_figures(self: Arc<Self>, mut read: DecisionsRead) {
        let mut committed = self.store.committed_seq();
        loop {
            let upto = *committed.borrow_and_update();
            match self.store.decisions_until(&mut read, upto).await {
                Ok(decisions) => {
                    decisions.iter().for_each(|d| self.count(d));
                    self.figures.counted_up_to(upto);
                }
                Err(e) => {
                    tracing::warn!("queue figures: decisions not read, reading again: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            }
            if committed.changed().await.is_err() {
                return;
            }
            tokio::time::sleep(GATHER).await;
        }
    }

    /// Counts one decision as the engine made it: a void moves its payment to voided in the
    /// minute it was decided; processing time is from received to the processor's answer, so
    /// one settled by inquiry has none.
    fn count(&self, decision: &DecisionEvent) {
        if decision.kind == EventKind::PaymentVoided {
            self.figures
                .void(&decision.application, decision.amount, decision.decided_ms);
            return;
        }
        let answered = decision.kind != EventKind::PaymentResolved;
        self.figures.record(&Decision {
            application: &decision.application,
            status: decision.status,
            amount: decision.amount,
            latency_ms: answered
                .then(|| u64::try_from(decision.at_ms - decision.received_ms).unwrap_or(0)),
            decided_ms: decision.at_ms,
        });
    }

    /// Waits (a little at most) until the figures count what was committed before now.
    pub(super) async fn figures_caught_up(&self) {
        let committed = match self.store.committed_now().await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::warn!("queue figures answered as they are: {e}");
                return;
            }
        };
        let mut counted = self.figures.counted();
        let caught_up = counted.wait_for(|seq| *seq >= committed);
        if tokio::time::timeout(CATCH_UP, caught_up).await.is_err() {
            tracing::warn!("queue figures are behind the store; answered as they are");
        }
    }
}
