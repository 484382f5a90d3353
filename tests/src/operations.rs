//! What an operations team's tools see of a daemon: its metrics read by Prometheus's own
//! parser (Python's `prometheus_client`), and a store made unwritable under it, as a stuck
//! lock or a failover to a read-only standby does.

use crate::{Daemon, postgres};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// One sample of a scrape: its name (`cip_payments_total`), labels and value.
#[derive(Debug, serde::Deserialize)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Whether Python's `prometheus_client` is here to read scrapes.
pub fn prometheus_parser_present() -> bool {
    let present = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|out| out.status.success());
    crate::tool_present(
        present,
        "Python's prometheus_client",
        "python3 -m pip install prometheus_client",
    )
}

/// `text` read by `prometheus_client`'s OpenMetrics parser, which refuses what Prometheus would.
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    const READ: &str = "import json, sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        samples = [[s.name, s.labels, s.value]\n\
                   for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\n\
        print(json.dumps([dict(name=n, labels=l, value=v) for n, l, v in samples]))\n";
    let mut python = Command::new("python3")
        .args(["-c", READ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    python
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("python reads");
    let out = python.wait_with_output().expect("python ends");
    assert!(
        out.status.success(),
        "prometheus_client refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the samples as JSON")
}

/// The sum of the samples named `name` whose labels include every one of `labels`.
pub fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// A daemon's store that takes no write until this is dropped.
pub enum Unwritable {
    /// Another process holds SQLite's write lock.
    Sqlite(rusqlite::Connection),
    /// The database is read only, as a standby is, and every connection to it started over.
    Postgres { database: String },
}

impl Daemon {
    /// Makes the daemon's store refuse writes until the value is dropped.
    pub fn make_store_unwritable(&self) -> Unwritable {
        match &self.store_url {
            None => {
                let db = rusqlite::Connection::open(self.dir.path().join("cip.db")).expect("opens");
                db.execute_batch("BEGIN EXCLUSIVE")
                    .expect("the write lock taken");
                Unwritable::Sqlite(db)
            }
            Some(url) => {
                let database = url.rsplit("dbname=").next().expect("a database name");
                read_only(database, true);
                Unwritable::Postgres {
                    database: database.to_owned(),
                }
            }
        }
    }
}

/// Sets `database` read only (or not) and ends every connection to it, so the next ones open
/// with that setting.
fn read_only(database: &str, on: bool) {
    let set = match on {
        true => "SET default_transaction_read_only = on",
        false => "RESET default_transaction_read_only",
    };
    for sql in [
        format!("ALTER DATABASE {database} {set}"),
        format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = \
             '{database}'"
        ),
    ] {
        let out = postgres::cluster().psql("postgres", &sql);
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        match self {
            Unwritable::Sqlite(db) => {
                let _ = db.execute_batch("ROLLBACK");
            }
            Unwritable::Postgres { database } => read_only(database, false),
        }
    }
}
