//! Refunds: each committed `pending` with its idempotency key, its event and its audit entry,
//! holding its amount against the payment, before the processor is asked; then moved to
//! `succeeded` or `failed` with its event and audit entry. The payment's row holds what its
//! refunds came to, moved in the same transactions, and one conditional update of that row keeps
//! them within what was paid, however many daemons and callers refund it at once.

use super::accounts::AuditEntry;
use super::{Backend, Store, StoreError, postgres, sqlite};
use cip_common::money::Currency;
use cip_common::refund::{Refund, RefundStatus};
use cip_common::status::PaymentStatus;

/// A refund to commit as `pending`.
pub struct NewRefund {
    pub refund: Refund,
    /// A keyed hash of the request: equal for a replay of it.
    pub fingerprint: [u8; 32],
    /// Refused unless what the payment may still give back is exactly this.
    pub expected_refundable_minor: Option<i64>,
    pub audit: AuditEntry,
}

/// What committing a new refund found.
#[derive(Debug)]
pub enum RefundBegun {
    /// Committed as `pending`, with its amount held against the payment.
    Created,
    /// The idempotency key was used before.
    Existing {
        refund: Box<Refund>,
        same_request: bool,
    },
    /// Nothing was written: the payment is not approved, is being voided, or may not give back
    /// the amount (or not the amount the caller expected). Its status, what it may still give
    /// back, and whether a void holds it, now.
    Refused {
        status: PaymentStatus,
        refundable_minor: i64,
        voiding: bool,
    },
}

/// Refunds of one status and currency, counted and summed.
pub struct RefundLine {
    pub status: RefundStatus,
    pub currency: Currency,
    pub count: u64,
    pub minor: i64,
}

impl Store {
    /// Commits `new` as `pending` unless its key was used before or its payment may not give
    /// back its amount; all or nothing.
    pub async fn begin_refund(&self, new: NewRefund) -> Result<RefundBegun, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.write(move |c| sqlite::refunds::begin(c, &new)).await,
            Backend::Postgres(db) => db.run(postgres::refunds::begin(db, &new)).await,
        }
    }

    /// Moves a pending refund to the status `refund` holds, with its event and audit entry,
    /// giving its amount back to the payment's refundable figure when it failed. `false`: it
    /// was no longer pending (another daemon or sweep settled it), and nothing was written.
    pub async fn decide_refund(
        &self,
        refund: &Refund,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let refund = refund.clone();
                db.write(move |c| sqlite::refunds::decide(c, &refund, &audit))
                    .await
            }
            Backend::Postgres(db) => db.run(postgres::refunds::decide(db, refund, &audit)).await,
        }
    }

    pub async fn refund(&self, id: &str) -> Result<Option<Refund>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.read(move |c| sqlite::refunds::by_id(c, &id)).await
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::refunds::by_id(&db.client().await?, id).await })
                    .await
            }
        }
    }

    /// A payment's refunds, oldest first.
    pub async fn refunds_of(&self, payment_id: &str) -> Result<Vec<Refund>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = payment_id.to_owned();
                db.read(move |c| sqlite::refunds::of_payment(c, &id)).await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::refunds::of_payment(&db.client().await?, payment_id).await
                })
                .await
            }
        }
    }

    /// The refunds of `applications` decided from `from_ms` to before `to_ms`, and every one
    /// asked for before `to_ms` and still pending, counted and summed by status and currency.
    pub async fn refund_lines(
        &self,
        applications: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<RefundLine>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let applications = applications.to_vec();
                db.read(move |c| sqlite::refunds::lines(c, &applications, from_ms, to_ms))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    let client = db.client().await?;
                    postgres::refunds::lines(&client, applications, from_ms, to_ms).await
                })
                .await
            }
        }
    }

    /// At most `max` refunds still pending, oldest first.
    pub async fn pending_refunds(&self, max: u32) -> Result<Vec<Refund>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(move |c| sqlite::refunds::pending(c, max)).await,
            Backend::Postgres(db) => {
                db.run(async { postgres::refunds::pending(&db.client().await?, max).await })
                    .await
            }
        }
    }
}
