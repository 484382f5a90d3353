//! `cipd serve` under systemd (`Type=notify`, `WatchdogSec=`), as the unit in
//! `assets/systemd/cipd.service` runs it: the test stands in for systemd with a datagram socket
//! of its own in `NOTIFY_SOCKET`, and sees READY=1 once the socket answers, WATCHDOG=1 while the
//! store's writer answers and none while it is stuck on a lock (while a PostgreSQL that is
//! away stops none), and STOPPING=1 on SIGTERM.

use cip_tests::{Daemon, TEST_CONFIG, postgres};
use std::time::{Duration, Instant};
use tokio::net::UnixDatagram;

/// The watchdog's time in the test (`WATCHDOG_USEC`): the daemon's heartbeat comes every half.
const WATCHDOG: Duration = Duration::from_secs(1);

/// The next notification, or `None` when none comes within `wait`.
async fn next(systemd: &UnixDatagram, wait: Duration) -> Option<String> {
    let mut datagram = [0u8; 512];
    let n = tokio::time::timeout(wait, systemd.recv(&mut datagram))
        .await
        .ok()?
        .expect("a datagram");
    Some(String::from_utf8_lossy(&datagram[..n]).trim().to_owned())
}

/// Notifications within `wait`, each with when it came.
async fn during(systemd: &UnixDatagram, wait: Duration) -> Vec<(Instant, String)> {
    let end = Instant::now() + wait;
    let mut heard = Vec::new();
    while let Some(said) = next(systemd, end.saturating_duration_since(Instant::now())).await {
        heard.push((Instant::now(), said));
    }
    heard
}

/// Starts `daemon` as systemd does, with the test's socket in `NOTIFY_SOCKET`, and waits for
/// READY=1, checking that a console can attach then, not a moment later.
async fn serve_under_systemd(daemon: &mut Daemon) -> UnixDatagram {
    let notify = daemon.dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&notify).expect("the notify socket");
    let watchdog_usec = WATCHDOG.as_micros().to_string();
    daemon.set_env(&[
        ("NOTIFY_SOCKET", notify.to_str().expect("a UTF-8 path")),
        ("WATCHDOG_USEC", &watchdog_usec),
    ]);
    daemon.spawn_serve();
    let ready = next(&systemd, Duration::from_secs(30)).await;
    assert_eq!(ready.as_deref(), Some("READY=1"), "{}", daemon.log());
    assert!(
        cip_tests::connect(&daemon.socket).await.is_ok(),
        "READY=1 came before the socket answered"
    );
    systemd
}

/// Asserts a heartbeat came every half of `WATCHDOG_USEC` for three times it.
async fn beating(systemd: &UnixDatagram) {
    let beats = during(systemd, 3 * WATCHDOG).await;
    assert!(
        beats.iter().all(|(_, said)| said == "WATCHDOG=1") && beats.len() >= 4,
        "a heartbeat every half of WATCHDOG_USEC: {beats:?}"
    );
}

#[tokio::test]
async fn cipd_tells_systemd_it_is_ready_alive_while_its_writer_answers_and_stopping() {
    let mut daemon = Daemon::initialized(TEST_CONFIG, None);
    let systemd = serve_under_systemd(&mut daemon).await;
    beating(&systemd).await;

    // Another process holds SQLite's write lock: the writer waits in its busy handler, and
    // systemd must hear nothing from it (a beat already answered may still arrive at first).
    let lock = rusqlite::Connection::open(daemon.dir.path().join("cip.db")).expect("opens");
    lock.busy_timeout(Duration::from_secs(10)).expect("set");
    lock.execute_batch("BEGIN IMMEDIATE")
        .expect("the write lock");
    let held = Instant::now();
    let stuck = during(&systemd, 3 * WATCHDOG).await;
    let late: Vec<_> = stuck
        .iter()
        .filter(|(at, _)| at.duration_since(held) > WATCHDOG / 2)
        .collect();
    assert!(late.is_empty(), "heartbeats from a stuck writer: {late:?}");
    lock.execute_batch("ROLLBACK").expect("the lock let go");
    assert_eq!(
        next(&systemd, 2 * WATCHDOG).await.as_deref(),
        Some("WATCHDOG=1"),
        "the heartbeat again once the writer answers"
    );

    let ended = daemon.terminate();
    let said: Vec<String> = during(&systemd, Duration::from_millis(100))
        .await
        .into_iter()
        .map(|(_, said)| said)
        .collect();
    assert!(said.iter().any(|s| s == "STOPPING=1"), "{said:?}");
    assert!(ended.success(), "{ended}: {}", daemon.log());
}

/// A daemon restarted because its database is away would find it just as away: the heartbeat
/// goes on, and callers hear meanwhile that the database did not answer.
#[tokio::test]
async fn a_postgresql_that_is_away_does_not_stop_the_heartbeat() {
    if !postgres::present() {
        return;
    }
    let cluster = postgres::cluster();
    let mut daemon = Daemon::initialized(TEST_CONFIG, Some(cluster.new_database()));
    let systemd = serve_under_systemd(&mut daemon).await;
    beating(&systemd).await;
    cluster.crash();
    beating(&systemd).await;
    cluster.serve();
    assert!(daemon.terminate().success(), "{}", daemon.log());
}
