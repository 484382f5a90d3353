//! CIP's settings: a TOML file with a default for every key, paths from `directories`, and
//! overrides from flags and `CIP_*` variables. An invalid file is refused with the key and why.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where settings come from, strongest first: flags or `CIP_*` variables (the daemon's and
/// console's argument parsers read both), then the file, then the defaults.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--config` / `CIP_CONFIG`; without it, `<config dir>/cipd.toml` is read if it exists,
    /// else [`SYSTEM_CONFIG`] if it exists.
    pub config: Option<PathBuf>,
    /// `--data-dir` / `CIP_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--socket` / `CIP_SOCKET`.
    pub socket: Option<PathBuf>,
    /// `--database-url` / `CIP_DATABASE_URL`: the PostgreSQL store instead of `[store] url`.
    pub database_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: `{key}`: {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error("no home directory to keep CIP's data in: pass --data-dir or set CIP_DATA_DIR")]
    NoHome,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Database, processor ledger and other state. Default: the platform data dir (`~/.local/share/cip`).
    pub data_dir: Option<PathBuf>,
    /// The daemon's Unix socket. Default: `cipd.sock` in the runtime dir, or the data dir.
    pub socket: Option<PathBuf>,
    pub auth: AuthSettings,
    pub processor: ProcessorSettings,
    pub store: StoreSettings,
    pub rpc: RpcSettings,
    pub payments: PaymentSettings,
    pub console: ConsoleSettings,
    pub http: HttpSettings,
    pub reports: ReportSettings,
    pub metrics: MetricsSettings,
}

/// Where Prometheus scrapes the daemon's figures (`/metrics`, beside `/healthz` and `/readyz`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// `ADDR:PORT`, plain HTTP on a private address; empty (the default): no metrics listener.
    pub listen: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// Where batch reports go, one directory per application (`<outbox_dir>/<APPLICATION>/`),
    /// for the agency's transfer to pick up. Default: `outbox` in the data dir.
    pub outbox_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// `ADDR:PORT` for the agency API and the hosted payment pages; empty: no HTTP at all.
    pub listen: String,
    /// PEM certificate chain and private key: with both, HTTPS only.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// How agencies' customers reach the hosted pages (`https://pay.example.gov`), for the pay
    /// URLs a hand-off returns. Empty: the address listened on.
    pub public_url: String,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Requests an application may make per second, on average, and in a burst.
    pub rate_per_second: u32,
    pub rate_burst: u32,
    /// How long a password verified with argon2 is trusted from memory, in seconds (0 to 300).
    pub credential_cache_seconds: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: String::new(),
            tls_cert: None,
            tls_key: None,
            public_url: String::new(),
            max_body_bytes: 64 * 1024,
            rate_per_second: 200,
            rate_burst: 400,
            credential_cache_seconds: 60,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentSettings {
    /// No longer read: a void is allowed until the end of the day of approval in the
    /// application's own time zone. Kept only to tell an operator whose file still sets it.
    pub business_day_utc_offset_minutes: Option<i32>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Events the console's feed keeps in memory; older ones are fetched again on request.
    pub feed_buffer: usize,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            feed_buffer: 10_000,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Failed sign-ins in a row before a user is locked (1 to 10).
    pub max_failures: u32,
    /// How long a lockout lasts, in minutes (at least 30).
    pub lockout_minutes: u32,
    /// A session ends after this many idle minutes (1 to 15).
    pub session_idle_minutes: u32,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSettings {
    /// Which processor authorizes payments.
    pub kind: ProcessorKind,
    /// Where a `sandbox-http` processor listens: `http://ADDR:PORT` (or `https://…`).
    pub url: String,
    /// Stripe's API, for `kind = "stripe"`: Stripe's public one unless a test server is meant.
    pub api_base: String,
    /// The file holding the Stripe secret key (`sk_…`), readable by its owner only.
    pub secret_key_file: Option<PathBuf>,
    /// How long a call to the processor other than an authorization may take, in milliseconds.
    pub timeout_ms: u64,
    /// Latency the sandbox processor in this process adds to every call, in milliseconds.
    pub added_latency_ms: u64,
    /// How long CIP waits for the processor before the payment is in doubt, in milliseconds.
    pub deadline_ms: u64,
    /// How long after that CIP first asks the processor what became of a payment in doubt (and
    /// reverses it if the processor has nothing), in milliseconds; then again with backoff.
    pub ask_after_ms: u64,
    /// How often the readiness check asks the processor whether it answers, in milliseconds.
    pub probe_every_ms: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// A PostgreSQL database (`postgres://user@host/db`, or `host=/run/postgresql dbname=cip`)
    /// that several daemons may share; empty: the SQLite file in the data dir.
    pub url: String,
    /// With `sslmode=require` in `url`: the CA (PEM) the database server's certificate is
    /// signed by; unset, the public roots.
    pub tls_ca: Option<PathBuf>,
    /// Writes waiting for the writer thread before callers are told CIP is busy.
    pub write_queue: usize,
    /// Most writes committed in one transaction (one fsync).
    pub max_batch: usize,
    /// Read-only connections for searches, lookups and feeds; on PostgreSQL, the connections
    /// of the pool every other operation shares (the payments' writes have 2 more).
    pub readers: usize,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RpcSettings {
    /// `ADDR:PORT` where remote consoles connect over TLS; empty: the Unix socket only.
    pub listen: String,
    /// PEM certificate chain and private key the daemon shows remote consoles (both required
    /// with `listen`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: when set, a remote console must present a certificate they signed.
    pub client_ca: Option<PathBuf>,
    /// Largest frame accepted from a client; a bigger one closes that connection.
    pub max_frame_bytes: usize,
    /// Clients connected at once, on the socket and again on the TLS listener; on the socket
    /// more wait to be accepted, over TLS more are closed after their handshake.
    pub max_connections: usize,
    /// Requests in flight on one connection.
    pub max_in_flight_per_connection: usize,
    /// A client's deadline is capped to this, in milliseconds.
    pub max_deadline_ms: u64,
    /// Largest page a search returns.
    pub max_page_size: u32,
    /// Most events one `events` call returns.
    pub max_events: u32,
    /// Longest an `events` call waits for a new event, in milliseconds.
    pub max_wait_ms: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            max_failures: 6,
            lockout_minutes: 30,
            session_idle_minutes: 15,
        }
    }
}

