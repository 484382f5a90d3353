//! What the crash loops share: clients that take payments through kills (agents over tarpc, an
//! agency's server over HTTP, each retrying a payment under its own key until it hears an
//! outcome, and moving on to the next daemon when one fails), a supervisor refunding part of the
//! approved ones the same way, the book of what they were told, and the check of every promise
//! against the store and the processor's ledger.

use crate::http::{answer, payment_body};
use crate::{Daemon, card_request, ctx, demo_password, new_key};
use cip_client::connect;
use cip_common::payment::PaymentRequest;
use cip_common::refund::{RefundReason, RefundRequest, RefundStatus};
use cip_common::service::CipClient;
use cip_common::session::SessionInfo;
use cip_common::status::PaymentStatus;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a client was told: the payment and its outcome.
#[derive(Clone, Debug)]
pub struct Told {
    pub key: String,
    pub id: String,
    pub status: PaymentStatus,
    pub confirmation_code: Option<String>,
}

pub type Book = Arc<Mutex<Vec<Told>>>;

/// What the supervisor was told of a refund.
#[derive(Clone, Debug)]
pub struct ToldRefund {
    pub key: String,
    pub id: String,
    pub status: RefundStatus,
}

pub type RefundBook = Arc<Mutex<Vec<ToldRefund>>>;

/// The card of the `n`th payment: approvals and declines, each answered at once.
fn request(n: usize) -> PaymentRequest {
    let number = match n % 5 {
        0 => "4000000000009995",
        1 => "5555555555554444",
        _ => "4242424242424242",
    };
    card_request(number, 100 + (n % 1_000) as i64)
}

/// A connection to the daemon at `socket`, signed in to DMV-RENEWAL as `user`; `None` (after a
/// short wait when nothing answers) while the daemon is down or starting.
async fn signed_in(socket: &Path, user: &str) -> Option<(CipClient, SessionInfo)> {
    let Ok(client) = connect(socket).await else {
        tokio::time::sleep(Duration::from_millis(20)).await;
        return None;
    };
    let session = client
        .login(
            ctx(),
            "DMV-RENEWAL".into(),
            user.into(),
            demo_password(user),
        )
        .await;
    match session {
        Ok(Ok(session)) => Some((client, session)),
        _ => None,
    }
}

