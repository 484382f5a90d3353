//! The real `cip` in a real pseudo-terminal, read through a vt100 parser: tests type keys and
//! read the screen as an agent would.

use crate::binary;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a test waits for text to appear before it fails, showing the screen.
const SCREEN_WAIT: Duration = Duration::from_secs(30);

pub mod keys {
    pub const TAB: &str = "\t";
    pub const ENTER: &str = "\r";
    pub const ESC: &str = "\x1b";
    pub const F1: &str = "\x1bOP";
    pub const F10: &str = "\x1b[21~";

    /// `text` as a terminal sends a paste while the program has bracketed paste on.
    pub fn pasted(text: &str) -> String {
        format!("\x1b[200~{text}\x1b[201~")
    }
}

pub struct Console {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    /// Bytes `cip` has written to the terminal.
    bytes: Arc<AtomicU64>,
    master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Console {
    /// Starts `cip --socket <socket>` in an 80×24 terminal.
    pub fn start(socket: &Path, working_dir: &Path) -> Console {
        Self::start_with(socket, working_dir, &[])
    }

    /// Starts `cip --socket <socket> <args>` in an 80×24 terminal.
    pub fn start_with(socket: &Path, working_dir: &Path, args: &[&str]) -> Console {
        let socket = socket.to_str().expect("a UTF-8 socket path");
        Self::start_args(working_dir, &[&["--socket", socket], args].concat())
    }

    /// Starts `cip <args>` in an 80×24 terminal.
    pub fn start_args(working_dir: &Path, args: &[&str]) -> Console {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: 24,
                cols: 80,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pty");
        let mut command = CommandBuilder::new(binary("cip"));
        command.args(args);
        command.cwd(working_dir);
        command.env("TERM", "xterm-256color");
        command.env_remove("CIP_CONFIG");
        command.env_remove("CIP_SOCKET");
        let child = pty
            .slave
            .spawn_command(command)
            .expect("cip starts in the pty");
        let size = |n| std::num::NonZeroU16::new(n).expect("not zero");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(size(24), size(80), 0)));
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let screen = Arc::clone(&parser);
        let bytes = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&bytes);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                counted.fetch_add(n as u64, Ordering::Relaxed);
                screen.lock().expect("not poisoned").process(&buf[..n]);
            }
        });
        let writer = pty.master.take_writer().expect("pty writer");
        Console {
            parser,
            writer,
            child,
            bytes,
            master: pty.master,
        }
    }

    /// Whether `cip` has asked the terminal for bracketed paste.
    pub fn bracketed_paste(&self) -> bool {
        self.parser
            .lock()
            .expect("not poisoned")
            .screen()
            .bracketed_paste()
    }

    /// Resizes the terminal, as a window is resized: `cip` gets SIGWINCH.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let size = |n| std::num::NonZeroU16::new(n).expect("not zero");
        self.parser
            .lock()
            .expect("not poisoned")
            .set_size(size(rows), size(cols));
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("the pty resizes");
    }

    pub fn bytes_written(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("cip has a pid")
    }

    pub fn screen(&self) -> String {
        self.parser
            .lock()
            .expect("not poisoned")
            .screen()
            .contents()
    }

    pub fn type_keys(&mut self, keys: &str) {
        self.writer
            .write_all(keys.as_bytes())
            .expect("keys written");
        self.writer.flush().expect("keys flushed");
    }

    /// Sends a signal (`TERM`, `HUP`) to `cip` and waits for it to exit.
    pub fn signal_and_wait(&mut self, signal: &str) -> portable_pty::ExitStatus {
        let pid = self.child.process_id().expect("cip has a pid");
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success());
        self.child.wait().expect("cip exits")
    }

    /// Whether the terminal is still on the alternate screen, or the cursor still hidden: what a
    /// console that did not restore the terminal leaves behind.
    pub fn left_in_tui_mode(&self) -> bool {
        let parser = self.parser.lock().expect("not poisoned");
        parser.screen().alternate_screen() || parser.screen().hide_cursor()
    }

    /// Signs in with a demo user's demo password once the console is connected.
    pub fn sign_in(&mut self, application: &str, user: &str) {
        self.wait_for("Sign in to CIP");
        self.wait_for("● connected");
        let password = format!("{user}-demo-pass");
        self.type_keys(
            &[
                application,
                keys::TAB,
                user,
                keys::TAB,
                &password,
                keys::ENTER,
            ]
            .concat(),
        );
    }

    /// Waits until the screen shows `text`, and returns the screen.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("{text:?}"), |screen| screen.contains(text))
    }

    /// Waits until the screen is as `wanted` says (`what` names it for the failure), and
    /// returns the screen.
    pub fn wait_until(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if wanted(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < SCREEN_WAIT,
                "the screen never showed {what}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The confirmation code an outcome screen shows.
pub fn confirmation_code(screen: &str) -> String {
    let line = screen
        .lines()
        .find_map(|l| l.split("Confirmation code: ").nth(1))
        .unwrap_or_else(|| panic!("no confirmation code on screen:\n{screen}"));
    line.split_whitespace()
        .next()
        .expect("a code")
        .trim_end_matches('│')
        .to_owned()
}

/// A good DMV-RENEWAL payment of 25.00 paid with `card`, as an agent types it field by field.
pub fn dmv_payment(card: &str) -> [&str; 11] {
    [
        "Ada Lovelace",
        "ada@example.com",
        "94107",
        "ABC123",
        "1234567890",
        "25.00",
        card,
        "1228",
        "123",
        "ADA LOVELACE",
        "94107",
    ]
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