/// The processor behind `[processor] kind`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessorKind {
    /// The sandbox, in this process, with its ledger in the data dir: the demo's.
    #[default]
    Sandbox,
    /// A processor speaking the sandbox's wire protocol at `url`, such as `cipd sandbox serve`.
    SandboxHttp,
    /// Stripe's API at `api_base`, with the key in `secret_key_file`.
    Stripe,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        ProcessorSettings {
            kind: ProcessorKind::Sandbox,
            url: String::new(),
            api_base: "https://api.stripe.com".to_owned(),
            secret_key_file: None,
            timeout_ms: 10_000,
            added_latency_ms: 0,
            deadline_ms: 10_000,
            ask_after_ms: 1_000,
            probe_every_ms: 5_000,
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            url: String::new(),
            tls_ca: None,
            write_queue: 4096,
            max_batch: 256,
            readers: 4,
        }
    }
}

impl Default for RpcSettings {
    fn default() -> Self {
        RpcSettings {
            listen: String::new(),
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            max_frame_bytes: 1 << 20,
            max_connections: 1024,
            max_in_flight_per_connection: 256,
            max_deadline_ms: 60_000,
            max_page_size: 500,
            max_events: 1000,
            max_wait_ms: 30_000,
        }
    }
}

/// The settings a daemon or console runs with: every path resolved.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub data_dir: PathBuf,
    pub socket: PathBuf,
    pub settings: Settings,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Resolved {
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("cip.db")
    }

    /// The PostgreSQL store's URL, when one is set; `None`: the SQLite file, [`Self::database`].
    pub fn store_url(&self) -> Option<&str> {
        Some(self.settings.store.url.as_str()).filter(|url| !url.is_empty())
    }

    pub fn processor_ledger(&self) -> PathBuf {
        self.data_dir.join("sandbox-ledger.log")
    }

    /// The Stripe connector's own books: what each PaymentIntent was sent with.
    pub fn stripe_books(&self) -> PathBuf {
        self.data_dir.join("stripe-books.log")
    }

    /// The outbox of every application's batch reports.
    pub fn outbox(&self) -> PathBuf {
        self.settings
            .reports
            .outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }
}

