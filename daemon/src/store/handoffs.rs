//! Hand-offs: what an agency registered for its customer, the one-time link that opens CIP's
//! payment pages, the payments taken for it, and the log of telling the agency.

use super::{Backend, Store, StoreError, postgres, sqlite};
use cip_common::money::Currency;
use cip_common::payment::Payment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the agency knows of its customer; any part may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KnownPayer {
    pub name: String,
    pub email: String,
    pub postal_code: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handoff {
    pub id: String,
    pub application: String,
    pub user: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub fields: BTreeMap<String, String>,
    pub payer: KnownPayer,
    pub return_url: String,
    pub link_used_ms: Option<i64>,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// How a hand-off's payments' idempotency keys begin: `hof-<hex>-`. Keys are letters, digits and
/// hyphens, so the id's `_` becomes `-`.
pub fn key_prefix(handoff_id: &str) -> String {
    format!("hof-{}-", handoff_id.trim_start_matches("hof_"))
}

/// The hand-off a payment was taken for, from its idempotency key (see [`key_prefix`]).
pub fn handoff_of_key(key: &str) -> Option<String> {
    let (hex, _) = key.strip_prefix("hof-")?.split_once('-')?;
    Some(format!("hof_{hex}"))
}

/// One attempt to tell the agency that its hand-off was paid.
pub struct Delivery {
    pub handoff_id: String,
    pub payment_id: String,
    pub attempt: u32,
    pub at_ms: i64,
    /// What the callback answered, in words: `HTTP 200`, `no answer in time`.
    pub outcome: String,
    pub taken: bool,
}

impl Store {
    pub async fn add_handoff(
        &self,
        handoff: &Handoff,
        link_hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (handoff, hash) = (handoff.clone(), *link_hash);
                db.write(move |c| sqlite::handoffs::insert(c, &handoff, &hash))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::handoffs::insert(&db.client().await?, handoff, link_hash).await
                })
                .await
            }
        }
    }

    /// A hand-off and its payments, oldest first.
    pub async fn handoff(&self, id: &str) -> Result<Option<(Handoff, Vec<Payment>)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.read(move |c| sqlite::handoffs::with_payments(c, &id))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::handoffs::with_payments(&db.client().await?, id).await })
                    .await
            }
        }
    }

    /// The hand-off behind an unused, unexpired link, leaving the link as it is.
    pub async fn unused_link(
        &self,
        link_hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<Handoff>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let hash = *link_hash;
                db.read(move |c| sqlite::handoffs::unused_link(c, &hash, now_ms))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::handoffs::unused_link(&db.client().await?, link_hash, now_ms).await
                })
                .await
            }
        }
    }

    /// Marks the link behind `link_hash` used and returns its hand-off, if it was unused and
    /// unexpired at `now_ms`: a link opens the pages once.
    pub async fn use_link(
        &self,
        link_hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<Handoff>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let hash = *link_hash;
                db.write(move |c| sqlite::handoffs::use_link(c, &hash, now_ms))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::handoffs::use_link(&db.client().await?, link_hash, now_ms).await
                })
                .await
            }
        }
    }

    /// Writes a delivery attempt to the delivery log, with its event on the payment, and marks
    /// the hand-off notified when the callback took it.
    pub async fn record_delivery(&self, delivery: Delivery) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.write(move |c| sqlite::handoffs::record_delivery(c, &delivery))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::handoffs::record_delivery(db, &delivery))
                    .await
            }
        }
    }

    /// Whether the agency's callback has taken a notification of the hand-off.
    pub async fn notified(&self, id: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.read(move |c| sqlite::handoffs::notified(c, &id)).await
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::handoffs::notified(&db.client().await?, id).await })
                    .await
            }
        }
    }

    /// Hand-off payments approved by the events after `after_seq` up to `upto_seq`, with their
    /// hand-offs' ids, in commit order.
    pub async fn approved_between(
        &self,
        after_seq: u64,
        upto_seq: u64,
    ) -> Result<Vec<(String, Payment)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| sqlite::handoffs::approved_between(c, after_seq, upto_seq))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::handoffs::approved_between(&db.client().await?, after_seq, upto_seq)
                        .await
                })
                .await
            }
        }
    }

    /// Hand-offs created since `since_ms`, not yet notified, that have an approved payment.
    pub async fn to_notify(&self, since_ms: i64) -> Result<Vec<(String, Payment)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| sqlite::handoffs::to_notify(c, since_ms))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::handoffs::to_notify(&db.client().await?, since_ms).await })
                    .await
            }
        }
    }
}
