//! The crash loop on PostgreSQL: two daemons on one database, behind one shared processor (a
//! `cipd sandbox serve` process), while agents and an agency's server fail over between them.
//! A supervisor refunds what they approved, on either daemon. At random moments either daemon is
//! killed with SIGKILL and started again, and now and then PostgreSQL itself crashes
//! (`pg_ctl stop -m immediate`) and recovers. Checked along the way and at the end: every
//! acknowledged payment and refund is there with its outcome and code, no key has two payments
//! or refunds, the processor's books agree with CIP's (nothing authorized or refunded twice,
//! nothing charged that CIP calls anything but approved), and nothing is left unsettled. Skipped, saying so,
//! where PostgreSQL is not installed, unless `CIP_REQUIRE_TOOLS` is set (as in CI).
//!
//! `CIP_CRASH_KILLS` sets the number of kills (200 by default) and `CIP_SEED` replays a run's
//! kill times. The cluster is this test's alone: its crashes reach no other test.

use cip_tests::crash_loop::{
    Book, Kills, RefundBook, agency, agent, check, check_refunds, now_ms, refunder,
};
use cip_tests::sandbox::SandboxServer;
use cip_tests::{Daemon, postgres};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The daemons' processor deadline.
const DEADLINE_MS: u64 = 4_000;

/// How long after its creation a daemon is taken to be carrying a payment still `processing`:
/// a payment older than that is settled by any daemon's next sweep.
fn carried_for_ms() -> i64 {
    let carried = cip_daemon::engine::carried_for(Duration::from_millis(DEADLINE_MS), true);
    i64::try_from(carried.as_millis()).expect("a short while")
}

#[tokio::test(flavor = "multi_thread")]
async fn kills_of_either_daemon_and_of_postgres_lose_no_payment_and_charge_none_twice() {
    if !postgres::present() {
        return;
    }
    let mut draw = Kills::from_env("shared crash loop");
    let (kills, seed) = (draw.count, draw.seed);

    let sandbox = SandboxServer::start();
    let config = sandbox.daemon_config(DEADLINE_MS, 200, "[http]\nlisten = \"127.0.0.1:0\"\n");
    let first = Daemon::start_on_postgres(&config).await;
    let second = Daemon::beside(&first).await;
    let mut daemons = [first, second];
    let (running, book): (Arc<AtomicBool>, Book) =
        (Arc::new(AtomicBool::new(true)), Book::default());
    let sockets: Vec<_> = daemons.iter().map(|d| d.socket.clone()).collect();
    let logs: Vec<_> = daemons.iter().map(|d| d.log_path()).collect();
    let mut clients = Vec::new();
    for n in 0..4 {
        // Half the agents start on each daemon.
        let mut theirs = sockets.clone();
        theirs.rotate_left(n % 2);
        clients.push(tokio::spawn(agent(theirs, running.clone(), book.clone())));
    }
    clients.push(tokio::spawn(agency(
        logs.clone(),
        running.clone(),
        book.clone(),
    )));
    let refunds = RefundBook::default();
    clients.push(tokio::spawn(refunder(
        sockets.clone(),
        running.clone(),
        book.clone(),
        refunds.clone(),
    )));

    let (mut postgres_crashes, mut settled_before_ms) = (0, 0);
    for kill in 1..=kills {
        tokio::time::sleep(Duration::from_millis(20 + draw.below(180))).await;
        match draw.below(10) {
            0 => {
                postgres::cluster().crash_and_restart();
                postgres_crashes += 1;
            }
            n => {
                let daemon = &mut daemons[usize::from(n % 2 == 0)];
                daemon.kill();
                let restarted_ms = now_ms();
                daemon.serve().await;
                // Its start swept what no daemon can still be carrying.
                settled_before_ms = restarted_ms - carried_for_ms();
            }
        }
        if kill % 50 == 0 {
            let told = book.lock().expect("not poisoned").clone();
            let told_refunds = refunds.lock().expect("not poisoned").clone();
            // The ledger first: whatever it authorized or refunded was committed before the call.
            let ledger = sandbox.ledger();
            check(&daemons[0], &ledger, &told, settled_before_ms, seed);
            check_refunds(&daemons[0], &ledger, &told_refunds, settled_before_ms, seed);
        }
    }
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client ended");
    }
    // Nothing carries a payment or a refund once both daemons are gone; past the newest one's
    // deadline, a daemon's start settles every one.
    for daemon in &mut daemons {
        daemon.kill();
    }
    let newest_ms: i64 = daemons[0].sql(
        "SELECT greatest((SELECT coalesce(max(created_ms), 0) FROM payments),
                         (SELECT coalesce(max(created_ms), 0) FROM refunds))",
    )[0][0]
        .parse()
        .expect("a time");
    let carried_until_ms = newest_ms + carried_for_ms();
    let wait = u64::try_from(carried_until_ms - now_ms()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait + 1)).await;
    daemons[0].serve().await;
    let told = book.lock().expect("not poisoned").clone();
    let told_refunds = refunds.lock().expect("not poisoned").clone();
    let ledger = sandbox.ledger();
    check(&daemons[0], &ledger, &told, i64::MAX, seed);
    check_refunds(&daemons[0], &ledger, &told_refunds, i64::MAX, seed);
    eprintln!(
        "shared crash loop: {kills} kills ({postgres_crashes} of PostgreSQL) survived, {} \
         payments and {} refunds acknowledged",
        told.len(),
        told_refunds.len()
    );
    assert!(
        postgres_crashes > 0,
        "PostgreSQL never crashed (seed {seed})"
    );
    assert!(
        told.len() > kills,
        "payments went through between the kills"
    );
    for daemon in &daemons {
        daemon.assert_no_card_data();
    }
    sandbox.assert_no_card_data();
}