/// The settings of a server's daemon, and of the consoles and administration commands run on
/// that server (the Debian package installs it): read when the user has no file of their own,
/// so that they all find the same data dir and socket.
pub const SYSTEM_CONFIG: &str = "/etc/cip/cipd.toml";

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "cip")
}

/// Reads the settings file (if any), applies the overrides and resolves every path.
pub fn load(overrides: &Overrides) -> Result<Resolved, ConfigError> {
    let dirs = project_dirs();
    let file = overrides.config.clone().or_else(|| {
        dirs.as_ref()
            .map(|d| d.config_dir().join("cipd.toml"))
            .into_iter()
            .chain([PathBuf::from(SYSTEM_CONFIG)])
            .find(|p| p.exists())
    });
    let mut settings = match &file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            parse(&text, path)?
        }
        None => Settings::default(),
    };
    if let Some(url) = overrides.database_url.clone() {
        settings.store.url = url;
    }
    let data_dir = match overrides.data_dir.clone().or(settings.data_dir.clone()) {
        Some(dir) => dir,
        None => dirs
            .as_ref()
            .map(|d| d.data_dir().to_path_buf())
            .ok_or(ConfigError::NoHome)?,
    };
    let socket = overrides
        .socket
        .clone()
        .or(settings.socket.clone())
        .unwrap_or_else(|| {
            dirs.as_ref()
                .and_then(|d| d.runtime_dir().map(Path::to_path_buf))
                .unwrap_or_else(|| data_dir.clone())
                .join("cipd.sock")
        });
    Ok(Resolved {
        data_dir,
        socket,
        settings,
        file,
    })
}

/// Parses and checks a settings file; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
    let invalid = |key: String, reason: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        key,
        reason,
    };
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| invalid("(file)".to_owned(), e.message().to_owned()))?;
    let settings: Settings = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        invalid(key, e.into_inner().message().to_owned())
    })?;
    match settings.problems().into_iter().next() {
        Some((key, reason)) => Err(invalid(key.to_owned(), reason)),
        None => Ok(settings),
    }
}