/// An agent over tarpc: each payment under its own key, sent until an outcome comes back;
/// after a failure, to the next of `sockets` (the daemons behind one desk).
pub async fn agent(sockets: Vec<PathBuf>, running: Arc<AtomicBool>, book: Book) {
    let mut n = 0;
    let mut tries = 0;
    while running.load(Ordering::Relaxed) {
        let (key, request) = (new_key(), request(n));
        n += 1;
        loop {
            let socket = &sockets[tries % sockets.len()];
            tries += 1;
            let Some((client, session)) = signed_in(socket, "agent1").await else {
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
                    tries -= 1;
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

/// A supervisor over tarpc: refunds part of each approved payment in `book` in turn, each
/// refund under its own key, sent until it is answered; after a failure, to the next of
/// `sockets`.
pub async fn refunder(
    sockets: Vec<PathBuf>,
    running: Arc<AtomicBool>,
    book: Book,
    refunds: RefundBook,
) {
    let mut n = 0;
    let mut tries = 0;
    while running.load(Ordering::Relaxed) {
        let approved = book
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|t| t.status == PaymentStatus::Approved)
            .nth(n)
            .map(|t| t.id.clone());
        let Some(payment_id) = approved else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let (key, request) = (
            new_key(),
            RefundRequest {
                amount_minor: 1 + (n % 90) as i64,
                reason: RefundReason::Duplicate,
                note: String::new(),
                expected_refundable_minor: None,
            },
        );
        n += 1;
        while running.load(Ordering::Relaxed) {
            let socket = &sockets[tries % sockets.len()];
            tries += 1;
            let Some((client, session)) = signed_in(socket, "super1").await else {
                continue;
            };
            let sent = client
                .refund(
                    ctx(),
                    session.token,
                    payment_id.clone(),
                    key.clone(),
                    request.clone(),
                )
                .await;
            match sent {
                Ok(Ok(refund)) => {
                    refunds.lock().expect("not poisoned").push(ToldRefund {
                        key,
                        id: refund.id,
                        status: refund.status,
                    });
                    tries -= 1;
                    break;
                }
                Ok(Err(cip_common::ApiError::Unavailable { .. })) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(Err(refused)) => panic!("refund {key} of {payment_id} refused: {refused}"),
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

/// An agency's server over HTTP, the same way, to the daemons that last said where they serve
/// HTTP in `logs`.
pub async fn agency(logs: Vec<PathBuf>, running: Arc<AtomicBool>, book: Book) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let mut n = 1_000_000;
    let mut tries = 0;
    while running.load(Ordering::Relaxed) {
        let (key, body) = (new_key(), payment_body(&request(n)));
        n += 1;
        loop {
            let log = &logs[tries % logs.len()];
            tries += 1;
            let Some(base) = http_base(log) else {
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
                    tries -= 1;
                    break;
                }
                (202 | 500 | 503, _) => tokio::time::sleep(Duration::from_millis(10)).await,
                _ => panic!("payment {key} refused with {code}: {json}"),
            }
        }
    }
}

/// Every promise, checked on the store and the processor's ledger as they are now.
/// `settled_before_ms`: no payment created before then may still be unsettled.
pub fn check(daemon: &Daemon, ledger: &str, told: &[Told], settled_before_ms: i64, seed: u64) {
    if daemon.store_url.is_none() {
        assert_eq!(
            daemon.sql("PRAGMA integrity_check"),
            [["ok"]],
            "seed {seed}"
        );
    }
    let stored: BTreeMap<String, (String, String, Option<String>, i64)> = daemon
        .sql(
            "SELECT p.id, p.idempotency_key, p.status, c.code, p.created_ms FROM payments p
             LEFT JOIN confirmations c ON c.payment_id = p.id",
        )
        .into_iter()
        .map(|row| {
            let code = Some(row[3].clone()).filter(|c| !c.is_empty());
            let created_ms = row[4].parse().expect("a time");
            (
                row[0].clone(),
                (row[1].clone(), row[2].clone(), code, created_ms),
            )
        })
        .collect();
    for t in told {
        let (key, status, code, _) = stored
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
    let keys: BTreeSet<&String> = stored.values().map(|(key, ..)| key).collect();
    assert_eq!(
        keys.len(),
        stored.len(),
        "a key with two payments (seed {seed})"
    );
    let unsettled = daemon.sql(&format!(
        "SELECT id, status FROM payments WHERE status IN ('processing', 'in_doubt')
         AND created_ms < {settled_before_ms}"
    ));
    assert!(
        unsettled.is_empty(),
        "payments left unsettled by a restart: {unsettled:?} (seed {seed})"
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
    // A payment still on its way (created after `settled_before_ms`) may be charged before
    // its daemon commits the approval.
    for reference in &charged {
        let (_, status, _, created_ms) = &stored[reference];
        let on_its_way = status == "processing" && *created_ms >= settled_before_ms;
        assert!(
            status == "approved" || status == "in_doubt" || on_its_way,
            "the processor charged {reference}, which CIP calls {status} (seed {seed})"
        );
    }
}

/// Every refund promise, checked on the store and the processor's ledger as they are now:
/// each refund told is kept as told, none created before `settled_before_ms` is still pending,
/// the processor made each reference once and only refunds CIP has, and what a payment says
/// was refunded is what its refunds gave, never more than it was paid.
pub fn check_refunds(
    daemon: &Daemon,
    ledger: &str,
    told: &[ToldRefund],
    settled_before_ms: i64,
    seed: u64,
) {
    let stored: BTreeMap<String, (String, String, i64)> = daemon
        .sql("SELECT id, idempotency_key, status, created_ms FROM refunds")
        .into_iter()
        .map(|row| {
            let created_ms = row[3].parse().expect("a time");
            (row[0].clone(), (row[1].clone(), row[2].clone(), created_ms))
        })
        .collect();
    for t in told {
        let (key, status, _) = stored
            .get(&t.id)
            .unwrap_or_else(|| panic!("refund {} was told and is gone (seed {seed})", t.id));
        assert_eq!(key, &t.key, "seed {seed}");
        if t.status != RefundStatus::Pending {
            assert_eq!(
                status,
                t.status.code(),
                "refund {} changed after it was told (seed {seed})",
                t.id
            );
        }
    }
    for (id, (_, status, created_ms)) in &stored {
        assert!(
            status != "pending" || *created_ms >= settled_before_ms,
            "refund {id} left pending by a restart (seed {seed})"
        );
    }
    let mut made = BTreeSet::new();
    for line in ledger.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields[0] != "refund" {
            continue;
        }
        assert!(
            made.insert(fields[1]),
            "the processor made refund {} twice (seed {seed})",
            fields[1]
        );
        let (_, status, created_ms) = stored.get(fields[1]).unwrap_or_else(|| {
            panic!(
                "the processor made refund {}, which CIP has no refund for (seed {seed})",
                fields[1]
            )
        });
        let on_its_way = status == "pending" && *created_ms >= settled_before_ms;
        let agrees = match fields[4] {
            "succeeded" => status == "succeeded",
            _ => status == "failed",
        };
        assert!(
            agrees || on_its_way,
            "refund {} is {status} in CIP and {} in the processor's books (seed {seed})",
            fields[1],
            fields[4]
        );
    }
    // One statement: one moment of the store, while clients go on.
    let totals = daemon.sql(
        "SELECT p.id, p.amount_minor, p.refunded_minor,
            (SELECT coalesce(sum(r.amount_minor), 0) FROM refunds r
             WHERE r.payment_id = p.id AND r.status = 'succeeded')
         FROM payments p WHERE p.refunded_minor > 0 OR p.refund_pending_minor > 0",
    );
    for row in totals {
        let [paid, said, given] = [&row[1], &row[2], &row[3]].map(|v| {
            v.parse::<i64>()
                .unwrap_or_else(|_| panic!("a number: {v} (seed {seed})"))
        });
        assert!(
            said == given && said <= paid,
            "{} paid {paid} says {said} refunded; its refunds gave {given} (seed {seed})",
            row[0]
        );
    }
}

/// How many kills a crash loop makes (`CIP_CRASH_KILLS`, 200 by default), and their moments,
/// drawn from a seed (`CIP_SEED` replays a run).
pub struct Kills {
    pub count: usize,
    pub seed: u64,
    state: u64,
}

impl Kills {
    pub fn from_env(loop_name: &str) -> Kills {
        let count = std::env::var("CIP_CRASH_KILLS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        let seed = crate::seed(&format!("{loop_name}: {count} kills, their times"));
        Kills {
            count,
            seed,
            state: seed | 1,
        }
    }

    /// The next draw, below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state % n
    }
}

/// Milliseconds since the epoch, as the daemons stamp payments.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}
