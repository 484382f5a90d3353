//! Refunds through a real daemon, from a supervisor's console connection and the agency API at
//! once: never more than was paid, a key answers one refund, a kill loses none and doubles none,
//! and the processor's books agree with CIP's.

use cip_common::error::ApiError;
use cip_common::event::{EventDetail, EventKind};
use cip_common::payment::Payment;
use cip_common::refund::{Refund, RefundReason, RefundRequest, RefundStatus};
use cip_common::status::PaymentStatus;
use cip_tests::http::{Agency, HTTP_CONFIG};
use cip_tests::{Daemon, csv_rows, ctx, new_key};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The longest this file waits for anything: far beyond a loaded machine's worst, so running
/// out means what was awaited never happened.
const WAIT: Duration = Duration::from_secs(120);

fn request(amount_minor: i64) -> RefundRequest {
    RefundRequest {
        amount_minor,
        reason: RefundReason::RequestedByCustomer,
        note: "overpaid at the desk".to_owned(),
        expected_refundable_minor: None,
    }
}

/// What the processor's books say it gave back of `payment`, refund by refund.
fn refunded_in_books(daemon: &Daemon, payment: &str) -> Vec<(String, i64)> {
    daemon
        .ledger()
        .lines()
        .filter_map(|line| match line.split('\t').collect::<Vec<_>>()[..] {
            ["refund", reference, amount, _, "succeeded", of, _] if of == payment => {
                Some((reference.to_owned(), amount.parse().expect("an amount")))
            }
            _ => None,
        })
        .collect()
}

/// A payment as a supervisor reads it now.
async fn looked_up(
    client: &cip_common::service::CipClient,
    supervisor: &cip_common::secret::SessionToken,
    id: &str,
) -> Payment {
    client
        .payment(
            ctx(),
            supervisor.clone(),
            cip_common::payment::PaymentLookup::Id(id.to_owned()),
        )
        .await
        .expect("rpc")
        .expect("the payment")
}

