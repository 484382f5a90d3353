//! Voids: an approved payment given back whole on the day it was approved, before any batch
//! reports it. The payment is held in the store before the processor is asked, so a refund or a
//! batch cannot come between the processor's void and CIP's record of it.

use super::{Engine, audit_entry, carried_for};
use crate::auth::Caller;
use crate::processor::ProcessorError;
use crate::store::StoreError;
use crate::store::accounts::AuditEntry;
use cip_common::calendar;
use cip_common::error::ApiError;
use cip_common::money::Money;
use cip_common::payment::Payment;
use cip_common::status::PaymentStatus;

impl Engine {
    /// Voids an approved payment, on the day it was approved in its application's time zone (the
    /// day its reports count it in).
    pub async fn void(&self, caller: &Caller, id: &str, origin: &str) -> Result<Payment, ApiError> {
        let payment = self.visible_payment(caller, id).await?;
        if payment.status != PaymentStatus::Approved {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "only an approved payment can be voided; {id} is {}",
                    payment.status
                ),
            });
        }
        let approved_ms = payment.decided_ms.unwrap_or(payment.created_ms);
        let now = self.clock.now_ms();
        let zone = self.form(&payment.application).await?.spec.zone();
        if calendar::day_of(&zone, approved_ms) != calendar::day_of(&zone, now) {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "{id} was approved on an earlier day ({}); it can no longer be voided: refund it instead",
                    calendar::local_minute(&zone, approved_ms)
                ),
            });
        }
        // The agency has this payment as approved once a batch holds it; what the batch told
        // them stays true.
        if let Some(batch) = &payment.batch {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "{id} was reported to the agency as approved in batch {}; it can no longer be voided: refund it instead",
                    batch.id
                ),
            });
        }
        // A void gives back the whole amount: what a refund gave or holds would be given twice.
        if payment.refunds != Default::default() {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "{id} has refunds ({} refunded, {} under way); it can no longer be voided: refund what is left instead",
                    payment.refunded(),
                    Money::new(payment.refunds.pending_minor, payment.amount.currency)
                ),
            });
        }
        // Held first: while the processor voids it, no refund begins and no batch claims it.
        if !self.store.hold_for_void(&payment.id, now).await? {
            return Err(ApiError::Stale {
                message: format!("{id} changed just now: look at it again"),
            });
        }
        let audit = audit_entry(caller, "payment.void", origin, &payment.id, now);
        self.carry_void(payment, audit).await
    }

    /// Asks the processor to void a payment held for it, and commits what it says: voided, or
    /// let go when it refused. With no answer the hold stays, and the sweep asks again (a void
    /// the processor made once it makes no more).
    async fn carry_void(&self, payment: Payment, audit: AuditEntry) -> Result<Payment, ApiError> {
        match self.processor.void(&payment.id).await {
            Ok(()) => {
                self.commit_move(payment, PaymentStatus::Voided, None, None, Some(audit))
                    .await
            }
            Err(ProcessorError::Refused(said)) => {
                self.store.release_void(&payment.id).await?;
                Err(ProcessorError::Refused(said).into())
            }
            Err(unanswered) => Err(ApiError::Unavailable {
                reason: format!(
                    "{unanswered}; the void stands, and CIP sends it again until the processor answers"
                ),
            }),
        }
    }

    /// Carries to their end the voids a stopped daemon left held (those older than the daemon
    /// carrying them would take). Returns how many it voided.
    pub(super) async fn settle_void_holds(&self) -> Result<usize, StoreError> {
        let carried = carried_for(self.waits.deadline, self.store.shared());
        let carried_ms = i64::try_from(carried.as_millis()).unwrap_or(i64::MAX);
        let now = self.clock.now_ms();
        let mut voided = 0;
        for payment in self.store.void_holds(now - carried_ms).await? {
            let id = payment.id.clone();
            let audit = AuditEntry {
                at_ms: now,
                actor: "recovery".to_owned(),
                action: "payment.void",
                success: true,
                origin: "sweep".to_owned(),
                object: format!("payment:{id}"),
            };
            match self.carry_void(payment, audit).await {
                Ok(_) => voided += 1,
                Err(e) => tracing::warn!(payment = %id, "void not carried: {e}"),
            }
        }
        Ok(voided)
    }
}
