//! The tarpc adapter: decode, check the session's role and application, call the engine or the
//! store, encode. No business rule lives here.

use crate::auth::{Auth, Caller};
use crate::engine::Engine;
use crate::feed::Feed;
use crate::handoff::Handoffs;
use crate::lookup::Lookup;
use crate::report::{Reports, Runner};
use cip_common::calendar;
use cip_common::error::ApiError;
use cip_common::event::{Event, EventBatch};
use cip_common::form::ApplicationSpec;
use cip_common::payment::{Mode, Payment, PaymentLookup, PaymentRequest, SearchPage, SearchQuery};
use cip_common::report::{ExportPart, Reconciliation, ReportFilter};
use cip_common::secret::{Password, SessionToken};
use cip_common::service::Cip;
use cip_common::service::CipClient;
use cip_common::session::{Role, SessionInfo};
use cip_common::stats::Stats;
use cip_config::RpcSettings;
use rustls::pki_types::ServerName;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tarpc::context::Context;
use tarpc::tokio_serde::formats::Json;
use tarpc::tokio_util::codec::LengthDelimitedCodec;

/// How long a remote console waits to connect and finish its TLS handshake (the daemon's own
/// handshake timeout is as long).
const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest frame a client accepts from the daemon: a page of payments or a batch of events.
pub const CLIENT_MAX_FRAME_BYTES: usize = 16 << 20;

/// The wire: length-delimited frames of at most `max_frame` bytes, each a JSON message, over a
/// Unix socket or a TLS stream alike.
pub fn json_transport<S, Item, SinkItem>(
    stream: S,
    max_frame: usize,
) -> tarpc::serde_transport::Transport<S, Item, SinkItem, Json<Item, SinkItem>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(max_frame)
        .new_framed(stream);
    tarpc::serde_transport::new(framed, Json::default())
}

/// Connects a tarpc client to the daemon's Unix socket, with the daemon's framing and format.
pub async fn connect(socket: &Path) -> Result<CipClient, ConnectError> {
    Endpoint::Socket(socket.to_path_buf())
        .open()
        .await
        .map(|attached| attached.client)
}

/// Why a console cannot talk to the daemon, said so that its user knows what to do.
/// The I/O error is part of each message, so it is a `cause`, not a `source` that an error chain
/// would print a second time.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "cipd is not answering on {}: {cause}: start it (cipd serve) or pass its --socket",
        socket.display()
    )]
    NoSocket {
        socket: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "cannot reach cipd at {address}: {cause}: check the address, and that the daemon \
         listens there (rpc.listen)"
    )]
    Unreachable {
        address: String,
        cause: std::io::Error,
    },
    #[error(
        "the daemon's certificate at {address} is not trusted by {} ({reason}): pass --ca the \
         CA file that signed the daemon's rpc.tls_cert",
        ca.display()
    )]
    Untrusted {
        address: String,
        ca: PathBuf,
        reason: String,
    },
    #[error(
        "the daemon at {address} refused this console's certificate ({reason}): pass --cert and \
         --key with a certificate signed by the daemon's rpc.client_ca"
    )]
    Refused { address: String, reason: String },
    #[error("the TLS connection to {address} failed: {cause}")]
    Tls {
        address: String,
        cause: std::io::Error,
    },
}

/// Where a console reaches the daemon: its Unix socket, or its TLS listener (`rpc.listen`).
#[derive(Clone)]
pub enum Endpoint {
    Socket(PathBuf),
    Remote(Arc<Remote>),
}

/// The daemon's TLS listener and how this console proves and checks identities there.
pub struct Remote {
    /// `HOST:PORT`, as given.
    address: String,
    server_name: ServerName<'static>,
    ca: PathBuf,
    connector: tokio_rustls::TlsConnector,
}

