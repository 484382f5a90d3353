//! Refunds through a real daemon, from a supervisor's console connection and the agency API at
//! once: never more than was paid, a key answers one refund, a kill loses none and doubles none,
//! and the processor's books agree with CIP's.

use cip_common::error::ApiError;
use cip_common::event::{EventDetail, EventKind};
use cip_common::payment::Payment;
use cip_common::refund::{Refund, RefundReason, RefundRequest, RefundStatus};
use cip_common::status::PaymentStatus;
use cip_tests::http::{Agency, HTTP_CONFIG};
use cip_tests::{Daemon, ctx, new_key};
use serde_json::json;
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
    let payment = client
        .payment(
            ctx(),
            supervisor.clone(),
            cip_common::payment::PaymentLookup::Id(paid.id.clone()),
        )
        .await
        .expect("rpc")
        .expect("the payment");
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
    let payment = client
        .payment(
            ctx(),
            supervisor,
            cip_common::payment::PaymentLookup::Id(paid.id.clone()),
        )
        .await
        .expect("rpc")
        .expect("the payment");
    assert_eq!(payment.refunded().minor, given);
    assert_eq!(payment.refundable().minor, 10_000 - given);
}
