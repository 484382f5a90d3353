//! Events: payment, security and batch events, each numbered in the transaction that makes the
//! change it reports, and the feed's reads over them.

use super::{Backend, Store, StoreError, postgres, sqlite};
use cip_common::event::{Event, EventKind};
use cip_common::money::Money;

/// Which events a session may read: payment events of `applications`, and, for supervisors,
/// batch events and security events of those applications, or of none (sign-ins by a user that does not exist,
/// which name no one).
#[derive(Clone, Debug)]
pub struct Visibility {
    pub applications: Vec<String>,
    pub security: bool,
}

/// A sign-in, failure, lockout or unlock, for the supervisors' feed.
pub(in crate::store) struct SecurityEvent<'a> {
    pub kind: EventKind,
    pub at_ms: i64,
    pub application: Option<&'a str>,
    pub user: &'a str,
    pub actor: Option<&'a str>,
    pub origin: &'a str,
}

/// A batch report's file is complete in the agency's outbox; `by` ran it.
pub(in crate::store) struct BatchEvent<'a> {
    pub at_ms: i64,
    pub application: &'a str,
    pub batch_id: &'a str,
    pub payment_count: u64,
    pub approved: Money,
    pub by: &'a str,
}

impl Store {
    /// Visible events after `after_seq`, at most `max`, and the highest seq examined.
    pub async fn events_after(
        &self,
        after_seq: u64,
        visibility: &Visibility,
        max: u32,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let visibility = visibility.clone();
                db.read(move |c| sqlite::events::events_after(c, after_seq, &visibility, max))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::events::events_after(&db.client().await?, after_seq, visibility, max)
                        .await
                })
                .await
            }
        }
    }

    /// Up to `max` visible events before `before_seq`, oldest first.
    pub async fn events_before(
        &self,
        before_seq: u64,
        visibility: &Visibility,
        max: u32,
    ) -> Result<Vec<Event>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let visibility = visibility.clone();
                db.read(move |c| sqlite::events::events_before(c, before_seq, &visibility, max))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::events::events_before(
                        &db.client().await?,
                        before_seq,
                        visibility,
                        max,
                    )
                    .await
                })
                .await
            }
        }
    }

    /// Every event of one payment that `visibility` allows, oldest first: none for a payment of
    /// an application the caller does not see.
    pub async fn timeline(
        &self,
        payment_id: &str,
        visibility: &Visibility,
    ) -> Result<Vec<Event>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (payment_id, visibility) = (payment_id.to_owned(), visibility.clone());
                db.read(move |c| sqlite::events::timeline(c, &payment_id, &visibility))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::events::timeline(&db.client().await?, payment_id, visibility).await
                })
                .await
            }
        }
    }
}
