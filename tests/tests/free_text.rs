//! A card number typed where it does not belong (the payer's name or email, the application's
//! fields, the idempotency key) is refused naming the field, over HTTP and over tarpc alike,
//! before anything is stored: the scan of what the daemon wrote finds it nowhere, spaced or not.

use cip_common::ApiError;
use cip_common::free_text::CARD_NUMBER_IN_TEXT;
use cip_common::secret::Password;
use cip_tests::http::{Agency, HTTP_CONFIG, payment_body};
use cip_tests::{Daemon, card_request, ctx, new_key};
use serde_json::{Value, json};

/// The fields a 422 names, and whether each says a card number goes only in the card field.
fn named_as_card_number(refused: &Value) -> Vec<(String, bool)> {
    refused["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or_default().to_owned(),
                        e["message"] == CARD_NUMBER_IN_TEXT,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_refuses_a_card_number_outside_the_card_naming_the_field() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let request = card_request("4242424242424242", 1_500);
    daemon.sent(&request);
    let body = payment_body(&request);

    let cases: [(&str, &str, Value); 4] = [
        (
            "/payer/name",
            "payer.name",
            json!("Ada 4242 4242 4242 4242"),
        ),
        (
            "/payer/email",
            "payer.email",
            json!("4242-4242-4242-4242@example.com"),
        ),
        (
            "/fields/plate_number",
            "fields.plate_number",
            json!("ref 4242424242424242 thanks"),
        ),
        (
            "/payer/postal_code",
            "payer.postal_code",
            json!("4242.4242.4242.4242"),
        ),
    ];
    for (pointer, field, value) in cases {
        let mut bad = body.clone();
        *bad.pointer_mut(pointer).expect("the body has the field") = value;
        let (status, refused) = agency.pay(&new_key(), &bad).await;
        assert_eq!(status, 422, "{field}: {refused}");
        assert_eq!(
            named_as_card_number(&refused),
            [(field.to_owned(), true)],
            "{refused}"
        );
        assert!(!refused.to_string().contains("4242 4242"), "{refused}");
    }

    // The header: refused before the body is read or anything is stored.
    for key in [
        "4242424242424242",
        "4242-4242-4242-4242",
        "order-4242424242424242",
    ] {
        let (status, refused) = agency.pay(key, &body).await;
        assert_eq!(status, 422, "{key}: {refused}");
        assert_eq!(
            named_as_card_number(&refused),
            [("Idempotency-Key".to_owned(), true)],
            "{refused}"
        );
        assert!(!refused.to_string().contains("4242424242"), "{refused}");
    }

    let (status, listed) = agency.read("/v1/payments").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["payments"], json!([]), "nothing was taken: {listed}");
    daemon.assert_no_card_data();
}

/// A tarpc answer refusing `field` as holding a card number.
fn assert_names_a_card_number<T: std::fmt::Debug>(refused: &Result<T, ApiError>, field: &str) {
    match refused {
        Err(ApiError::Fields(errors)) => {
            assert_eq!(errors.get(field), Some(CARD_NUMBER_IN_TEXT), "{errors}")
        }
        other => panic!("a field error naming {field}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tarpc_refuses_a_card_number_outside_the_card_as_a_field_error() {
    let daemon = Daemon::start().await;
    let rpc = daemon.client().await;
    let agent = daemon.login(&rpc, "DMV-RENEWAL", "agent1").await;
    let good = card_request("4242424242424242", 1_500);
    daemon.sent(&good);

    let mut in_name = good.clone();
    in_name.payer.name = "4242 4242 4242 4242".into();
    let refused = rpc
        .submit(ctx(), agent.clone(), new_key(), in_name)
        .await
        .expect("rpc");
    assert_names_a_card_number(&refused, "payer.name");
    let refused = rpc
        .submit(ctx(), agent, "4242-4242-4242-4242".into(), good.clone())
        .await
        .expect("rpc");
    assert_names_a_card_number(&refused, "idempotency_key");

    // The agency's call over tarpc meets the same rule.
    let refused = rpc
        .gateway_submit(
            ctx(),
            "DMV-RENEWAL".into(),
            "api1".into(),
            Password::new("api1-demo-pass"),
            "4242424242424242".into(),
            good,
        )
        .await
        .expect("rpc");
    assert_names_a_card_number(&refused, "idempotency_key");
    daemon.assert_no_card_data();
}
