//! Real daemons against a real `cipd sandbox serve` process: the processor over its wire
//! protocol, shared by several daemons, and the rule for an unknown outcome: what the processor
//! has not seen is reversed before CIP calls it failed, so an authorization that arrives late is
//! refused and never charges.

use cip_common::event::{Event, EventKind};
use cip_common::payment::{Payment, PaymentLookup};
use cip_common::secret::SessionToken;
use cip_common::service::CipClient;
use cip_common::status::PaymentStatus;
use cip_tests::sandbox::SandboxServer;
use cip_tests::{Daemon, card_request, ctx, new_key};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The late row of the contract: it reaches the processor 5 s after CIP's deadline.
const LATE_CARD: &str = "4000000000000341";

/// The payment as stored, once `done` holds of it; fails after `within`.
async fn once(
    client: &CipClient,
    token: &SessionToken,
    id: &str,
    within: Duration,
    done: impl Fn(&Payment) -> bool,
) -> Payment {
    let started = Instant::now();
    loop {
        let payment = client
            .payment(ctx(), token.clone(), PaymentLookup::Id(id.to_owned()))
            .await
            .expect("rpc")
            .expect("found");
        if done(&payment) {
            return payment;
        }
        assert!(
            started.elapsed() < within,
            "{id} is still {} after {within:?}",
            payment.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authorization_that_arrives_late_is_reversed_first_and_never_charges() {
    let sandbox = SandboxServer::start();
    let daemon = Daemon::start_with(&sandbox.daemon_config(1_000, 200, "")).await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let request = card_request(LATE_CARD, 2_500);
    daemon.sent(&request);

    // The deadline passes with no answer: in doubt, not failed.
    let sent = client
        .submit(ctx(), agent.clone(), new_key(), request)
        .await
        .expect("rpc")
        .expect("taken");
    assert_eq!(sent.status, PaymentStatus::InDoubt);
    assert_eq!(sent.code.as_deref(), Some("processor_timeout"));

    // The processor has nothing yet: CIP reverses the reference and only then calls it failed.
    let failed = once(
        &client,
        &supervisor,
        &sent.id,
        Duration::from_secs(4),
        |p| p.status != PaymentStatus::InDoubt,
    )
    .await;
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(failed.code.as_deref(), Some("not_charged"));
    assert_eq!(failed.confirmation_code, None);
    assert_eq!(
        sandbox.lines_of(&sent.id),
        [format!("reverse\t{}\t-\t-\treversed\t-", sent.id)]
    );

    // The authorization arrives after the reversal, and the processor refuses it.
    let started = Instant::now();
    while sandbox.lines_of(&sent.id).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the late authorization never arrived: {:?}",
            sandbox.lines_of(&sent.id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sandbox.lines_of(&sent.id),
        [
            format!("reverse\t{}\t-\t-\treversed\t-", sent.id),
            format!("authorize\t{}\t2500\tUSD\trefused\treversed", sent.id),
        ],
        "the ledger shows the reversal before the late authorization, and no charge"
    );

    // A sweep after it still finds nothing charged: the payment stays failed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = once(&client, &supervisor, &sent.id, Duration::ZERO, |_| true).await;
    assert_eq!(after, failed);

    // The feed shows each step.
    let batch = client
        .events(ctx(), supervisor, 0, 1_000, 0)
        .await
        .expect("rpc")
        .expect("events");
    let steps: Vec<(EventKind, PaymentStatus, Option<String>)> = batch
        .events
        .iter()
        .filter(|e| e.payment_id() == Some(sent.id.as_str()))
        .map(|e: &Event| match &e.detail {
            cip_common::event::EventDetail::Payment { status, code, .. } => {
                (e.kind, *status, code.clone())
            }
            _ => unreachable!("a payment's event"),
        })
        .collect();
    assert_eq!(
        steps,
        [
            (EventKind::PaymentReceived, PaymentStatus::Processing, None),
            (
                EventKind::PaymentInDoubt,
                PaymentStatus::InDoubt,
                Some("processor_timeout".to_owned())
            ),
            (
                EventKind::PaymentResolved,
                PaymentStatus::Failed,
                Some("not_charged".to_owned())
            ),
        ]
    );
    daemon.assert_no_card_data();
    sandbox.assert_no_card_data();
}

/// Two daemons, each on its own database, take payments at once through one processor: every
/// reference in the processor's books is one daemon's payment, decided as that daemon says, and
/// 20 concurrent sends under one key make one processor call on each.
#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_share_one_processor_and_its_books_agree_with_both() {
    let sandbox = SandboxServer::start();
    let config = sandbox.daemon_config(4_000, 200, "");
    let daemons = [
        Daemon::start_with(&config).await,
        Daemon::start_with(&config).await,
    ];
    let mut sends = Vec::new();
    for (d, daemon) in daemons.iter().enumerate() {
        let client = daemon.client().await;
        let token = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
        let one_key = new_key();
        for n in 0..20 {
            let card = ["4242424242424242", "4000000000000002", "5555555555554444"][n % 3];
            let request = card_request(card, 1_000 + n as i64);
            daemon.sent(&request);
            // The first ten each under their own key; the next ten one payment under one key.
            let (key, request) = if n < 10 {
                (new_key(), request)
            } else {
                (one_key.clone(), card_request("4242424242424242", 777))
            };
            let (client, token) = (client.clone(), token.clone());
            sends.push(tokio::spawn(async move {
                let payment = client
                    .submit(ctx(), token, key, request)
                    .await
                    .expect("rpc")
                    .expect("taken");
                (d, payment)
            }));
        }
    }
    let mut told: BTreeMap<String, (usize, Payment)> = BTreeMap::new();
    for send in sends {
        let (d, payment) = send.await.expect("a send");
        assert!(payment.status.is_decided(), "{payment:?}");
        told.insert(payment.id.clone(), (d, payment));
    }
    // Each daemon: ten payments, and one for the ten sends under one key.
    for d in 0..2 {
        assert_eq!(told.values().filter(|(of, _)| *of == d).count(), 11);
    }

    let mut books: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in sandbox.ledger().lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        books
            .entry(fields[1].to_owned())
            .or_default()
            .push(fields[4].to_owned());
    }
    assert_eq!(books.len(), told.len(), "{books:?}");
    for (reference, results) in &books {
        let (_, payment) = told
            .get(reference)
            .unwrap_or_else(|| panic!("the processor booked {reference}, which no daemon has"));
        assert_eq!(
            results,
            &[payment.status.code().to_owned()],
            "{reference}: one call, decided as CIP says"
        );
    }
    for daemon in &daemons {
        daemon.assert_no_card_data();
    }
    sandbox.assert_no_card_data();
}
