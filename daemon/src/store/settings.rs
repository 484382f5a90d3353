//! Facts about the store itself, which every daemon serving it must agree with.

use super::{Backend, Store, StoreError, postgres, sqlite};

/// The check value of the key every daemon on the store fingerprints requests with.
const KEY_CHECK: &str = "fingerprint_key_check";

impl Store {
    /// Whether `check` is the store's fingerprint-key check value: recorded by the first daemon
    /// to serve the store, compared by every one after it.
    pub async fn agrees_on_key(&self, check: [u8; 32]) -> Result<bool, StoreError> {
        let stored = match &self.backend {
            Backend::Sqlite(db) => {
                db.write(move |c| sqlite::setting_or(c, KEY_CHECK, &check))
                    .await?
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::setting_or(&db.client().await?, KEY_CHECK, &check).await })
                    .await?
            }
        };
        Ok(stored == check)
    }
}
