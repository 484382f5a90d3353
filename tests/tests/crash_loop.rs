//! The crash loop: a real cipd killed with SIGKILL at random moments, again and again, while
//! agents (tarpc) and an agency's server (HTTP) take payments and retry each with its own
//! idempotency key after any error. After restarts and at the end: every payment a client saw
//! decided is there with the same outcome and confirmation code, no key has two payments, the
//! processor's own ledger shows nothing authorized twice and nothing without its CIP payment,
//! nothing stays unsettled, nothing is charged that CIP calls anything but approved, and SQLite
//! finds the database whole. It runs twice: with the sandbox in the daemon's process, and against
//! a shared `cipd sandbox serve` that is killed and restarted at random too.
//!
//! `CIP_CRASH_KILLS` sets the number of kills (200 by default; 1,000 or more for a long run) and
//! `CIP_SEED` replays a run's kill times.

use cip_tests::Daemon;
use cip_tests::crash_loop::{
    Book, Kills, RefundBook, agency, agent, check, check_refunds, now_ms, refunder,
};
use cip_tests::http::HTTP_CONFIG;
use cip_tests::sandbox::SandboxServer;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where the processor's books are: in the daemon's process, or a shared sandbox process the
/// loop kills too.
enum Processor {
    InProcess,
    Shared(SandboxServer),
}

impl Processor {
    fn ledger(&self, daemon: &Daemon) -> String {
        match self {
            Processor::InProcess => daemon.ledger(),
            Processor::Shared(sandbox) => sandbox.ledger(),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kills_at_random_moments_lose_no_payment_and_charge_none_twice() {
    crash_loop(Processor::InProcess).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kills_of_the_daemon_and_of_a_shared_processor_lose_no_payment_and_charge_none_twice() {
    crash_loop(Processor::Shared(SandboxServer::start())).await;
}

async fn crash_loop(mut processor: Processor) {
    let mut draw = Kills::from_env("crash loop");
    let (kills, seed) = (draw.count, draw.seed);

    let config = match &processor {
        Processor::InProcess => HTTP_CONFIG.to_owned(),
        Processor::Shared(sandbox) => {
            sandbox.daemon_config(4_000, 200, "[http]\nlisten = \"127.0.0.1:0\"\n")
        }
    };
    let mut daemon = Daemon::start_with(&config).await;
    let (running, book): (Arc<AtomicBool>, Book) =
        (Arc::new(AtomicBool::new(true)), Book::default());
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(tokio::spawn(agent(
            vec![daemon.socket.clone()],
            running.clone(),
            book.clone(),
        )));
    }
    clients.push(tokio::spawn(agency(
        vec![daemon.log_path()],
        running.clone(),
        book.clone(),
    )));
    let refunds = RefundBook::default();
    clients.push(tokio::spawn(refunder(
        vec![daemon.socket.clone()],
        running.clone(),
        book.clone(),
        refunds.clone(),
    )));

    for kill in 1..=kills {
        tokio::time::sleep(Duration::from_millis(20 + draw.below(180))).await;
        // A shared processor dies too, now and then: alone, or with the daemon (and is back
        // before it, so the daemon's start can ask it about what the kill left).
        if let Processor::Shared(sandbox) = &mut processor {
            match draw.below(4) {
                0 => {
                    sandbox.kill();
                    tokio::time::sleep(Duration::from_millis(draw.below(100))).await;
                    sandbox.restart();
                }
                1 => sandbox.kill(),
                _ => {}
            }
        }
        daemon.kill();
        if let Processor::Shared(sandbox) = &mut processor {
            sandbox.restart();
        }
        let restarted_ms = now_ms();
        daemon.serve().await;
        // The daemon settles what the kill left before it answers.
        if kill % 50 == 0 {
            let told = book.lock().expect("not poisoned").clone();
            // The ledger first: whatever it authorized was committed to the database before
            // the call, so the database read after it holds it, while clients go on paying.
            let told_refunds = refunds.lock().expect("not poisoned").clone();
            let ledger = processor.ledger(&daemon);
            check(&daemon, &ledger, &told, restarted_ms, seed);
            check_refunds(&daemon, &ledger, &told_refunds, restarted_ms, seed);
        }
    }
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client ended");
    }
    daemon.kill();
    let restarted_ms = now_ms();
    daemon.serve().await;
    let told = book.lock().expect("not poisoned").clone();
    let told_refunds = refunds.lock().expect("not poisoned").clone();
    let ledger = processor.ledger(&daemon);
    check(&daemon, &ledger, &told, restarted_ms, seed);
    check_refunds(&daemon, &ledger, &told_refunds, restarted_ms, seed);
    eprintln!(
        "crash loop: {kills} kills survived, {} payments and {} refunds acknowledged",
        told.len(),
        told_refunds.len()
    );
    assert!(
        told.len() > kills,
        "payments went through between the kills"
    );
    daemon.assert_no_card_data();
    if let Processor::Shared(sandbox) = &processor {
        sandbox.assert_no_card_data();
    }
}
