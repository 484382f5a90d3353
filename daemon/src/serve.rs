//! Assembles the daemon from its settings and serves tarpc on the Unix socket and, for remote
//! consoles, over TLS: a bounded number of connections, a maximum frame size, a bounded number of
//! requests per connection, the same for both. A bad frame or handshake closes only its own
//! connection.

use crate::auth::{Auth, AuthSettings};
use crate::clock::{Clock, Entropy, SystemClock};
use crate::engine::{Engine, ProcessorWaits};
use crate::feed::Feed;
use crate::handoff::Handoffs;
use crate::health::Health;
use crate::lookup::Lookup;
use crate::notify::Notifier;
use crate::processor::Processor;
use crate::processor::sandbox::Sandbox;
use crate::processor::sandbox_http::SandboxHttp;
use crate::processor::stripe::Stripe;
use crate::report::Reports;
use crate::rpc::{Connection, Shared};
use crate::store::{Database, Store, StoreLimits};
use anyhow::{Context as _, bail};
use cip_common::service::Cip;
use cip_config::{ProcessorKind, Resolved};
use futures::StreamExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tarpc::server::{BaseChannel, Channel};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::AbortOnDropHandle;

/// How often payments left in doubt are asked about again.
const RESOLVE_EVERY: Duration = Duration::from_secs(30);
/// How long a remote console has to finish its TLS handshake: one that is silent, slow or
/// broken holds only its own task (and one handshake permit) until then, never the listener.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes under way at once. A client takes a connection permit only once its handshake
/// is done, so clients that never finish theirs cannot keep consoles out.
const MAX_HANDSHAKES: usize = 64;

pub fn store_limits(resolved: &Resolved) -> StoreLimits {
    let store = &resolved.settings.store;
    StoreLimits {
        write_queue: store.write_queue,
        max_batch: store.max_batch,
        readers: store.readers,
    }
}

/// The PostgreSQL database the settings name, if any.
pub fn database(resolved: &Resolved) -> Option<Database<'_>> {
    resolved.store_url().map(|url| Database {
        url,
        tls_ca: resolved.settings.store.tls_ca.as_deref(),
    })
}

/// The store the settings name: the PostgreSQL database at `[store] url` when set, else the
/// SQLite file in the data dir.
pub async fn open_store(resolved: &Resolved) -> anyhow::Result<Store> {
    let limits = store_limits(resolved);
    match database(resolved) {
        Some(database) => Store::connect(database, limits)
            .await
            .context("cannot open the PostgreSQL store at [store] url"),
        None => Store::open(&resolved.database(), limits)
            .with_context(|| format!("cannot open the database {}", resolved.database().display())),
    }
}

/// The file beside the database that holds the fingerprint key (outside the database, so a
/// copy of the database alone cannot link requests to payments).
pub const FINGERPRINT_KEY_FILE: &str = "fingerprint.key";

