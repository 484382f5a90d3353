//! Events: payment, security and batch events, each numbered in the transaction that makes the
//! change it reports, and the feed's reads over them.

use super::{Backend, Store, StoreError, postgres, sqlite};
use cip_common::event::{Event, EventKind};
use cip_common::money::Money;
use cip_common::status::PaymentStatus;

/// The events that decide a payment or undo a decision, as the queue figures count them.
pub(in crate::store) const DECISION_KINDS: &str = "('payment.approved', 'payment.declined', \
     'payment.failed', 'payment.resolved', 'payment.voided')";

/// A payment's decision (or its void) as its event tells it, with the payment's times.
pub struct DecisionEvent {
    pub kind: EventKind,
    pub application: String,
    /// The payment's status after the event.
    pub status: PaymentStatus,
    pub amount: Money,
    pub at_ms: i64,
    pub received_ms: i64,
    /// When the payment was decided (a void keeps its decision's time).
    pub decided_ms: i64,
}

/// Where a reader of decisions stands: every decision up to it is counted, none after.
#[derive(Clone, Debug)]
pub struct DecisionsRead {
    pub(in crate::store) after_seq: u64,
    /// On PostgreSQL, the snapshot the figures were loaded from, and the place from which every
    /// event is newer than it: below that place, an event the snapshot saw is counted already.
    pub(in crate::store) loaded: Option<(String, u64)>,
}

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
    /// The decisions committed after `read` up to `upto_seq`, in commit order; `read` moves on
    /// to `upto_seq`.
    pub async fn decisions_until(
        &self,
        read: &mut DecisionsRead,
        upto_seq: u64,
    ) -> Result<Vec<DecisionEvent>, StoreError> {
        let decisions = match &self.backend {
            Backend::Sqlite(db) => {
                let after = read.after_seq;
                db.read(move |c| sqlite::events::decisions_between(c, after, upto_seq))
                    .await?
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::events::decisions_between(&db.client().await?, read, upto_seq).await
                })
                .await?
            }
        };
        read.after_seq = read.after_seq.max(upto_seq);
        if read
            .loaded
            .as_ref()
            .is_some_and(|(_, newer_from)| upto_seq >= *newer_from)
        {
            read.loaded = None;
        }
        Ok(decisions)
    }

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
