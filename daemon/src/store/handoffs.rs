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
}
