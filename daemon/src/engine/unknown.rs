//! The rule for an unknown outcome. A timeout means unknown, never failed: CIP asks the processor
//! what became of the payment, never sends it again; what the processor has not seen is reversed,
//! and called failed only once the reversal is acknowledged; one it cannot tell about is asked
//! about again with backoff; and an approval that turns up for a payment reported not charged is
//! voided at once, said in the feed and the audit log.

use super::{Engine, audit_entry, decision_of};
use crate::auth::Caller;
use crate::processor::{Inquiry, Outcome, ProcessorError};
use crate::store::StoreError;
use crate::store::accounts::AuditEntry;
use cip_common::error::ApiError;
use cip_common::event::EventKind;
use cip_common::payment::{Payment, outcome_message};
use cip_common::status::PaymentStatus;
use std::sync::Arc;
use std::time::Duration;

/// The code of an in-doubt payment the processor never charged: its reversal was acknowledged.
pub const NOT_CHARGED_CODE: &str = "not_charged";
/// The code of a payment reported not charged whose approval turned up later, while CIP voids it.
pub const LATE_APPROVAL_CODE: &str = "late_approval";
/// The code of a payment whose late approval CIP voided.
pub const LATE_APPROVAL_VOIDED_CODE: &str = "late_approval_voided";
/// How long after reporting a payment not charged CIP still asks the processor about it, in case
/// an approval turns up that the processor should have refused.
const LATE_WATCH_MS: i64 = 15 * 60_000;
/// Most payments one sweep asks about again for a late approval.
const MAX_WATCHED: u32 = 500;
/// The first wait before asking again about a payment in doubt, doubled after each try up to
/// `RETRY_AT_MOST`.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_AT_MOST: Duration = Duration::from_secs(60);
/// Most in-doubt payments followed by a task of their own; the rest wait for the next sweep.
const MAX_FOLLOWED: usize = 10_000;

/// What a sweep did.
pub struct Swept {
    /// Payments it settled.
    pub settled: usize,
    /// When the first payment it left to the daemon carrying it is past that daemon's hands,
    /// for the next sweep to settle it then.
    pub next_due_ms: Option<i64>,
}

impl Engine {
    /// What became of `reference`, whose answer never came: the processor's decision, or, when
    /// it has none, a failure once its reversal is acknowledged (an inquiry that finds nothing is
    /// not final: the authorization may still be on its way, and the reversal makes the
    /// processor refuse it).
    async fn ask(&self, reference: &str) -> Result<Outcome, ProcessorError> {
        match self.processor.inquire(reference).await? {
            Inquiry::Decided(outcome) => Ok(outcome),
            Inquiry::NotFound => {
                self.processor.reverse(reference).await?;
                tracing::info!(payment = %reference, "reversed: nothing was charged");
                Ok(Outcome::Failed {
                    code: NOT_CHARGED_CODE.to_owned(),
                })
            }
        }
    }

