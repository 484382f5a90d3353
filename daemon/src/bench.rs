//! `cipd bench`: how fast CIP runs on this machine, next to what its store and its wire allow.
//! It measures the store ceiling (the daemon's writes for one payment, group-committed by the
//! real writer) and the wire ceiling (a no-op call over the same transport), then drives a real
//! `cipd serve` over its Unix socket in closed loops of 1, 16, 64 and 256 clients, an open loop
//! of 1,000 payments/s, and 2,000 payments in flight against 250 ms of processor latency.

use crate::admin::{Admin, Operator};
use crate::clock::{Clock, Entropy, SystemClock};
use crate::codes::{CodeKey, Codes};
use crate::store::payments::Decision;
use crate::store::{Database, Store, StoreLimits};
use anyhow::{Context as _, bail};
use cip_client::connect;
use cip_client::wire::{CLIENT_MAX_FRAME_BYTES, json_transport};
use cip_common::card::Brand;
use cip_common::event::EventKind;
use cip_common::money::{Currency, Money};
use cip_common::payment::{
    CardInput, MethodSummary, Mode, Payer, Payment, PaymentMethod, PaymentRequest,
};
use cip_common::secret::{Cvv, Pan, Password, SessionToken};
use cip_common::service::CipClient;
use cip_common::status::PaymentStatus;
use futures::StreamExt;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tarpc::server::{BaseChannel, Channel};

/// Client counts of the closed-loop runs.
const CLIENT_COUNTS: [usize; 4] = [1, 16, 64, 256];
/// Gateway mode over HTTP, to set beside the tarpc runs of the same client counts.
const HTTP_CLIENT_COUNTS: [usize; 2] = [1, 64];
/// Payments offered per second in the open-loop run.
const OFFERED_PER_S: u64 = 1_000;
/// Offered at that rate before the open loop's measured seconds, and not counted: the run before
/// it leaves the store a backlog to checkpoint, whose drain is not the steady state at that rate.
const OPEN_LOOP_WARM_UP: Duration = Duration::from_secs(1);
/// Payments in flight against a slow processor.
const SLOW_IN_FLIGHT: usize = 2_000;
const SLOW_LATENCY_MS: u64 = 250;
/// Connections the load is spread over (calls are multiplexed on each).
const CONNECTIONS: usize = 16;

#[derive(Serialize)]
pub struct Run {
    pub name: String,
    pub clients: usize,
    pub offered_per_s: Option<u64>,
    pub processor_latency_ms: u64,
    pub payments_per_s: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

#[derive(Serialize)]
pub struct Report {
    /// Which store the runs used.
    pub store: String,
    pub store_ceiling_per_s: f64,
    pub wire_ceiling_per_s: f64,
    pub runs: Vec<Run>,
    pub ratio_to_ceiling: f64,
    pub peak_rss_mb: f64,
    pub daemon_cpu_s: f64,
    pub startup_1m_ms: Option<f64>,
}

/// [`demo_request`] as the store keeps it once taken at `now_ms`, `processing`: what the store
/// ceiling writes, and what a store test reads back.
pub fn demo_payment(id: String, idempotency_key: String, now_ms: i64) -> Payment {
    Payment {
        id,
        application: "DMV-RENEWAL".into(),
        mode: Mode::Full,
        status: PaymentStatus::Processing,
        amount: Money::new(2_500, Currency::Usd),
        payer: Payer {
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            postal_code: "94107".into(),
        },
        fields: [("plate_number".to_owned(), "ABC123".to_owned())].into(),
        method: MethodSummary::Card {
            brand: Brand::Visa,
            first_six: "424242".into(),
            last_four: "4242".into(),
            exp_month: 12,
            exp_year: 2099,
        },
        confirmation_code: None,
        code: None,
        message: None,
        idempotency_key,
        user: "agent1".into(),
        created_ms: now_ms,
        decided_ms: None,
        batch: None,
        refunds: Default::default(),
    }
}

/// The payment every benchmark sends: an approved card for DMV-RENEWAL.
pub fn demo_request() -> PaymentRequest {
    PaymentRequest {
        amount_minor: 2_500,
        currency: Currency::Usd,
        payer: Payer {
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            postal_code: "94107".into(),
        },
        fields: [
            ("plate_number".to_owned(), "ABC123".to_owned()),
            ("renewal_notice_number".to_owned(), "1234567890".to_owned()),
        ]
        .into(),
        method: PaymentMethod::Card(CardInput {
            // The contract's approval (sandbox.tsv), assembled so no test number sits in source.
            number: Pan::new(["4242"; 4].concat()),
            exp_month: 12,
            exp_year: 2099,
            cvv: Cvv::new("123"),
            name: "ADA LOVELACE".into(),
            postal_code: "94107".into(),
        }),
    }
}

/// Milliseconds at the given percentile of sorted microsecond samples.
fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0
}

