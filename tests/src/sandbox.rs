//! A real `cipd sandbox serve` process: the processor several daemons share, on a loopback port,
//! its ledger and log in a dir of its own under [`crate::suite_dir`] (scanned for card data
//! after the suite, as every daemon's is).

use crate::{binary, suite_dir};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct SandboxServer {
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`, the same across restarts.
    pub url: String,
    child: Option<Child>,
}

impl SandboxServer {
    /// Starts the sandbox on a free loopback port with an empty ledger.
    pub fn start() -> SandboxServer {
        std::fs::create_dir_all(suite_dir()).expect("the suite's dir");
        let dir = tempfile::Builder::new()
            .prefix("sandbox-")
            .disable_cleanup(true)
            .tempdir_in(suite_dir())
            .expect("a dir");
        let mut sandbox = SandboxServer {
            dir,
            url: String::new(),
            child: None,
        };
        sandbox.url = sandbox.serve("127.0.0.1:0");
        sandbox
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.dir.path().join("ledger.tsv")
    }

    /// The books as they are now.
    pub fn ledger(&self) -> String {
        std::fs::read_to_string(self.ledger_path()).unwrap_or_default()
    }

    /// The ledger's lines about `reference`.
    pub fn lines_of(&self, reference: &str) -> Vec<String> {
        self.ledger()
            .lines()
            .filter(|l| l.split('\t').nth(1) == Some(reference))
            .map(str::to_owned)
            .collect()
    }

    /// Starts serving on `listen` and returns the address it printed once it listens.
    fn serve(&mut self, listen: &str) -> String {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("sandbox.log"))
            .expect("log file");
        let ledger = self.ledger_path();
        let mut child = Command::new(binary("cipd"))
            .args(["sandbox", "serve", "--listen", listen, "--ledger"])
            .arg(&ledger)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("cipd sandbox serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("the sandbox says where it listens");
        let url = line
            .trim()
            .strip_prefix("cipd sandbox on ")
            .unwrap_or_else(|| panic!("cipd sandbox serve said {line:?}"))
            .to_owned();
        self.child = Some(child);
        url
    }

    /// No card number of the contract is in the processor's ledger or log.
    pub fn assert_no_card_data(&self) {
        if let Err(found) = crate::card_data_in(self.dir.path(), &[]) {
            panic!("{found}");
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, reading its books back from the ledger.
    pub fn restart(&mut self) {
        self.kill();
        let listen = self.url.trim_start_matches("http://").to_owned();
        let url = self.serve(&listen);
        assert_eq!(url, self.url, "the sandbox came back on its port");
    }

    /// Settings for a test daemon whose processor is this sandbox: [`crate::TEST_CONFIG`]'s,
    /// with `deadline_ms` and `ask_after_ms` as given, and `extra` tables after them.
    pub fn daemon_config(&self, deadline_ms: u64, ask_after_ms: u64, extra: &str) -> String {
        format!(
            "{}\n[processor]\nkind = \"sandbox-http\"\nurl = \"{}\"\n\
             deadline_ms = {deadline_ms}\nask_after_ms = {ask_after_ms}\n\n{extra}",
            crate::test_auth!(),
            self.url
        )
    }
}

impl Drop for SandboxServer {
    /// Stops it, and leaves the note the scan after the suite reads: the test sent nothing
    /// through this dir itself (the contract's card numbers are looked for in it all the same).
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::write(self.dir.path().join(crate::SENT_FILE), "[]");
    }
}
