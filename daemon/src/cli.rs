//! The `cipd` command line: `init`, `serve`, `app …` and `user …`. Passwords come from a prompt
//! or standard input, never from the arguments.

use crate::admin::{Admin, Operator, describe_user};
use crate::clock::{Clock, Entropy, SystemClock};
use crate::serve::Daemon;
use anyhow::{Context, bail};
use cip_common::form::{ApplicationSpec, ApplicationsFile};
use cip_common::money::Money;
use cip_common::report::ReportFilter;
use cip_common::secret::Password;
use cip_common::session::Role;
use cip_config::{Overrides, Resolved};
use clap::{CommandFactory, Parser, Subcommand};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cipd",
    version,
    about = "CIP's payment daemon: run it and administer it"
)]
struct Cli {
    /// Settings file (TOML); without it, ~/.config/cip/cipd.toml, else /etc/cip/cipd.toml, if
    /// either exists. Every key, its default and its limits: assets/cipd.example.toml.
    #[arg(long, env = "CIP_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Where the database and the processor ledger live.
    #[arg(long, env = "CIP_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The daemon's Unix socket.
    #[arg(long, env = "CIP_SOCKET", global = true)]
    socket: Option<PathBuf>,
    /// A PostgreSQL store shared by several daemons (`postgres://user@host/db`); without it,
    /// `[store] url`, or the SQLite file in the data dir.
    #[arg(long, env = "CIP_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database; with --demo, load the demo applications and users and print them.
    Init {
        #[arg(long)]
        demo: bool,
    },
    /// Serve payments on the Unix socket until SIGTERM or Ctrl-C.
    Serve,
    /// Ask the daemon on the socket how it is doing. Exits 0 when it can take payments, 1 when
    /// it cannot (the reason is printed), 3 when no daemon answers.
    Status {
        /// One JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Applications: the agencies' payment forms.
    #[command(subcommand)]
    App(AppCommand),
    /// Users: agents, supervisors, administrators and API users.
    #[command(subcommand)]
    User(UserCommand),
    /// Payment data for agency staff.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Copy the database to a new file, consistent as of one moment, while payments go on.
    Backup { to: PathBuf },
    /// Put a backup in place of the database (stop `cipd serve` first).
    Restore { from: PathBuf },
    /// The store itself: moving a SQLite store up to PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
    /// The sandbox processor as a service of its own, shared by several daemons.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Measure throughput and latency next to the store's and the wire's ceilings.
    Bench {
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// One JSON object on standard output instead of a table.
        #[arg(long)]
        json: bool,
        /// Also time a start-up on a database of a million payments (about a minute more).
        #[arg(long)]
        startup: bool,
        /// Run on PostgreSQL: a server where the user may create databases (each run makes one
        /// of its own and drops it at the end), e.g. `postgres://cip@localhost/postgres`.
        #[arg(long)]
        store: Option<String>,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy this data dir's SQLite store (stop `cipd serve` first) into an empty PostgreSQL
    /// database, in one transaction, and check every table read back: its rows' count and hash.
    Copy {
        /// The PostgreSQL database, e.g. `postgres://cip@db.example/cip`.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Serve the sandbox's books over HTTP (the protocol is in the README, "Processors") until
    /// SIGTERM or Ctrl-C; point daemons at it with `[processor] kind = "sandbox-http"`.
    Serve {
        /// Where to listen, `ADDR:PORT` (port 0: any free one, printed at start).
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The books: a ledger file, created if missing, read again at every start.
        #[arg(long)]
        ledger: PathBuf,
        /// Latency added to every call, in milliseconds.
        #[arg(long, default_value_t = 0)]
        added_latency_ms: u64,
    },
}

/// Which payments `cipd report export` takes, and where it writes them.
#[derive(clap::Args)]
struct ExportArgs {
    #[arg(long = "app")]
    application: String,
    /// From this day, or this minute of it (the application's local time): YYYY-MM-DD or
    /// "YYYY-MM-DD HH:MM".
    #[arg(long, value_parser = cip_common::calendar::parse_day_at)]
    from: Option<(jiff::civil::Date, Option<jiff::civil::Time>)>,
    /// Up to and including this day, or this minute of it: YYYY-MM-DD or "YYYY-MM-DD HH:MM".
    #[arg(long, value_parser = cip_common::calendar::parse_day_at)]
    to: Option<(jiff::civil::Date, Option<jiff::civil::Time>)>,
    /// Only payments with this status: approved, declined, failed, in_doubt, voided…
    #[arg(long, value_parser = parse_status)]
    status: Option<cip_common::status::PaymentStatus>,
    /// Only payments some of whose amount was refunded.
    #[arg(long)]
    refunded: bool,
    /// Only payments taken this way: gateway, partial or full.
    #[arg(long, value_parser = parse_mode)]
    mode: Option<cip_common::payment::Mode>,
    /// The payment with this confirmation code (any case, spaces and hyphens as typed).
    #[arg(long = "code")]
    confirmation_code: Option<String>,
    /// The payment with this id (pay_…).
    #[arg(long = "payment")]
    payment_id: Option<String>,
    /// Payments by the card or account ending in these four digits.
    #[arg(long)]
    last_four: Option<String>,
    /// Payments whose payer's name or email holds this, any case.
    #[arg(long)]
    payer: Option<String>,
    /// At least this amount, in the application's currency (25.00).
    #[arg(long)]
    min_amount: Option<String>,
    /// At most this amount, in the application's currency.
    #[arg(long)]
    max_amount: Option<String>,
    /// Only the payments this batch report (bat_…) took to the agency.
    #[arg(long)]
    batch: Option<String>,
    /// The file to write; without it, standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// One application's payments as CSV (columns in the README), oldest first.
    Export(Box<ExportArgs>),
    /// Send the application's batch report to its outbox now: every decided payment no batch
    /// has taken (and first any batch a run cut short left unfinished).
    Run {
        #[arg(long = "app")]
        application: String,
    },
    /// Count and total one day's payments by status and method, and list those in doubt.
    Reconcile {
        #[arg(long = "app")]
        application: String,
        /// The application's local day, YYYY-MM-DD; default: today there.
        #[arg(long, value_parser = cip_common::calendar::parse_day)]
        day: Option<jiff::civil::Date>,
    },
}

fn parse_status(text: &str) -> Result<cip_common::status::PaymentStatus, String> {
    cip_common::status::PaymentStatus::from_code(text).ok_or_else(|| {
        format!(
            "{text:?} is not a status: approved, declined, failed, in_doubt, processing or voided"
        )
    })
}

fn parse_mode(text: &str) -> Result<cip_common::payment::Mode, String> {
    cip_common::payment::Mode::from_code(text)
        .ok_or_else(|| format!("{text:?} is not a mode: gateway, partial or full"))
}

async fn report(admin: &Admin, resolved: &Resolved, command: ReportCommand) -> anyhow::Result<()> {
    match command {
        ReportCommand::Export(export) => {
            let ExportArgs {
                application,
                from,
                to,
                status,
                refunded,
                mode,
                confirmation_code,
                payment_id,
                last_four,
                payer,
                min_amount,
                max_amount,
                batch,
                out,
            } = *export;
            let currency = admin.application(&application).await?.currency;
            let minor = |flag: &str, text: Option<String>| {
                text.map(|t| {
                    Money::parse(&t, currency)
                        .map(|m| m.minor)
                        .map_err(|e| anyhow::anyhow!("--{flag} {t:?}: {e}"))
                })
                .transpose()
            };
            let filter = ReportFilter {
                application,
                from: from.map(|(day, _)| day),
                from_at: from.and_then(|(_, at)| at),
                to: to.map(|(day, _)| day),
                to_at: to.and_then(|(_, at)| at),
                status,
                mode,
                refunded,
                confirmation_code,
                payment_id,
                last_four,
                payer,
                min_amount_minor: minor("min-amount", min_amount)?,
                max_amount_minor: minor("max-amount", max_amount)?,
                batch,
            };
            let (sink, named): (Box<dyn std::io::Write + Send>, String) = match &out {
                Some(path) => (
                    Box::new(std::io::BufWriter::new(
                        std::fs::File::create(path)
                            .with_context(|| format!("cannot write {}", path.display()))?,
                    )),
                    path.display().to_string(),
                ),
                None => (
                    Box::new(std::io::BufWriter::new(std::io::stdout())),
                    "standard output".to_owned(),
                ),
            };
            let rows = admin.export(&filter, sink).await?;
            eprintln!("cipd: {rows} rows written to {named}");
        }
        ReportCommand::Run { application } => {
            for file in admin.run_batch(&application, &resolved.outbox()).await? {
                println!(
                    "{} batch {}: {} payments and {} refunds in {} (manifest {})",
                    if file.resumed { "finished" } else { "sent" },
                    file.id,
                    file.payment_count,
                    file.refund_count,
                    file.csv.display(),
                    file.manifest.display()
                );
            }
        }
        ReportCommand::Reconcile { application, day } => {
            let reconciliation = admin.reconcile(&application, day).await?;
            print!("{}", crate::report::reconcile::render(&reconciliation));
        }
    }
    Ok(())
}

#[derive(Subcommand)]
enum AppCommand {
    /// Add an application from a TOML file holding one [[application]] table.
    Add {
        #[arg(long)]
        file: PathBuf,
    },
    /// List the applications.
    List,
    /// Show an application's form.
    Show { id: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is asked for (or read from standard input).
    Add {
        id: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// An application the user may use; repeat for more.
        #[arg(long = "app", required = true)]
        apps: Vec<String>,
    },
    /// List users, their roles, applications and lockouts.
    List,
    /// Set a user's password; asked for (or read from standard input).
    Passwd { id: String },
    /// Lift a user's lockout and clear its failed sign-ins.
    Unlock { id: String },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::from_code(text)
        .ok_or_else(|| "a role is agent, supervisor, admin, api or viewer".to_owned())
}

pub fn main() -> ExitCode {
    if let Some(written) = cip_manuals::write_if_asked(Cli::command) {
        return written;
    }
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CIP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tarpc=warn")),
        );
    // One JSON object a line for log collectors (journald, Loki, Elasticsearch).
    match std::env::var("CIP_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().flatten_event(true).init(),
        _ => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cipd: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cipd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The sandbox keeps no CIP data and reads no CIP settings.
    if let Command::Sandbox(SandboxCommand::Serve {
        listen,
        ledger,
        added_latency_ms,
    }) = cli.command
    {
        return sandbox_serve(listen, &ledger, added_latency_ms)
            .await
            .map(|()| ExitCode::SUCCESS);
    }
    let resolved = cip_config::load(&Overrides {
        config: cli.config,
        data_dir: cli.data_dir,
        socket: cli.socket,
        database_url: cli.database_url.filter(|url| !url.is_empty()),
    })?;
    let done = match cli.command {
        Command::Status { json } => return status(&resolved, json).await,
        Command::Serve => serve(&resolved).await,
        Command::Init { demo } => init(&resolved, demo).await,
        Command::App(command) => app(&admin(&resolved).await?, command, &resolved).await,
        Command::User(command) => user(&admin(&resolved).await?, command).await,
        Command::Report(command) => report(&admin(&resolved).await?, &resolved, command).await,
        Command::Backup { to } => {
            refuse_on_postgres(&resolved, "backup")?;
            let copied = crate::store::backup::backup(&resolved.database(), &to)?;
            let object = format!("file:{} payments:{}", to.display(), copied.payments);
            admin(&resolved)
                .await?
                .record("database.backup", object)
                .await?;
            println!(
                "backed up {} payments ({} bytes) to {}; keep {} too, apart from it",
                copied.payments,
                copied.bytes,
                to.display(),
                resolved
                    .data_dir
                    .join(crate::serve::FINGERPRINT_KEY_FILE)
                    .display()
            );
            Ok(())
        }
        Command::Restore { from } => {
            refuse_on_postgres(&resolved, "restore")?;
            let copied =
                crate::store::backup::restore(&from, &resolved.database(), &resolved.socket)?;
            // Opening it brings an older backup's schema up to date.
            let object = format!("file:{} payments:{}", from.display(), copied.payments);
            admin(&resolved)
                .await?
                .record("database.restore", object)
                .await?;
            println!(
                "restored {} payments from {} into {}",
                copied.payments,
                from.display(),
                resolved.database().display()
            );
            Ok(())
        }
        Command::Store(StoreCommand::Copy { to }) => copy_store(&resolved, &to).await,
        Command::Bench {
            seconds,
            json,
            startup,
            store,
        } => {
            let stores = crate::bench::Stores::new(store.as_deref())?;
            let report = crate::bench::run(&stores, seconds.max(1), startup).await;
            stores.drop_all().await?;
            let report = report?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                crate::bench::print_table(&report);
            }
            Ok(())
        }
        Command::Sandbox(SandboxCommand::Serve { .. }) => {
            unreachable!("the sandbox is served before the settings are read")
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// `cipd status`: what the daemon on the socket says of itself.
async fn status(resolved: &Resolved, json: bool) -> anyhow::Result<ExitCode> {
    let client = match cip_client::connect(&resolved.socket).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("cipd: {e}");
            return Ok(ExitCode::from(3));
        }
    };
    let status = client
        .status(tarpc::context::current())
        .await
        .context("the daemon did not answer")??;
    match json {
        true => println!("{}", serde_json::to_string(&status)?),
        false => println!("{status}"),
    }
    Ok(match status.readiness.ready() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}

/// `cipd backup` and `cipd restore` copy the SQLite file; a PostgreSQL store has its own tools.
fn refuse_on_postgres(resolved: &Resolved, command: &str) -> anyhow::Result<()> {
    if resolved.store_url().is_some() {
        anyhow::bail!(
            "`cipd {command}` copies the SQLite file, and this daemon's store is PostgreSQL \
             ([store] url): {command} it with PostgreSQL's tools (pg_basebackup and WAL \
             archiving, or pg_dump and pg_restore)"
        );
    }
    Ok(())
}

async fn admin(resolved: &Resolved) -> anyhow::Result<Admin> {
    Ok(admin_of(crate::serve::open_store(resolved).await?))
}

fn admin_of(store: crate::store::Store) -> Admin {
    Admin {
        store,
        operator: Operator::from_env(),
        entropy: Entropy::from_os(),
    }
}

/// `cipd store copy --to URL`: the SQLite store moved up, table by table, each checked.
async fn copy_store(resolved: &Resolved, to: &str) -> anyhow::Result<()> {
    if resolved.store_url().is_some() {
        anyhow::bail!(
            "`cipd store copy` moves the data dir's SQLite store to PostgreSQL, and this \
             daemon's store is PostgreSQL already ([store] url)"
        );
    }
    let database = resolved.database();
    // The CA the settings name for `[store] url` checks the target's server too.
    let to = crate::store::Database {
        url: to,
        tls_ca: resolved.settings.store.tls_ca.as_deref(),
    };
    let copied = crate::store::copy::sqlite_to_postgres(&database, &resolved.socket, to).await?;
    println!(
        "{:<20} {:>12}  hash of the rows (in any order)",
        "table", "rows"
    );
    for table in &copied {
        println!("{:<20} {:>12}  {}", table.table, table.rows, table.hash);
    }
    let payments = copied
        .iter()
        .find(|t| t.table == "payments")
        .map_or(0, |t| t.rows);
    // The copy is committed: a failure to write it down is said, not made the copy's.
    let object = format!("from:{} payments:{payments}", database.display());
    let recorded =
        match crate::store::Store::connect(to, crate::serve::store_limits(resolved)).await {
            Ok(target) => admin_of(target).record("store.copy", object).await,
            Err(e) => Err(e.into()),
        };
    if let Err(e) = recorded {
        eprintln!("cipd: the copy is complete, but its audit entry was not written: {e:#}");
    }
    println!(
        "copied {} into PostgreSQL: every table read back with the same rows and hash. Serve it \
         with `[store] url` (or CIP_DATABASE_URL), and give every daemon on it this data dir's \
         fingerprint key, {}.",
        database.display(),
        resolved
            .data_dir
            .join(crate::serve::FINGERPRINT_KEY_FILE)
            .display()
    );
    Ok(())
}

async fn serve(resolved: &Resolved) -> anyhow::Result<()> {
    let daemon = Daemon::start(resolved, false).await?;
    daemon.serve(&resolved.socket, shutdown_signal()).await
}

async fn sandbox_serve(
    listen: std::net::SocketAddr,
    ledger: &std::path::Path,
    added_latency_ms: u64,
) -> anyhow::Result<()> {
    let sandbox = crate::processor::sandbox::Sandbox::open(
        ledger,
        std::time::Duration::from_millis(added_latency_ms),
    )
    .with_context(|| format!("cannot open the ledger {}", ledger.display()))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("cipd sandbox on http://{}", listener.local_addr()?);
    crate::processor::sandbox_server::serve(listener, sandbox, shutdown_signal()).await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = hup.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn init(resolved: &Resolved, demo: bool) -> anyhow::Result<()> {
    let existed = resolved.database().exists();
    let admin = admin(resolved).await?;
    println!("database: {}", resolved.database().display());
    if !demo {
        return Ok(());
    }
    if existed && !admin.applications().await?.is_empty() {
        bail!(
            "{} already holds applications: use a fresh --data-dir for the demo",
            resolved.database().display()
        );
    }
    let users = admin.load_demo().await?;
    println!("demo applications: DMV-RENEWAL, PARK-RESERVE, TAX-PAYMENT");
    println!("demo users (demo passwords only; never use them for real):");
    for user in users {
        println!(
            "  {:<8} {:<11} password {}",
            user.id,
            user.role.code(),
            user.password
        );
    }
    Ok(())
}

async fn app(admin: &Admin, command: AppCommand, resolved: &Resolved) -> anyhow::Result<()> {
    match command {
        AppCommand::Add { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let parsed: ApplicationsFile = toml::from_str(&text)
                .with_context(|| format!("{} is not an application file", file.display()))?;
            for spec in parsed.application {
                let id = spec.id.clone();
                admin.add_application(spec).await?;
                println!("added application {id}");
            }
        }
        AppCommand::List => {
            for spec in admin.applications().await? {
                println!(
                    "{:<16} {:<32} {} {} to {}  {}",
                    spec.id,
                    spec.name,
                    spec.currency,
                    spec.min_amount().amount_text(),
                    spec.max_amount().amount_text(),
                    spec.methods
                        .iter()
                        .map(|m| m.code())
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
        }
        AppCommand::Show { id } => {
            let spec: ApplicationSpec = admin
                .applications()
                .await?
                .into_iter()
                .find(|s| s.id == id)
                .with_context(|| format!("no application {id}: see `cipd app list`"))?;
            let signed = spec.callback_url.is_some();
            let key = crate::engine::callback_key(
                &crate::serve::fingerprint_key(&resolved.data_dir, &admin.entropy)?,
                &spec.id,
            );
            print!(
                "{}",
                toml::to_string_pretty(&ApplicationsFile {
                    application: vec![spec]
                })?
            );
            if signed {
                // For the agency: how to check that a notification came from CIP.
                println!(
                    "# notifications carry X-CIP-Signature: t=<ms>,v1=<hex HMAC-SHA256 of \"<ms>.<body>\">\n\
                     # with the key (hex) {}",
                    blake3::Hash::from(key).to_hex()
                );
            }
        }
    }
    Ok(())
}

async fn user(admin: &Admin, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { id, role, apps } => {
            let password = read_password(&format!("password for {id}"))?;
            admin.add_user(&id, role, &password, apps).await?;
            println!("added {role} {id}");
        }
        UserCommand::List => {
            let now = SystemClock.now_ms();
            for user in admin.users().await? {
                println!("{}", describe_user(&user, now));
            }
        }
        UserCommand::Passwd { id } => {
            let password = read_password(&format!("new password for {id}"))?;
            admin.set_password(&id, &password).await?;
            println!("password of {id} changed");
        }
        UserCommand::Unlock { id } => {
            admin.unlock(&id).await?;
            println!("{id} unlocked");
        }
    }
    Ok(())
}

/// A password from the terminal (typed twice, not echoed) or one line of standard input.
fn read_password(what: &str) -> anyhow::Result<Password> {
    if std::io::stdin().is_terminal() {
        let first = Password::new(rpassword::prompt_password(format!("{what}: "))?);
        let again = Password::new(rpassword::prompt_password(format!("{what} again: "))?);
        if first != again {
            bail!("the two passwords differ: nothing changed");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = Password::new(line.trim_end_matches(['\r', '\n']));
    zeroize::Zeroize::zeroize(&mut line);
    Ok(password)
}