fn run_of(
    name: &str,
    clients: usize,
    offered: Option<u64>,
    latency_ms: u64,
    mut samples: Vec<u32>,
    errors: u64,
    seconds: f64,
) -> Run {
    samples.sort_unstable();
    Run {
        name: name.to_owned(),
        clients,
        offered_per_s: offered,
        processor_latency_ms: latency_ms,
        payments_per_s: samples.len() as f64 / seconds,
        p50_ms: percentile(&samples, 50.0),
        p95_ms: percentile(&samples, 95.0),
        p99_ms: percentile(&samples, 99.0),
        max_ms: samples.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        errors,
    }
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// Where the runs keep their payments: each run on a SQLite file in a temporary dir of its own,
/// or (`cipd bench --store URL`) each on a new database of one PostgreSQL server, all dropped
/// at the end.
pub enum Stores {
    Sqlite,
    Postgres {
        server: Box<tokio_postgres::Config>,
        made: std::sync::Mutex<Vec<String>>,
    },
}

/// Connections each benchmark daemon keeps to PostgreSQL: enough for 64 clients' transactions
/// to share each commit's flush.
const POSTGRES_POOL: usize = 64;

impl Stores {
    pub fn new(url: Option<&str>) -> anyhow::Result<Stores> {
        Ok(match url {
            None => Stores::Sqlite,
            Some(url) => Stores::Postgres {
                server: Box::new(url.parse().context("--store is not a PostgreSQL URL")?),
                made: std::sync::Mutex::new(Vec::new()),
            },
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Stores::Sqlite => "SQLite, WAL, synchronous=FULL, the daemon's group commit",
            Stores::Postgres { .. } => "PostgreSQL, synchronous_commit=on, a pool of 64",
        }
    }

    /// A new, empty database on the server, and the URL that names it.
    async fn new_database(&self) -> anyhow::Result<Option<String>> {
        let Stores::Postgres { server, made } = self else {
            return Ok(None);
        };
        let (client, connection) = server.connect(tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(connection);
        let name = {
            let mut made = made.lock().unwrap_or_else(|p| p.into_inner());
            let name = format!("cip_bench_{}_{}", std::process::id(), made.len());
            made.push(name.clone());
            name
        };
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .context("the benchmark makes a database of its own on the server: CREATEDB needed")?;
        drop(client);
        let _ = driver.await;
        Ok(Some(database_url(server, &name)))
    }

    /// Drops the databases the runs made.
    pub async fn drop_all(&self) -> anyhow::Result<()> {
        let Stores::Postgres { server, made } = self else {
            return Ok(());
        };
        let names = std::mem::take(&mut *made.lock().unwrap_or_else(|p| p.into_inner()));
        let (client, connection) = server.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        for name in names {
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }

    /// A fresh demo store for a run in `dir`, and the URL its daemon is to be told (`None`: the
    /// SQLite file in `dir`).
    async fn fresh(&self, dir: &Path) -> anyhow::Result<(Store, Option<String>)> {
        let url = self.new_database().await?;
        let store = match &url {
            Some(url) => {
                Store::connect(
                    Database { url, tls_ca: None },
                    StoreLimits {
                        write_queue: 4096,
                        max_batch: 256,
                        readers: POSTGRES_POOL,
                    },
                )
                .await?
            }
            None => Store::open(
                &dir.join("cip.db"),
                StoreLimits {
                    write_queue: 4096,
                    max_batch: 256,
                    readers: 4,
                },
            )?,
        };
        load_demo(&store).await?;
        Ok((store, url))
    }
}

/// `server`'s connection settings naming `database` instead, as `key=value` pairs.
fn database_url(server: &tokio_postgres::Config, database: &str) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = server
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let mut pairs = vec![format!("dbname={database}")];
    if !hosts.is_empty() {
        pairs.push(format!("host={}", hosts.join(",")));
    }
    if let Some(port) = server.get_ports().first() {
        pairs.push(format!("port={port}"));
    }
    if let Some(user) = server.get_user() {
        pairs.push(format!("user={user}"));
    }
    if let Some(password) = server.get_password() {
        pairs.push(format!("password={}", String::from_utf8_lossy(password)));
    }
    pairs.join(" ")
}

async fn load_demo(store: &Store) -> anyhow::Result<()> {
    Admin {
        store: store.clone(),
        operator: Operator::from_env(),
        entropy: Entropy::from_os(),
    }
    .load_demo()
    .await?;
    Ok(())
}

/// Writers in the store-ceiling run: enough that the writer's batches fill as they do under the
/// heaviest load the runs offer.
const STORE_WRITERS: u64 = 256;

/// Writes payments into `store` as the engine does (the `processing` row with its key and
/// event, then the outcome with its confirmation and event), from `STORE_WRITERS` writers,
/// until `end` passes or `count` payments are written. Returns how many were written.
pub async fn write_payments(
    store: &Store,
    end: Option<Instant>,
    count: Option<u64>,
) -> anyhow::Result<u64> {
    let done = Arc::new(AtomicU64::new(0));
    let claimed = Arc::new(AtomicU64::new(0));
    let entropy = Entropy::from_os();
    let codes = Arc::new(Codes::new(CodeKey::from_fingerprint_key(
        &entropy.bytes::<32>(),
    )));
    let mut writers = Vec::new();
    for w in 0..STORE_WRITERS {
        let (store, done, claimed, entropy, codes) = (
            store.clone(),
            Arc::clone(&done),
            Arc::clone(&claimed),
            entropy.clone(),
            Arc::clone(&codes),
        );
        writers.push(tokio::spawn(async move {
            loop {
                if end.is_some_and(|end| Instant::now() >= end) {
                    break;
                }
                let n = claimed.fetch_add(1, Ordering::Relaxed);
                if count.is_some_and(|count| n >= count) {
                    break;
                }
                let now_ms = SystemClock.now_ms();
                let mut payment = demo_payment(
                    cip_common::payment::payment_id(now_ms, entropy.next_u64()),
                    format!("bench-{w}-{n}"),
                    now_ms,
                );
                let fingerprint = entropy.bytes::<32>();
                if store.begin(&payment, &fingerprint).await.is_err() {
                    continue;
                }
                payment.status = PaymentStatus::Approved;
                payment.decided_ms = Some(SystemClock.now_ms());
                let Ok((number, code)) = codes.next(&store).await else {
                    continue;
                };
                payment.confirmation_code = Some(code);
                let decision = Arc::new(Decision {
                    from: PaymentStatus::Processing,
                    authorization: Some("A1B2C3".into()),
                    confirmation_number: Some(number),
                    kind: EventKind::PaymentApproved,
                    at_ms: SystemClock.now_ms(),
                    audit: None,
                });
                if store.decide(&payment, &decision).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for writer in writers {
        writer.await?;
    }
    Ok(done.load(Ordering::Relaxed))
}

/// Payments/s the store commits when many writers each write what one payment writes.
async fn store_ceiling(stores: &Stores, seconds: f64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let (store, _) = stores.fresh(dir.path()).await?;
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    Ok(write_payments(&store, Some(end), None).await? as f64 / seconds)
}

/// Milliseconds from starting `cipd serve` on a database of a million payments (all decided in
/// the last hour, so the queue's figures load every one) to its socket answering.
async fn startup_with_a_million(stores: &Stores) -> anyhow::Result<f64> {
    const PAYMENTS: u64 = 1_000_000;
    let dir = tempfile::tempdir()?;
    let (store, url) = stores.fresh(dir.path()).await?;
    eprintln!("cipd bench: writing {PAYMENTS} payments for the start-up measurement…");
    write_payments(&store, None, Some(PAYMENTS)).await?;
    drop(store);
    let started = Instant::now();
    let served = Served::start_in(dir, url, 0).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(served);
    Ok(ms)
}

#[tarpc::service]
trait Noop {
    async fn noop() -> u64;
}

#[derive(Clone)]
struct NoopServer;

impl Noop for NoopServer {
    async fn noop(self, _: tarpc::context::Context) -> u64 {
        0
    }
}

/// No-op calls/s over the daemon's transport and format, with 64 clients on 16 connections.
async fn wire_ceiling(seconds: f64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("noop.sock");
    let listener = tokio::net::UnixListener::bind(&socket)?;
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(
                BaseChannel::with_defaults(json_transport(stream, 1 << 20))
                    .execute(NoopServer.serve())
                    .for_each(|call| async {
                        tokio::spawn(call);
                    }),
            );
        }
    });
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let stream = tokio::net::UnixStream::connect(&socket).await?;
        clients.push(
            NoopClient::new(
                tarpc::client::Config::default(),
                json_transport(stream, CLIENT_MAX_FRAME_BYTES),
            )
            .spawn(),
        );
    }
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (client, done) = (clients[i % CONNECTIONS].clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                if client.noop(tarpc::context::current()).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    server.abort();
    Ok(done.load(Ordering::Relaxed) as f64 / seconds)
}

/// A `cipd serve` of this build on a fresh demo database.
struct Served {
    child: Child,
    socket: PathBuf,
    /// Its agency API.
    http: String,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(stores: &Stores, latency_ms: u64) -> anyhow::Result<Served> {
        let dir = tempfile::tempdir()?;
        let (store, url) = stores.fresh(dir.path()).await?;
        drop(store);
        Self::start_in(dir, url, latency_ms).await
    }

    /// Serves the store already in `dir` (SQLite) or at `url` (PostgreSQL).
    async fn start_in(
        dir: tempfile::TempDir,
        url: Option<String>,
        latency_ms: u64,
    ) -> anyhow::Result<Served> {
        let config = dir.path().join("cipd.toml");
        // A free port for the daemon's HTTP side (taken back from the system a moment before).
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let pool = match url {
            Some(_) => format!("\n[store]\nreaders = {POSTGRES_POOL}\n"),
            None => String::new(),
        };
        std::fs::write(
            &config,
            format!(
                "[processor]\nadded_latency_ms = {latency_ms}\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
                 rate_per_second = 1000000\nrate_burst = 1000000\n{pool}"
            ),
        )?;
        let socket = dir.path().join("cipd.sock");
        let mut command = Command::new(std::env::current_exe()?);
        match &url {
            Some(url) => command.env("CIP_DATABASE_URL", url),
            None => command.env_remove("CIP_DATABASE_URL"),
        };
        let child = command
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--socket")
            .arg(&socket)
            .arg("serve")
            .env("CIP_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .context("cannot start cipd serve")?;
        // Generous: a large database is read back at start.
        for _ in 0..24_000 {
            if connect(&socket).await.is_ok() {
                return Ok(Served {
                    child,
                    socket,
                    http: format!("http://127.0.0.1:{port}"),
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!(
            "the benchmark's daemon did not answer on {}",
            socket.display()
        )
    }

    fn proc_field(&self, file: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).unwrap_or_default()
    }

    fn peak_rss_mb(&self) -> f64 {
        self.proc_field("status")
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    fn cpu_s(&self) -> f64 {
        let stat = self.proc_field("stat");
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0
    }

    async fn clients(&self) -> anyhow::Result<(Vec<CipClient>, SessionToken)> {
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            clients.push(connect(&self.socket).await?);
        }
        let session = clients[0]
            .login(
                tarpc::context::current(),
                "DMV-RENEWAL".into(),
                "agent1".into(),
                Password::new("agent1-demo-pass"),
            )
            .await?
            .map_err(|e| anyhow::anyhow!("the benchmark cannot sign in: {e}"))?;
        Ok((clients, session.token))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn context() -> tarpc::context::Context {
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + Duration::from_secs(30);
    ctx
}

static KEYS: AtomicU64 = AtomicU64::new(0);

fn fresh_key() -> String {
    format!(
        "bench-{}-{}",
        std::process::id(),
        KEYS.fetch_add(1, Ordering::Relaxed)
    )
}

static FIRST_ERROR: std::sync::Once = std::sync::Once::new();

/// One submit: whether it was approved. The first failure of the run is told on stderr.
async fn submit(client: &CipClient, token: &SessionToken, request: &PaymentRequest) -> bool {
    let answer = client
        .submit(context(), token.clone(), fresh_key(), request.clone())
        .await;
    let approved = matches!(&answer, Ok(Ok(payment)) if payment.status == PaymentStatus::Approved);
    if !approved {
        FIRST_ERROR.call_once(|| eprintln!("cipd bench: first error: {answer:?}"));
    }
    approved
}

/// `clients` tasks, each calling `pay(its number)` one payment after another for `seconds`: the
/// latencies of the approved payments and the count of the rest.
async fn run_clients<P, F>(clients: usize, seconds: f64, pay: P) -> anyhow::Result<(Vec<u32>, u64)>
where
    P: Fn(usize) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = bool> + Send,
{
    let pay = Arc::new(pay);
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (pay, errors, stop) = (Arc::clone(&pay), Arc::clone(&errors), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                if pay(i).await {
                    samples.push(micros(started));
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            samples
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await?);
    }
    Ok((samples, errors.load(Ordering::Relaxed)))
}

/// `clients` tasks each submitting one payment after another for `seconds`, over tarpc.
async fn closed_loop(
    served: &Served,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<(Vec<u32>, u64)> {
    let (connections, token) = served.clients().await?;
    let request = Arc::new(demo_request());
    run_clients(clients, seconds, move |i| {
        let client = connections[i % CONNECTIONS].clone();
        let (token, request) = (token.clone(), Arc::clone(&request));
        async move { submit(&client, &token, &request).await }
    })
    .await
}

/// The same in gateway mode over HTTP: keep-alive connections, Basic credentials on every call
/// (argon2 once, then the daemon's memory of the verified password).
async fn http_closed_loop(
    served: &Served,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<(Vec<u32>, u64)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let url = format!("{}/v1/payments", served.http);
    // Shared, not copied, by each request.
    let body = axum::body::Bytes::from(serde_json::to_vec(&crate::http::request_json(
        &demo_request(),
    ))?);
    run_clients(clients, seconds, move |_| {
        let answer = client
            .post(&url)
            .basic_auth("api1", Some("api1-demo-pass"))
            .header("X-CIP-Application", "DMV-RENEWAL")
            .header("Idempotency-Key", fresh_key())
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send();
        async move {
            match answer.await {
                Ok(response) if response.status() == 201 => true,
                other => {
                    FIRST_ERROR.call_once(|| eprintln!("cipd bench: first error: {other:?}"));
                    false
                }
            }
        }
    })
    .await
}

/// Payments offered at a fixed rate, each timed from when it was due, so queueing shows. A
/// blocking thread paces the offers: the runtime's timer counts whole milliseconds, so at a
/// millisecond apart its sleeps would send each payment up to two ticks late and count the
/// pacer's lateness as the daemon's. Each offer's task hands its answer back and ends, so its
/// memory is used again by the offers after it: kept to the end, every task took fresh pages, and
/// the pacer stopped for 4 ms every 320 payments to fault them in, which also counted as the
/// daemon's. The first [`OPEN_LOOP_WARM_UP`] is offered and not counted.
async fn open_loop(served: &Served, per_s: u64, seconds: f64) -> anyhow::Result<(Vec<u32>, u64)> {
    let (connections, token) = served.clients().await?;
    let request = Arc::new(demo_request());
    let warm_up = (per_s as f64 * OPEN_LOOP_WARM_UP.as_secs_f64()) as usize;
    let total = warm_up + (per_s as f64 * seconds) as usize;
    let period = Duration::from_secs_f64(1.0 / per_s as f64);
    let runtime = tokio::runtime::Handle::current();
    let (answer, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let pacer = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        for n in 0..total {
            let due = start + period.mul_f64(n as f64);
            if let Some(early) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(early);
            }
            let (client, token, request, answer) = (
                connections[n % CONNECTIONS].clone(),
                token.clone(),
                Arc::clone(&request),
                answer.clone(),
            );
            runtime.spawn(async move {
                let ok = submit(&client, &token, &request).await;
                // The receiver outlives every sender.
                let _ = answer.send((n, ok, micros(due)));
            });
        }
    });
    let (mut samples, mut errors, mut answered) = (Vec::with_capacity(total - warm_up), 0, 0);
    while let Some((n, ok, us)) = answers.recv().await {
        answered += 1;
        match (n < warm_up, ok) {
            (true, _) => {}
            (false, true) => samples.push(us),
            (false, false) => errors += 1,
        }
    }
    pacer.await?;
    if answered < total {
        bail!(
            "{} of {total} offered payments never answered",
            total - answered
        );
    }
    Ok((samples, errors))
}

pub async fn run(stores: &Stores, seconds: u64, startup: bool) -> anyhow::Result<Report> {
    let secs = seconds as f64;
    eprintln!("cipd bench: store ceiling ({})…", stores.name());
    let store_ceiling_per_s = store_ceiling(stores, secs).await?;
    eprintln!("cipd bench: wire ceiling…");
    let wire_ceiling_per_s = wire_ceiling(secs).await?;
    let mut runs = Vec::new();
    let fast = Served::start(stores, 0).await?;
    for clients in CLIENT_COUNTS {
        eprintln!("cipd bench: {clients} clients, closed loop…");
        let (samples, errors) = closed_loop(&fast, clients, secs).await?;
        runs.push(run_of(
            &format!("closed-{clients}"),
            clients,
            None,
            0,
            samples,
            errors,
            secs,
        ));
    }
    for clients in HTTP_CLIENT_COUNTS {
        eprintln!("cipd bench: {clients} clients, gateway mode over HTTP…");
        let (samples, errors) = http_closed_loop(&fast, clients, secs).await?;
        runs.push(run_of(
            &format!("http-{clients}"),
            clients,
            None,
            0,
            samples,
            errors,
            secs,
        ));
    }
    eprintln!("cipd bench: {OFFERED_PER_S}/s offered, open loop…");
    let (samples, errors) = open_loop(&fast, OFFERED_PER_S, secs).await?;
    runs.push(run_of(
        &format!("open-{OFFERED_PER_S}"),
        0,
        Some(OFFERED_PER_S),
        0,
        samples,
        errors,
        secs,
    ));
    let (mut peak_rss_mb, mut daemon_cpu_s) = (fast.peak_rss_mb(), fast.cpu_s());
    drop(fast);
    let slow = Served::start(stores, SLOW_LATENCY_MS).await?;
    eprintln!("cipd bench: {SLOW_IN_FLIGHT} in flight, {SLOW_LATENCY_MS} ms processor…");
    let (samples, errors) = closed_loop(&slow, SLOW_IN_FLIGHT, secs).await?;
    runs.push(run_of(
        &format!("slow-{SLOW_IN_FLIGHT}"),
        SLOW_IN_FLIGHT,
        None,
        SLOW_LATENCY_MS,
        samples,
        errors,
        secs,
    ));
    peak_rss_mb = peak_rss_mb.max(slow.peak_rss_mb());
    daemon_cpu_s += slow.cpu_s();
    let at_64 = runs
        .iter()
        .find(|r| r.clients == 64 && r.processor_latency_ms == 0)
        .map_or(0.0, |r| r.payments_per_s);
    Ok(Report {
        store: stores.name().to_owned(),
        store_ceiling_per_s,
        wire_ceiling_per_s,
        ratio_to_ceiling: if store_ceiling_per_s > 0.0 {
            at_64 / store_ceiling_per_s
        } else {
            0.0
        },
        runs,
        peak_rss_mb,
        daemon_cpu_s,
        startup_1m_ms: if startup {
            Some(startup_with_a_million(stores).await?)
        } else {
            None
        },
    })
}

pub fn print_table(report: &Report) {
    println!(
        "store ceiling  {:>10.0} payments/s   ({})",
        report.store_ceiling_per_s, report.store
    );
    println!(
        "wire ceiling   {:>10.0} calls/s      (no-op tarpc JSON calls, 64 clients, Unix socket)",
        report.wire_ceiling_per_s
    );
    println!();
    println!(
        "{:<12} {:>7} {:>9} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "run",
        "clients",
        "offered",
        "processor",
        "payments/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "errors"
    );
    for r in &report.runs {
        println!(
            "{:<12} {:>7} {:>9} {:>8}ms {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            r.name,
            r.clients,
            r.offered_per_s.map_or("-".to_owned(), |o| o.to_string()),
            r.processor_latency_ms,
            r.payments_per_s,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.max_ms,
            r.errors
        );
    }
    println!();
    println!(
        "64 clients / store ceiling  {:.0}%",
        report.ratio_to_ceiling * 100.0
    );
    println!("daemon peak RSS             {:.1} MiB", report.peak_rss_mb);
    println!("daemon CPU time             {:.1} s", report.daemon_cpu_s);
    if let Some(ms) = report.startup_1m_ms {
        println!("start-up with 1M payments   {ms:.0} ms");
    }
}