async fn take(daemon: &Daemon, number: &str, amount_minor: i64) -> Payment {
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    daemon.take(&client, &agent, number, amount_minor).await
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_refunds_at_once_from_two_sides_give_back_exactly_what_was_paid() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let paid = take(&daemon, "4242424242424242", 10_000).await;
    assert_eq!(paid.status, PaymentStatus::Approved);
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let path = format!("/v1/payments/{}/refunds", paid.id);

    let by_console = (0..10).map(|_| {
        let (client, supervisor, id) = (client.clone(), supervisor.clone(), paid.id.clone());
        async move {
            match client
                .refund(ctx(), supervisor, id, new_key(), request(1_000))
                .await
                .expect("rpc")
            {
                Ok(refund) => Ok(refund.status),
                Err(refused) => Err(refused.to_string()),
            }
        }
    });
    let by_api = (0..10).map(|_| {
        let sent = agency
            .post(&path)
            .header("Idempotency-Key", new_key())
            .json(&json!({"amount_minor": 1_000, "reason": "duplicate"}))
            .send();
        async move {
            let (status, body) = cip_tests::http::answer(sent.await.expect("answers")).await;
            match status {
                201 => Ok(
                    serde_json::from_value::<RefundStatus>(body["status"].clone())
                        .expect("a refund status"),
                ),
                _ => Err(format!("{status} {body}")),
            }
        }
    });
    let (console, api) = tokio::time::timeout(
        WAIT,
        futures::future::join(
            futures::future::join_all(by_console),
            futures::future::join_all(by_api),
        ),
    )
    .await
    .expect("every refund answered");
    let answers: Vec<_> = console.into_iter().chain(api).collect();
    let succeeded = answers
        .iter()
        .filter(|a| **a == Ok(RefundStatus::Succeeded))
        .count();
    assert_eq!(succeeded, 10, "{answers:#?}");
    // The rest refused by CIP before the processor heard of them, not declined by it.
    assert_eq!(
        answers.iter().filter(|a| a.is_err()).count(),
        10,
        "{answers:#?}"
    );
    for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert!(
            refused.contains("at most 0.00 USD more"),
            "a refusal names what is left: {refused}"
        );
    }
    let books = refunded_in_books(&daemon, &paid.id);
    assert_eq!(
        books.iter().map(|(_, a)| a).sum::<i64>(),
        10_000,
        "{books:?}"
    );

    let (status, listed) = agency.read(&path).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["amount_refunded_minor"], 10_000);
    assert_eq!(listed["amount_refundable_minor"], 0);
    assert_eq!(listed["refund_state"], "full");
    let refunds = listed["refunds"].as_array().expect("refunds");
    assert_eq!(refunds.len(), 10);
    let mut references: Vec<_> = books.iter().map(|(r, _)| r.as_str()).collect();
    references.sort_unstable();
    let mut ids: Vec<_> = refunds
        .iter()
        .map(|r| r["id"].as_str().expect("an id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, references, "each refund went to the processor once");
    let (_, payment) = agency.read(&format!("/v1/payments/{}", paid.id)).await;
    assert_eq!(payment["refund_state"], "full");
    assert_eq!(payment["status"], "approved");
    // The queue counts the day's refunds.
    let stats = client
        .stats(ctx(), supervisor)
        .await
        .expect("rpc")
        .expect("the queue");
    assert_eq!(stats.refunds_today.succeeded, 10);
    assert_eq!(
        stats.refunds_today.refunded,
        [cip_common::money::Money::new(
            10_000,
            cip_common::money::Currency::Usd
        )]
    );
    assert_eq!(stats.refunds_today.pending, 0);
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_answers_one_refund_and_every_refusal_says_what_to_do() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let paid = take(&daemon, "4242424242424242", 5_000).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let path = format!("/v1/payments/{}/refunds", paid.id);
    let refund = |key: &str, body: serde_json::Value| {
        let sent = agency
            .post(&path)
            .header("Idempotency-Key", key)
            .json(&body)
            .send();
        async move { cip_tests::http::answer(sent.await.expect("answers")).await }
    };

    let key = new_key();
    let body = json!({"amount_minor": 1_250, "reason": "duplicate", "note": "paid twice"});
    let (status, first) = refund(&key, body.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["asked_by"], "api1");
    let (status, again) = refund(&key, body).await;
    assert_eq!(status, 200, "a replay: {again}");
    assert_eq!(again["id"], first["id"]);
    let (status, conflict) =
        refund(&key, json!({"amount_minor": 1_300, "reason": "duplicate"})).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"], "idempotency_conflict");
    assert_eq!(
        refunded_in_books(&daemon, &paid.id).len(),
        1,
        "one refund reached the processor"
    );

    // What the asker saw is stale: the answer names the figure as it is now.
    let (status, stale) = refund(
        &new_key(),
        json!({"amount_minor": 100, "reason": "other", "expected_refundable_minor": 5_000}),
    )
    .await;
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["error"], "stale");
    assert!(
        stale["message"]
            .as_str()
            .expect("a message")
            .contains("37.50 USD"),
        "{stale}"
    );
    let (status, over) = refund(
        &new_key(),
        json!({"amount_minor": 3_751, "reason": "other"}),
    )
    .await;
    assert_eq!(status, 422, "{over}");
    assert!(
        over["errors"][0]["message"]
            .as_str()
            .expect("a message")
            .contains("at most 37.50 USD"),
        "{over}"
    );
    let (status, carded) = refund(
        &new_key(),
        json!({"amount_minor": 100, "reason": "other", "note": "card 4242 4242 4242 4242"}),
    )
    .await;
    assert_eq!(status, 422, "{carded}");
    assert_eq!(carded["errors"][0]["field"], "note");
    let (status, unknown) = refund(
        &new_key(),
        json!({"amount_minor": 100, "reason": "changed_mind"}),
    )
    .await;
    assert_eq!(status, 422, "{unknown}");
    assert_eq!(unknown["errors"][0]["field"], "reason");

    // Only an approved payment gives back; one with refunds can no longer be voided.
    let declined = take(&daemon, "4000000000000002", 2_000).await;
    let (status, not_paid) = cip_tests::http::answer(
        agency
            .post(&format!("/v1/payments/{}/refunds", declined.id))
            .header("Idempotency-Key", new_key())
            .json(&json!({"amount_minor": 100, "reason": "other"}))
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, 400, "{not_paid}");
    assert!(
        not_paid["message"]
            .as_str()
            .expect("a message")
            .contains("is declined")
    );
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let void = client
        .void(ctx(), supervisor.clone(), paid.id.clone())
        .await
        .expect("rpc");
    assert!(
        matches!(&void, Err(ApiError::InvalidRequest { message }) if message.contains("refund what is left")),
        "{void:?}"
    );

    // Agents may not refund, nor see refunds.
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let refused = client
        .refund(ctx(), agent, paid.id.clone(), new_key(), request(100))
        .await
        .expect("rpc");
    assert!(
        matches!(refused, Err(ApiError::Forbidden { .. })),
        "{refused:?}"
    );

    // The timeline and the audit log tell the refund, who asked and the outcome.
    let timeline = client
        .timeline(ctx(), supervisor.clone(), paid.id.clone())
        .await
        .expect("rpc")
        .expect("the timeline");
    let refund_events: Vec<_> = timeline
        .iter()
        .filter_map(|e| match &e.detail {
            EventDetail::Refund {
                status, asked_by, ..
            } => Some((e.kind, *status, asked_by.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        refund_events,
        [
            (EventKind::RefundRequested, RefundStatus::Pending, "api1"),
            (EventKind::RefundSucceeded, RefundStatus::Succeeded, "api1"),
        ]
    );
    let audit = daemon.sql(&format!(
        "SELECT action, outcome, actor FROM audit_log WHERE object LIKE '%payment:{}%' ORDER BY id",
        paid.id
    ));
    let actions: Vec<_> = audit
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("refund.request", "success"),
            ("refund.succeeded", "success"),
            ("refund.request", "failure"),
            ("refund.request", "failure"),
        ],
        "{audit:?}"
    );
    assert!(audit.iter().all(|r| r[2] == "api1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_the_processor_declines_gives_the_amount_back_to_refund() {
    let daemon = Daemon::start().await;
    let paid = take(&daemon, "4000000000005126", 3_000).await;
    assert_eq!(paid.status, PaymentStatus::Approved);
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let refund: Refund = client
        .refund(
            ctx(),
            supervisor.clone(),
            paid.id.clone(),
            new_key(),
            request(3_000),
        )
        .await
        .expect("rpc")
        .expect("answered");
    assert_eq!(refund.status, RefundStatus::Failed);
    assert_eq!(refund.code.as_deref(), Some("refund_failed"));
    let payment = looked_up(&client, &supervisor, &paid.id).await;
    assert_eq!(
        payment.refundable().minor,
        3_000,
        "nothing is held by a failed refund"
    );
    assert_eq!(payment.refunded().minor, 0);
}

/// SIGKILL while refunds are being carried: after the restart every refund is settled, none is
/// lost or made twice, and CIP's figures are the processor's.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_during_refunds_loses_none_and_doubles_none() {
    let mut daemon = Daemon::start().await;
    let paid = take(&daemon, "4242424242424242", 10_000).await;
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let (answered_tx, mut answered) = tokio::sync::mpsc::channel(64);
    for _ in 0..30 {
        let (client, supervisor, id) = (client.clone(), supervisor.clone(), paid.id.clone());
        let answered_tx = answered_tx.clone();
        tokio::spawn(async move {
            let answer = client
                .refund(ctx(), supervisor, id, new_key(), request(500))
                .await;
            let _ = answered_tx.send(answer.is_ok()).await;
        });
    }
    // Killed as soon as the first refund is answered: the others are at every step.
    tokio::time::timeout(WAIT, answered.recv())
        .await
        .expect("a refund answered");
    daemon.restart_after_kill().await;

    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let started = std::time::Instant::now();
    let refunds = loop {
        let refunds = client
            .refunds(ctx(), supervisor.clone(), paid.id.clone())
            .await
            .expect("rpc")
            .expect("the refunds");
        if refunds.iter().all(|r| r.status != RefundStatus::Pending) {
            break refunds;
        }
        assert!(
            started.elapsed() < WAIT,
            "refunds still pending: {refunds:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let books = refunded_in_books(&daemon, &paid.id);
    let mut references: Vec<_> = books.iter().map(|(r, _)| r.clone()).collect();
    references.sort_unstable();
    let mut succeeded: Vec<_> = refunds
        .iter()
        .filter(|r| r.status == RefundStatus::Succeeded)
        .map(|r| r.id.clone())
        .collect();
    succeeded.sort_unstable();
    assert_eq!(
        succeeded, references,
        "CIP's refunds are the processor's, each once"
    );
    let given: i64 = books.iter().map(|(_, a)| a).sum();
    assert!(given <= 10_000, "{given}");
    let payment = looked_up(&client, &supervisor, &paid.id).await;
    assert_eq!(payment.refunded().minor, given);
    assert_eq!(payment.refundable().minor, 10_000 - given);
}

/// The outbox's batches in the order they were sent: each manifest with its CSV's rows.
fn batches(daemon: &Daemon) -> Vec<(serde_json::Value, Vec<BTreeMap<String, String>>)> {
    let outbox = daemon.dir.path().join("outbox").join("DMV-RENEWAL");
    let mut manifests: Vec<serde_json::Value> = std::fs::read_dir(&outbox)
        .expect("the outbox")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".manifest.json"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("JSON"))
        .collect();
    // By the instant each was claimed, not by its text: the time is written with the fewest
    // digits, so "…:01.12Z" sorts after "…:01.125Z", and "…:01Z" after "…:01.350Z".
    manifests.sort_by_key(|m| {
        m["claimed"]
            .as_str()
            .and_then(|claimed| claimed.parse::<jiff::Timestamp>().ok())
    });
    manifests
        .into_iter()
        .map(|m| {
            let csv = std::fs::read(outbox.join(m["file"].as_str().expect("file"))).expect("csv");
            (m, csv_rows(&csv))
        })
        .collect()
}

/// Cents from a CSV amount cell, which must be a plain number a spreadsheet sums.
fn cents(cell: &str) -> i64 {
    let value: f64 = cell
        .parse()
        .unwrap_or_else(|_| panic!("{cell:?} is not a number"));
    (value * 100.0).round() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_is_reported_once_in_the_batch_after_it_was_decided_and_the_sums_tie_out() {
    let daemon = Daemon::start().await;
    let paid = take(&daemon, "4242424242424242", 10_000).await;
    let other = take(&daemon, "4242424242424242", 4_000).await;
    let stubborn = take(&daemon, "4000000000005126", 3_000).await;
    let declined = take(&daemon, "4000000000000002", 2_000).await;
    assert_eq!(declined.status, PaymentStatus::Declined);
    let run = || {
        let out = daemon.cipd(&["report", "run", "--app", "DMV-RENEWAL"], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run();
    assert!(first.contains("4 payments and 0 refunds"), "{first}");

    // Later, after the payments were reported: one refund succeeds, one the processor declines,
    // and one more payment comes in.
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let mut refunds = Vec::new();
    for (payment, amount) in [(&paid, 2_500), (&stubborn, 3_000)] {
        let refund: Refund = client
            .refund(
                ctx(),
                supervisor.clone(),
                payment.id.clone(),
                new_key(),
                request(amount),
            )
            .await
            .expect("rpc")
            .expect("answered");
        refunds.push(refund);
    }
    assert_eq!(refunds[0].status, RefundStatus::Succeeded);
    assert_eq!(refunds[1].status, RefundStatus::Failed);
    let later = take(&daemon, "4242424242424242", 1_500).await;
    let second = run();
    assert!(second.contains("1 payments and 2 refunds"), "{second}");
    let third = run();
    assert!(
        third.contains("0 payments and 0 refunds"),
        "nothing twice: {third}"
    );

    let sent = batches(&daemon);
    assert_eq!(sent.len(), 3);
    let (day1, day3) = (&sent[0], &sent[1]);
    let kinds = |rows: &[BTreeMap<String, String>]| {
        rows.iter()
            .map(|r| {
                (
                    r["type"].clone(),
                    r["payment_id"].clone(),
                    r["refund_id"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let mut reported_first: Vec<String> = vec![
        paid.id.clone(),
        other.id.clone(),
        stubborn.id.clone(),
        declined.id.clone(),
    ];
    reported_first.sort();
    assert_eq!(
        kinds(&day1.1),
        reported_first
            .iter()
            .map(|id| ("payment".to_owned(), id.clone(), String::new()))
            .collect::<Vec<_>>()
    );
    // The second batch: the new payment, then the refunds, each naming its payment.
    assert_eq!(
        kinds(&day3.1),
        vec![
            ("payment".to_owned(), later.id.clone(), String::new()),
            ("refund".to_owned(), paid.id.clone(), refunds[0].id.clone()),
            (
                "refund".to_owned(),
                stubborn.id.clone(),
                refunds[1].id.clone()
            ),
        ]
    );
    let refund_row = &day3.1[1];
    assert_eq!(refund_row["status"], "succeeded");
    assert_eq!(refund_row["amount"], "-25.00", "a negative, plain number");
    assert_eq!(refund_row["total"], "-25.00");
    assert_eq!(
        refund_row["batch_id"],
        day3.0["batch_id"].as_str().expect("id")
    );
    assert_eq!(refund_row["refund_reason"], "requested_by_customer");
    assert_eq!(refund_row["user"], "super1");
    assert_eq!(refund_row["last_four"], "4242");
    assert_eq!(
        refund_row["confirmation_code"],
        paid.confirmation_code.clone().expect("code")
    );
    assert_eq!(day3.1[2]["status"], "failed");
    assert_eq!(day3.1[2]["code"], "refund_failed");
    assert!(sent[2].1.is_empty());

    // Each manifest's figures are its rows', and the nets tie out to what was paid less what
    // went back.
    for (manifest, rows) in &sent {
        let sum = |kind: &str, status: &str| -> (u64, i64) {
            let chosen: Vec<_> = rows
                .iter()
                .filter(|r| r["type"] == kind && r["status"] == status)
                .collect();
            (
                chosen.len() as u64,
                chosen.iter().map(|r| cents(&r["total"])).sum(),
            )
        };
        let (approved, approved_cents) = sum("payment", "approved");
        let (refunded, refunded_cents) = sum("refund", "succeeded");
        assert_eq!(
            manifest["totals"]["approved"]["count"]
                .as_u64()
                .unwrap_or(0),
            approved
        );
        assert_eq!(
            manifest["refund_totals"]["succeeded"]["count"]
                .as_u64()
                .unwrap_or(0),
            refunded
        );
        assert_eq!(
            cents(manifest["net_amount"].as_str().expect("net")),
            approved_cents + refunded_cents,
            "{manifest}"
        );
        let payments = rows.iter().filter(|r| r["type"] == "payment").count() as u64;
        assert_eq!(manifest["payment_count"].as_u64(), Some(payments));
        assert_eq!(
            manifest["refund_count"].as_u64(),
            Some(rows.len() as u64 - payments)
        );
    }
    assert_eq!(day1.0["net_amount"], "170.00");
    assert_eq!(day3.0["net_amount"], "-10.00");
    assert_eq!(day3.0["refund_totals"]["failed"]["amount"], "-30.00");
    let nets: i64 = sent
        .iter()
        .map(|(m, _)| cents(m["net_amount"].as_str().expect("net")))
        .sum();
    assert_eq!(nets, 10_000 + 4_000 + 3_000 + 1_500 - 2_500);

    // An export shows the payment with what it gave back, its refund under it, each with its
    // own batch.
    let export = daemon.cipd(&["report", "export", "--app", "DMV-RENEWAL"], None);
    let exported = csv_rows(&export.stdout);
    let at = exported
        .iter()
        .position(|r| r["payment_id"] == paid.id)
        .expect("exported");
    let (payment_row, refund_row) = (&exported[at], &exported[at + 1]);
    assert_eq!(payment_row["type"], "payment");
    assert_eq!(
        [
            &payment_row["refunded"],
            &payment_row["refundable"],
            &payment_row["refund_state"]
        ],
        ["25.00", "75.00", "partial"]
    );
    assert_eq!(
        payment_row["batch_id"],
        day1.0["batch_id"].as_str().expect("id")
    );
    assert_eq!(refund_row["type"], "refund");
    assert_eq!(refund_row["refund_id"], refunds[0].id);
    assert_eq!(
        refund_row["batch_id"],
        day3.0["batch_id"].as_str().expect("id")
    );

    // Reconciliation shows the day's refunds beside its payments, and the net.
    let out = daemon.cipd(&["report", "reconcile", "--app", "DMV-RENEWAL"], None);
    let text: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for line in [
        "approved card 4 185.00 USD",
        "succeeded refund 1 -25.00 USD",
        "failed refund 1 -30.00 USD",
        "net (approved less refunded): 160.00 USD",
    ] {
        assert!(
            text.iter().any(|l| l == line),
            "{line:?} missing from {text:#?}"
        );
    }
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agency_is_told_of_a_refund_signed_and_again_until_its_callback_takes_it() {
    use cip_tests::handoffs::{
        Received, add_notifying_application, agency_callback, arrived, assert_signed, callback_key,
        notify_supervisor,
    };
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let (port, received): (u16, Received) = agency_callback().await;
    add_notifying_application(&daemon, port);
    let client = daemon.client().await;
    let agent = client
        .login(
            ctx(),
            "DMV-NOTIFY".into(),
            "notify-agent".into(),
            cip_common::secret::Password::new("notify-agent-pass-2026"),
        )
        .await
        .expect("rpc")
        .expect("signed in")
        .token;
    let take = |number: &'static str| {
        let (daemon, client, agent) = (&daemon, client.clone(), agent.clone());
        async move {
            let mut request = cip_tests::card_request(number, 4_200);
            request.fields.clear();
            daemon.sent(&request);
            client
                .submit(ctx(), agent, new_key(), request)
                .await
                .expect("rpc")
                .expect("decided")
        }
    };
    let stubborn = take("4000000000005126").await;
    let paid = take("4242424242424242").await;
    let (rpc, supervisor) = notify_supervisor(&daemon).await;
    let refund = |payment: Payment, amount_minor| {
        let (rpc, supervisor) = (rpc.clone(), supervisor.clone());
        async move {
            rpc.refund(
                ctx(),
                supervisor,
                payment.id,
                new_key(),
                request(amount_minor),
            )
            .await
            .expect("rpc")
            .expect("answered")
        }
    };
    // A refund the processor declines moved no money: nobody is told of it.
    assert_eq!(refund(stubborn, 1_000).await.status, RefundStatus::Failed);
    let given = refund(paid.clone(), 1_500).await;
    assert_eq!(given.status, RefundStatus::Succeeded);

    // The callback refuses twice and takes the third.
    arrived(&received, 3).await;
    let received = received.lock().expect("not poisoned").clone();
    assert_eq!(received.len(), 3, "two refusals, then taken: {received:?}");
    let key = callback_key(&daemon, "DMV-NOTIFY");
    for (signature, body) in &received {
        assert_signed(&key, signature, body);
        let notice: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(
            notice,
            json!({
                "type": "payment.refunded",
                "status": "succeeded",
                "payment_id": paid.id,
                "confirmation_code": paid.confirmation_code,
                "amount_minor": 1_500,
                "currency": "USD",
                "refund_id": given.id,
                "reason": "requested_by_customer",
                "amount_refunded_minor": 1_500,
                "amount_refundable_minor": 2_700,
                "refund_state": "partial",
            })
        );
    }

    // Each attempt is in the delivery log and the payment's timeline; the refund is marked told.
    let deadline = std::time::Instant::now() + WAIT;
    let count = |sql: &str| daemon.sql(sql)[0][0].clone();
    while count(&format!(
        "SELECT count(*) FROM refunds WHERE id = '{}' AND notified_ms IS NOT NULL",
        given.id
    )) != "1"
    {
        assert!(std::time::Instant::now() < deadline, "never marked told");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM refund_deliveries WHERE refund_id = '{}'",
            given.id
        )),
        "3"
    );
    let timeline = rpc
        .timeline(ctx(), supervisor.clone(), paid.id.clone())
        .await
        .expect("rpc")
        .expect("a timeline");
    let told: Vec<(EventKind, Option<String>)> = timeline
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::AgencyNotified | EventKind::AgencyNotifyFailed
            )
        })
        .map(|e| match &e.detail {
            EventDetail::Payment { code, .. } => (e.kind, code.clone()),
            other => panic!("a delivery is an event of the payment: {other:?}"),
        })
        .collect();
    assert_eq!(told.len(), 3, "{told:?}");
    assert_eq!(told[2].0, EventKind::AgencyNotified);
    assert!(
        told[2]
            .1
            .as_deref()
            .is_some_and(|c| c.contains(&given.id) && c.contains("HTTP 200")),
        "{told:?}"
    );
    daemon.assert_no_card_data();
}

/// A processor slow enough that a void and a refund of one payment overlap at it.
const SLOW_PROCESSOR: &str = concat!(
    cip_tests::test_auth!(),
    "
[processor]
deadline_ms = 4000
ask_after_ms = 600000
added_latency_ms = 40
"
);

#[tokio::test(flavor = "multi_thread")]
async fn a_void_and_a_refund_of_one_payment_at_once_leave_cip_and_the_processor_agreeing() {
    let daemon = Daemon::start_with(SLOW_PROCESSOR).await;
    let mut paid = Vec::new();
    for _ in 0..12 {
        paid.push(take(&daemon, "4242424242424242", 5_000).await);
    }
    let (voider, refunder) = (daemon.client().await, daemon.client().await);
    let supervisor = daemon.login(&voider, "DMV-RENEWAL", "super1").await;
    let races = paid.iter().enumerate().map(|(n, payment)| {
        let (voider, refunder, supervisor) = (voider.clone(), refunder.clone(), supervisor.clone());
        let id = payment.id.clone();
        async move {
            // Each side starts first on half the payments, the other a moment after.
            let stagger = Duration::from_millis(5 * (n as u64 % 4));
            let void = async {
                if n % 2 == 1 {
                    tokio::time::sleep(stagger).await;
                }
                voider
                    .void(ctx(), supervisor.clone(), id.clone())
                    .await
                    .expect("rpc")
            };
            let refund = async {
                if n % 2 == 0 {
                    tokio::time::sleep(stagger).await;
                }
                refunder
                    .refund(
                        ctx(),
                        supervisor.clone(),
                        id.clone(),
                        new_key(),
                        request(5_000),
                    )
                    .await
                    .expect("rpc")
            };
            tokio::join!(void, refund)
        }
    });
    let outcomes = futures::future::join_all(races).await;

    let ledger = daemon.ledger();
    let client = daemon.client().await;
    for (payment, (voided, refunded)) in paid.iter().zip(outcomes) {
        let now = looked_up(&client, &supervisor, &payment.id).await;
        let voided_in_books = ledger
            .lines()
            .any(|l| l.starts_with(&format!("void\t{}\t", payment.id)));
        let refunded_in_books: i64 = refunded_in_books(&daemon, &payment.id)
            .iter()
            .map(|(_, amount)| amount)
            .sum();
        let told = format!("void {voided:?}, refund {refunded:?}, now {now:?}");
        assert_eq!(
            now.status == PaymentStatus::Voided,
            voided_in_books,
            "CIP and the processor disagree on the void: {told}"
        );
        assert_eq!(now.refunded().minor, refunded_in_books, "{told}");
        assert_eq!(voided.is_ok(), voided_in_books, "{told}");
        assert_ne!(
            voided_in_books,
            refunded_in_books > 0,
            "exactly one of them gives it back: {told}"
        );
        let refused = voided.err().or(refunded.err()).expect("one was refused");
        let said = refused.to_string();
        assert!(
            // The other came first and ended, or was still under way.
            said.contains("look at it again")
                || said.contains("refund what is left")
                || said.contains("nothing left to refund"),
            "the refusal says what to do: {said}"
        );
    }
    daemon.assert_no_card_data();
}

/// A void held when its daemon stopped (the processor may or may not have made it) is carried to
/// its end when the daemon starts again, and until then no refund begins.
#[tokio::test(flavor = "multi_thread")]
async fn a_void_a_stopped_daemon_left_is_carried_to_its_end() {
    let mut daemon = Daemon::start().await;
    let paid = take(&daemon, "4242424242424242", 2_000).await;
    daemon.kill();
    // As the void left it: held, and the processor not yet asked.
    daemon.sql(&format!(
        "UPDATE payments SET voiding_ms = 1 WHERE id = '{}'",
        paid.id
    ));
    daemon.serve().await;
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let now = looked_up(&client, &supervisor, &paid.id).await;
    assert_eq!(now.status, PaymentStatus::Voided);
    assert!(
        daemon
            .ledger()
            .lines()
            .any(|l| l.starts_with(&format!("void\t{}\t", paid.id))),
        "the processor voided it"
    );
    let refused = client
        .refund(
            ctx(),
            supervisor,
            paid.id.clone(),
            new_key(),
            request(2_000),
        )
        .await
        .expect("rpc")
        .expect_err("a voided payment gives back nothing more");
    assert!(refused.to_string().contains("voided"), "{refused}");
}