    /// Settles an in-doubt payment in a task of its own, asking again with backoff until the
    /// processor tells (supervisors see it in doubt meanwhile); beyond `MAX_FOLLOWED`, or once
    /// the daemon restarts, the sweeps ask instead.
    pub(super) fn follow(self: &Arc<Self>, payment: Payment) {
        {
            let mut followed = self.followed.lock().unwrap_or_else(|p| p.into_inner());
            if followed.len() >= MAX_FOLLOWED || !followed.insert(payment.id.clone()) {
                return;
            }
        }
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let id = payment.id.clone();
            let mut wait = RETRY_FIRST;
            let mut payment = payment;
            tokio::time::sleep(engine.waits.ask_after).await;
            loop {
                match engine.ask(&id).await {
                    Ok(outcome) => {
                        if let Err(e) = engine.settle(payment, Some(outcome)).await {
                            tracing::warn!(payment = %id, "not settled: {e}");
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(payment = %id, "in doubt, asking again in {wait:?}: {e}")
                    }
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_AT_MOST);
                // A supervisor may have settled it meanwhile.
                match engine.stored(&id).await {
                    Ok(stored) if stored.status == PaymentStatus::InDoubt => payment = stored,
                    _ => break,
                }
            }
            engine
                .followed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        });
    }

    /// Asks the processor about an in-doubt payment now and settles it.
    pub async fn resolve_now(
        &self,
        caller: &Caller,
        id: &str,
        origin: &str,
    ) -> Result<Payment, ApiError> {
        let payment = self.visible_payment(caller, id).await?;
        if payment.status != PaymentStatus::InDoubt {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "only an in-doubt payment can be resolved; {id} is {}",
                    payment.status
                ),
            });
        }
        let answer = self.ask(&payment.id).await?;
        let (status, code, authorization) = decision_of(Some(answer));
        let audit = audit_entry(
            caller,
            "payment.resolve",
            origin,
            &payment.id,
            self.clock.now_ms(),
        );
        self.commit_move(payment, status, code, authorization, Some(audit))
            .await
    }

    /// Asks the processor about every payment left `processing` or `in_doubt` that no task of
    /// this process is carrying or following, and commits what it says; then asks again about
    /// the payments lately reported not charged, and voids any approval that turned up for one.
    /// On a shared store, a payment still `processing` within its deadline is left to the daemon
    /// carrying it: asking now would find nothing and reverse a charge that is on its way (the
    /// sweep says when the first of them is due).
    pub async fn resolve_unsettled(&self) -> Result<Swept, StoreError> {
        let unsettled = self.store.unsettled().await?;
        let now = self.clock.now_ms();
        let (mut settled, mut next_due_ms) = (0, None::<i64>);
        for payment in unsettled {
            let followed = self
                .followed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&payment.id);
            if followed || self.lock_in_flight().contains_key(&payment.id) {
                continue;
            }
            let carried_until_ms = self.carried_until_ms(&payment);
            if self.store.shared()
                && payment.status == PaymentStatus::Processing
                && now < carried_until_ms
            {
                next_due_ms =
                    Some(next_due_ms.map_or(carried_until_ms, |due| due.min(carried_until_ms)));
                continue;
            }
            let answer = match self.ask(&payment.id).await {
                Ok(outcome) => Some(outcome),
                Err(e) => {
                    tracing::warn!(payment = %payment.id, "inquiry failed: {e}");
                    None
                }
            };
            if answer.is_none() && payment.status == PaymentStatus::InDoubt {
                continue;
            }
            let id = payment.id.clone();
            match self.settle(payment, answer).await {
                Ok(p) if p.status.is_decided() => settled += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(payment = %id, "not settled: {e}"),
            }
        }
        self.watch_not_charged().await?;
        settled += self.settle_pending_refunds().await?;
        settled += self.settle_void_holds().await?;
        Ok(Swept {
            settled,
            next_due_ms,
        })
    }

    /// Asks about every payment reported not charged in the last `LATE_WATCH_MS`, and voids an
    /// approval that turned up for one (a processor should have refused it after the reversal).
    async fn watch_not_charged(&self) -> Result<(), StoreError> {
        let since = self.clock.now_ms() - LATE_WATCH_MS;
        let watched = self.store.not_charged_since(since, MAX_WATCHED).await?;
        for payment in watched {
            let approved = payment.code.as_deref() == Some(LATE_APPROVAL_CODE)
                || matches!(
                    self.processor.inquire(&payment.id).await,
                    Ok(Inquiry::Decided(Outcome::Approved { .. }))
                );
            if approved {
                let id = payment.id.clone();
                if let Err(e) = self.void_late_approval(payment).await {
                    tracing::error!(payment = %id, "a late approval is not voided yet: {e}");
                }
            }
        }
        Ok(())
    }

    /// Voids the approval that turned up for `payment`, which CIP reported not charged: first
    /// the feed says so, then the processor voids it, then the feed and the audit log say it is
    /// done. The payment stays failed: nothing stays charged.
    async fn void_late_approval(&self, mut payment: Payment) -> Result<(), ApiError> {
        if payment.code.as_deref() != Some(LATE_APPROVAL_CODE) {
            tracing::error!(payment = %payment.id, "an approval turned up for a payment reported not charged: voiding it");
            payment = self
                .note(
                    payment,
                    LATE_APPROVAL_CODE,
                    EventKind::PaymentLateApproval,
                    None,
                )
                .await?;
        }
        self.processor.void(&payment.id).await?;
        let now = self.clock.now_ms();
        let audit = AuditEntry {
            at_ms: now,
            actor: "cipd".to_owned(),
            action: "payment.late_approval_voided",
            success: true,
            origin: "processor".to_owned(),
            object: format!("payment:{}", payment.id),
        };
        self.note(
            payment,
            LATE_APPROVAL_VOIDED_CODE,
            EventKind::PaymentLateApprovalVoided,
            Some(audit),
        )
        .await
        .map(drop)
    }

    /// Gives a failed payment a new code, with its event (and audit entry), in one transaction.
    async fn note(
        &self,
        mut payment: Payment,
        code: &'static str,
        kind: EventKind,
        audit: Option<AuditEntry>,
    ) -> Result<Payment, ApiError> {
        let from = payment.code.take();
        payment.message = Some(outcome_message(code).to_owned());
        payment.code = Some(code.to_owned());
        let at_ms = self.clock.now_ms();
        self.store
            .note_failed(&payment, from.as_deref(), kind, at_ms, audit)
            .await?;
        Ok(payment)
    }
}
