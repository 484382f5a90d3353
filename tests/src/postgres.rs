//! A private PostgreSQL cluster for the end-to-end suites on the shared store: `initdb` on a
//! dir under [`suite_dir`] (so the card-data scan after the suite reads its files too), the
//! server on a Unix socket there and no TCP port, fsync and synchronous commit on as in
//! production, no system service. It starts on first use in a test process and ends with it
//! (the server is told to stop when the thread that started it dies with the process). As root,
//! the server runs as the `postgres` user, which Debian's package creates.

use crate::{SENT_FILE, suite_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The settings of the suites' store, from `CIP_TEST_STORE`: `postgres` runs every daemon of
/// the suite on a database of this process's cluster; unset or `sqlite`, on its SQLite file.
pub fn wanted() -> bool {
    match std::env::var("CIP_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("CIP_TEST_STORE={other}: say `sqlite` or `postgres`"),
    }
}

pub struct Cluster {
    /// The cluster's dir: `data/`, the socket, the server's log and its TLS files.
    pub dir: PathBuf,
    bin: PathBuf,
    /// The loopback TCP port it also listens on, with TLS (the socket's name carries it too).
    port: u16,
    /// The CA that signed the server's certificate.
    pub tls_ca: PathBuf,
    databases: AtomicUsize,
}

/// Where Debian puts PostgreSQL's server programs: the newest `/usr/lib/postgresql/<v>/bin`.
pub fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// The installation hint every test that needs PostgreSQL gives when it is missing.
const INSTALL: &str = "install Debian's postgresql (apt-get install postgresql)";

/// Whether PostgreSQL is here for a test that needs it; when it is not, says so (the test then
/// skips), or fails where `CIP_REQUIRE_TOOLS` is set (as in CI).
pub fn present() -> bool {
    crate::tool_present(bin_dir().is_some(), "PostgreSQL", INSTALL)
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `program` of the server's, run as the `postgres` user when this process is root (the
/// server refuses to run as root); `parent_death` also stops it when its starter dies.
fn server_command(bin: &Path, program: &str, parent_death: bool) -> Command {
    let mut command = Command::new("setpriv");
    if running_as_root() {
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
    }
    if parent_death {
        command.args(["--pdeathsig", "SIGQUIT"]);
    }
    command.arg("--").arg(bin.join(program));
    command
}

/// Makes `path` (and what is in it) the server's, when this process is root.
fn give_to_server(path: &Path) {
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .expect("chown runs");
        assert!(
            status.success(),
            "{} cannot be given to postgres",
            path.display()
        );
    }
}

/// The cluster's one role that must give a password (scram-sha-256), and that password.
pub const PASSWORD_USER: &str = "cip_password";
pub const PASSWORD: &str = "pw-7f3a-in-a-file";

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// How long a start of the server may take before the harness gives up and shows its log.
const RECOVERY_WITHIN: Duration = Duration::from_secs(120);

/// This process's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(Cluster::start)
}

