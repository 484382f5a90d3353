//! `cip`, CIP's terminal console: terminal setup, the event loop, and the shell's own effects
//! (saving receipts). State lives in `app`, drawing in `screens`, the daemon in `client`.

mod app;
mod client;
#[cfg(feature = "demo")]
mod demo;
#[cfg(not(feature = "demo"))]
#[path = "no_demo.rs"]
mod demo;
mod feed;
mod form;
mod receipt;
mod screens;
#[cfg(test)]
mod testing;
mod theme;

use app::{App, Command, Msg};
use cip_client::{Endpoint, Remote};
use cip_config::Overrides;
use clap::{CommandFactory, Parser};
use ratatui::crossterm::event::{self, Event};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often the processing screen's clock moves.
const TICK: Duration = Duration::from_millis(100);
/// Messages handled before one redraw, so a burst costs one frame.
const MAX_MESSAGES_PER_FRAME: usize = 64;
/// Feed traffic redraws at most this often; keys and answers redraw at once.
const MIN_FRAME: Duration = Duration::from_millis(50);

#[derive(Parser)]
#[command(
    name = "cip",
    version,
    about = "CIP's console: key in payments at the service desk"
)]
struct Args {
    /// Start a private demo daemon (fresh demo data in a temporary dir) unless one answers; a
    /// console built without the `demo` feature has none and says so.
    #[arg(long)]
    demo: bool,
    /// The daemon's Unix socket.
    #[arg(long, env = "CIP_SOCKET")]
    socket: Option<PathBuf>,
    /// A remote daemon's TLS listener (its `rpc.listen`); when given, the socket is not used.
    #[arg(
        long,
        value_name = "HOST:PORT",
        conflicts_with = "demo",
        requires = "ca"
    )]
    connect: Option<String>,
    /// PEM file of the CA that signed the remote daemon's certificate.
    #[arg(long, value_name = "FILE", requires = "connect")]
    ca: Option<PathBuf>,
    /// PEM certificate this console shows, when the daemon requires one (`rpc.client_ca`).
    #[arg(long, value_name = "FILE", requires_all = ["connect", "key"])]
    cert: Option<PathBuf>,
    /// PEM private key of `--cert`.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Settings file (TOML), for the socket path.
    #[arg(long, env = "CIP_CONFIG")]
    config: Option<PathBuf>,
    /// On exit, write how many frames were drawn, and in how long, to this file (for measuring).
    #[arg(long, value_name = "FILE")]
    frame_stats: Option<PathBuf>,
    /// Draw symbols, borders and bars in ASCII, for a terminal whose font has no others (on
    /// by itself where `TERM` is `linux` or `vt100`).
    #[arg(long)]
    ascii: bool,
}

fn main() -> ExitCode {
    if let Some(written) = cip_manuals::write_if_asked(Args::command) {
        return written;
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cip: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cip: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The remote daemon, its files read and one connection tried, so a wrong address or CA is told
/// before the terminal is taken over.
async fn remote(
    address: &str,
    ca: &Path,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
) -> anyhow::Result<Endpoint> {
    let identity = cert.as_deref().zip(key.as_deref());
    let endpoint = Endpoint::Remote(Arc::new(Remote::new(address, ca, identity)?));
    endpoint.open().await?;
    Ok(endpoint)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let resolved = cip_config::load(&Overrides {
        config: args.config,
        socket: args.socket,
        ..Overrides::default()
    })?;
    // Held to the end of `run`: a private demo daemon stops once the console is done.
    let private = if args.demo {
        demo::start(&resolved.socket).await?
    } else {
        None
    };
    let endpoint = match (&args.connect, &args.ca) {
        (Some(address), Some(ca)) => remote(address, ca, &args.cert, &args.key).await?,
        _ => Endpoint::Socket(
            private
                .as_ref()
                .map_or_else(|| resolved.socket.clone(), |p| p.socket().to_path_buf()),
        ),
    };
    let logins = private
        .as_ref()
        .map(|p| p.logins().to_vec())
        .unwrap_or_default();
    // Tells this console's idempotency keys from every other's.
    let nonce = cip_common::confirmation::crockford(rand::random(), 13);
    let mut app = App::new(
        endpoint.to_string(),
        logins,
        format!("cip-{nonce}"),
        resolved.settings.console.feed_buffer,
        Instant::now(),
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date(),
    );
    app.demo_http = private
        .as_ref()
        .and_then(|p| p.http_url().map(str::to_owned));
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("cip needs a terminal: run it in one (or over ssh -t)");
    }
    let mut terminal = take_terminal()?;
    let started = Instant::now();
    let theme = theme::Theme::from_env(args.ascii);
    let result = event_loop(&mut terminal, app, endpoint, theme).await;
    restore_terminal();
    if let (Some(path), Ok(frames)) = (&args.frame_stats, &result) {
        let report = format!(
            "frames {frames}\nseconds {:.3}\n",
            started.elapsed().as_secs_f64()
        );
        std::fs::write(path, report)?;
    }
    result.map(|_| ())
}

/// The terminal in raw mode on the alternate screen, with bracketed paste on: a pasted line
/// break arrives inside the paste, never as an Enter key. A panic restores it all.
fn take_terminal() -> anyhow::Result<ratatui::DefaultTerminal> {
    use ratatui::crossterm::{event::EnableBracketedPaste, execute};
    let terminal =
        ratatui::try_init().map_err(|e| anyhow::anyhow!("cannot set up the terminal: {e}"))?;
    let restore = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(
            std::io::stdout(),
            ratatui::crossterm::event::DisableBracketedPaste
        );
        restore(info);
    }));
    execute!(std::io::stdout(), EnableBracketedPaste)
        .map_err(|e| anyhow::anyhow!("cannot set up the terminal: {e}"))?;
    Ok(terminal)
}

