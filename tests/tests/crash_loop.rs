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

use cip_client::connect;
use cip_common::payment::PaymentRequest;
use cip_common::status::PaymentStatus;
use cip_tests::http::{HTTP_CONFIG, answer, payment_body};
use cip_tests::sandbox::SandboxServer;
use cip_tests::{Daemon, card_request, ctx, demo_password, new_key};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a client was told: the payment and its outcome.
#[derive(Clone, Debug)]
struct Told {
    key: String,
    id: String,
    status: PaymentStatus,
    confirmation_code: Option<String>,
}

type Book = Arc<Mutex<Vec<Told>>>;

/// The card of the `n`th payment: approvals and declines, each answered at once.
fn request(n: usize) -> PaymentRequest {
    let number = match n % 5 {
        0 => "4000000000009995",
        1 => "5555555555554444",
        _ => "4242424242424242",
    };
    card_request(number, 100 + (n % 1_000) as i64)
}

/// An agent over tarpc: each payment under its own key, sent until an outcome comes back.
async fn agent(socket: PathBuf, running: Arc<AtomicBool>, book: Book) {
    let mut n = 0;
    while running.load(Ordering::Relaxed) {
        let (key, request) = (new_key(), request(n));
        n += 1;
        loop {
            let Ok(client) = connect(&socket).await else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let Ok(Ok(session)) = client
                .login(
                    ctx(),
                    "DMV-RENEWAL".into(),
                    "agent1".into(),
                    demo_password("agent1"),
                )
                .await
            else {
                continue;
            };
            match client
                .submit(ctx(), session.token, key.clone(), request.clone())
                .await
            {
                Ok(Ok(payment)) if payment.status.is_decided() => {
                    book.lock().expect("not poisoned").push(Told {
                        key,
                        id: payment.id,
                        status: payment.status,
                        confirmation_code: payment.confirmation_code,
                    });
                    break;
                }
                Ok(Err(cip_common::ApiError::Unavailable { .. })) | Ok(Ok(_)) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(Err(refused)) => panic!("payment {key} refused: {refused}"),
            }
        }
    }
}

/// The address the daemon last said it serves HTTP on.
fn http_base(log: &Path) -> Option<String> {
    std::fs::read_to_string(log)
        .ok()?
        .lines()
        .rev()
        .find_map(|l| {
            l.split_once("cipd HTTP on ")
                .map(|(_, url)| url.trim().to_owned())
        })
}

/// An agency's server over HTTP, the same way.
async fn agency(log: PathBuf, running: Arc<AtomicBool>, book: Book) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let mut n = 1_000_000;
    while running.load(Ordering::Relaxed) {
        let (key, body) = (new_key(), payment_body(&request(n)));
        n += 1;
        loop {
            let Some(base) = http_base(&log) else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let sent = client
                .post(format!("{base}/v1/payments"))
                .basic_auth("api1", Some("api1-demo-pass"))
                .header("X-CIP-Application", "DMV-RENEWAL")
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            let Ok(response) = sent else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let (code, json) = answer(response).await;
            let status = json["status"]
                .as_str()
                .and_then(PaymentStatus::from_code)
                .filter(|s| s.is_decided());
            match (code, status) {
                (200 | 201 | 402 | 502 | 503, Some(status)) => {
                    book.lock().expect("not poisoned").push(Told {
                        key,
                        id: json["id"].as_str().expect("an id").to_owned(),
                        status,
                        confirmation_code: json["confirmation_code"].as_str().map(str::to_owned),
                    });
                    break;
                }
                (202 | 500 | 503, _) => tokio::time::sleep(Duration::from_millis(10)).await,
                _ => panic!("payment {key} refused with {code}: {json}"),
            }
        }
    }
}

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

