//! The store on PostgreSQL, for several daemons sharing one database. Every rule that must hold
//! across daemons is the database's: unique keys, row locks and advisory locks, never one
//! process's memory. A pool of connections (prepared statements cached on each) serves the
//! operations, each in a transaction of its own, and a second one the payments' gathered writes
//! (`senders_config`); a separate connection follows the feed's horizon, woken by this daemon's
//! commits and by the others' notifications.

pub(super) mod accounts;
pub(super) mod batches;
pub(super) mod claims;
pub(super) mod events;
mod gathered;
pub(super) mod handoffs;
pub(super) mod notices;
mod passfile;
mod payment_writes;
pub(super) mod payments;
pub(super) mod refunds;
mod server;

use super::health::StoreLoad;
use super::payments::{Begun, Decided};
use super::rows::Columns;
use super::{StoreError, StoreLimits};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use gathered::Gathered;
pub(super) use payment_writes::{Begin, Decide};
pub use server::Database;
use server::Server;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_postgres::types::ToSql;

/// The schema, in order; each is applied once, under an advisory lock, so daemons starting
/// together do not race.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/01_schema.sql"),
    include_str!("../../../migrations/postgres/02_store_settings.sql"),
    include_str!("../../../migrations/postgres/03_refunds.sql"),
    include_str!("../../../migrations/postgres/04_refunds_told.sql"),
    include_str!("../../../migrations/postgres/05_void_holds.sql"),
    include_str!("../../../migrations/postgres/06_viewers.sql"),
    include_str!("../../../migrations/postgres/07_numbered_confirmations.sql"),
    include_str!("../../../migrations/postgres/08_references_by_statement.sql"),
];

/// How long a caller waits for a connection or for the database to answer one operation: past
/// it, the caller hears that the database did not answer instead of hanging (a stopped or
/// failing-over server).
pub(super) const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// The channel other daemons' commits are announced on; only a wake-up, never the data.
const CHANNEL: &str = "cip_events";
/// How often the feed's horizon is looked at again while it lags what is committed (a
/// transaction still running holds it back) or when nothing woke it.
const HORIZON_RETRY: Duration = Duration::from_millis(5);
const HORIZON_IDLE: Duration = Duration::from_millis(500);
/// How long the horizon waits after a wake-up before it reads.
const GATHER: Duration = Duration::from_millis(2);
/// Between attempts to reach a database that does not answer.
const RECONNECT_AFTER: Duration = Duration::from_millis(250);
/// Below every seq a running (or later) transaction can still commit: the oldest transaction
/// still running, in the place its events would take (see `events.rs`).
pub(super) const HORIZON: &str = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)";
/// The lock key that serializes migrations across daemons (any number unique to CIP).
const MIGRATION_LOCK: i64 = 0x4349_5000_0001;

#[derive(Clone)]
pub(super) struct Postgres {
    pool: Pool,
    /// The gathering senders' own connections (see [`senders_config`]).
    senders: Pool,
    committed_seq: watch::Receiver<u64>,
    /// Told after each commit that wrote an event, so the horizon is read again at once.
    wake: Arc<Notify>,
    claims: Arc<claims::Claims>,
    begins: Gathered<Begin>,
    decisions: Gathered<Decide>,
}

pub(super) type Client = deadpool_postgres::Object;
pub(super) type Tx<'a> = deadpool_postgres::Transaction<'a>;

impl Postgres {
    /// Connects to `database`, brings the schema up to date and starts following the feed's
    /// horizon.
    pub(super) async fn open(
        database: Database<'_>,
        limits: StoreLimits,
    ) -> Result<Postgres, StoreError> {
        let server = Server::new(database)?;
        let pool = pool_of(&server, server.config.clone(), limits.readers.max(2))?;
        let senders = pool_of(&server, senders_config(&server), gathered::CONNECTIONS)?;
        migrate(&mut *get(&pool).await.map_err(passfile::with_hint)?).await?;
        let start = horizon(&**get(&pool).await?).await?;
        let (seq_tx, committed_seq) = watch::channel(start);
        let wake = Arc::new(Notify::new());
        tokio::spawn(follow_horizon(server.clone(), seq_tx, Arc::clone(&wake)));
        Ok(Postgres {
            begins: Gathered::start(&senders, limits),
            decisions: Gathered::start(&senders, limits),
            pool,
            senders,
            committed_seq,
            wake,
            claims: Arc::new(claims::Claims::new(server)),
        })
    }

    /// The gathering senders' queues and last statements, and the connections in use.
    pub(super) fn load(&self) -> StoreLoad {
        let (pool, senders) = (self.pool.status(), self.senders.status());
        StoreLoad {
            queued_writes: self.begins.queued() + self.decisions.queued(),
            last_batch: self.begins.last_batch().max(self.decisions.last_batch()),
            connections_in_use: pool.size - pool.available + senders.size - senders.available,
            connections: pool.max_size + senders.max_size,
        }
    }

