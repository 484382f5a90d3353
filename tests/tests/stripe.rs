//! The Stripe connector through a real `cipd`, against localstripe: a Stripe server nobody here
//! wrote. Every contract row localstripe can express reaches the contract's outcome; the rows it
//! cannot are listed with the reason. An agency's ACH payment is refused before anything is sent,
//! a supervisor's void gives the whole amount back at Stripe, and the secret key is shown nowhere.

use cip_common::error::ApiError;
use cip_common::payment::PaymentLookup;
use cip_common::status::PaymentStatus;
use cip_daemon::processor::sandbox::contract_rows;
use cip_tests::localstripe::{Localstripe, SECRET_KEY};
use cip_tests::{Daemon, ctx, new_key, request_for};

/// Contract rows localstripe cannot express, and why. A PaymentIntent on localstripe charges
/// every card but 4000000000000341 (its "charging is declined" card): it declines the contract's
/// decline numbers only when a card is attached to a customer, has no failing or slow processor,
/// always answers at once, and takes 16-digit numbers only.
const CANNOT_EXPRESS: &[(&str, &str)] = &[
    (
        "378282246310005",
        "localstripe takes only 16-digit card numbers with 3-digit CVCs (400 Bad Request)",
    ),
    (
        "30569309025904",
        "localstripe takes only 16-digit card numbers with 3-digit CVCs (400 Bad Request)",
    ),
    (
        "4000000000000002",
        "localstripe declines it only when attaching a card to a customer",
    ),
    (
        "4000000000009995",
        "localstripe declines it only when attaching a card to a customer",
    ),
    (
        "4000000000000069",
        "localstripe declines it only when attaching a card to a customer",
    ),
    (
        "4000000000000127",
        "localstripe declines it only when attaching a card to a customer",
    ),
    (
        "4000000000000119",
        "localstripe declines it only when attaching a card to a customer",
    ),
    ("4000000000000333", "localstripe is always reachable"),
    (
        "4000000000000309",
        "localstripe always answers at once: nothing is left in doubt",
    ),
    (
        "4000000000000317",
        "localstripe always answers at once: nothing is left in doubt",
    ),
    (
        "4000000000000341",
        "localstripe declines it at once (card_declined) instead of letting it arrive late",
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_row_localstripe_can_express_reaches_its_outcome_through_stripe() {
    let Some(stripe) = Localstripe::start() else {
        return;
    };
    let daemon = Daemon::start_with(&stripe.daemon_config("")).await;
    let client = daemon.client().await;
    let mut expressed = 0;
    for row in contract_rows() {
        let what = format!("{} {} ({})", row.kind, row.number, row.meaning);
        let (application, request) = request_for(&row);
        daemon.sent(&request);
        let token = daemon.login(&client, application, "agent1").await;
        let answer = client
            .submit(ctx(), token, new_key(), request)
            .await
            .expect("rpc");
        if row.outcome == "invalid" {
            assert!(
                matches!(answer, Err(ApiError::Fields(_))),
                "{what}: {answer:?}"
            );
            continue;
        }
        if row.kind == "ach" {
            // ACH through Stripe is not taken: refused before anything is stored or sent.
            let Err(ApiError::Fields(errors)) = &answer else {
                panic!("{what}: {answer:?}");
            };
            let message = errors
                .get("method")
                .unwrap_or_else(|| panic!("{what}: {errors:?}"));
            assert!(message.contains("cards only"), "{message}");
            continue;
        }
        if let Some((_, why)) = CANNOT_EXPRESS.iter().find(|(n, _)| *n == row.number) {
            eprintln!("not expressed by localstripe: {what}: {why}");
            continue;
        }
        let payment = answer.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(payment.status.code(), row.outcome, "{what}");
        expressed += 1;
        // At Stripe: one PaymentIntent, confirmed, naming CIP's payment.
        let supervisor = daemon.login(&client, application, "super1").await;
        let stored = client
            .payment(ctx(), supervisor, PaymentLookup::Id(payment.id.clone()))
            .await
            .expect("rpc")
            .expect("found");
        assert_eq!(stored.status, PaymentStatus::Approved, "{what}");
        let intents = stripe.get("/v1/payment_intents?limit=100").await;
        let mine: Vec<&serde_json::Value> = intents["data"]
            .as_array()
            .expect("a list")
            .iter()
            .filter(|i| i["metadata"]["cip_reference"] == payment.id.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{what}: {intents}");
        assert_eq!(mine[0]["status"], "succeeded", "{what}");
        assert_eq!(mine[0]["amount"], payment.amount.minor, "{what}");
    }
    assert!(expressed >= 8, "the approvals went through Stripe");
    daemon.assert_no_card_data();
    assert_key_shown_nowhere(&daemon);
}

/// A supervisor's void of a payment Stripe captured at once gives the whole amount back.
#[tokio::test(flavor = "multi_thread")]
async fn a_void_gives_the_whole_amount_back_at_stripe() {
    let Some(stripe) = Localstripe::start() else {
        return;
    };
    let daemon = Daemon::start_with(&stripe.daemon_config("")).await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let request = cip_tests::card_request("4242424242424242", 4_321);
    daemon.sent(&request);
    let payment = client
        .submit(ctx(), agent, new_key(), request)
        .await
        .expect("rpc")
        .expect("approved");
    assert_eq!(payment.status, PaymentStatus::Approved);
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let voided = client
        .void(ctx(), supervisor, payment.id.clone())
        .await
        .expect("rpc")
        .expect("voided");
    assert_eq!(voided.status, PaymentStatus::Voided);
    let refunds = stripe.get("/v1/refunds?limit=100").await;
    let given_back: Vec<i64> = refunds["data"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|r| r["metadata"]["cip_reference"] == payment.id.as_str())
        .filter_map(|r| r["amount"].as_i64())
        .collect();
    assert_eq!(given_back, [4_321], "{refunds}");
    daemon.assert_no_card_data();
    assert_key_shown_nowhere(&daemon);
}

/// A key file others may read is refused at start, naming the file and the fix.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_file_others_may_read_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let Some(stripe) = Localstripe::start() else {
        return;
    };
    let config = stripe.daemon_config("");
    let key = stripe.key_file();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("0644");
    let dir = tempfile::tempdir().expect("a dir");
    std::fs::write(dir.path().join("cipd.toml"), config).expect("written");
    let out = std::process::Command::new(cip_tests::binary("cipd"))
        .arg("--config")
        .arg(dir.path().join("cipd.toml"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--socket")
        .arg(dir.path().join("cipd.sock"))
        .arg("serve")
        .output()
        .expect("cipd runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("chmod 600") && said.contains(&key.display().to_string()),
        "{said}"
    );
    assert!(!said.contains(SECRET_KEY), "{said}");
}

/// The secret key is in no file the daemon wrote: its log, its database, its books.
fn assert_key_shown_nowhere(daemon: &Daemon) {
    for entry in std::fs::read_dir(daemon.dir.path()).expect("the data dir") {
        let path = entry.expect("an entry").path();
        if path.is_file() && path.extension().is_none_or(|e| e != "toml") {
            let bytes = std::fs::read(&path).expect("readable");
            assert!(
                !bytes
                    .windows(SECRET_KEY.len())
                    .any(|w| w == SECRET_KEY.as_bytes()),
                "the Stripe key is in {}",
                path.display()
            );
        }
    }
}

/// The connector's refund, as Stripe defines it: part of a PaymentIntent given back under the
/// refund's own id as its key and in its metadata.
#[tokio::test(flavor = "multi_thread")]
async fn the_connector_refunds_part_of_a_payment_at_stripe() {
    use cip_common::money::{Currency, Money};
    use cip_daemon::processor::stripe::Stripe;
    use cip_daemon::processor::{Authorization, Outcome, Processor, Refund, RefundOutcome};
    let Some(stripe) = Localstripe::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("a dir");
    let connector = Stripe::new(
        &stripe.url,
        &stripe.key_file(),
        &dir.path().join("stripe-books.log"),
        std::time::Duration::from_secs(5),
    )
    .expect("the connector");
    let request = cip_tests::card_request("4242424242424242", 2_500);
    let approved = connector
        .authorize(Authorization {
            reference: "pay_refunded",
            amount: Money::new(2_500, Currency::Usd),
            method: &request.method,
            deadline: std::time::Duration::from_secs(5),
        })
        .await
        .expect("an answer");
    assert!(matches!(approved, Outcome::Approved { .. }), "{approved:?}");
    let refunded = connector
        .refund(Refund {
            reference: "ref_part",
            payment: "pay_refunded",
            amount: Money::new(1_000, Currency::Usd),
        })
        .await
        .expect("an answer");
    assert_eq!(refunded, RefundOutcome::Succeeded);
    let refunds = stripe.get("/v1/refunds?limit=100").await;
    let given_back: Vec<(i64, String)> = refunds["data"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|r| r["metadata"]["cip_reference"] == "ref_part")
        .map(|r| {
            (
                r["amount"].as_i64().unwrap_or_default(),
                r["payment_intent"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let Outcome::Approved { authorization } = approved else {
        unreachable!("approved above");
    };
    assert_eq!(given_back, [(1_000, authorization)], "{refunds}");
}