/// Every promise, checked on the database and the processor's ledger as they are now.
/// `settled_before_ms`: no payment created before then may still be unsettled.
fn check(daemon: &Daemon, ledger: &str, told: &[Told], settled_before_ms: i64, seed: u64) {
    let db = rusqlite::Connection::open_with_flags(
        daemon.dir.path().join("cip.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("opens");
    db.busy_timeout(Duration::from_secs(10)).expect("set");
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("checked");
    assert_eq!(ok, "ok", "seed {seed}");
    let stored: BTreeMap<String, (String, String, Option<String>)> = db
        .prepare(
            "SELECT p.id, p.idempotency_key, p.status, c.code FROM payments p
             LEFT JOIN confirmations c ON c.payment_id = p.id",
        )
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?
                .collect()
        })
        .expect("payments read");
    for t in told {
        let (key, status, code) = stored
            .get(&t.id)
            .unwrap_or_else(|| panic!("{} was acknowledged and is gone (seed {seed})", t.id));
        assert_eq!(key, &t.key, "seed {seed}");
        assert_eq!(
            (status.as_str(), code),
            (t.status.code(), &t.confirmation_code),
            "{} changed after it was acknowledged (seed {seed})",
            t.id
        );
    }
    let keys: BTreeSet<&String> = stored.values().map(|(key, _, _)| key).collect();
    assert_eq!(
        keys.len(),
        stored.len(),
        "a key with two payments (seed {seed})"
    );
    let unsettled: i64 = db
        .query_row(
            "SELECT count(*) FROM payments WHERE status IN ('processing', 'in_doubt')
             AND created_ms < ?1",
            [settled_before_ms],
            |r| r.get(0),
        )
        .expect("counted");
    assert_eq!(
        unsettled, 0,
        "payments left unsettled by a restart (seed {seed})"
    );

    // The processor's books: one charge decision per reference, each a payment of CIP's, and
    // a charge only where CIP says approved (the loop never voids).
    let mut decided: BTreeMap<String, usize> = BTreeMap::new();
    let mut charged = BTreeSet::new();
    for line in ledger.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match (fields[0], fields.get(4).copied()) {
            ("authorize", Some(result @ ("approved" | "declined"))) => {
                *decided.entry(fields[1].to_owned()).or_default() += 1;
                if result == "approved" {
                    charged.insert(fields[1].to_owned());
                }
            }
            ("reverse", _) => {
                charged.remove(fields[1]);
            }
            _ => {}
        }
    }
    for (reference, times) in &decided {
        assert_eq!(
            *times, 1,
            "{reference} authorized {times} times (seed {seed})"
        );
        assert!(
            stored.contains_key(reference),
            "the processor authorized {reference}, which CIP has no payment for (seed {seed})"
        );
    }
    for reference in &charged {
        let (_, status, _) = &stored[reference];
        assert!(
            status == "approved" || status == "in_doubt",
            "the processor charged {reference}, which CIP calls {status} (seed {seed})"
        );
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
    let kills: usize = std::env::var("CIP_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let seed = cip_tests::seed(&format!("crash loop: {kills} kills, their times"));
    let mut random = seed | 1;
    let mut next = |below: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % below
    };

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
            daemon.socket.clone(),
            running.clone(),
            book.clone(),
        )));
    }
    clients.push(tokio::spawn(agency(
        daemon.log_path(),
        running.clone(),
        book.clone(),
    )));

    for kill in 1..=kills {
        tokio::time::sleep(Duration::from_millis(20 + next(180))).await;
        // A shared processor dies too, now and then: alone, or with the daemon (and is back
        // before it, so the daemon's start can ask it about what the kill left).
        if let Processor::Shared(sandbox) = &mut processor {
            match next(4) {
                0 => {
                    sandbox.kill();
                    tokio::time::sleep(Duration::from_millis(next(100))).await;
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
            let ledger = processor.ledger(&daemon);
            check(&daemon, &ledger, &told, restarted_ms, seed);
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
    let ledger = processor.ledger(&daemon);
    check(&daemon, &ledger, &told, restarted_ms, seed);
    eprintln!(
        "crash loop: {kills} kills survived, {} payments acknowledged",
        told.len()
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}