impl Settings {
    /// Values that parse but would weaken security or break the daemon.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let auth = &self.auth;
        if !(1..=10).contains(&auth.max_failures) {
            problems.push((
                "auth.max_failures",
                "must be 1 to 10 (PCI DSS 8.3.4)".to_owned(),
            ));
        }
        if auth.lockout_minutes < 30 {
            problems.push((
                "auth.lockout_minutes",
                "must be at least 30 (PCI DSS 8.3.4)".to_owned(),
            ));
        }
        if !(1..=15).contains(&auth.session_idle_minutes) {
            problems.push((
                "auth.session_idle_minutes",
                "must be 1 to 15 (PCI DSS 8.2.8)".to_owned(),
            ));
        }
        let processor = &self.processor;
        match processor.kind {
            ProcessorKind::Sandbox if !processor.url.is_empty() => problems.push((
                "processor.url",
                "is for kind = \"sandbox-http\": set that kind, or remove the url".to_owned(),
            )),
            ProcessorKind::SandboxHttp
                if !(processor.url.starts_with("http://")
                    || processor.url.starts_with("https://")) =>
            {
                problems.push((
                    "processor.url",
                    "must be the processor's http:// or https:// address, such as http://127.0.0.1:8490".to_owned(),
                ));
            }
            ProcessorKind::Stripe if processor.secret_key_file.is_none() => problems.push((
                "processor.secret_key_file",
                "is needed for kind = \"stripe\": the file holding the secret key (sk_…), mode 0600".to_owned(),
            )),
            _ => {}
        }
        if processor.kind != ProcessorKind::Stripe && processor.secret_key_file.is_some() {
            problems.push((
                "processor.secret_key_file",
                "is for kind = \"stripe\": set that kind, or remove the key file".to_owned(),
            ));
        }
        if !(processor.api_base.starts_with("https://")
            || processor.api_base.starts_with("http://"))
        {
            problems.push((
                "processor.api_base",
                "must be an http:// or https:// address, such as https://api.stripe.com".to_owned(),
            ));
        }
        if processor.timeout_ms == 0 {
            problems.push(("processor.timeout_ms", "must be at least 1".to_owned()));
        }
        if self.processor.deadline_ms == 0 {
            problems.push(("processor.deadline_ms", "must be at least 1".to_owned()));
        }
        if self.processor.deadline_ms >= self.rpc.max_deadline_ms {
            problems.push((
                "processor.deadline_ms",
                "must be less than rpc.max_deadline_ms, so a caller hears the outcome".to_owned(),
            ));
        }
        let store = &self.store;
        for (key, value) in [
            ("store.write_queue", store.write_queue),
            ("store.max_batch", store.max_batch),
            ("store.readers", store.readers),
            ("rpc.max_connections", self.rpc.max_connections),
            (
                "rpc.max_in_flight_per_connection",
                self.rpc.max_in_flight_per_connection,
            ),
        ] {
            if value == 0 {
                problems.push((key, "must be at least 1".to_owned()));
            }
        }
        if self.rpc.max_frame_bytes < 4096 {
            problems.push(("rpc.max_frame_bytes", "must be at least 4096".to_owned()));
        }
        if self.payments.business_day_utc_offset_minutes.is_some() {
            problems.push((
                "payments.business_day_utc_offset_minutes",
                "is no longer read: a supervisor may void a payment until the end of the day it \
                 was approved in its application's time zone (`time_zone` in the application's \
                 file); remove this line"
                    .to_owned(),
            ));
        }
        if !(100..=1_000_000).contains(&self.console.feed_buffer) {
            problems.push(("console.feed_buffer", "must be 100 to 1000000".to_owned()));
        }
        let http = &self.http;
        if !http.listen.is_empty() && http.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push((
                "http.listen",
                "must be an address and port like 127.0.0.1:8480, or empty for no HTTP".to_owned(),
            ));
        }
        if http.tls_cert.is_some() != http.tls_key.is_some() {
            problems.push((
                "http.tls_cert",
                "set both tls_cert and tls_key for HTTPS, or neither".to_owned(),
            ));
        }
        let url = &http.public_url;
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            problems.push((
                "http.public_url",
                "must start with https:// (or http:// on a test machine)".to_owned(),
            ));
        }
        if http.max_body_bytes < 1024 || http.rate_per_second == 0 || http.rate_burst == 0 {
            problems.push((
                "http.max_body_bytes",
                "the body limit must be at least 1024 and the rates at least 1".to_owned(),
            ));
        }
        if http.credential_cache_seconds > 300 {
            problems.push((
                "http.credential_cache_seconds",
                "must be 0 to 300".to_owned(),
            ));
        }
        let rpc = &self.rpc;
        if !rpc.listen.is_empty() && rpc.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push((
                "rpc.listen",
                "must be an address and port like 0.0.0.0:8443, or empty for no remote consoles"
                    .to_owned(),
            ));
        }
        if rpc.tls_cert.is_some() != rpc.tls_key.is_some() {
            problems.push((
                "rpc.tls_cert",
                "set both tls_cert and tls_key for remote consoles, or neither".to_owned(),
            ));
        } else if !rpc.listen.is_empty() && rpc.tls_cert.is_none() {
            problems.push((
                "rpc.tls_cert",
                "remote consoles connect only over TLS: set tls_cert and tls_key, or empty listen"
                    .to_owned(),
            ));
        } else if rpc.listen.is_empty() && (rpc.tls_cert.is_some() || rpc.client_ca.is_some()) {
            problems.push((
                "rpc.listen",
                "TLS files are set but no address: set listen to ADDR:PORT for remote consoles, \
                 or remove tls_cert, tls_key and client_ca"
                    .to_owned(),
            ));
        }
        if self.rpc.max_page_size == 0 || self.rpc.max_events == 0 {
            problems.push((
                "rpc.max_page_size",
                "page and batch sizes must be at least 1".to_owned(),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Settings, ConfigError> {
        parse(text, Path::new("cipd.toml"))
    }

    #[test]
    fn the_example_file_is_the_defaults() {
        let example = include_str!("../../assets/cipd.example.toml");
        let mut settings = parse_text(example).unwrap();
        settings.data_dir = None;
        settings.socket = None;
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = parse_text("[auth]\nmax_failure = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_failure"), "{err}");
    }

    #[test]
    fn a_wrong_type_names_the_key_and_reason() {
        let err = parse_text("[processor]\ndeadline_ms = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("processor.deadline_ms"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn a_shared_sandbox_needs_its_address_and_only_it_has_one() {
        let err = parse_text("[processor]\nkind = \"sandbox-http\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("processor.url") && err.contains("http://"),
            "{err}"
        );
        let err = parse_text("[processor]\nurl = \"http://127.0.0.1:8490\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("processor.url") && err.contains("sandbox-http"),
            "{err}"
        );
        let err = parse_text("[processor]\nkind = \"paypal\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("processor.kind"), "{err}");
        let settings =
            parse_text("[processor]\nkind = \"sandbox-http\"\nurl = \"http://127.0.0.1:8490\"\n")
                .expect("taken");
        assert_eq!(settings.processor.kind, ProcessorKind::SandboxHttp);
        let err = parse_text("[processor]\nkind = \"stripe\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("processor.secret_key_file"), "{err}");
    }

    #[test]
    fn lockout_cannot_be_loosened_past_pci() {
        let err = parse_text("[auth]\nmax_failures = 11\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("auth.max_failures") && err.contains("1 to 10"),
            "{err}"
        );
        let err = parse_text("[auth]\nlockout_minutes = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.lockout_minutes"), "{err}");
    }

    #[test]
    fn the_business_day_offset_is_refused_saying_what_voids_follow_now() {
        let err = parse_text("[payments]\nbusiness_day_utc_offset_minutes = -300\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("payments.business_day_utc_offset_minutes")
                && err.contains("time_zone")
                && err.contains("remove this line"),
            "{err}"
        );
    }

    #[test]
    fn remote_consoles_need_a_whole_tls_setting() {
        for (text, key, says) in [
            (
                "[rpc]\nlisten = \"0.0.0.0:8443\"\n",
                "rpc.tls_cert",
                "set tls_cert and tls_key",
            ),
            (
                "[rpc]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"c.pem\"\n",
                "rpc.tls_cert",
                "set both",
            ),
            (
                "[rpc]\nclient_ca = \"ca.pem\"\n",
                "rpc.listen",
                "set listen",
            ),
            (
                "[rpc]\nlisten = \"host\"\n",
                "rpc.listen",
                "address and port",
            ),
        ] {
            let err = parse_text(text).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(says), "{text}: {err}");
        }
        let whole = "[rpc]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
                     client_ca = \"ca.pem\"\n";
        assert!(parse_text(whole).is_ok());
    }

    #[test]
    fn overrides_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cipd.toml");
        std::fs::write(
            &file,
            "data_dir = \"/from/file\"\nsocket = \"/from/file.sock\"\n",
        )
        .unwrap();
        let from_file = load(&Overrides {
            config: Some(file.clone()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(from_file.data_dir, PathBuf::from("/from/file"));
        assert_eq!(from_file.socket, PathBuf::from("/from/file.sock"));
        let overridden = load(&Overrides {
            config: Some(file),
            data_dir: Some(dir.path().to_path_buf()),
            socket: Some(dir.path().join("s.sock")),
            database_url: None,
        })
        .unwrap();
        assert_eq!(overridden.data_dir, dir.path());
        assert_eq!(overridden.socket, dir.path().join("s.sock"));
        assert_eq!(overridden.database(), dir.path().join("cip.db"));
    }

    #[test]
    fn a_missing_file_is_an_error_when_named() {
        let err = load(&Overrides {
            config: Some(PathBuf::from("/nonexistent/cipd.toml")),
            ..Overrides::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/cipd.toml"));
    }
}
