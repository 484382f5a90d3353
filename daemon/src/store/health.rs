//! What the store tells about its own health: whether it takes a write now, how many payments
//! wait in doubt, and how busy its writer and connections are. Read for readiness checks,
//! `cipd status` and the metrics, never on a payment's path.

use super::{Backend, Store, StoreError};

/// The store setting a readiness check writes: when a daemon last proved the store writable.
const PROBED_AT: &str = "readiness_probed_ms";

/// How busy the store is at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreLoad {
    /// Writes queued for the writer (PostgreSQL: for its gathering senders), not yet taken.
    pub queued_writes: usize,
    /// How many writes the last group commit held.
    pub last_batch: usize,
    /// Connections in use, and how many there may be.
    pub connections_in_use: usize,
    pub connections: usize,
}

impl Store {
    /// Writes and commits one small row, as a payment's first write does: an error when the
    /// store cannot take writes now (locked, read only, full, unreachable).
    pub async fn prove_writable(&self, now_ms: i64) -> Result<(), StoreError> {
        let value = now_ms.to_string().into_bytes();
        match &self.backend {
            Backend::Sqlite(db) => {
                db.write(move |c| super::sqlite::set_setting(c, PROBED_AT, &value))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    super::postgres::set_setting(&db.client().await?, PROBED_AT, &value).await
                })
                .await
            }
        }
    }

    /// How many payments wait in doubt for the processor's word.
    pub async fn in_doubt_count(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(super::sqlite::payments::in_doubt_count).await,
            Backend::Postgres(db) => {
                db.run(async {
                    super::postgres::payments::in_doubt_count(&db.client().await?).await
                })
                .await
            }
        }
    }

    /// The writer's queue, its last batch and the connections in use, as of now.
    pub fn load(&self) -> StoreLoad {
        match &self.backend {
            Backend::Sqlite(db) => db.load(),
            Backend::Postgres(db) => db.load(),
        }
    }
}
