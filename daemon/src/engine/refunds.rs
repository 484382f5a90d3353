//! Refunds, as payments are carried: checked, committed `pending` with the amount held against
//! the payment, sent to the processor under the refund's own reference with a deadline, and
//! committed `succeeded` or `failed`. A refund whose answer does not come stays pending (its
//! amount still held) and is sent again under the same reference, which the processor makes
//! once, until it answers: by a task of its own with backoff, and by every sweep.

use super::{Engine, ProcessorWaits};
use crate::auth::Caller;
use crate::processor::{Refund as RefundCall, RefundOutcome};
use crate::store::StoreError;
use crate::store::accounts::AuditEntry;
use crate::store::refunds::{NewRefund, RefundBegun};
use cip_common::calendar;
use cip_common::error::ApiError;
use cip_common::fields::FieldErrors;
use cip_common::money::Money;
use cip_common::payment::check_idempotency_key;
use cip_common::refund::{Refund, RefundRequest, RefundStatus, refund_id};
use cip_common::stats::RefundsToday;
use cip_common::status::PaymentStatus;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The first wait before sending a refund whose answer did not come again, doubled after each
/// try up to `RESEND_AT_MOST`.
const RESEND_FIRST: Duration = Duration::from_secs(1);
const RESEND_AT_MOST: Duration = Duration::from_secs(60);
/// Most pending refunds one sweep sends again.
const MAX_SWEPT: u32 = 500;

/// A refund as stored, and whether an earlier call with the same key had already made it.
pub struct Refunded {
    pub refund: Refund,
    pub replayed: bool,
}

/// A keyed hash of what makes a refund request what it is: equal for a replay.
fn fingerprint(key: &[u8; 32], payment_id: &str, request: &RefundRequest) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(b"refund\0");
    hasher.update(payment_id.as_bytes());
    hasher.update(&[0]);
    serde_json::to_writer(&mut hasher, request).expect("a refund request always serializes");
    *hasher.finalize().as_bytes()
}

/// What the audit log says a refund touched: the refund, its payment, amount and reason.
fn audit_object(refund: &Refund) -> String {
    format!(
        "refund:{} payment:{} amount:{} reason:{}",
        refund.id,
        refund.payment_id,
        refund.amount,
        refund.reason.code()
    )
}

impl Engine {
    /// Gives back part or all of an approved payment `caller` may see. The work runs in its own
    /// task, so a caller that goes away never leaves a refund half done.
    pub async fn refund(
        self: &Arc<Self>,
        caller: &Caller,
        payment_id: &str,
        idempotency_key: String,
        request: RefundRequest,
        origin: &str,
    ) -> Result<Refunded, ApiError> {
        check_idempotency_key(&idempotency_key, "idempotency_key")?;
        request.check()?;
        let payment = self.visible_payment(caller, payment_id).await?;
        let now = self.clock.now_ms();
        let refund = Refund {
            id: refund_id(now, self.entropy.next_u64()),
            payment_id: payment.id.clone(),
            application: payment.application.clone(),
            amount: Money::new(request.amount_minor, payment.amount.currency),
            reason: request.reason,
            note: request.note.trim().to_owned(),
            status: RefundStatus::Pending,
            code: None,
            idempotency_key,
            asked_by: caller.user.clone(),
            created_ms: now,
            decided_ms: None,
            batch_id: None,
        };
        let audit = AuditEntry {
            at_ms: now,
            actor: caller.user.clone(),
            action: "refund.request",
            success: true,
            origin: origin.to_owned(),
            object: audit_object(&refund),
        };
        let new = NewRefund {
            fingerprint: fingerprint(&self.fingerprint_key, &payment.id, &request),
            expected_refundable_minor: request.expected_refundable_minor,
            refund,
            audit,
        };
        let engine = Arc::clone(self);
        let origin = origin.to_owned();
        tokio::spawn(async move { engine.carry_refund(new, &origin).await })
            .await
            .map_err(|e| {
                tracing::error!("refund task ended abnormally: {e}");
                ApiError::Unavailable {
                    reason: "the refund task stopped".to_owned(),
                }
            })?
    }

