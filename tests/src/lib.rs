//! The end-to-end harness: a real `cipd` process on a fresh data dir and a real Unix socket,
//! tarpc clients that talk to it as the console and agencies do, and the checks every test ends
//! with (no card data on disk or in the log).

use cip_common::ach::AccountType;
use cip_common::money::Currency;
use cip_common::payment::{AchInput, CardInput, Payer, PaymentMethod, PaymentRequest};
use cip_common::secret::{AccountNumber, Cvv, Pan, Password, SessionToken};
use cip_common::service::CipClient;
use cip_daemon::processor::sandbox::{ContractRow, contract_rows};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tarpc::context;

pub use cip_client::connect;

pub mod browser;
pub mod crash_loop;
pub mod handoffs;
pub mod http;
pub mod localstripe;
pub mod operations;
pub mod pki;
pub mod postgres;
pub mod sandbox;
pub mod simulation;
pub mod terminal;

/// Settings every test daemon runs with: a processor deadline above the sandbox's 3-second slow
/// approval; a payment in doubt asked about only when a supervisor or a restart asks, so tests
/// see it in doubt; and a lockout after 3 failures so lockout tests stay short.
pub const TEST_CONFIG: &str = test_config!();

/// [`TEST_CONFIG`]'s text, for settings built on it at compile time.
#[macro_export]
macro_rules! test_config {
    () => {
        concat!(
            $crate::test_auth!(),
            "
[processor]
deadline_ms = 4000
ask_after_ms = 600000
"
        )
    };
}

/// [`TEST_CONFIG`]'s `[auth]` table, for settings with a processor of their own.
#[macro_export]
macro_rules! test_auth {
    () => {
        "\
[auth]
max_failures = 3
"
    };
}

/// A binary of this build: `cipd` or `cip` (built by `cargo test --workspace` along with the
/// daemon's and the console's own tests).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // Test binaries live in target/<profile>/deps, tools in target/<profile>.
    let beside = exe.parent().map(|dir| dir.join(name));
    let above = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name));
    [beside, above]
        .into_iter()
        .flatten()
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!("{name} is missing: build the workspace (`cargo test --workspace` builds it)")
        })
}

/// A `cipd` on its own data dir, started with the demo data.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    /// The PostgreSQL database it runs on (`CIP_TEST_STORE=postgres`); `None`: its SQLite file.
    pub store_url: Option<String>,
    child: Option<Child>,
    /// Card numbers and CVVs sent during the test, searched for on disk at the end.
    secrets: std::sync::Mutex<Vec<String>>,
    /// Variables every `cipd` it runs is given, such as `CIP_LOG_FORMAT`.
    env: Vec<(String, String)>,
}

impl Daemon {
    /// Initializes a demo database with [`TEST_CONFIG`] and starts serving.
    pub async fn start() -> Daemon {
        Self::start_with(TEST_CONFIG).await
    }

    pub async fn start_with(config: &str) -> Daemon {
        Self::start_with_env(config, &[]).await
    }

    /// [`Self::start_with`], every `cipd` it runs given the variables `env`.
    pub async fn start_with_env(config: &str, env: &[(&str, &str)]) -> Daemon {
        let store_url = postgres::wanted().then(|| postgres::cluster().new_database());
        let mut daemon = Daemon::unstarted(config, store_url);
        daemon.set_env(env);
        daemon.init();
        daemon.serve().await;
        daemon
    }

    /// [`Self::start_with`] on a new database of this process's PostgreSQL cluster, whatever
    /// `CIP_TEST_STORE` says: for tests of several daemons sharing it.
    pub async fn start_on_postgres(config: &str) -> Daemon {
        Daemon::started(config, Some(postgres::cluster().new_database())).await
    }

    async fn started(config: &str, store_url: Option<String>) -> Daemon {
        let mut daemon = Daemon::initialized(config, store_url);
        daemon.serve().await;
        daemon
    }

