//! Whether a daemon can take payments, and how it is doing: what `/readyz` answers, and what
//! `cipd status` prints.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One check of a part the daemon needs: `None` when it answered, else what went wrong.
pub type Check = Option<String>;

/// Whether the daemon can take payments now: the store took a write and the processor's last
/// probe answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub store: Check,
    pub processor: Check,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.store.is_none() && self.processor.is_none()
    }

    /// Why the daemon is not ready, in one line: `store: …; processor: …`.
    pub fn reason(&self) -> Option<String> {
        let parts: Vec<String> = [("store", &self.store), ("processor", &self.processor)]
            .into_iter()
            .filter_map(|(part, check)| check.as_ref().map(|why| format!("{part}: {why}")))
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// A daemon's state as `cipd status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub version: String,
    pub uptime_ms: u64,
    /// Which store, without its password: `SQLite /var/lib/cip/cip.db`.
    pub store: String,
    /// Which processor: `sandbox (in this process)`.
    pub processor: String,
    pub readiness: Readiness,
    /// Payments between their first commit and their answer in this daemon.
    pub in_flight: u64,
    /// Payments in the store waiting in doubt for the processor's word; `None`: the store did
    /// not tell in time.
    pub in_doubt: Option<u64>,
    /// Consoles connected to this daemon, on the socket and over TLS.
    pub consoles: u64,
    /// Notices to agencies still to be taken by their callbacks; `None`: the store did not tell
    /// in time.
    pub webhook_backlog: Option<u64>,
}

impl fmt::Display for DaemonStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let check = |c: &Check| {
            c.as_deref()
                .map_or("ok".to_owned(), |why| format!("FAILING: {why}"))
        };
        let ready = match self.readiness.ready() {
            true => "ready: takes payments".to_owned(),
            false => "NOT READY: takes no payments now".to_owned(),
        };
        writeln!(f, "cipd {}, {ready}", self.version)?;
        writeln!(f, "  up for          {}", uptime(self.uptime_ms))?;
        writeln!(
            f,
            "  store           {} ({})",
            self.store,
            check(&self.readiness.store)
        )?;
        writeln!(
            f,
            "  processor       {} ({})",
            self.processor,
            check(&self.readiness.processor)
        )?;
        writeln!(f, "  in flight       {}", self.in_flight)?;
        let count = |n: Option<u64>| {
            n.map_or("unknown: the store did not tell".to_owned(), |n| {
                n.to_string()
            })
        };
        writeln!(f, "  in doubt        {}", count(self.in_doubt))?;
        writeln!(f, "  consoles        {}", self.consoles)?;
        write!(f, "  webhook backlog {}", count(self.webhook_backlog))
    }
}

/// `3d 4h 5m`, `2h 0m`, `12m 30s` or `45s`.
fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h {minutes}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_is_ready_only_when_both_parts_answer() {
        let both = Readiness {
            store: None,
            processor: None,
        };
        assert!(both.ready());
        assert_eq!(both.reason(), None);
        let neither = Readiness {
            store: Some("no write within 2 s".to_owned()),
            processor: Some("the processor cannot be reached".to_owned()),
        };
        assert!(!neither.ready());
        assert_eq!(
            neither.reason().as_deref(),
            Some("store: no write within 2 s; processor: the processor cannot be reached")
        );
    }

    #[test]
    fn status_names_the_failing_part_and_a_count_not_told_is_unknown_not_zero() {
        let status = DaemonStatus {
            version: "1.2.3".to_owned(),
            uptime_ms: 61_000,
            store: "SQLite /d/cip.db".to_owned(),
            processor: "sandbox (in this process)".to_owned(),
            readiness: Readiness {
                store: Some("no write within 2 s".to_owned()),
                processor: None,
            },
            in_flight: 0,
            in_doubt: None,
            consoles: 2,
            webhook_backlog: Some(0),
        };
        let text = status.to_string();
        assert!(text.starts_with("cipd 1.2.3, NOT READY"), "{text}");
        for line in [
            "  up for          1m 1s",
            "  store           SQLite /d/cip.db (FAILING: no write within 2 s)",
            "  processor       sandbox (in this process) (ok)",
            "  in doubt        unknown: the store did not tell",
            "  webhook backlog 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in {text}");
        }
    }

    #[test]
    fn uptime_reads_in_the_two_largest_units() {
        assert_eq!(uptime(45_999), "45s");
        assert_eq!(uptime(750_000), "12m 30s");
        assert_eq!(uptime(7_200_000), "2h 0m");
        assert_eq!(uptime(273_900_000), "3d 4h 5m");
    }
}