impl Remote {
    /// Reads the CA file (and the console's certificate and key, when given) at once, so a
    /// bad file is named before any connection is tried.
    pub fn new(
        address: &str,
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> anyhow::Result<Remote> {
        let host = address
            .rsplit_once(':')
            .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'))
            .filter(|host| !host.is_empty())
            .ok_or_else(|| anyhow::anyhow!("{address:?} is not HOST:PORT"))?;
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|_| anyhow::anyhow!("{host:?} is not a host name or an IP address"))?;
        let config = crate::tls::client_config(ca, identity)?;
        Ok(Remote {
            address: address.to_owned(),
            server_name,
            ca: ca.to_path_buf(),
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// What a failed TLS stream means to the person at the console.
    fn explain(&self, error: &std::io::Error) -> Option<ConnectError> {
        let address = self.address.clone();
        match crate::tls::failure(error) {
            crate::tls::Failure::Untrusted(reason) => Some(ConnectError::Untrusted {
                address,
                ca: self.ca.clone(),
                reason: reason.to_string(),
            }),
            crate::tls::Failure::Refused(reason) => Some(ConnectError::Refused {
                address,
                reason: reason.to_string(),
            }),
            crate::tls::Failure::Other => None,
        }
    }
}

/// A client on a live connection.
pub struct Attached {
    pub client: CipClient,
    /// Ends when the connection does (the daemon stopped, the network failed); it tells why
    /// when a person can act on it (a daemon that refused this console's certificate).
    pub closed: tokio::task::JoinHandle<Option<ConnectError>>,
}

impl Endpoint {
    /// Opens a connection and starts its client.
    pub async fn open(&self) -> Result<Attached, ConnectError> {
        match self {
            Endpoint::Socket(socket) => {
                let stream = tokio::net::UnixStream::connect(socket)
                    .await
                    .map_err(|cause| ConnectError::NoSocket {
                        socket: socket.clone(),
                        cause,
                    })?;
                Ok(attach(stream, |_| None))
            }
            Endpoint::Remote(remote) => {
                let unreachable = |cause| ConnectError::Unreachable {
                    address: remote.address.clone(),
                    cause,
                };
                let handshake = async {
                    let tcp = tokio::net::TcpStream::connect(&remote.address)
                        .await
                        .map_err(unreachable)?;
                    remote
                        .connector
                        .connect(remote.server_name.clone(), tcp)
                        .await
                        .map_err(|cause| {
                            remote.explain(&cause).unwrap_or(ConnectError::Tls {
                                address: remote.address.clone(),
                                cause,
                            })
                        })
                };
                let stream = tokio::time::timeout(REMOTE_CONNECT_TIMEOUT, handshake)
                    .await
                    .map_err(|_| {
                        unreachable(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no answer in 10 seconds",
                        ))
                    })??;
                let remote = Arc::clone(remote);
                Ok(attach(stream, move |error| remote.explain(error)))
            }
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Socket(socket) => socket.display().fmt(f),
            Endpoint::Remote(remote) => remote.address.fmt(f),
        }
    }
}

/// Starts a client on `stream`; `explain` reads the error that ended it.
fn attach<S>(
    stream: S,
    explain: impl FnOnce(&std::io::Error) -> Option<ConnectError> + Send + 'static,
) -> Attached
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let tarpc::client::NewClient { client, dispatch } = CipClient::new(
        tarpc::client::Config::default(),
        json_transport(stream, CLIENT_MAX_FRAME_BYTES),
    );
    let closed = tokio::spawn(async move {
        use tarpc::ChannelError as E;
        match dispatch.await {
            Ok(()) => None,
            Err(E::Read(e) | E::Ready(e) | E::Write(e) | E::Flush(e) | E::Close(e)) => explain(&e),
        }
    });
    Attached { client, closed }
}

/// Everything a connection's calls share.
pub struct Shared {
    pub engine: Arc<Engine>,
    pub auth: Auth,
    pub lookup: Lookup,
    pub feed: Feed,
    pub reports: Reports,
    pub handoffs: Handoffs,
    pub limits: RpcSettings,
}

/// One client connection: the shared daemon and where the client is.
#[derive(Clone)]
pub struct Connection {
    pub shared: Arc<Shared>,
    /// The peer, for the audit log: `unix uid=1000 pid=4242`.
    pub origin: Arc<str>,
}

/// Runs `work` in a task of its own, so a caller that goes away cannot stop it halfway.
async fn run_to_end<T: Send + 'static>(
    work: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work).await.unwrap_or_else(|e| {
        tracing::error!("a supervisor action stopped: {e}");
        Err(ApiError::Unavailable {
            reason: "the action stopped; look at the payment again".to_owned(),
        })
    })
}