    /// A daemon with the demo data and `config`, on the PostgreSQL database `store_url` or
    /// its SQLite file, not yet serving: for tests that start it themselves
    /// ([`Self::spawn_serve`]).
    pub fn initialized(config: &str, store_url: Option<String>) -> Daemon {
        let daemon = Daemon::unstarted(config, store_url);
        daemon.init();
        daemon
    }

    /// `cipd init --demo`: the demo's applications and users in a new store.
    pub fn init(&self) {
        let out = self.cipd(&["init", "--demo"], None);
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// [`Self::start_with`] on its SQLite file, whatever `CIP_TEST_STORE` says: for tests of
    /// moving a SQLite store up.
    pub async fn start_on_sqlite(config: &str) -> Daemon {
        Daemon::started(config, None).await
    }

    /// A second daemon on `first`'s PostgreSQL database, with `first`'s settings and its
    /// fingerprint key (as an operator copies it), on a data dir and socket of its own.
    pub async fn beside(first: &Daemon) -> Daemon {
        assert!(
            first.store_url.is_some(),
            "daemons share a PostgreSQL store only"
        );
        Daemon::like(first, first.store_url.clone()).await
    }

    /// A daemon with `first`'s settings and fingerprint key, serving `store_url` (a copy of
    /// `first`'s store, or the same), on a data dir and socket of its own.
    pub async fn like(first: &Daemon, store_url: Option<String>) -> Daemon {
        let mut daemon = Daemon::unstarted_like(first, store_url);
        let key = cip_daemon::serve::FINGERPRINT_KEY_FILE;
        std::fs::copy(first.dir.path().join(key), daemon.dir.path().join(key))
            .expect("the fingerprint key copied");
        daemon.serve().await;
        daemon
    }

    /// A daemon with `first`'s settings, for `store_url`, on a data dir of its own with nothing
    /// else in it (no fingerprint key), not started.
    pub fn unstarted_like(first: &Daemon, store_url: Option<String>) -> Daemon {
        let config = std::fs::read_to_string(first.dir.path().join("cipd.toml")).expect("settings");
        Daemon::unstarted(&config, store_url)
    }

    /// A daemon with `config` on a new data dir under [`suite_dir`], for the PostgreSQL
    /// database `store_url` or its SQLite file, not yet initialized or serving.
    pub fn unstarted(config: &str, store_url: Option<String>) -> Daemon {
        let suite = suite_dir();
        std::fs::create_dir_all(&suite).expect("the suite's dir");
        // Kept after the test, for the scan after the whole suite (which then removes it).
        let dir = tempfile::Builder::new()
            .prefix("cipd-")
            .disable_cleanup(true)
            .tempdir_in(&suite)
            .expect("a data dir");
        std::fs::write(dir.path().join("cipd.toml"), config).expect("config written");
        let socket = dir.path().join("cipd.sock");
        Daemon {
            dir,
            socket,
            store_url,
            child: None,
            secrets: std::sync::Mutex::new(Vec::new()),
            env: Vec::new(),
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("cipd.log")
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.dir.path().join("sandbox-ledger.log")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary("cipd"));
        command
            .arg("--config")
            .arg(self.dir.path().join("cipd.toml"))
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("CIP_CONFIG")
            .env_remove("CIP_DATA_DIR")
            .env_remove("CIP_SOCKET")
            .env_remove("CIP_DATABASE_URL");
        if let Some(url) = &self.store_url {
            command.env("CIP_DATABASE_URL", url);
        }
        command.envs(self.env.iter().map(|(name, value)| (name, value)));
        command
    }

    /// The rows `sql` gives on the daemon's store, each value as text (NULL as empty): the
    /// same query on SQLite and PostgreSQL, so a test reads the store it runs on.
    pub fn sql(&self, sql: &str) -> Vec<Vec<String>> {
        self.try_sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// [`Self::sql`], or the database's refusal.
    pub fn try_sql(&self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        match &self.store_url {
            Some(url) => {
                let database = url.rsplit("dbname=").next().expect("a database name");
                let out = postgres::cluster().psql(database, sql);
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                }
                Ok(String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|line| line.split('\t').map(str::to_owned).collect())
                    .collect())
            }
            None => {
                let db = rusqlite::Connection::open(self.dir.path().join("cip.db")).expect("opens");
                db.busy_timeout(Duration::from_secs(10))
                    .expect("timeout set");
                let mut statement = db.prepare(sql).map_err(|e| e.to_string())?;
                let columns = statement.column_count();
                statement
                    .query_map([], |row| {
                        (0..columns)
                            .map(|i| {
                                Ok(match row.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => String::new(),
                                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                                    rusqlite::types::ValueRef::Real(x) => x.to_string(),
                                    rusqlite::types::ValueRef::Text(t)
                                    | rusqlite::types::ValueRef::Blob(t) => {
                                        String::from_utf8_lossy(t).into_owned()
                                    }
                                })
                            })
                            .collect()
                    })
                    .and_then(|rows| rows.collect())
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Starts a `cipd` administration command with its output piped, to watch or kill.
    pub fn spawn_cipd(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cipd starts")
    }

    /// Runs a `cipd` administration command, with `stdin` as its standard input.
    pub fn cipd(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cipd starts");
        let mut input = child.stdin.take().expect("stdin is piped");
        input
            .write_all(stdin.unwrap_or("").as_bytes())
            .expect("stdin written");
        drop(input);
        child.wait_with_output().expect("cipd ends")
    }

    /// `cipd app add` with `toml` (one `[[application]]` table).
    pub fn add_application(&self, toml: &str) {
        let file = self.dir.path().join("application.toml");
        std::fs::write(&file, toml).expect("written");
        let file = file.to_str().expect("a UTF-8 path");
        let out = self.cipd(&["app", "add", "--file", file], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `cipd user add` of `user` with `role` for `application`; its password is `<user>-pass-2026`.
    pub fn add_user(&self, user: &str, role: &str, application: &str) {
        let out = self.cipd(
            &["user", "add", user, "--role", role, "--app", application],
            Some(&format!("{user}-pass-2026\n")),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Gives every `cipd` it runs from now on the variables `env`, beside the settings.
    pub fn set_env(&mut self, env: &[(&str, &str)]) {
        self.env.extend(
            env.iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
    }

    /// Starts `cipd serve`, and returns at once.
    pub fn spawn_serve(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = self
            .command(&["serve"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("cipd serve starts");
        self.child = Some(child);
    }

    /// Starts `cipd serve` and waits until its socket answers.
    pub async fn serve(&mut self) {
        self.spawn_serve();
        for _ in 0..400 {
            if connect(&self.socket).await.is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("cipd serve exited with {status}: {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "cipd did not answer on {}: {}",
            self.socket.display(),
            self.log()
        );
    }

    /// SIGTERM, as systemd stops the daemon; waits for it to end, and gives how it ended.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("cipd serves");
        let pid = libc::pid_t::try_from(child.id()).expect("a pid fits");
        // SAFETY: kill(2) on the pid of a child not yet waited for, so not reused.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM sent");
        child.wait().expect("cipd ends")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn restart_after_kill(&mut self) {
        self.kill();
        self.serve().await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn ledger(&self) -> String {
        std::fs::read_to_string(self.ledger_path()).unwrap_or_default()
    }

    /// Processor calls the sandbox's books show for a reference.
    pub fn processor_calls(&self, reference: &str) -> usize {
        self.ledger()
            .lines()
            .filter(|l| l.split('\t').nth(1) == Some(reference))
            .count()
    }

    pub async fn client(&self) -> CipClient {
        connect(&self.socket).await.expect("connects to cipd")
    }

    /// Signs in and returns the session token.
    /// Locks `user` out with wrong passwords: [`TEST_CONFIG`] locks after 3 failures.
    pub async fn lock_out(&self, client: &CipClient, application: &str, user: &str) {
        for _ in 0..3 {
            let _ = client
                .login(
                    ctx(),
                    application.to_owned(),
                    user.to_owned(),
                    Password::new("not-the-password-1"),
                )
                .await
                .expect("rpc");
        }
    }

    pub async fn login(&self, client: &CipClient, application: &str, user: &str) -> SessionToken {
        client
            .login(ctx(), application.into(), user.into(), demo_password(user))
            .await
            .expect("rpc")
            .expect("demo sign-in")
            .token
    }

    /// Takes a payment by card `number` as `agent`, under a key of its own, and its outcome
    /// (remembering the card, to search for on disk at the end).
    pub async fn take(
        &self,
        client: &CipClient,
        agent: &SessionToken,
        number: &str,
        amount_minor: i64,
    ) -> cip_common::payment::Payment {
        let request = card_request(number, amount_minor);
        self.sent(&request);
        client
            .submit(ctx(), agent.clone(), new_key(), request)
            .await
            .expect("rpc")
            .expect("decided")
    }

    /// Remembers a secret sent in this test, to search for on disk at the end.
    pub fn sent(&self, request: &PaymentRequest) {
        self.secrets
            .lock()
            .expect("not poisoned")
            .extend(secrets_of(request));
    }

    /// No card number of the contract, no card or account number sent and no CVV sent is in
    /// any file the daemon wrote: the database, its WAL, the log, the processor's ledger, and
    /// exports, batch reports and backups anywhere under the data dir.
    pub fn assert_no_card_data(&self) {
        let secrets = self.secrets.lock().expect("not poisoned").clone();
        if let Err(found) = card_data_in(self.dir.path(), &secrets) {
            panic!("{found}");
        }
        if self.store_url.is_some() {
            if let Err(found) = card_data_in(&postgres::cluster().dir, &secrets) {
                panic!("{found}");
            }
            self.assert_no_cvv_in_postgres(&secrets);
        }
    }

    /// No text value in any table of the daemon's PostgreSQL database equals a CVV sent or
    /// holds a serialized card (the CVVs are too short to search the files for).
    fn assert_no_cvv_in_postgres(&self, secrets: &[String]) {
        let cvvs: Vec<&str> = secrets
            .iter()
            .map(String::as_str)
            .filter(|s| s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        let listed = format!("'{{{}}}'", cvvs.join(","));
        let columns = self.sql(
            "SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = 'public' AND data_type = 'text'",
        );
        for column in columns {
            let (table, name) = (&column[0], &column[1]);
            let held = self.sql(&format!(
                "SELECT count(*) FROM \"{table}\"
                 WHERE \"{name}\" = ANY({listed}::text[]) OR strpos(\"{name}\", '\"cvv\"') > 0"
            ));
            assert_eq!(held, [["0"]], "{table}.{name} holds a security code");
        }
    }
}

/// Where every test daemon keeps its data dir until the scan after the whole suite:
/// `target/tmp/cip-suite`.
pub fn suite_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // Test binaries live in target/<profile>/deps, tools in target/<profile>.
    let dir = exe.parent().expect("a binary is in a dir");
    let profile = if dir.ends_with("deps") {
        dir.parent().expect("deps is in the profile's dir")
    } else {
        dir
    };
    profile
        .parent()
        .expect("a profile's dir is in target")
        .join("tmp")
        .join("cip-suite")
}

/// The file, beside a test daemon's data, that lists what the test sent for the scan after the
/// suite: the sandbox's test numbers only, never searched itself.
pub const SENT_FILE: &str = "sent-by-the-test.json";

/// The card number and CVV, or the account number, of a request: what must never be stored.
pub fn secrets_of(request: &PaymentRequest) -> Vec<String> {
    match &request.method {
        PaymentMethod::Card(card) => vec![card.number.digits(), card.cvv.expose().to_owned()],
        PaymentMethod::Ach(ach) => vec![ach.account_number.expose().to_owned()],
    }
}

/// Looks for card data in every file under `dir`: any card number of the contract, and any card
/// number, account number or CVV in `sent`; CVVs as a stored value of any SQLite database there
/// (backups too) and as a field in a log. Says where it found one.
pub fn card_data_in(dir: &Path, sent: &[String]) -> Result<Scanned, String> {
    let (short, mut long): (Vec<&str>, Vec<&str>) =
        sent.iter().map(String::as_str).partition(|s| s.len() <= 4);
    let contract = contract_rows();
    long.extend(
        contract
            .iter()
            .filter(|r| r.kind == "card")
            .map(|r| r.number.as_str()),
    );
    let mut dirs = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    // A running PostgreSQL server removes files as it goes (temporary files, old WAL): one
    // gone between the listing and the read was not there to hold anything.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if gone(&e) => continue,
            Err(e) => panic!("{} is not readable: {e}", dir.display()),
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.is_file()
                && path.extension().is_none_or(|e| e != "toml")
                && path.file_name().is_none_or(|n| n != SENT_FILE)
            {
                files.push(path);
            }
        }
    }
    // One pass over each file for every number at once.
    let numbers = aho_corasick::AhoCorasick::new(&long).expect("numbers to look for");
    // The card numbers among them, looked for again written out with spaces, hyphens, dots.
    let cards: Vec<&str> = long
        .iter()
        .copied()
        .filter(|n| (13..=19).contains(&n.len()) && cip_common::card::luhn_valid(n))
        .collect();
    let spaced = aho_corasick::AhoCorasick::new(&cards).expect("card numbers to look for");
    let starts = spaced_run_starts();
    let cvvs = serde_json::to_string(&short).expect("JSON");
    let mut scanned = Scanned::default();
    for path in files {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if gone(&e) => continue,
            Err(e) => panic!("{} is not readable: {e}", path.display()),
        };
        scanned.files += 1;
        scanned.bytes += bytes.len() as u64;
        if let Some(found) = numbers.find(&bytes) {
            let number = long[found.pattern().as_usize()];
            return Err(format!(
                "{} holds a card or account number ending {}",
                path.display(),
                &number[number.len() - 4..]
            ));
        }
        if let Some(number) = spaced_card_number(&bytes, &starts, &spaced, &cards) {
            return Err(format!(
                "{} holds a card number ending {}, written with separators between its digits",
                path.display(),
                &number[number.len() - 4..]
            ));
        }
        // CVVs are too short to search raw bytes for: no value stored in a database may equal
        // one or hold a serialized card, and no log shows the field (no request is logged).
        if bytes.starts_with(b"SQLite format 3\0") {
            cvv_in_database(&path, &cvvs)?;
        }
        if path.extension().is_some_and(|e| e == "log") {
            let text = String::from_utf8_lossy(&bytes);
            if text.contains("\"cvv\"") || text.contains("cvv:") {
                return Err(format!("{} shows a CVV field", path.display()));
            }
        }
    }
    Ok(scanned)
}

/// Most separators (ASCII spaces and punctuation) between two digits of a card number written
/// out by hand: `4242 4242`, `4242-4242`, `4242 - 4242`. Any other byte (a letter, a control
/// byte, the binary of a database record) ends a run, so stored digits that only stand side by
/// side in a file (a first six, an expiry, a last four) never join into one.
const MAX_SPACING: usize = 3;

fn separator(b: u8) -> bool {
    b.is_ascii_punctuation() || b.is_ascii_whitespace()
}

/// Where a spaced run can begin: a digit and a separator. Found by the compiled automaton, so the
/// bytes between candidates (most of a database) are not read one by one in this crate's code.
fn spaced_run_starts() -> aho_corasick::AhoCorasick {
    let pairs: Vec<[u8; 2]> = (b'0'..=b'9')
        .flat_map(|d| (0..=127u8).filter(|&b| separator(b)).map(move |s| [d, s]))
        .collect();
    aho_corasick::AhoCorasick::new(pairs).expect("digit and separator pairs")
}

/// The first of `cards` found in `bytes` within a run of digits that has separators: each run
/// (see [`MAX_SPACING`]) is read without its separators and searched. Runs without separators
/// are left to the plain search.
fn spaced_card_number<'a>(
    bytes: &[u8],
    starts: &aho_corasick::AhoCorasick,
    numbers: &aho_corasick::AhoCorasick,
    cards: &[&'a str],
) -> Option<&'a str> {
    let mut digits = Vec::new();
    let mut from = 0;
    while let Some(pair) = starts.find(&bytes[from..]) {
        // The run's first separator is this pair's (an earlier one would have been found), so
        // it begins at the digits just before it.
        let mut start = from + pair.start();
        while start > from && bytes[start - 1].is_ascii_digit() {
            start -= 1;
        }
        let (found, length) = read_run(&bytes[start..], &mut digits);
        if found && let Some(card) = numbers.find(&digits[..]) {
            return Some(cards[card.pattern().as_usize()]);
        }
        from = start + length;
    }
    None
}

/// Reads the run of digits `bytes` begins with into `digits`, without its separators; says
/// whether it is long enough and spaced, and how many bytes it takes (at least its first).
fn read_run(bytes: &[u8], digits: &mut Vec<u8>) -> (bool, usize) {
    digits.clear();
    let (mut gap, mut separated) = (0usize, false);
    let mut length = bytes.len();
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_digit() {
            if gap > MAX_SPACING {
                length = i;
                break;
            }
            separated |= gap > 0;
            gap = 0;
            digits.push(b);
        } else if separator(b) {
            gap += 1;
        } else {
            length = i;
            break;
        }
    }
    (separated && digits.len() >= 13, length.max(1))
}

/// How much a scan for card data read.
#[derive(Debug, Default)]
pub struct Scanned {
    pub files: u64,
    pub bytes: u64,
}

/// Whether any text stored in the database at `path` equals one of `cvvs` (a JSON array) or
/// holds a serialized card.
fn cvv_in_database(path: &Path, cvvs: &str) -> Result<(), String> {
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("database opens");
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables listed");
    for table in tables {
        let columns: Vec<String> = db
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .and_then(|mut s| s.query_map([&table], |r| r.get(0))?.collect())
            .expect("columns listed");
        let holds = columns
            .iter()
            .map(|c| {
                format!(
                    "(typeof(\"{c}\") = 'text' AND (\"{c}\" IN (SELECT value FROM json_each(?1))
                      OR instr(\"{c}\", '\"cvv\"') > 0))"
                )
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        let held: i64 = db
            .query_row(
                &format!("SELECT count(*) FROM \"{table}\" WHERE {holds}"),
                [cvvs],
                |r| r.get(0),
            )
            .expect("searched");
        if held > 0 {
            return Err(format!(
                "table {table} of {} holds a security code",
                path.display()
            ));
        }
    }
    Ok(())
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(json) = serde_json::to_vec(&*secrets) {
            let _ = std::fs::write(self.dir.path().join(SENT_FILE), json);
        }
    }
}

/// A call context with room for the sandbox's slow approval and timeouts.
/// CSV rows (an export, a batch file) as maps from column to cell.
pub fn csv_rows(csv: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(csv);
    let headers = reader.headers().expect("a header").clone();
    reader
        .records()
        .map(|r| {
            let record = r.expect("a well-formed row");
            headers
                .iter()
                .map(str::to_owned)
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

pub fn ctx() -> context::Context {
    let mut ctx = context::current();
    ctx.deadline = std::time::Instant::now() + Duration::from_secs(60);
    ctx
}

pub fn demo_password(user: &str) -> Password {
    Password::new(format!("{user}-demo-pass"))
}

/// A card expiry two years ahead.
pub fn exp_year() -> u16 {
    u16::try_from(
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .year()
            + 2,
    )
    .expect("a four-digit year")
}

pub fn payer() -> Payer {
    Payer {
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        postal_code: "94107".into(),
    }
}

/// A DMV-RENEWAL payment of `amount_minor` cents by card.
pub fn card_request(number: &str, amount_minor: i64) -> PaymentRequest {
    let brand_cvv = if number.starts_with("34") || number.starts_with("37") {
        "1234"
    } else {
        "123"
    };
    PaymentRequest {
        amount_minor,
        currency: Currency::Usd,
        payer: payer(),
        fields: BTreeMap::from([
            ("plate_number".to_owned(), "ABC123".to_owned()),
            ("renewal_notice_number".to_owned(), "1234567890".to_owned()),
        ]),
        method: PaymentMethod::Card(CardInput {
            number: Pan::new(number),
            exp_month: 12,
            exp_year: exp_year(),
            cvv: Cvv::new(brand_cvv),
            name: "ADA LOVELACE".into(),
            postal_code: "94107".into(),
        }),
    }
}

/// A TAX-PAYMENT payment by ACH from `routing/account`.
pub fn ach_request(routing: &str, account: &str, amount_minor: i64) -> PaymentRequest {
    PaymentRequest {
        amount_minor,
        currency: Currency::Usd,
        payer: payer(),
        fields: BTreeMap::from([
            ("taxpayer_id".to_owned(), "123456789".to_owned()),
            ("tax_year".to_owned(), "2025".to_owned()),
        ]),
        method: PaymentMethod::Ach(AchInput {
            routing_number: routing.into(),
            account_number: AccountNumber::new(account),
            account_type: AccountType::Checking,
            holder_name: "Ada Lovelace".into(),
        }),
    }
}

/// The request a contract row describes, and the application it goes to.
pub fn request_for(row: &ContractRow) -> (&'static str, PaymentRequest) {
    if row.kind == "ach" {
        let (routing, account) = row.number.split_once('/').expect("routing/account");
        ("TAX-PAYMENT", ach_request(routing, account, 12_345))
    } else {
        ("DMV-RENEWAL", card_request(&row.number, 2_500))
    }
}

/// Whether a test's outside tool is here. Without it the test skips, saying so, unless
/// `CIP_REQUIRE_TOOLS` is set (as `.ci/run` sets it, having installed the tools): then it fails.
pub fn tool_present(present: bool, tool: &str, install: &str) -> bool {
    if !present {
        assert!(
            std::env::var_os("CIP_REQUIRE_TOOLS").is_none(),
            "{tool} is missing: {install} (.ci/run does)"
        );
        eprintln!("skipped: no {tool} here (.ci/run installs it and requires this test)");
    }
    present
}

/// The seed of a test's random choices: `CIP_SEED` to replay a run, else the clock. Printed, so
/// a failing run can be replayed.
pub fn seed(what: &str) -> u64 {
    let seed = std::env::var("CIP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_nanos() as u64
        });
    eprintln!("{what} from CIP_SEED={seed}");
    seed
}

/// A fresh idempotency key.
pub fn new_key() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "test-{}-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan finds a test card number however it is spaced, and passes what is legitimately
    /// stored: first six and last four, expiry, amounts, times and ids.
    #[test]
    fn the_scan_finds_a_spaced_card_number_and_passes_stored_digits() {
        let sent = vec!["4111111111111111".to_owned(), "123".to_owned()];
        let scan = |text: &[u8]| {
            let dir = tempfile::tempdir().expect("a dir");
            std::fs::write(dir.path().join("cipd.log"), text).expect("written");
            card_data_in(dir.path(), &sent)
        };
        // Each text, and whether it holds a card number.
        for (text, leaked) in [
            (&b"payer: Ada 4242 4242 4242 4242"[..], true),
            (b"\"name\":\"4242-4242-4242-4242\"", true),
            (b"4.2.4.2.4.2.4.2.4.2.4.2.4.2.4.2", true),
            (b"ref 4111 - 1111 - 1111 - 1111 thanks", true),
            (b"1,4111 1111 1111 1111,2", true),
            (b"row\x00\x024111\t1111\n1111\r\n1111\x01", true),
            (b"first_six 424242 last_four 4242 exp 12/2028", false),
            (b"\"first_six\":\"424242\",\"last_four\":\"4242\"", false),
            (b"424242\x0c\x07\xec4242", false),
            (
                b"12.50,0.00,12.50,USD,4242,2026-12-03T09:34:59Z,1764754499123",
                false,
            ),
            (b"4242 4242 4242    4242", false),
            (
                b"pay_01JDX8Z3Q4K7M9P2R5T8 1764754499123 1764754499124",
                false,
            ),
        ] {
            let found = scan(text);
            assert_eq!(
                found.is_err(),
                leaked,
                "{:?}: {found:?}",
                String::from_utf8_lossy(text)
            );
            if let Err(said) = found {
                assert!(said.contains("ending"), "{said}");
            }
        }
    }
}
