//! The only place with SQL. One writer thread owns the write connection and commits whatever is
//! queued as one transaction (group commit: one fsync for many callers), answering each caller
//! after COMMIT; readers have connections of their own.

pub mod accounts;
pub mod events;
pub mod payments;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
}

/// A stored value this code does not know: the database was written by something else.
pub(crate) fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {what} {value:?}").into(),
    )
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

/// A write job runs inside its own savepoint of the batch transaction; `Finish` answers the
/// caller once the batch is committed (or failed). Given no connection, the job does nothing and
/// only answers: its batch could not begin.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Finish) + Send>;

#[derive(Clone)]
pub struct Store {
    writer: mpsc::Sender<Job>,
    readers: Arc<Readers>,
    committed_seq: watch::Receiver<u64>,
}

struct Readers {
    idle: Mutex<Vec<Connection>>,
    available: Arc<Semaphore>,
}

#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    pub write_queue: usize,
    pub max_batch: usize,
    pub readers: usize,
}

const MIGRATIONS: &[M<'static>] = &[M::up(include_str!("../../migrations/01_init.sql"))];

fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Keep the hot part of the tables and indexes in SQLite's own cache (in KiB when negative).
    conn.pragma_update(None, "cache_size", -32_768)?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the database at `path`, brings its schema up to date and starts
    /// the writer thread.
    pub fn open(path: &Path, limits: StoreLimits) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        let mut conn = open_connection(path)?;
        migrations().to_latest(&mut conn)?;
        // Checkpoints run on a thread of their own (below), never inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let last_seq: i64 =
            conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
        let (seq_tx, committed_seq) = watch::channel(u64::try_from(last_seq).unwrap_or(0));
        let (writer, queue) = mpsc::channel(limits.write_queue);
        let max_batch = limits.max_batch;
        std::thread::Builder::new()
            .name("cip-store-writer".into())
            .spawn(move || run_writer(conn, queue, max_batch, seq_tx))
            .map_err(|source| StoreError::DataDir {
                path: path.to_path_buf(),
                source,
            })?;
        let idle = (0..limits.readers)
            .map(|_| {
                let conn = open_connection(path)?;
                conn.pragma_update(None, "query_only", "ON")?;
                Ok(conn)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let readers = Arc::new(Readers {
            idle: Mutex::new(idle),
            available: Arc::new(Semaphore::new(limits.readers)),
        });
        let checkpointer = open_connection(path)?;
        let alive = Arc::downgrade(&readers);
        std::thread::Builder::new()
            .name("cip-store-checkpoint".into())
            .spawn(move || run_checkpoints(checkpointer, alive))
            .map_err(|source| StoreError::DataDir {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Store {
            writer,
            readers,
            committed_seq,
        })
    }

    /// Runs `f` in the next group-commit batch and answers after COMMIT. If `f` fails, its own
    /// changes are rolled back and the rest of the batch is kept. Waits while the queue is full.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => f(conn),
                None => Err(StoreError::Closed),
            };
            let kept = result.is_ok();
            let finish: Finish = Box::new(move |committed| {
                let _ = tx.send(committed.and(result));
            });
            (kept, finish)
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader connection, off the async threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.readers.available)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let conn = readers
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .expect("a permit guarantees an idle reader");
            let result = f(&conn);
            readers
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// The highest event seq committed so far; changes as batches commit.
    pub fn committed_seq(&self) -> watch::Receiver<u64> {
        self.committed_seq.clone()
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |source| StoreError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)
}

/// How often the WAL is copied back into the database, off the writer's path.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Copies the WAL into the database now and then without blocking the writer (PASSIVE), until
/// the store is dropped.
fn run_checkpoints(conn: Connection, alive: std::sync::Weak<Readers>) {
    while alive.strong_count() > 0 {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!("checkpoint: {e}");
        }
    }
}

/// Runs one statement through the connection's statement cache (no parsing after the first).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_writer(
    conn: Connection,
    mut queue: mpsc::Receiver<Job>,
    max_batch: usize,
    seq_tx: watch::Sender<u64>,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    let mut finishes = Vec::with_capacity(max_batch);
    while queue.blocking_recv_many(&mut jobs, max_batch) > 0 {
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            // Nothing of these jobs runs: outside a transaction their writes would stay.
            let message = e.to_string();
            for job in jobs.drain(..) {
                let (_, finish) = job(None);
                finish(Err(StoreError::Commit(message.clone())));
            }
            continue;
        }
        for job in jobs.drain(..) {
            let savepoint = exec(&conn, "SAVEPOINT job");
            let (kept, finish) = job(savepoint.is_ok().then_some(&conn));
            finishes.push(finish);
            if savepoint.is_ok() {
                if !kept {
                    let _ = exec(&conn, "ROLLBACK TO job");
                }
                let _ = exec(&conn, "RELEASE job");
            }
        }
        let committed = exec(&conn, "COMMIT").map_err(|e| {
            let _ = exec(&conn, "ROLLBACK");
            e.to_string()
        });
        if committed.is_ok()
            && let Ok(seq) = conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
        {
            seq_tx.send_if_modified(|current| {
                let seq = u64::try_from(seq).unwrap_or(0);
                let changed = seq > *current;
                *current = (*current).max(seq);
                changed
            });
        }
        for finish in finishes.drain(..) {
            finish(committed.clone().map_err(StoreError::Commit));
        }
    }
}
