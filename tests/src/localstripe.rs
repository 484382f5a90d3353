//! `localstripe` (PyPI): a stateful Stripe server nobody here wrote, on a free loopback port, for
//! the Stripe connector's tests; and a daemon's settings pointing at it with a secret key file.

use crate::{suite_dir, tool_present};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long localstripe may take to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Localstripe {
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    child: Child,
}

impl Localstripe {
    /// Starts localstripe with nothing in it; `None` when it is not installed here (outside CI,
    /// where `.ci/run` installs it and requires the tests that use it).
    pub fn start() -> Option<Localstripe> {
        let installed = Command::new("python3")
            .args(["-c", "import localstripe"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !tool_present(
            installed,
            "localstripe",
            "python3 -m pip install localstripe==1.15.10",
        ) {
            return None;
        }
        std::fs::create_dir_all(suite_dir()).expect("the suite's dir");
        let dir = tempfile::Builder::new()
            .prefix("localstripe-")
            .tempdir_in(suite_dir())
            .expect("a dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::fs::File::create(dir.path().join("localstripe.log")).expect("a log");
        let child = Command::new("python3")
            .args(["-m", "localstripe", "--from-scratch", "--port"])
            .arg(port.to_string())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log"))
            .stderr(log)
            .spawn()
            .expect("localstripe starts");
        let server = Localstripe {
            dir,
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < START_TIMEOUT,
                "localstripe did not listen: {}",
                std::fs::read_to_string(server.dir.path().join("localstripe.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// A secret key file, mode 0600, as `processor.secret_key_file` wants it.
    pub fn key_file(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join("stripe.key");
        std::fs::write(&path, format!("{}\n", SECRET_KEY)).expect("written");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("0600");
        path
    }

    /// Settings for a test daemon whose processor is this Stripe.
    pub fn daemon_config(&self, extra: &str) -> String {
        format!(
            "{}\n[processor]\nkind = \"stripe\"\napi_base = \"{}\"\nsecret_key_file = {:?}\n\
             deadline_ms = 4000\nask_after_ms = 600000\n\n{extra}",
            crate::test_auth!(),
            self.url,
            self.key_file()
        )
    }

    /// `GET path` on Stripe's API, as an agency's finance team would look.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(SECRET_KEY)
            .send()
            .await
            .expect("localstripe answers")
            .json()
            .await
            .expect("JSON")
    }
}

/// The test key: any `sk_test_…` works against localstripe, and none may be shown anywhere.
pub const SECRET_KEY: &str = "sk_test_cipTESTkey000000000000000000";

impl Drop for Localstripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
