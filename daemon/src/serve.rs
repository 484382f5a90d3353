//! Assembles the daemon from its settings and serves tarpc on the Unix socket: a bounded number
//! of connections, a maximum frame size, a bounded number of requests per connection. A bad frame
//! closes only its own connection.

use crate::auth::{Auth, AuthSettings};
use crate::clock::{Clock, Entropy, SystemClock};
use crate::engine::{BusinessDay, Engine};
use crate::processor::sandbox::Sandbox;
use crate::rpc::{Connection, Shared};
use crate::store::{Store, StoreLimits};
use anyhow::{Context as _, bail};
use cip_common::service::Cip;
use cip_config::Resolved;
use futures::StreamExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tarpc::server::{BaseChannel, Channel};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

/// How often payments left in doubt are asked about again.
const RESOLVE_EVERY: Duration = Duration::from_secs(30);

pub fn store_limits(resolved: &Resolved) -> StoreLimits {
    let store = &resolved.settings.store;
    StoreLimits {
        write_queue: store.write_queue,
        max_batch: store.max_batch,
        readers: store.readers,
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

/// A daemon ready to serve: store open, processor books read, unsettled payments resolved.
pub struct Daemon {
    shared: Arc<Shared>,
    http: Option<(crate::http::HttpListener, cip_config::HttpSettings)>,
    outbox: std::path::PathBuf,
}

impl Daemon {
    /// Opens everything and binds HTTP when `[http] listen` is set; with `next_free_port`, a
    /// taken port makes it try the next ones (the demo).
    pub async fn start(resolved: &Resolved, next_free_port: bool) -> anyhow::Result<Daemon> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let entropy = Entropy::from_os();
        let settings = &resolved.settings;
        let store =
            Store::open(&resolved.database(), store_limits(resolved)).with_context(|| {
                format!("cannot open the database {}", resolved.database().display())
            })?;
        let key = fingerprint_key(&resolved.data_dir, &entropy)?;
        let sandbox = Sandbox::open(
            &resolved.processor_ledger(),
            Duration::from_millis(settings.processor.added_latency_ms),
        )
        .with_context(|| {
            format!(
                "cannot open the processor ledger {}",
                resolved.processor_ledger().display()
            )
        })?;
        let engine = Arc::new(Engine::new(
            store.clone(),
            Arc::new(sandbox),
            Arc::clone(&clock),
            entropy.clone(),
            key,
            Duration::from_millis(settings.processor.deadline_ms),
            BusinessDay {
                utc_offset_minutes: settings.payments.business_day_utc_offset_minutes,
            },
        ));
        engine.load_figures().await?;
        let settled = engine.resolve_unsettled().await?;
        if settled > 0 {
            tracing::info!("settled {settled} payments left unsettled by the last run");
        }
        let auth = Auth::new(
            store,
            clock,
            entropy,
            AuthSettings {
                max_failures: settings.auth.max_failures,
                lockout_ms: i64::from(settings.auth.lockout_minutes) * 60_000,
                idle_ms: i64::from(settings.auth.session_idle_minutes) * 60_000,
                verified_for_ms: i64::from(settings.http.credential_cache_seconds) * 1000,
            },
        )
        .map_err(|e| anyhow::anyhow!("cannot prepare password hashing: {e}"))?;
        let http = match settings.http.listen.is_empty() {
            true => None,
            false => Some((
                crate::http::bind(&settings.http, next_free_port).await?,
                settings.http.clone(),
            )),
        };
        Ok(Daemon {
            shared: Arc::new(Shared {
                engine,
                auth,
                limits: settings.rpc.clone(),
            }),
            http,
            outbox: resolved.outbox(),
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
        let listener = bind(socket).await?;
        tracing::info!("cipd listening on {}", socket.display());
        let stop_http = tokio_util::sync::CancellationToken::new();
        let http = self.http.map(|(listener, settings)| {
            tracing::info!("cipd HTTP on {}", listener.base_url);
            let stopped = stop_http.clone().cancelled_owned();
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                if let Err(e) = crate::http::serve(listener, shared, settings, stopped).await {
                    tracing::error!("{e:#}");
                }
            })
        });
        let engine = Arc::clone(&self.shared.engine);
        let resolver = tokio::spawn(async move {
            let mut every = tokio::time::interval(RESOLVE_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = engine.resolve_unsettled().await {
                    tracing::warn!("in-doubt payments not resolved: {e}");
                }
            }
        });
        // A batch cut short by the stop is finished by the next run.
        let schedule = tokio::spawn(crate::report::schedule::run(
            Arc::clone(&self.shared.engine),
            self.outbox.clone(),
        ));
        let limits = self.shared.limits.clone();
        let connections = Arc::new(Semaphore::new(limits.max_connections));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&connections).acquire_owned() => permit?,
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let connection = Connection {
                shared: Arc::clone(&self.shared),
                origin: origin(&stream).into(),
            };
            let transport = crate::rpc::json_transport(stream, limits.max_frame_bytes);
            let in_flight = limits.max_in_flight_per_connection;
            tokio::spawn(async move {
                BaseChannel::with_defaults(transport)
                    .max_concurrent_requests(in_flight)
                    .execute(connection.serve())
                    .for_each(|call| async {
                        tokio::spawn(call);
                    })
                    .await;
                drop(permit);
            });
        }
        resolver.abort();
        schedule.abort();
        stop_http.cancel();
        if let Some(http) = http {
            let _ = http.await;
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
