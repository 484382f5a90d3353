//! The store on one SQLite file. One writer thread owns the write connection and commits
//! whatever is queued as one transaction (group commit: one fsync for many callers), answering
//! each caller after COMMIT; readers have connections of their own.

pub(super) mod accounts;
pub mod backup;
pub(super) mod batches;
pub(super) mod events;
pub(super) mod handoffs;
pub(super) mod notices;
pub(super) mod payments;
pub(super) mod refunds;

use super::health::StoreLoad;
use super::rows::Columns;
use super::{Rows, StoreError, StoreLimits};

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

impl Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }

    fn number(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(i)?)
    }
}

/// Every row of `rows`, each read by `read`.
fn read_all<T>(
    mut rows: rusqlite::Rows<'_>,
    read: fn(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut all = Vec::new();
    while let Some(row) = rows.next()? {
        all.push(read(row)?);
    }
    Ok(all)
}

/// The first row of `rows`, if any, read by `read`.
fn read_one<T>(
    mut rows: rusqlite::Rows<'_>,
    read: fn(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    rows.next()?.map(|row| read(row)).transpose()
}

/// A write waiting for the writer. It may run twice: a batch first runs all its jobs plainly
/// (one transaction, no savepoints); only when one fails is the batch rolled back and run again
/// with a savepoint per job, so the failure takes back its own writes and nothing else.
trait Job: Send {
    /// Runs the write; true when it succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch is committed (or failed).
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

struct WriteJob<T, F> {
    write: F,
    result: Option<Result<T, StoreError>>,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for WriteJob<T, F>
where
    T: Send,
    F: Fn(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = (self.write)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let result = committed.and(self.result.unwrap_or(Err(StoreError::Closed)));
        let _ = self.answer.send(result);
    }
}

#[derive(Clone)]
pub(super) struct Sqlite {
    writer: mpsc::Sender<Box<dyn Job>>,
    readers: Arc<Readers>,
    committed_seq: watch::Receiver<u64>,
    /// Calls whose callers are still waiting for their answer.
    calls: Arc<AtomicUsize>,
    /// How many jobs the writer's last batch held.
    last_batch: Arc<AtomicUsize>,
}

/// Counts one store call from its start until its caller has the answer in hand.
struct Call<'a>(&'a AtomicUsize);

impl<'a> Call<'a> {
    fn start(calls: &'a AtomicUsize) -> Call<'a> {
        calls.fetch_add(1, Ordering::Relaxed);
        Call(calls)
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Readers {
    idle: Mutex<Vec<Connection>>,
    available: Arc<Semaphore>,
    count: usize,
}

const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../../../migrations/01_init.sql")),
    M::up(include_str!("../../../migrations/02_handoffs.sql")),
    M::up(include_str!("../../../migrations/03_batches.sql")),
    M::up(include_str!("../../../migrations/04_password_history.sql")),
    M::up(include_str!(
        "../../../migrations/05_handoff_deliveries.sql"
    )),
    M::up(include_str!("../../../migrations/06_decided_covering.sql")),
    M::up(include_str!("../../../migrations/07_not_charged.sql")),
    M::up(include_str!("../../../migrations/08_store_settings.sql")),
    M::up(include_str!("../../../migrations/09_refunds.sql")),
    M::up(include_str!("../../../migrations/10_refunds_told.sql")),
    M::up(include_str!("../../../migrations/11_void_holds.sql")),
    M::up(include_str!("../../../migrations/12_viewers.sql")).foreign_key_check(),
    M::up(include_str!(
        "../../../migrations/13_numbered_confirmations.sql"
    ))
    .foreign_key_check(),
];

/// The schema version this build writes (SQLite's `user_version` after the migrations).
pub(super) fn schema_version() -> usize {
    MIGRATIONS.len()
}

/// A connection to the database at `path` with its schema brought up to date, for reading
/// every table (`cipd store copy`).
pub(super) fn up_to_date(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = open_connection(path)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Brings the schema up to date with foreign keys off, as SQLite asks of a migration that
/// rebuilds a table (each such migration checks the keys before it commits), then on again.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    migrations().to_latest(conn)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// The store's setting `name`, first recorded as `value` if it has none.
pub(super) fn setting_or(
    conn: &Connection,
    name: &str,
    value: &[u8],
) -> Result<Vec<u8>, StoreError> {
    conn.prepare_cached(
        "INSERT INTO store_settings (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(rusqlite::params![name, value])?;
    Ok(conn
        .prepare_cached("SELECT value FROM store_settings WHERE name = ?1")?
        .query_row([name], |r| r.get(0))?)
}

/// Sets the store's setting `name` to `value`.
pub(super) fn set_setting(conn: &Connection, name: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO store_settings (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute(rusqlite::params![name, value])?;
    Ok(())
}

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

impl Sqlite {
    /// Opens (creating if needed) the database at `path`, brings its schema up to date and starts
    /// the writer thread.
    pub(super) fn open(path: &Path, limits: StoreLimits) -> Result<Sqlite, StoreError> {
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        let mut conn = open_connection(path)?;
        migrate(&mut conn)?;
        // Checkpoints run on a thread of their own (below), never inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let last_seq: i64 =
            conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
        let (seq_tx, committed_seq) = watch::channel(u64::try_from(last_seq).unwrap_or(0));
        let (writer, queue) = mpsc::channel(limits.write_queue);
        // Held by the writer for each batch and by the checkpoint thread for a RESTART.
        let gate = Arc::new(Mutex::new(()));
        let max_batch = limits.max_batch;
        let last_batch = Arc::new(AtomicUsize::new(0));
        std::thread::Builder::new()
            .name("cip-store-writer".into())
            .spawn({
                let (gate, last_batch) = (Arc::clone(&gate), Arc::clone(&last_batch));
                move || run_writer(conn, queue, max_batch, seq_tx, gate, last_batch)
            })
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
            count: limits.readers,
        });
        let checkpointer = open_connection(path)?;
        let database = std::fs::File::open(path).map_err(|source| StoreError::DataDir {
            path: path.to_path_buf(),
            source,
        })?;
        let alive = Arc::downgrade(&readers);
        std::thread::Builder::new()
            .name("cip-store-checkpoint".into())
            .spawn(move || run_checkpoints(checkpointer, database, gate, alive))
            .map_err(|source| StoreError::DataDir {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Sqlite {
            writer,
            readers,
            committed_seq,
            calls: Arc::new(AtomicUsize::new(0)),
            last_batch,
        })
    }

    /// Runs `f` in the next group-commit batch and answers after COMMIT. If `f` fails, its own
    /// changes are rolled back and the rest of the batch is kept. Waits while the queue is full.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _call = Call::start(&self.calls);
        let (answer, rx) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(WriteJob {
            write: f,
            result: None,
            answer,
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader connection, off the async threads.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _call = Call::start(&self.calls);
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

    /// Runs `walk` on a reader connection, handing each row it gives to the `Rows` returned; the
    /// walk is told to stop once their reader drops them.
    pub(super) fn walk<T, F>(&self, walk: F) -> Rows<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut dyn FnMut(T) -> ControlFlow<()>) -> Result<(), StoreError>
            + Send
            + 'static,
    {
        let (tx, rows) = Rows::channel();
        let sqlite = self.clone();
        tokio::spawn(async move {
            let rows = tx.clone();
            let walked = sqlite
                .read(move |conn| {
                    walk(conn, &mut |row| match rows.blocking_send(Ok(row)) {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()),
                    })
                })
                .await;
            if let Err(e) = walked {
                let _ = tx.send(Err(e)).await;
            }
        });
        rows
    }

    pub(super) fn calls_in_progress(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// The writer's queue and last batch, and the readers in use.
    pub(super) fn load(&self) -> StoreLoad {
        let readers = &self.readers;
        StoreLoad {
            queued_writes: self.writer.max_capacity() - self.writer.capacity(),
            last_batch: self.last_batch.load(Ordering::Relaxed),
            connections_in_use: readers.count - readers.available.available_permits(),
            connections: readers.count,
        }
    }

    /// The highest event seq committed so far; changes as batches commit.
    pub(super) fn committed_seq(&self) -> watch::Receiver<u64> {
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

/// How often the WAL is copied back into the database, beside the writer. The disk writes a
/// pass's pages beside the commits' own flushes, which wait for them: a fortieth of a second of
/// payments keeps that wait short. At 1,000 payments/s, p99 was about 7 ms at 25 ms and 9 to
/// 18 ms at 100 ms in the same hour; 10 ms was worse again, each pass rewriting the same hot
/// pages.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(25);
/// Passes between two starts of the database file's write-out ([`crate::write_out`]), about a
/// second. A pass that does not reach the WAL's end does not sync the file, so the pages it copied
/// stay dirty; a commit's flush once waited 40 ms behind 8 MB of them written back at once.
/// Started every second, each write-out holds only that second's pages; started after every
/// pass, the disk wrote the hot pages forty times as often and the tail grew.
const PASSES_PER_WRITE_OUT: usize = 40;
/// Frames in the WAL past which it is started over, holding the writer back: 64 MiB of 4 KiB
/// pages, a few seconds of commits at 1,000 payments/s.
const RESTART_AT_FRAMES: i64 = 16_384;
/// Frames a pass beside the writer may find new, at most, for the writer to be held back for the
/// last pass before a restart: a few commits, come in while that short pass ran, so the last
/// pass copies little and its fsync finds the file nearly clean.
const RESTART_AFTER_FRESH_FRAMES: i64 = 256;
/// Passes beside the writer that may be spent waiting for one that finds few new frames before
/// the writer is held back all the same.
const CATCH_UP_PASSES: usize = 8;

/// Copies the WAL into the database now and then, until the store is dropped. The bulk is
/// copied beside the writer (PASSIVE) every [`CHECKPOINT_EVERY`], and every
/// [`PASSES_PER_WRITE_OUT`] passes the kernel is told to start writing out what they copied
/// (`database` is the same file, opened apart). Once the WAL holds
/// [`RESTART_AT_FRAMES`], passes beside the writer follow one another until one finds only the
/// few frames committed while the one before ran ([`RESTART_AFTER_FRESH_FRAMES`]); a last pass
/// then copies what came in meanwhile while holding the writer back at `gate` (waiting on a
/// lock, not in SQLite's sleeping busy handler), so that the WAL is copied to its end and the
/// next commit starts it over. That pass ends with the database file's fsync, which the writer
/// waits out: the catching up keeps it to the few pages the last commits touched. The WAL file
/// keeps its size when started over, so commits overwrite blocks the file system holds already
/// instead of new ones, which it zeroes first (a quarter of the daemon's CPU under load when the
/// WAL only grew).
fn run_checkpoints(
    conn: Connection,
    database: std::fs::File,
    gate: Arc<Mutex<()>>,
    alive: std::sync::Weak<Readers>,
) {
    // How many frames the WAL holds, and how many of them are copied (none if the pass failed).
    let checkpoint = || match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    }) {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!("checkpoint: {e}");
            (0, 0)
        }
    };
    for pass in 1.. {
        if alive.strong_count() == 0 {
            break;
        }
        std::thread::sleep(CHECKPOINT_EVERY);
        let (frames, mut copied) = checkpoint();
        if pass % PASSES_PER_WRITE_OUT == 0 {
            crate::write_out::start(&database, "the database file");
        }
        if frames >= RESTART_AT_FRAMES {
            for _ in 0..CATCH_UP_PASSES {
                let before = copied;
                copied = checkpoint().1;
                if copied - before <= RESTART_AFTER_FRESH_FRAMES {
                    break;
                }
            }
            let _writer_waits = gate.lock().unwrap_or_else(|p| p.into_inner());
            checkpoint();
        }
    }
}

/// Runs one statement through the connection's statement cache (no parsing after the first).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_writer(
    conn: Connection,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    seq_tx: watch::Sender<u64>,
    gate: Arc<Mutex<()>>,
    last_batch: Arc<AtomicUsize>,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.blocking_recv_many(&mut jobs, max_batch) > 0 {
        last_batch.store(jobs.len(), Ordering::Relaxed);
        let no_restart = gate.lock().unwrap_or_else(|p| p.into_inner());
        let committed = commit_batch(&conn, &mut jobs).map_err(|e| e.to_string());
        let last_seq = committed.as_ref().ok().and_then(|()| {
            conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM events")
                .and_then(|mut read| read.query_row([], |r| r.get::<_, i64>(0)))
                .ok()
        });
        drop(no_restart);
        if let Some(seq) = last_seq {
            seq_tx.send_if_modified(|current| {
                let seq = u64::try_from(seq).unwrap_or(0);
                let changed = seq > *current;
                *current = (*current).max(seq);
                changed
            });
        }
        for job in jobs.drain(..) {
            job.finish(committed.clone().map_err(StoreError::Commit));
        }
    }
}

/// Runs a batch in one transaction: plainly, and again job by job in savepoints if one fails.
/// Nothing runs outside a transaction: if it cannot begin, no job runs; on any error it is rolled
/// back whole.
fn commit_batch(conn: &Connection, jobs: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let done = run_jobs(conn, jobs).and_then(|()| exec(conn, "COMMIT"));
    if done.is_err() {
        let _ = exec(conn, "ROLLBACK");
    }
    done
}

fn run_jobs(conn: &Connection, jobs: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    if jobs.iter_mut().all(|job| job.run(conn)) {
        return Ok(());
    }
    exec(conn, "ROLLBACK")?;
    exec(conn, "BEGIN IMMEDIATE")?;
    for job in jobs.iter_mut() {
        exec(conn, "SAVEPOINT job")?;
        if !job.run(conn) {
            exec(conn, "ROLLBACK TO job")?;
        }
        exec(conn, "RELEASE job")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failing_write_takes_back_only_its_own_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open(
            &dir.path().join("cip.db"),
            StoreLimits {
                write_queue: 256,
                max_batch: 64,
                readers: 1,
            },
        )
        .unwrap();
        store
            .write(|c| {
                Ok(c.execute_batch(
                    "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER) STRICT; INSERT INTO t VALUES (1, 0);",
                )?)
            })
            .await
            .unwrap();
        // Each write adds two rows; every fifth collides on its second row and must leave none.
        let writes = (0..100i64).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(move |c| {
                        c.execute("INSERT INTO t (id, n) VALUES (?1, ?2)", [1000 + i, i])?;
                        let second = if i % 5 == 0 { 1 } else { 2000 + i };
                        c.execute("INSERT INTO t (id, n) VALUES (?1, ?2)", [second, i])?;
                        Ok(())
                    })
                    .await
                    .is_ok()
            })
        });
        let answers: Vec<bool> = futures::future::join_all(writes)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let kept = answers.iter().filter(|ok| **ok).count() as i64;
        assert_eq!(kept, 80);
        let rows: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(rows, 1 + 2 * kept);
    }
}