    async fn carry_refund(
        self: &Arc<Self>,
        new: NewRefund,
        origin: &str,
    ) -> Result<Refunded, ApiError> {
        let expected = new.expected_refundable_minor;
        let (refund, audit) = (new.refund.clone(), new.audit.clone());
        match self.store.begin_refund(new).await? {
            RefundBegun::Created => {}
            RefundBegun::Existing {
                same_request: false,
                ..
            } => {
                return Err(ApiError::IdempotencyConflict {
                    key: refund.idempotency_key,
                });
            }
            RefundBegun::Existing {
                refund,
                same_request: true,
            } => {
                return Ok(Refunded {
                    refund: *refund,
                    replayed: true,
                });
            }
            RefundBegun::Refused {
                status,
                refundable_minor,
                voiding,
            } => {
                let refused = AuditEntry {
                    success: false,
                    ..audit
                };
                self.store.audit(&refused).await?;
                return Err(refusal(
                    &refund,
                    status,
                    refundable_minor,
                    voiding,
                    expected,
                ));
            }
        }
        self.lock_refunds_in_flight().insert(refund.id.clone());
        let sent = self.send_refund(&refund).await;
        match sent {
            Some(outcome) => {
                let decided = self.decide_refund(refund.clone(), outcome, origin).await;
                self.lock_refunds_in_flight().remove(&refund.id);
                decided
            }
            None => {
                tracing::warn!(refund = %refund.id, "no answer from the processor: the refund stays pending and is sent again");
                self.follow_refund(refund.clone());
                Ok(refund)
            }
        }
        .map(|refund| {
            crate::metrics::METRICS.refund(&refund.application, refund.status.code());
            Refunded {
                refund,
                replayed: false,
            }
        })
    }