fn restore_terminal() {
    use ratatui::crossterm::{event::DisableBracketedPaste, execute};
    let _ = execute!(std::io::stdout(), DisableBracketedPaste);
    ratatui::restore();
}

/// Runs until the agent quits or a signal ends the console; returns the frames drawn.
async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    mut app: App,
    endpoint: Endpoint,
    theme: theme::Theme,
) -> anyhow::Result<u64> {
    use tokio::signal::unix::{SignalKind, signal};
    let (msg_tx, mut msgs) = mpsc::unbounded_channel();
    let (commands, command_rx) = mpsc::unbounded_channel();
    tokio::spawn(client::run(endpoint, command_rx, msg_tx.clone()));
    let keys = msg_tx.clone();
    std::thread::Builder::new()
        .name("cip-terminal-input".into())
        .spawn(move || {
            while let Ok(event) = event::read() {
                let at = Instant::now();
                let msg = match event {
                    Event::Key(key) => Msg::Key { key, at },
                    Event::Paste(text) => Msg::Paste { text, at },
                    Event::Resize(..) => Msg::Resized,
                    _ => continue,
                };
                if keys.send(msg).is_err() {
                    break;
                }
            }
        })?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut tick = tokio::time::interval(TICK);
    let mut batch = Vec::with_capacity(MAX_MESSAGES_PER_FRAME);
    // A frame's time is taken before it is drawn, so a key read once it is on screen is never
    // older than the frame, however the threads are scheduled.
    let mut last_frame = Instant::now();
    let drawn = terminal.draw(|frame| screens::render(frame, &app, theme))?;
    app.drawn(last_frame, (drawn.area.width, drawn.area.height));
    let mut frames = 1;
    let mut stale = false;
    loop {
        let mut urgent = false;
        tokio::select! {
            received = msgs.recv_many(&mut batch, MAX_MESSAGES_PER_FRAME) => {
                if received == 0 {
                    break;
                }
                stale = true;
                urgent = !batch.iter().all(Msg::is_feed);
                for msg in batch.drain(..) {
                    for command in app.update(msg) {
                        match command {
                            Command::SaveReceipt { file_name, text } => {
                                let saved = std::fs::write(&file_name, text)
                                    .map(|()| std::fs::canonicalize(&file_name).map_or(file_name.clone(), |p| p.display().to_string()))
                                    .map_err(|e| e.to_string());
                                let _ = msg_tx.send(Msg::ReceiptSaved(saved));
                            }
                            Command::Quit => app.quit = true,
                            other => {
                                let _ = commands.send(other);
                            }
                        }
                    }
                }
            }
            _ = tick.tick(), if app.wants_ticks() => {
                stale = true;
                for command in app.update(Msg::Tick { now: Instant::now() }) {
                    let _ = commands.send(command);
                }
            }
            () = tokio::time::sleep_until((last_frame + MIN_FRAME).into()), if stale => {}
            _ = term.recv() => break,
            _ = hangup.recv() => break,
        }
        if app.quit {
            break;
        }
        if stale && (urgent || last_frame.elapsed() >= MIN_FRAME) {
            last_frame = Instant::now();
            let drawn = terminal.draw(|frame| screens::render(frame, &app, theme))?;
            frames += 1;
            app.drawn(last_frame, (drawn.area.width, drawn.area.height));
            stale = false;
        }
    }
    match app.cannot_connect {
        Some(reason) => Err(anyhow::anyhow!(reason)),
        None => Ok(frames),
    }
}