    /// A connection from the pool, or `Unreachable` within [`ANSWER_WITHIN`].
    pub(super) async fn client(&self) -> Result<Client, StoreError> {
        get(&self.pool).await
    }

    /// Runs one operation, answering `Unreachable` if the database takes longer than
    /// [`ANSWER_WITHIN`]. What it sent may still commit: a caller that hears `Unreachable` sends
    /// again under its key and finds it, and a payment left `processing` is settled by inquiry.
    pub(super) async fn run<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(ANSWER_WITHIN, operation)
            .await
            .map_err(|_| StoreError::Unreachable("no answer in time".to_owned()))?
    }

    /// Says that a commit wrote events.
    pub(super) fn committed(&self) {
        self.wake.notify_one();
    }

    /// Commits a new payment as `processing` (see `payment_writes.rs`), with others waiting.
    pub(super) async fn begin(&self, begin: Begin) -> Result<Begun, StoreError> {
        let begun = self.begins.write(begin).await?;
        if let Begun::Created { .. } = begun {
            self.committed();
        }
        Ok(begun)
    }

    /// Commits a payment's move (see `payment_writes.rs`), with others waiting.
    pub(super) async fn decide(&self, decide: Decide) -> Result<Decided, StoreError> {
        let decided = self.decisions.write(decide).await?;
        if let Decided::Committed = decided {
            self.committed();
        }
        Ok(decided)
    }

    /// Whether the senders of both kinds of gathered writes take a heartbeat (see
    /// `Store::writer_answers`).
    pub(super) async fn writers_answer(&self) -> bool {
        let (begins, decisions) = tokio::join!(self.begins.heartbeat(), self.decisions.heartbeat());
        begins && decisions
    }

    /// Claims `name` (see `claims.rs`), answering within [`ANSWER_WITHIN`]. The claim is made
    /// in a task of its own: one granted after the caller stopped waiting is dropped there, and
    /// so released, never left held with nobody to release it.
    pub(super) async fn claim(&self, name: String) -> Result<Option<claims::Claim>, StoreError> {
        let claims = Arc::clone(&self.claims);
        let claiming = tokio::spawn(async move { claims.claim(name).await });
        match tokio::time::timeout(ANSWER_WITHIN, claiming).await {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(_)) => Err(StoreError::Closed),
            Err(_) => Err(StoreError::Unreachable("no answer in time".to_owned())),
        }
    }

    pub(super) fn committed_seq(&self) -> watch::Receiver<u64> {
        self.committed_seq.clone()
    }
}

impl Columns for tokio_postgres::Row {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }

    fn number(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(i)?)
    }
}

/// Every row `sql` gives for `params`, each read by `read`.
async fn read_all<T>(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    read: fn(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    client
        .query(&statement, params)
        .await?
        .iter()
        .map(|row| read(row))
        .collect()
}

/// The first row `sql` gives for `params`, if any, read by `read`.
async fn read_one<T>(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    read: fn(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    client
        .query_opt(&statement, params)
        .await?
        .as_ref()
        .map(|row| read(row))
        .transpose()
}

/// A connection of its own to `database`, its schema brought up to date, for filling it
/// (`cipd store copy`).
pub(super) async fn connect_up_to_date(
    database: Database<'_>,
) -> Result<tokio_postgres::Client, StoreError> {
    let mut client = Server::new(database)?.connect().await?;
    migrate(&mut client).await?;
    Ok(client)
}

/// The store's setting `name`, first recorded as `value` if it has none (another daemon's
/// record, committed meanwhile, is read back by the second statement).
pub(super) async fn setting_or(
    client: &Client,
    name: &str,
    value: &[u8],
) -> Result<Vec<u8>, StoreError> {
    client
        .execute(
            "INSERT INTO store_settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&name, &value],
        )
        .await?;
    Ok(client
        .query_one("SELECT value FROM store_settings WHERE name = $1", &[&name])
        .await?
        .try_get(0)?)
}

/// Sets the store's setting `name` to `value`.
pub(super) async fn set_setting(
    client: &Client,
    name: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO store_settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&name, &value],
        )
        .await?;
    Ok(())
}

/// Up to `size` connections to `server` with `config`, each asked for within [`ANSWER_WITHIN`].
fn pool_of(
    server: &Server,
    config: tokio_postgres::Config,
    size: usize,
) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        server.tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .timeouts(Timeouts {
            wait: Some(ANSWER_WITHIN),
            create: Some(ANSWER_WITHIN),
            recycle: Some(ANSWER_WITHIN),
        })
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Setup(e.to_string()))
}