/// Roles that may watch the feed.
const FEED_WATCHERS: [Role; 2] = [Role::Agent, Role::Supervisor];

impl Connection {
    /// Runs a call within the daemon's cap on deadlines, whatever the client asked for.
    async fn capped<T>(
        &self,
        call: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let cap = Duration::from_millis(self.shared.limits.max_deadline_ms);
        tokio::time::timeout(cap, call).await.unwrap_or_else(|_| {
            Err(ApiError::Unavailable {
                reason: "the call took longer than the daemon allows".to_owned(),
            })
        })
    }

    async fn caller(&self, token: &SessionToken) -> Result<Caller, ApiError> {
        self.shared.auth.session(token).await
    }

    /// The spec of `application` for a supervisor's report, if it is one of theirs.
    async fn report_spec(
        &self,
        caller: &Caller,
        application: &str,
    ) -> Result<ApplicationSpec, ApiError> {
        caller.require(&[Role::Supervisor], "see reports")?;
        if !caller
            .visible_applications()
            .iter()
            .any(|a| a == application)
        {
            return Err(ApiError::Forbidden {
                action: format!("see reports of {application}"),
            });
        }
        Ok(self.shared.engine.form(application).await?.spec.clone())
    }

    /// The caller of a call a console makes by itself, which keeps no session alive.
    async fn watcher(&self, token: &SessionToken) -> Result<Caller, ApiError> {
        self.shared.auth.watching(token).await
    }
}

impl Cip for Connection {
    async fn login(
        self,
        _: Context,
        application: String,
        user: String,
        password: Password,
    ) -> Result<SessionInfo, ApiError> {
        let origin = Arc::clone(&self.origin);
        self.capped(
            self.shared
                .auth
                .login(&application, &user, password, &origin),
        )
        .await
    }

    async fn logout(self, _: Context, token: SessionToken) -> Result<(), ApiError> {
        self.capped(self.shared.auth.logout(&token, &self.origin))
            .await
    }

    async fn keep_alive(self, _: Context, token: SessionToken) -> Result<(), ApiError> {
        self.capped(async { self.caller(&token).await.map(drop) })
            .await
    }

