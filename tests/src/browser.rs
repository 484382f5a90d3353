//! A real browser for CIP's web pages: Debian's headless Chromium driven through chromedriver,
//! and axe-core (from npm) run inside it to check a page against the WCAG 2.2 A and AA rules.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// chromedriver on a free port, ended with the browser.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium with a profile of its own.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Chromium through chromedriver; `None` when they are not here (a failure under
    /// `CIP_REQUIRE_TOOLS`, as in CI).
    pub async fn start() -> Option<Browser> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            crate::tool_present(
                false,
                "chromedriver",
                "apt-get install chromium chromium-driver",
            );
            return None;
        };
        let driver = Driver(child);
        let profile = tempfile::tempdir().expect("a browser profile dir");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1600",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": profile.path().join("downloads"),
                    "download.prompt_for_download": false,
                },
            }
        });
        for _ in 0..200 {
            let plain_http = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(plain_http)
                .capabilities(capabilities.as_object().expect("an object").clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        _driver: driver,
                        profile,
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        panic!("chromedriver starts a headless Chromium");
    }

    /// Types `text` into the field named `name` of the page on screen, once it is there.
    pub async fn fill(&self, name: &str, text: &str) {
        let field = self
            .client
            .wait()
            .for_element(Locator::Css(&format!("[name='{name}']")))
            .await
            .unwrap_or_else(|e| panic!("{name} is on the page: {e}"));
        field.clear().await.expect("cleared");
        field.send_keys(text).await.expect("typed");
    }

    /// Clicks what `css` finds (a link or a form's button) and waits for the page it leads to,
    /// a new document, to show `then` (CSS). Asked while the browser navigates, chromedriver may
    /// answer "aborted by navigation": the wait asks again.
    pub async fn click(&self, css: &str, then: &str) {
        let before = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("a page");
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} is on the page: {e}"))
            .click()
            .await
            .expect("clicked");
        let waited = std::time::Instant::now();
        let mut left_page = false;
        while waited.elapsed() < Duration::from_secs(20) {
            // The old document's root goes stale once the new one is there.
            left_page = left_page || before.tag_name().await.is_err();
            if left_page && self.client.find(Locator::Css(then)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "after {css}, {then} never showed (left the page: {left_page}): {}",
            self.page().await
        );
    }

    /// Goes to `url` and answers the page it shows.
    pub async fn open(&self, url: &str) -> String {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url} opens: {e}"));
        self.page().await
    }

    /// The file `name` the browser downloaded, once it is whole.
    pub async fn downloaded(&self, name: &str) -> Vec<u8> {
        let dir = self.profile.path().join("downloads");
        for _ in 0..200 {
            let partial = std::fs::read_dir(&dir)
                .map(|d| {
                    d.flatten()
                        .any(|e| e.path().extension().is_some_and(|x| x == "crdownload"))
                })
                .unwrap_or(true);
            if let Ok(bytes) = std::fs::read(dir.join(name))
                && !partial
            {
                return bytes;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the browser did not download {name} into {}", dir.display());
    }

    /// The page's HTML.
    pub async fn page(&self) -> String {
        self.client.source().await.expect("a page")
    }

    /// Runs axe-core on the page on screen and fails naming every violation of the WCAG 2.2 A and
    /// AA rules; `what` names the page. Without axe-core here, says so (fails under
    /// `CIP_REQUIRE_TOOLS`).
    pub async fn assert_accessible(&self, what: &str) {
        let Some(axe) = axe_source() else {
            crate::tool_present(false, "axe-core", "npm install -g axe-core@4.14.1");
            return;
        };
        self.client
            .execute(&format!("{axe}\n;return typeof axe;"), vec![])
            .await
            .expect("axe-core loads in the page");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values:
                     ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa'] } })
                   .then(r => done(r.violations.map(v => ({ id: v.id, help: v.help,
                       nodes: v.nodes.map(n => n.target.join(' ')) }))))
                   .catch(e => done('axe failed: ' + e));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        let Value::Array(violations) = found else {
            panic!("{what}: {found}");
        };
        assert!(
            violations.is_empty(),
            "{what} breaks WCAG 2.2 AA: {}",
            serde_json::to_string_pretty(&violations).unwrap_or_default()
        );
    }

    /// Saves a picture of the page as `name`.png in the directory `CIP_SCREENSHOTS` names (the
    /// README's pictures are taken so); nothing without it.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("CIP_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png)
            .expect("the screenshot is written");
    }
}

/// axe-core's script, from npm's global modules.
fn axe_source() -> Option<String> {
    let root = Command::new("npm").args(["root", "-g"]).output().ok()?;
    let root = String::from_utf8(root.stdout).ok()?;
    std::fs::read_to_string(std::path::Path::new(root.trim()).join("axe-core/axe.min.js")).ok()
}