/// The key of the request fingerprints, made once per data dir and kept apart from the
/// database (mode 0600), so a fingerprint in the database cannot be tested against card numbers.
pub fn fingerprint_key(data_dir: &Path, entropy: &Entropy) -> anyhow::Result<[u8; 32]> {
    let path = data_dir.join(FINGERPRINT_KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => bytes.try_into().map_err(|_| {
            anyhow::anyhow!(
                "{} is not a 32-byte key: restore it from backup",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let key = entropy.bytes::<32>();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// What the store keeps of the fingerprint key: a check value, from which the key cannot be
/// found, that tells whether two daemons hold the same key.
fn key_check(key: &[u8; 32]) -> [u8; 32] {
    *blake3::keyed_hash(key, b"cip fingerprint key check").as_bytes()
}

/// The processor `[processor] kind` names.
fn processor(resolved: &Resolved) -> anyhow::Result<Arc<dyn Processor>> {
    let settings = &resolved.settings.processor;
    Ok(match settings.kind {
        ProcessorKind::Sandbox => {
            let ledger = resolved.processor_ledger();
            let latency = Duration::from_millis(settings.added_latency_ms);
            Arc::new(Sandbox::open(&ledger, latency).with_context(|| {
                format!("cannot open the processor ledger {}", ledger.display())
            })?)
        }
        ProcessorKind::SandboxHttp => Arc::new(
            SandboxHttp::new(&settings.url, Duration::from_millis(settings.timeout_ms))
                .context("cannot set up the processor's client")?,
        ),
        ProcessorKind::Stripe => Arc::new(Stripe::new(
            &settings.api_base,
            settings
                .secret_key_file
                .as_deref()
                .context("processor.secret_key_file is needed for kind = \"stripe\"")?,
            &resolved.stripe_books(),
            Duration::from_millis(settings.timeout_ms),
        )?),
    })
}

/// A daemon ready to serve: store open, processor books read, unsettled payments resolved.
pub struct Daemon {
    shared: Arc<Shared>,
    http: Option<(crate::http::HttpListener, cip_config::HttpSettings)>,
    remote: Option<RemoteListener>,
    /// Prometheus's listener, when `[metrics] listen` is set.
    metrics: Option<TcpListener>,
    outbox: std::path::PathBuf,
    /// When the start's sweep wants the next one sooner than `RESOLVE_EVERY`.
    next_sweep_ms: Option<i64>,
    /// The queue's figures following the commits, from the start until the daemon is dropped.
    figures: AbortOnDropHandle<()>,
    notifier: Arc<Notifier>,
    /// How often the processor is probed for the readiness check.
    probe_every: Duration,
    /// For systemd's watchdog, which asks the store's writer whether it answers.
    store: Store,
}

impl Daemon {
    /// Opens everything, binds HTTP when `[http] listen` is set and the TLS listener for remote
    /// consoles when `[rpc] listen` is; with `next_free_port`, a taken HTTP port makes it try the
    /// next ones (the demo).
    pub async fn start(resolved: &Resolved, next_free_port: bool) -> anyhow::Result<Daemon> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let entropy = Entropy::from_os();
        let settings = &resolved.settings;
        let store = open_store(resolved).await?;
        let key = fingerprint_key(&resolved.data_dir, &entropy)?;
        if !store.agrees_on_key(key_check(&key)).await? {
            anyhow::bail!(
                "{} is not the fingerprint key this store was first served with: copy \
                 fingerprint.key from the data dir of a daemon that serves it (or from the \
                 backup kept with it), or a resend under a key taken before would be refused \
                 as a different request",
                resolved.data_dir.join(FINGERPRINT_KEY_FILE).display()
            );
        }
        let engine = Arc::new(Engine::new(
            store.clone(),
            processor(resolved)?,
            Arc::clone(&clock),
            entropy.clone(),
            key,
            ProcessorWaits {
                deadline: Duration::from_millis(settings.processor.deadline_ms),
                ask_after: Duration::from_millis(settings.processor.ask_after_ms),
            },
        ));
        let numbered = store.number_confirmations(engine.code_key()).await?;
        if numbered > 0 {
            tracing::info!(
                "numbered {numbered} confirmation codes issued before codes had numbers"
            );
        }
        let figures_from = engine.load_figures().await?;
        let figures = AbortOnDropHandle::new(tokio::spawn(
            Arc::clone(&engine).follow_figures(figures_from),
        ));
        let swept = engine.resolve_unsettled().await?;
        if swept.settled > 0 {
            tracing::info!(
                "settled {} payments left unsettled by the last run",
                swept.settled
            );
        }
        let auth = Auth::new(
            store.clone(),
            Arc::clone(&clock),
            entropy,
            AuthSettings {
                max_failures: settings.auth.max_failures,
                lockout_ms: i64::from(settings.auth.lockout_minutes) * 60_000,
                idle_ms: i64::from(settings.auth.session_idle_minutes) * 60_000,
                verified_for_ms: i64::from(settings.http.credential_cache_seconds) * 1000,
            },
        )
        .map_err(|e| anyhow::anyhow!("cannot prepare password hashing: {e}"))?;
        let notifier = Arc::new(
            Notifier::new(store.clone(), Arc::clone(&engine))
                .context("cannot prepare the client for agency notices")?,
        );
        let health = Arc::new(Health::new(
            resolved,
            Arc::clone(&engine),
            store.clone(),
            Arc::clone(&notifier),
        ));
        let http = match settings.http.listen.is_empty() {
            true => None,
            false => Some((
                crate::http::bind(&settings.http, next_free_port).await?,
                settings.http.clone(),
            )),
        };
        let remote = match settings.rpc.listen.is_empty() {
            true => None,
            false => Some(RemoteListener::bind(&settings.rpc).await?),
        };
        let metrics = match settings.metrics.listen.is_empty() {
            true => None,
            false => Some(crate::http::health::bind_metrics(&settings.metrics.listen).await?),
        };
        Ok(Daemon {
            shared: Arc::new(Shared {
                lookup: Lookup::new(store.clone(), engine.code_key().clone()),
                feed: Feed::new(store.clone()),
                reports: Reports::new(store.clone(), clock),
                handoffs: Handoffs::new(store.clone(), Arc::clone(&engine)),
                engine,
                health,
                auth,
                limits: settings.rpc.clone(),
            }),
            http,
            remote,
            metrics,
            outbox: resolved.outbox(),
            next_sweep_ms: swept.next_due_ms,
            figures,
            notifier,
            probe_every: Duration::from_millis(settings.processor.probe_every_ms),
            store,
        })
    }

    /// Where agencies and customers reach the HTTP side, when it is on.
    pub fn http_url(&self) -> Option<&str> {
        self.http
            .as_ref()
            .map(|(listener, _)| listener.base_url.as_str())
    }

    /// Serves on `socket` until `shutdown` resolves.
    pub async fn serve(
        self,
        socket: &Path,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let _figures = self.figures;
        let listener = bind(socket).await?;
        tracing::info!("cipd listening on {}", socket.display());
        // HTTP and the TLS listener were bound by `start`: everything answers from here.
        crate::systemd::ready();
        let _watchdog = crate::systemd::watchdog(self.store);
        let stopping = tokio_util::sync::CancellationToken::new();
        let http = self.http.map(|(listener, settings)| {
            tracing::info!("cipd HTTP on {}", listener.base_url);
            let stopped = stopping.clone().cancelled_owned();
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                if let Err(e) = crate::http::serve(listener, shared, settings, stopped).await {
                    tracing::error!("{e:#}");
                }
            })
        });
        let metrics = self.metrics.map(|listener| {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!("cipd metrics on http://{addr}/metrics");
            }
            let stopped = stopping.clone().cancelled_owned();
            let health = Arc::clone(&self.shared.health);
            tokio::spawn(async move {
                if let Err(e) = crate::http::health::serve_metrics(listener, health, stopped).await
                {
                    tracing::error!("{e:#}");
                }
            })
        });
        let engine = Arc::clone(&self.shared.engine);
        let mut next_sweep_ms = self.next_sweep_ms;
        let resolver = tokio::spawn(async move {
            loop {
                let wait = next_sweep_ms.map_or(RESOLVE_EVERY, |due_ms| {
                    let left = due_ms - engine.clock().now_ms();
                    Duration::from_millis(u64::try_from(left).unwrap_or(0)).min(RESOLVE_EVERY)
                });
                tokio::time::sleep(wait).await;
                next_sweep_ms = match engine.resolve_unsettled().await {
                    Ok(swept) => swept.next_due_ms,
                    Err(e) => {
                        tracing::warn!("in-doubt payments not resolved: {e}");
                        None
                    }
                };
            }
        });
        let notifier = tokio::spawn(Arc::clone(&self.notifier).run());
        let prober =
            tokio::spawn(Arc::clone(&self.shared.health).probe_processor(self.probe_every));
        // A batch cut short by the stop is finished by the next run.
        let schedule = tokio::spawn(crate::report::schedule::run(
            self.shared.reports.clone(),
            Arc::clone(&self.shared.engine),
            self.outbox.clone(),
        ));
        // A bound for each listener: whoever reaches the TLS port cannot keep local consoles out.
        let connections = Arc::new(Semaphore::new(self.shared.limits.max_connections));
        let remote = match self.remote {
            Some(remote) => {
                tracing::info!(
                    "cipd remote consoles on {} (TLS)",
                    remote.listener.local_addr()?
                );
                let stopped = stopping.clone().cancelled_owned();
                let shared = Arc::clone(&self.shared);
                Some(tokio::spawn(remote.serve(shared, stopped)))
            }
            None => None,
        };
        let shared = &self.shared;
        accept_each(
            &connections,
            || async { listener.accept().await.map(|(stream, _)| stream) },
            |stream, permit| {
                let origin = origin(&stream);
                tokio::spawn(serve_connection(Arc::clone(shared), stream, origin, permit));
            },
            shutdown,
        )
        .await?;
        crate::systemd::stopping();
        resolver.abort();
        notifier.abort();
        prober.abort();
        schedule.abort();
        stopping.cancel();
        for server in [http, metrics].into_iter().flatten() {
            let _ = server.await;
        }
        if let Some(remote) = remote {
            let _ = remote.await;
        }
        let _ = std::fs::remove_file(socket);
        tracing::info!("cipd stopped accepting; letting payments in flight finish");
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.shared.engine.deadline_ms());
        while self.shared.engine.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// Accepts connections until `stop`, each holding one of `permits`, and hands each to `open`,
/// which must not wait.
async fn accept_each<S, Accepted>(
    permits: &Arc<Semaphore>,
    mut accept: impl FnMut() -> Accepted,
    mut open: impl FnMut(S, OwnedSemaphorePermit),
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()>
where
    Accepted: std::future::Future<Output = std::io::Result<S>>,
{
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(permits).acquire_owned() => permit?,
            () = &mut stop => return Ok(()),
        };
        let stream = tokio::select! {
            accepted = accept() => match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => return Ok(()),
        };
        open(stream, permit);
    }
}

/// Serves tarpc on one connection, whichever way it came: the same frame limit, requests in
/// flight, and session, role and application checks on every call.
async fn serve_connection<S>(
    shared: Arc<Shared>,
    stream: S,
    origin: String,
    permit: OwnedSemaphorePermit,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let _connected = crate::metrics::METRICS.console();
    let transport = cip_client::wire::json_transport(stream, shared.limits.max_frame_bytes);
    let in_flight = shared.limits.max_in_flight_per_connection;
    let connection = Connection {
        shared,
        origin: origin.into(),
    };
    BaseChannel::with_defaults(transport)
        .max_concurrent_requests(in_flight)
        .execute(connection.serve())
        .for_each(|call| async {
            tokio::spawn(call);
        })
        .await;
    drop(permit);
}

/// The TCP listener for remote consoles and its TLS settings, ready before the daemon serves.
struct RemoteListener {
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl RemoteListener {
    /// Reads the certificate, key and client CA (a bad one stops the start) and binds `listen`.
    async fn bind(settings: &cip_config::RpcSettings) -> anyhow::Result<RemoteListener> {
        let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) else {
            bail!("rpc.listen needs rpc.tls_cert and rpc.tls_key");
        };
        let config = crate::tls::server_config(cert, key, settings.client_ca.as_deref())?;
        let listener = TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("cannot listen for remote consoles on {}", settings.listen))?;
        Ok(RemoteListener {
            listener,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Accepts until `stop`; each handshake runs in a task of its own under
    /// [`HANDSHAKE_TIMEOUT`] (at most [`MAX_HANDSHAKES`] at once), then the connection takes one
    /// of the listener's own `rpc.max_connections` (or is closed when none is free: nothing
    /// waits) and is served as a Unix socket's is.
    async fn serve(
        self,
        shared: Arc<Shared>,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let RemoteListener { listener, acceptor } = self;
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let connections = Arc::new(Semaphore::new(shared.limits.max_connections));
        accept_each(
            &handshakes,
            || listener.accept(),
            |(tcp, peer), handshaking| {
                crate::tcp::set_no_delay(&tcp);
                let (acceptor, shared) = (acceptor.clone(), Arc::clone(&shared));
                let connections = Arc::clone(&connections);
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                    drop(handshaking);
                    match handshake {
                        Ok(Ok(stream)) => match connections.try_acquire_owned() {
                            Ok(permit) => {
                                let origin = format!("tls {peer}");
                                serve_connection(shared, stream, origin, permit).await;
                            }
                            Err(_) => tracing::warn!(
                                "remote console {peer}: closed, rpc.max_connections are all in use"
                            ),
                        },
                        Ok(Err(e)) => tracing::warn!("remote console {peer}: TLS refused: {e}"),
                        Err(_) => tracing::warn!(
                            "remote console {peer}: no TLS handshake within {HANDSHAKE_TIMEOUT:?}"
                        ),
                    }
                });
            },
            stop,
        )
        .await
    }
}

fn origin(stream: &UnixStream) -> String {
    match stream.peer_cred() {
        Ok(cred) => match cred.pid() {
            Some(pid) => format!("unix uid={} pid={pid}", cred.uid()),
            None => format!("unix uid={}", cred.uid()),
        },
        Err(_) => "unix".to_owned(),
    }
}

/// Binds the socket (mode 0660), replacing a stale one, refusing if a daemon already answers.
async fn bind(socket: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = socket.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if socket.exists() {
        if UnixStream::connect(socket).await.is_ok() {
            bail!(
                "a daemon already answers on {}: stop it first, or pass another --socket",
                socket.display()
            );
        }
        std::fs::remove_file(socket)
            .with_context(|| format!("cannot remove the stale socket {}", socket.display()))?;
    }
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}
