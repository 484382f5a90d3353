//! Backups as an operator takes them: `cipd backup` while payments flow, then `cipd restore` in
//! place of the database, and the restored daemon keeps every promise for what the backup holds.

use cip_common::payment::{Payment, PaymentLookup, PaymentRequest};
use cip_tests::{Daemon, card_request, ctx, new_key};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A payment a client saw decided, with its key and request, and when it saw it.
struct Acknowledged {
    key: String,
    request: PaymentRequest,
    payment: Payment,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_under_load_restores_with_every_payment_it_held_intact() {
    let mut daemon = Daemon::start().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;

    // Eight agents take payments until told to stop.
    let flowing = Arc::new(AtomicBool::new(true));
    let mut agents = Vec::new();
    for n in 0..8 {
        let (client, agent, flowing) = (daemon.client().await, agent.clone(), flowing.clone());
        agents.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while flowing.load(Ordering::Relaxed) {
                let number = match (n + seen.len()) % 4 {
                    0 => "4000000000000002",
                    _ => "4242424242424242",
                };
                let (key, request) = (new_key(), card_request(number, 1_000 + n as i64));
                let payment = client
                    .submit(ctx(), agent.clone(), key.clone(), request.clone())
                    .await
                    .expect("rpc")
                    .expect("decided");
                seen.push(Acknowledged {
                    key,
                    request,
                    payment,
                    at: Instant::now(),
                });
            }
            seen
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let file = daemon.dir.path().join("backups").join("cip-backup.db");
    std::fs::create_dir_all(file.parent().expect("a dir")).expect("dir made");
    let started = Instant::now();
    let out = daemon.cipd(&["backup", file.to_str().expect("utf-8")], None);
    let finished = Instant::now();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    flowing.store(false, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for agent in agents {
        acknowledged.extend(agent.await.expect("agent"));
    }
    let after_backup = acknowledged.iter().filter(|a| a.at > finished).count();
    assert!(after_backup > 0, "payments went on after the backup");

    // A backup never replaces a file, and a restore never runs under a live daemon.
    let again = daemon.cipd(&["backup", file.to_str().expect("utf-8")], None);
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let refused = daemon.cipd(&["restore", file.to_str().expect("utf-8")], None);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stop it before restoring"));

    daemon.kill();
    let out = daemon.cipd(&["restore", file.to_str().expect("utf-8")], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.serve().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;

    // Everything acknowledged before the backup began is there as it was, and a retry with its
    // key answers it again; what came after the backup is simply not there.
    let mut restored = BTreeMap::new();
    for a in &acknowledged {
        let found = client
            .payment(
                ctx(),
                agent.clone(),
                PaymentLookup::Id(a.payment.id.clone()),
            )
            .await
            .expect("rpc");
        if a.at < started {
            let found = found.expect("a payment acknowledged before the backup is in it");
            assert_eq!(
                (found.status, &found.confirmation_code),
                (a.payment.status, &a.payment.confirmation_code)
            );
            restored.insert(a.payment.id.clone(), found);
        }
    }
    assert!(!restored.is_empty());
    let first = acknowledged
        .iter()
        .find(|a| a.at < started)
        .expect("one before");
    let retried = client
        .submit(
            ctx(),
            agent.clone(),
            first.key.clone(),
            first.request.clone(),
        )
        .await
        .expect("rpc")
        .expect("answered");
    assert_eq!(
        retried.id, first.payment.id,
        "the key still answers its payment"
    );

    // The restored database is whole, and its invariants hold.
    let db = rusqlite::Connection::open(daemon.dir.path().join("cip.db")).expect("opens");
    let one = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(
        db.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .expect("checked"),
        "ok"
    );
    assert_eq!(
        one("SELECT count(*) FROM payments p WHERE NOT EXISTS
             (SELECT 1 FROM idempotency_keys k WHERE k.payment_id = p.id)"),
        0,
        "every payment has its key"
    );
    assert_eq!(
        one(
            "SELECT count(*) FROM payments p WHERE status = 'approved' AND NOT EXISTS
             (SELECT 1 FROM confirmations c WHERE c.payment_id = p.id)"
        ),
        0,
        "every approval has its confirmation"
    );
    assert_eq!(
        one("SELECT count(*) FROM payments p WHERE NOT EXISTS
             (SELECT 1 FROM events e WHERE e.payment_id = p.id AND e.kind = 'payment.received')"),
        0,
        "every payment has its received event"
    );
    // A payment the backup caught in flight was settled at start, by asking the processor.
    assert_eq!(
        one("SELECT count(*) FROM payments WHERE status IN ('processing', 'in_doubt')"),
        0
    );
    // Each agent had at most one payment begun before the copy and answered after it.
    let before_end = (acknowledged.len() - after_backup) as i64;
    assert!(
        one("SELECT count(*) FROM payments") <= before_end + 8,
        "the restored database is the backup, not the live one"
    );
    assert_eq!(
        one("SELECT count(*) FROM audit_log WHERE action = 'database.restore'"),
        1
    );
    daemon.assert_no_card_data();
}