    fn lock_refunds_in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.refunds_in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `refund` to the processor under its own reference; `None`: no answer in time.
    async fn send_refund(&self, refund: &Refund) -> Option<RefundOutcome> {
        let ProcessorWaits { deadline, .. } = self.waits;
        let call = self.processor.refund(RefundCall {
            reference: &refund.id,
            payment: &refund.payment_id,
            amount: refund.amount,
        });
        match tokio::time::timeout(deadline, call).await {
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(e)) => {
                tracing::warn!(refund = %refund.id, "refund not answered: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// Commits what the processor said of a pending refund, and returns the refund as stored.
    async fn decide_refund(
        &self,
        mut refund: Refund,
        outcome: RefundOutcome,
        origin: &str,
    ) -> Result<Refund, ApiError> {
        let now = self.clock.now_ms();
        let status = match outcome {
            RefundOutcome::Succeeded => RefundStatus::Succeeded,
            RefundOutcome::Declined { code } => {
                refund.code = Some(code);
                RefundStatus::Failed
            }
        };
        assert!(
            refund.status.can_become(status),
            "a refund is decided only while pending"
        );
        refund.status = status;
        refund.decided_ms = Some(now);
        let audit = AuditEntry {
            at_ms: now,
            actor: refund.asked_by.clone(),
            action: match status {
                RefundStatus::Succeeded => "refund.succeeded",
                _ => "refund.failed",
            },
            success: status == RefundStatus::Succeeded,
            origin: origin.to_owned(),
            object: audit_object(&refund),
        };
        if self.store.decide_refund(&refund, audit).await? {
            tracing::info!(refund = %refund.id, status = %refund.status, "refund decided");
            return Ok(refund);
        }
        // Settled first by a sweep here or on another daemon: the stored answer is the answer.
        self.store
            .refund(&refund.id)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                what: "refund".to_owned(),
                id: refund.id.clone(),
            })
    }

    /// Sends a pending refund again with backoff, in a task of its own, until the processor
    /// answers or someone else settles it; it stays in flight here meanwhile.
    fn follow_refund(self: &Arc<Self>, refund: Refund) {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let id = refund.id.clone();
            let mut wait = RESEND_FIRST;
            loop {
                tokio::time::sleep(wait).await;
                match engine.store.refund(&id).await {
                    Ok(Some(stored)) if stored.status == RefundStatus::Pending => {}
                    _ => break,
                }
                if let Some(outcome) = engine.send_refund(&refund).await {
                    if let Err(e) = engine.decide_refund(refund, outcome, "processor").await {
                        tracing::warn!(refund = %id, "a refund's answer is not kept yet: {e}");
                    }
                    break;
                }
                wait = (wait * 2).min(RESEND_AT_MOST);
            }
            engine.lock_refunds_in_flight().remove(&id);
        });
    }

    /// Sends every refund left pending (a daemon stopped with it in hand, or its answer never
    /// came) again under its own reference, and commits the answer; on a shared store, only
    /// those older than another daemon would take to carry them. A daemon still carrying one
    /// is harmless anyway: the processor makes a reference once, and only the first decision
    /// is kept. Returns how many it settled.
    pub async fn settle_pending_refunds(&self) -> Result<usize, StoreError> {
        let carried_ms = if self.store.shared() {
            let carried = super::carried_for(self.waits.deadline, true);
            i64::try_from(carried.as_millis()).unwrap_or(i64::MAX)
        } else {
            0
        };
        let now = self.clock.now_ms();
        let mut settled = 0;
        for refund in self.store.pending_refunds(MAX_SWEPT).await? {
            let carried_here = self.lock_refunds_in_flight().contains(&refund.id);
            if carried_here || now < refund.created_ms.saturating_add(carried_ms) {
                continue;
            }
            let Some(outcome) = self.send_refund(&refund).await else {
                continue;
            };
            let id = refund.id.clone();
            match self.decide_refund(refund, outcome, "recovery").await {
                Ok(_) => settled += 1,
                Err(e) => tracing::warn!(refund = %id, "not settled: {e}"),
            }
        }
        Ok(settled)
    }

    /// The refunds of `applications` decided since the start of today in the time zone of the
    /// application `caller` signed in to, and those still pending.
    pub(super) async fn refunds_today(
        &self,
        caller: &Caller,
        applications: &[String],
        now_ms: i64,
    ) -> Result<RefundsToday, ApiError> {
        let zone = self.form(&caller.application).await?.spec.zone();
        let since_ms = calendar::day_start_ms(&zone, calendar::day_of(&zone, now_ms));
        let mut today = RefundsToday::default();
        for line in self
            .store
            .refund_lines(applications, since_ms, i64::MAX)
            .await?
        {
            match line.status {
                RefundStatus::Succeeded => {
                    today.succeeded += line.count;
                    today.refunded.push(Money::new(line.minor, line.currency));
                }
                RefundStatus::Failed => today.failed += line.count,
                RefundStatus::Pending => today.pending += line.count,
            }
        }
        Ok(today)
    }

    /// The refunds of a payment `caller` may see, oldest first.
    pub async fn refunds(
        &self,
        caller: &Caller,
        payment_id: &str,
    ) -> Result<Vec<Refund>, ApiError> {
        let payment = self.visible_payment(caller, payment_id).await?;
        Ok(self.store.refunds_of(&payment.id).await?)
    }
}

/// Why the store would not hold `refund` against its payment, told so the asker can act.
fn refusal(
    refund: &Refund,
    status: PaymentStatus,
    refundable_minor: i64,
    voiding: bool,
    expected: Option<i64>,
) -> ApiError {
    let id = &refund.payment_id;
    if status == PaymentStatus::Voided {
        return ApiError::InvalidRequest {
            message: format!(
                "{id} was voided, which gave all of it back: there is nothing left to refund"
            ),
        };
    }
    if status != PaymentStatus::Approved {
        return ApiError::InvalidRequest {
            message: format!("only an approved payment can be refunded; {id} is {status}"),
        };
    }
    if voiding {
        return ApiError::Stale {
            message: format!(
                "{id} is being voided, which gives back all of it: look at it again in a moment"
            ),
        };
    }
    let refundable = Money::new(refundable_minor, refund.amount.currency);
    if expected.is_some_and(|e| e != refundable_minor) {
        return ApiError::Stale {
            message: format!(
                "{id} may now refund {refundable}, not what you saw: look at it again before refunding"
            ),
        };
    }
    let mut errors = FieldErrors::default();
    errors.add(
        "amount_minor",
        format!("{id} may refund at most {refundable} more: enter that or less"),
    );
    ApiError::Fields(errors)
}
