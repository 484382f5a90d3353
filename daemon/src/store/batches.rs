//! Batch reports: claiming an application's decided payments for one batch, and recording that
//! its file reached the outbox.

use super::accounts::AuditEntry;
use super::{Backend, Store, StoreError, postgres, sqlite};
use cip_common::money::Money;

/// A batch and the payments and refunds it has claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub id: String,
    pub application: String,
    pub created_ms: i64,
    pub payment_count: u64,
    pub refund_count: u64,
    /// Claimed by an earlier run that stopped before its file was complete.
    pub unfinished: bool,
}

/// What a complete batch file holds, for its record and its event.
pub struct Transmitted {
    pub batch: Claimed,
    pub sha256: String,
    pub approved: Money,
    /// Its entry, and its time the batch's.
    pub audit: AuditEntry,
}

impl Store {
    /// The oldest batch of `application` whose file is not complete yet, if any; otherwise a new
    /// batch `id` claiming every decided payment and every decided refund of `application` that
    /// no batch holds (none twice: one transaction claims them, and their batch never changes).
    pub async fn claim_batch(
        &self,
        application: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Claimed, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (application, id) = (application.to_owned(), id.to_owned());
                db.write(move |c| sqlite::batches::claim(c, &application, &id, now_ms))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::batches::claim(db, application, id, now_ms))
                    .await
            }
        }
    }

    /// Records that the batch's file is complete in the outbox, with its `batch.transmitted`
    /// event and audit entry, unless another run recorded it first.
    pub async fn batch_transmitted(&self, done: Transmitted) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.write(move |c| sqlite::batches::transmitted(c, &done))
                    .await
            }
            Backend::Postgres(db) => db.run(postgres::batches::transmitted(db, &done)).await,
        }
    }

    /// Since when `application`'s daily batch counts as done: the claim of its latest sent
    /// batch, or the application's creation; `None` while a batch is unfinished.
    pub async fn batch_done_since_ms(&self, application: &str) -> Result<Option<i64>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let application = application.to_owned();
                db.read(move |c| sqlite::batches::done_since_ms(c, &application))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::batches::done_since_ms(&db.client().await?, application).await
                })
                .await
            }
        }
    }
}