impl Cluster {
    fn start() -> Cluster {
        let bin = bin_dir().unwrap_or_else(|| panic!("PostgreSQL is missing: {INSTALL}"));
        let dir = suite_dir().join(format!("postgres-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the cluster's dir");
        // What the tests on this cluster sent is in their own dirs; the scan after the suite
        // searches this one for every card number of the contract.
        std::fs::write(dir.join(SENT_FILE), "[]").expect("the cluster's scan note");
        give_to_server(&dir);
        let data = dir.join("data");
        let out = server_command(&bin, "initdb", false)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "cip", "-E", "UTF8", "--locale=C", "-N"])
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Every role is trusted but one, which must give its password: for the daemon that
        // reads it from a password file (pg_hba.conf's first matching line counts).
        let hba = data.join("pg_hba.conf");
        let trusted = std::fs::read_to_string(&hba).expect("initdb's pg_hba.conf");
        std::fs::write(
            &hba,
            format!(
                "local all {PASSWORD_USER} scram-sha-256\n\
                 host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n{trusted}"
            ),
        )
        .expect("pg_hba.conf written");
        // TLS for clients over TCP: a CA of the cluster's own, and the server's certificate for
        // the loopback address, its key readable by the server alone.
        let pki = crate::pki::Pki::at(&dir);
        let ca = pki.ca("cluster-ca");
        let (cert, key) = pki.leaf(
            &ca,
            "server",
            &["127.0.0.1", "localhost"],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        give_to_server(&cert);
        give_to_server(&key);
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("the key's mode");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let cluster = Cluster {
            dir,
            bin,
            port,
            tls_ca: ca.file,
            databases: AtomicUsize::new(0),
        };
        cluster.serve();
        let out = cluster.psql(
            "postgres",
            &format!("CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    /// Stops the server as a crash does and starts it again, recovering from its write-ahead
    /// log.
    pub fn crash_and_restart(&self) {
        self.crash();
        self.serve();
    }

    /// Stops the server as a crash does (`pg_ctl stop -m immediate`: no checkpoint, every
    /// connection cut); [`Self::serve`] starts it again.
    pub fn crash(&self) {
        let out = server_command(&self.bin, "pg_ctl", false)
            .arg("stop")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate"])
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server, from a thread that lives as long as the server does: the server is
    /// told to stop (SIGQUIT) when that thread dies, which it does only with this process.
    pub fn serve(&self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("the server's log");
        let mut command = server_command(&self.bin, "postgres", true);
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-k")
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg(format!(
                "ssl_cert_file={}",
                self.dir.join("server.pem").display()
            ))
            .arg("-c")
            .arg(format!(
                "ssl_key_file={}",
                self.dir.join("server-key.pem").display()
            ))
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "ssl=on",
                "-c",
                "max_connections=400",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
                // After a crash: one syncfs of the file system instead of an fsync of every
                // file of every database, and the log says what recovery is doing meanwhile.
                "-c",
                "recovery_init_sync_method=syncfs",
                "-c",
                "log_startup_progress_interval=1s",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the server's log"))
            .stderr(log);
        let (started, spawned) = std::sync::mpsc::channel();
        std::thread::spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = started.send(Ok(()));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = started.send(Err(e));
            }
        });
        spawned
            .recv()
            .expect("the starter answers")
            .expect("postgres starts (setpriv is util-linux's)");
        // Recovery after a crash replays the write-ahead log since the last checkpoint and
        // checkpoints before it lets anyone in: on a busy machine, that can take a while.
        let deadline = Instant::now() + RECOVERY_WITHIN;
        while !self.psql("postgres", "SELECT 1").status.success() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start: {}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The connection string of `database`, over the cluster's socket.
    pub fn url(&self, database: &str) -> String {
        format!(
            "host={} port={} user=cip dbname={database}",
            self.dir.display(),
            self.port
        )
    }

    /// The connection string of `database` over TCP with TLS required, the server's
    /// certificate checked against [`Cluster::tls_ca`].
    pub fn tls_url(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=cip sslmode=require dbname={database}",
            self.port
        )
    }

    /// A new, empty database of its own for one daemon (or several that share it).
    pub fn new_database(&self) -> String {
        self.url(&self.create_database("cip"))
    }

    /// A new database owned by [`PASSWORD_USER`], and its connection string over the socket,
    /// which names no password: the server asks for [`PASSWORD`].
    pub fn new_password_database(&self) -> String {
        let name = self.create_database(PASSWORD_USER);
        self.url(&name)
            .replace("user=cip ", &format!("user={PASSWORD_USER} "))
    }

    /// Creates a database of `owner`'s, and gives its name.
    fn create_database(&self, owner: &str) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("cip_{n}");
        let out = self.psql("postgres", &format!("CREATE DATABASE {name} OWNER {owner}"));
        assert!(
            out.status.success(),
            "CREATE DATABASE failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        name
    }

    /// Runs `sql` in `database` with psql: unaligned, tab-separated, no headers.
    pub fn psql(&self, database: &str, sql: &str) -> std::process::Output {
        self.psql_command(database)
            .args(["-F", "\t", "-c", sql])
            .output()
            .expect("psql runs")
    }

    fn psql_command(&self, database: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .arg("-h")
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args([
                "-U",
                "cip",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-A",
                "-t",
            ]);
        command
    }

    /// A transaction of another client, begun (with its id taken) in `database` and left open
    /// until the value is dropped: what holds every transaction begun after it in the feed's
    /// view as still to come.
    pub fn open_transaction(&self, database: &str) -> OpenTransaction {
        use std::io::{BufRead, Write};
        let mut psql = self
            .psql_command(database)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("psql runs");
        let mut input = psql.stdin.take().expect("stdin is piped");
        input
            .write_all(b"BEGIN;\nSELECT pg_current_xact_id();\n")
            .expect("psql reads");
        let mut output = std::io::BufReader::new(psql.stdout.take().expect("stdout is piped"));
        // psql says BEGIN, then the id.
        let mut said = String::new();
        while !said.lines().any(|l| l.trim().parse::<u64>().is_ok()) {
            assert!(
                output.read_line(&mut said).expect("psql answers") > 0,
                "psql ended: {said}"
            );
        }
        OpenTransaction { psql, input }
    }
}

/// See [`Cluster::open_transaction`]; dropped, its client goes and the transaction ends.
pub struct OpenTransaction {
    psql: std::process::Child,
    input: std::process::ChildStdin,
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = self.input.write_all(b"ROLLBACK;\n\\q\n");
        let _ = self.input.flush();
        let _ = self.psql.wait();
    }
}
