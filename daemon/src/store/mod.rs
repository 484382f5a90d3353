//! The store: every read and write CIP makes, each a named operation, and the only place with
//! SQL. `payments`, `events`, `accounts`, `handoffs`, `batches` and `claims` say what the operations are
//! and what they take and give; `sqlite` says how on one file (one writer thread, group commit),
//! the embedded default, and `postgres` how on a PostgreSQL database that several daemons share.
//! The engine and the adapters see only these operations, never which store runs them.

pub mod accounts;
pub mod batches;
pub mod claims;
pub mod copy;
pub mod events;
pub mod handoffs;
pub mod health;
pub mod notices;
pub mod payments;
mod postgres;
pub mod refunds;
mod rows;
mod settings;
mod sqlite;

use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, watch};

pub use postgres::Database;
pub use sqlite::backup;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The store's settings cannot be used as they are.
    #[error("the store's settings are not usable: {0}")]
    Setup(String),
    /// The database cannot be reached or did not answer in time (stopped, failing over).
    #[error("the database did not answer: {0}")]
    Unreachable(String),
    #[error("database schema migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("the commit failed, nothing of this write was kept: {0}")]
    Commit(String),
    #[error("the store is shut down")]
    Closed,
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    /// A write that would break a rule the code keeps (a bug, never the input's fault):
    /// refused whole rather than stored half right.
    #[error("a write broke an invariant, so nothing of it was kept: {0}")]
    Broken(String),
}

/// A caller sees a store failure as CIP being briefly unavailable; the cause goes to the log.
impl From<StoreError> for cip_common::ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store: {e}");
        cip_common::ApiError::Unavailable {
            reason: "the database did not answer".to_owned(),
        }
    }
}

/// On a store several daemons share, the longest a call waits for the database before it
/// answers `Unreachable` (what it sent may still commit then).
pub const ANSWER_WITHIN: std::time::Duration = postgres::ANSWER_WITHIN;

#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    pub write_queue: usize,
    pub max_batch: usize,
    pub readers: usize,
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and brings its schema up to date.
    pub fn open(path: &Path, limits: StoreLimits) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::Sqlite::open(path, limits)?),
        })
    }

    /// Connects to the PostgreSQL `database` and brings its schema up to date; other daemons
    /// may share it.
    pub async fn connect(database: Database<'_>, limits: StoreLimits) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Postgres(postgres::Postgres::open(database, limits).await?),
        })
    }

    /// Whether other daemons may change this store too (PostgreSQL), so what a process holds
    /// in memory of it goes stale sooner.
    pub fn shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Store calls on their way to or from the database. Zero, once every runnable task has run,
    /// means nothing more happens until something outside the store acts: the point where a
    /// deterministic simulation takes its next step (which runs on SQLite).
    pub fn calls_in_progress(&self) -> usize {
        match &self.backend {
            Backend::Sqlite(db) => db.calls_in_progress(),
            Backend::Postgres(_) => 0,
        }
    }

    /// Whether the writer loop answers a no-op heartbeat queued behind the writes waiting: on
    /// SQLite an empty job through the writer thread's group commit, on PostgreSQL a heartbeat
    /// the senders of gathered writes take. Only a loop that never comes round answers false
    /// or not at all (a writer stuck on a lock, a hung thread): a database that refuses the
    /// write still answers true, because a daemon restarted for a PostgreSQL that is away finds
    /// it just as away, and meanwhile its callers hear that the database did not answer.
    pub async fn writer_answers(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(db) => !matches!(db.write(|_| Ok(())).await, Err(StoreError::Closed)),
            Backend::Postgres(db) => db.writers_answer().await,
        }
    }

    /// The highest seq of the events committed as of now, asked of the database: a write this
    /// process saw committed is at or below it. The watch of [`Self::committed_seq`] reaches it
    /// a moment later, on PostgreSQL once every transaction older than those has ended.
    pub async fn committed_now(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => Ok(*db.committed_seq().borrow()),
            Backend::Postgres(db) => {
                db.run(async {
                    let client = db.client().await?;
                    postgres::newest_seq(&client).await
                })
                .await
            }
        }
    }

    /// The highest event seq the feed may read up to; rises as writes commit.
    pub fn committed_seq(&self) -> watch::Receiver<u64> {
        match &self.backend {
            Backend::Sqlite(db) => db.committed_seq(),
            Backend::Postgres(db) => db.committed_seq(),
        }
    }
}

/// Rows a walk hands over one at a time, through a bounded channel, so a million rows take no
/// more memory than a few. Read on a thread that may block; dropping them stops the walk.
pub struct Rows<T> {
    rows: mpsc::Receiver<Result<T, StoreError>>,
}

/// Rows a walk holds ready before it waits for its reader.
const ROWS_AHEAD: usize = 256;

impl<T> Rows<T> {
    fn channel() -> (mpsc::Sender<Result<T, StoreError>>, Rows<T>) {
        let (tx, rows) = mpsc::channel(ROWS_AHEAD);
        (tx, Rows { rows })
    }
}

impl<T> Iterator for Rows<T> {
    type Item = Result<T, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.blocking_recv()
    }
}