    async fn application(
        self,
        _: Context,
        token: SessionToken,
        id: String,
    ) -> Result<ApplicationSpec, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            if !caller.grants.contains(&id) {
                return Err(ApiError::Forbidden {
                    action: format!("use application {id}"),
                });
            }
            Ok(self.shared.engine.form(&id).await?.spec.clone())
        })
        .await
    }

    async fn submit(
        self,
        _: Context,
        token: SessionToken,
        idempotency_key: String,
        request: PaymentRequest,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            caller.require(&[Role::Agent, Role::Supervisor], "key in payments")?;
            self.shared
                .engine
                .submit(&caller, Mode::Full, idempotency_key, request)
                .await
        })
        .await
    }

    async fn gateway_submit(
        self,
        _: Context,
        application: String,
        user: String,
        password: Password,
        idempotency_key: String,
        request: PaymentRequest,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self
                .shared
                .auth
                .authenticate(&application, &user, password, &self.origin)
                .await?;
            caller.require(&[Role::Api], "submit gateway payments")?;
            self.shared
                .engine
                .submit(&caller, Mode::Gateway, idempotency_key, request)
                .await
        })
        .await
    }

    async fn payment(
        self,
        _: Context,
        token: SessionToken,
        lookup: PaymentLookup,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            self.shared.lookup.find(&caller, lookup).await
        })
        .await
    }

    async fn search(
        self,
        _: Context,
        token: SessionToken,
        query: SearchQuery,
    ) -> Result<SearchPage, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            let max = self.shared.limits.max_page_size;
            self.shared.lookup.search(&caller, query, max).await
        })
        .await
    }

    async fn events(
        self,
        _: Context,
        token: SessionToken,
        after_seq: u64,
        max: u32,
        wait_ms: u32,
    ) -> Result<EventBatch, ApiError> {
        self.capped(async {
            let caller = self.watcher(&token).await?;
            caller.require(&FEED_WATCHERS, "watch the feed")?;
            let limits = &self.shared.limits;
            let max = max.clamp(1, limits.max_events);
            let wait = Duration::from_millis(u64::from(wait_ms.min(limits.max_wait_ms)));
            self.shared
                .feed
                .events_after(after_seq, caller.visibility(), max, wait)
                .await
                .map_err(ApiError::from)
        })
        .await
    }

    async fn events_before(
        self,
        _: Context,
        token: SessionToken,
        before_seq: u64,
        max: u32,
    ) -> Result<Vec<Event>, ApiError> {
        self.capped(async {
            let caller = self.watcher(&token).await?;
            caller.require(&FEED_WATCHERS, "watch the feed")?;
            let max = max.clamp(1, self.shared.limits.max_events);
            Ok(self
                .shared
                .feed
                .events_before(before_seq, caller.visibility(), max)
                .await?)
        })
        .await
    }

    async fn timeline(
        self,
        _: Context,
        token: SessionToken,
        payment_id: String,
    ) -> Result<Vec<Event>, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            self.shared.lookup.timeline(&caller, payment_id).await
        })
        .await
    }

    async fn stats(self, _: Context, token: SessionToken) -> Result<Stats, ApiError> {
        self.capped(async {
            let caller = self.watcher(&token).await?;
            caller.require(&[Role::Supervisor], "see the queue")?;
            self.shared.engine.stats(&caller).await
        })
        .await
    }

    async fn void(
        self,
        _: Context,
        token: SessionToken,
        payment_id: String,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            caller.require(&[Role::Supervisor], "void payments")?;
            let (engine, origin) = (Arc::clone(&self.shared.engine), self.origin.to_string());
            // Its own task: once the processor has voided, the record follows whatever the caller does.
            run_to_end(async move { engine.void(&caller, &payment_id, &origin).await }).await
        })
        .await
    }

    async fn resolve(
        self,
        _: Context,
        token: SessionToken,
        payment_id: String,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            caller.require(&[Role::Supervisor], "resolve payments")?;
            let (engine, origin) = (Arc::clone(&self.shared.engine), self.origin.to_string());
            run_to_end(async move { engine.resolve_now(&caller, &payment_id, &origin).await }).await
        })
        .await
    }

    async fn unlock(self, _: Context, token: SessionToken, user: String) -> Result<(), ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            self.shared.auth.unlock(&caller, &user, &self.origin).await
        })
        .await
    }

    async fn export_part(
        self,
        _: Context,
        token: SessionToken,
        filter: ReportFilter,
        after: Option<String>,
    ) -> Result<ExportPart, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            let spec = self.report_spec(&caller, &filter.application).await?;
            let runner = Runner {
                actor: caller.user,
                origin: self.origin.to_string(),
            };
            // Half a frame: room for the answer's envelope around the rows.
            let max_bytes = self.shared.limits.max_frame_bytes / 2;
            Ok(self
                .shared
                .reports
                .export_part(spec, &filter, after, max_bytes, &runner)
                .await?)
        })
        .await
    }

    async fn reconcile(
        self,
        _: Context,
        token: SessionToken,
        application: String,
        day: Option<jiff::civil::Date>,
    ) -> Result<Reconciliation, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            let spec = self.report_spec(&caller, &application).await?;
            let engine = &self.shared.engine;
            let day =
                day.unwrap_or_else(|| calendar::day_of(&spec.zone(), engine.clock().now_ms()));
            Ok(self.shared.reports.reconcile(&spec, day).await?)
        })
        .await
    }
}