/// The senders' connections plan without sequential scans. Their statements join the writes
/// they carry to `payments` by its key, and each is planned once per connection, when it is
/// first used: on a new database, tables that have not been analyzed yet look like a few rows,
/// and that plan scans all of `payments` for every row of the statement, so a statement took
/// longer the more payments there were (a second each at 100,000 payments, 1,300 payments/s
/// where the index makes 7,900 to 9,700, until autovacuum's first analyze made it plan again).
/// The index is the plan at any size.
fn senders_config(server: &Server) -> tokio_postgres::Config {
    let mut config = server.config.clone();
    let options = match config.get_options() {
        Some(given) => format!("{given} -c enable_seqscan=off"),
        None => "-c enable_seqscan=off".to_owned(),
    };
    config.options(options);
    config
}

async fn get(pool: &Pool) -> Result<Client, StoreError> {
    pool.get()
        .await
        .map_err(|e| StoreError::Unreachable(with_causes(&e)))
}

/// `e` and every cause under it, as one line: why a connection failed is often a cause or two
/// down (the server's certificate under a failed handshake, under a failed connection).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut said = e.to_string();
    let mut cause = e.source();
    while let Some(e) = cause {
        said.push_str(": ");
        said.push_str(&e.to_string());
        cause = e.source();
    }
    said
}

async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )
    .await?;
    let done: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    let done = usize::try_from(done).unwrap_or(0);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database's schema is version {done}, newer than this cipd's {}: run a newer cipd",
            MIGRATIONS.len()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms)
             VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
            &[&i32::try_from(version + 1).unwrap_or(i32::MAX)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The feed's horizon: the highest seq of an event whose transaction, and every older one, has
/// ended. Nothing can be committed at or below it any more.
async fn horizon(client: &tokio_postgres::Client) -> Result<u64, StoreError> {
    max_seq(client, &format!("WHERE seq < {HORIZON}")).await
}

/// The seq of the newest event committed.
pub(super) async fn newest_seq(client: &tokio_postgres::Client) -> Result<u64, StoreError> {
    max_seq(client, "").await
}

async fn max_seq(client: &tokio_postgres::Client, filter: &str) -> Result<u64, StoreError> {
    let seq: i64 = client
        .query_one(
            &format!("SELECT coalesce(max(seq), 0) FROM events {filter}"),
            &[],
        )
        .await?
        .get(0);
    Ok(u64::try_from(seq).unwrap_or(0))
}

/// Keeps `seq_tx` at the feed's horizon, until the store is dropped: read again when this
/// daemon commits events (and then announced to the others), when another daemon announces
/// its commits, shortly after while it lags, and now and then regardless. Reconnects by itself.
async fn follow_horizon(server: Server, seq_tx: watch::Sender<u64>, wake: Arc<Notify>) {
    use futures::StreamExt;
    while !seq_tx.is_closed() {
        let Ok((client, mut connection)) = server.config.connect(server.tls.clone()).await else {
            tokio::time::sleep(RECONNECT_AFTER).await;
            continue;
        };
        let (told_tx, mut told) = tokio::sync::mpsc::unbounded_channel();
        let messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        let driver = tokio::spawn(messages.for_each(move |message| {
            if let Ok(tokio_postgres::AsyncMessage::Notification(_)) = message {
                let _ = told_tx.send(());
            }
            futures::future::ready(())
        }));
        if client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .is_ok()
        {
            let _ = keep_horizon(&client, &seq_tx, &wake, &mut told).await;
        }
        driver.abort();
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn keep_horizon(
    client: &tokio_postgres::Client,
    seq_tx: &watch::Sender<u64>,
    wake: &Notify,
    told: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
) -> Result<(), StoreError> {
    let mut lagging = false;
    loop {
        let ours = tokio::select! {
            () = wake.notified() => true,
            heard = told.recv() => {
                heard.ok_or(StoreError::Closed)?;
                false
            }
            () = tokio::time::sleep(if lagging { HORIZON_RETRY } else { HORIZON_IDLE }) => false,
        };
        if seq_tx.is_closed() {
            return Ok(());
        }
        // Commits that land meanwhile are read (and announced) with these: under load one read
        // and one notification serve many commits.
        tokio::time::sleep(GATHER).await;
        if ours {
            client.batch_execute(&format!("NOTIFY {CHANNEL}")).await?;
        }
        let row = client
            .query_one(
                &format!(
                    "SELECT (SELECT coalesce(max(seq), 0) FROM events WHERE seq < {HORIZON}),
                        (SELECT coalesce(max(seq), 0) FROM events)"
                ),
                &[],
            )
            .await?;
        let (horizon, newest): (i64, i64) = (row.get(0), row.get(1));
        lagging = newest > horizon;
        let horizon = u64::try_from(horizon).unwrap_or(0);
        seq_tx.send_if_modified(|current| {
            let changed = horizon > *current;
            *current = (*current).max(horizon);
            changed
        });
    }
}
