//! What the Stripe connector relies on that localstripe lacks, against small recorded exchanges
//! in Stripe's own words: an idempotent replay (localstripe ignores `Idempotency-Key` and would
//! charge again), and Stripe's refusals, each mapped to CIP's outcome. Only an answer proves a
//! decline; anything else leaves the payment in doubt (`Err`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cip_common::money::{Currency, Money};
use cip_daemon::processor::stripe::Stripe;
use cip_daemon::processor::{Authorization, Inquiry, Outcome, Processor};
use cip_tests::card_request;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One answer Stripe gives to `POST /v1/payment_intents`; `None`: it never answers.
type Recorded = Option<(u16, &'static str)>;

#[derive(Default)]
struct Exchange {
    answers: Mutex<VecDeque<Recorded>>,
    /// Each PaymentIntent request: its idempotency key and its body.
    intents: Mutex<Vec<(String, String)>>,
    payment_methods: Mutex<usize>,
}

async fn payment_method(State(exchange): State<Arc<Exchange>>) -> Response {
    *exchange.payment_methods.lock().expect("not poisoned") += 1;
    axum::Json(serde_json::json!({"id": "pm_1RecordedCard", "object": "payment_method"}))
        .into_response()
}

async fn payment_intent(
    State(exchange): State<Arc<Exchange>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    exchange
        .intents
        .lock()
        .expect("not poisoned")
        .push((key, String::from_utf8_lossy(&body).into_owned()));
    let answer = exchange.answers.lock().expect("not poisoned").pop_front();
    match answer.flatten() {
        None => std::future::pending().await,
        Some((status, body)) => (
            StatusCode::from_u16(status).expect("a status"),
            [
                ("content-type", "application/json"),
                ("idempotent-replayed", "true"),
            ],
            body,
        )
            .into_response(),
    }
}

/// A recorded Stripe at a loopback address, answering PaymentIntents from `answers` in turn.
async fn recorded(answers: Vec<Recorded>) -> (String, Arc<Exchange>) {
    let exchange = Arc::new(Exchange::default());
    *exchange.answers.lock().expect("not poisoned") = answers.into();
    let app = Router::new()
        .route("/v1/payment_methods", post(payment_method))
        .route("/v1/payment_intents", post(payment_intent))
        .with_state(Arc::clone(&exchange));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, exchange)
}

fn connector(url: &str, dir: &Path) -> Stripe {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("stripe.key");
    std::fs::write(&key, cip_tests::localstripe::SECRET_KEY).expect("written");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("0600");
    Stripe::new(
        url,
        &key,
        &dir.join("stripe-books.log"),
        Duration::from_secs(2),
    )
    .expect("the connector")
}

async fn authorize(stripe: &Stripe, reference: &str) -> Result<Outcome, String> {
    let request = card_request("4242424242424242", 2_500);
    let call = stripe.authorize(Authorization {
        reference,
        amount: Money::new(2_500, Currency::Usd),
        method: &request.method,
        deadline: Duration::from_millis(300),
    });
    match tokio::time::timeout(Duration::from_millis(300), call).await {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(_) => Err("no answer in time".to_owned()),
    }
}

/// A PaymentIntent as Stripe answers a confirmed one
/// (https://docs.stripe.com/api/payment_intents/object), trimmed to what the connector reads.
const SUCCEEDED: &str = r#"{"id": "pi_3RecordedIntent", "object": "payment_intent", "amount": 2500, "currency": "usd", "status": "succeeded", "metadata": {"cip_reference": "pay_recorded"}}"#;

/// Stripe: "Stripe's idempotency works by saving the resulting status code and body of the
/// first request made for any given idempotency key, regardless of whether it succeeds or fails.
/// Subsequent requests with the same key return the same result" (docs.stripe.com/api/
/// idempotent_requests). So after a timeout the inquiry is the same request again, even from a
/// daemon that restarted in between: it reads what to send from the connector's books.
#[tokio::test]
async fn an_inquiry_is_the_same_request_sent_again_under_the_same_key() {
    let (url, exchange) = recorded(vec![None, Some((200, SUCCEEDED))]).await;
    let dir = tempfile::tempdir().expect("a dir");
    let first = connector(&url, dir.path());
    assert_eq!(
        authorize(&first, "pay_recorded").await,
        Err("no answer in time".to_owned())
    );
    drop(first);

    let restarted = connector(&url, dir.path());
    let found = restarted.inquire("pay_recorded").await.expect("an answer");
    assert_eq!(
        found,
        Inquiry::Decided(Outcome::Approved {
            authorization: "pi_3RecordedIntent".to_owned()
        })
    );
    let intents = exchange.intents.lock().expect("not poisoned").clone();
    assert_eq!(intents.len(), 2, "{intents:?}");
    assert_eq!(
        intents[0], intents[1],
        "the same request, under the same key"
    );
    assert_eq!(intents[0].0, "pay_recorded");
    for part in [
        "amount=2500",
        "currency=usd",
        "confirm=true",
        "payment_method=pm_1RecordedCard",
        "metadata%5Bcip_reference%5D=pay_recorded",
    ] {
        assert!(intents[0].1.contains(part), "{part} in {}", intents[0].1);
    }
    assert!(
        !intents[0].1.contains("4242"),
        "no card data in the PaymentIntent"
    );
    assert_eq!(*exchange.payment_methods.lock().expect("not poisoned"), 1);
    // A reference CIP never sent is not found: nothing can be charged for it.
    assert_eq!(
        restarted
            .inquire("pay_never_sent")
            .await
            .expect("an answer"),
        Inquiry::NotFound
    );
}

/// Stripe's refusals (docs.stripe.com/declines/codes and /error-codes, bodies as Stripe
/// documents them), each with CIP's outcome.
#[tokio::test]
async fn stripe_s_answers_become_cip_s_outcomes_and_only_an_answer_proves_a_decline() {
    let declined = |code: &str| {
        Ok(Outcome::Declined {
            code: code.to_owned(),
        })
    };
    let failed = |code: &str| {
        Ok(Outcome::Failed {
            code: code.to_owned(),
        })
    };
    let cases: Vec<(u16, &'static str, Result<Outcome, ()>)> = vec![
        (
            402,
            r#"{"error": {"code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds.", "type": "card_error", "payment_intent": {"id": "pi_3Declined", "status": "requires_payment_method"}}}"#,
            declined("insufficient_funds"),
        ),
        (
            402,
            r#"{"error": {"code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined.", "type": "card_error"}}"#,
            declined("generic_decline"),
        ),
        (
            402,
            r#"{"error": {"code": "expired_card", "message": "Your card has expired.", "param": "exp_month", "type": "card_error"}}"#,
            declined("expired_card"),
        ),
        (
            402,
            r#"{"error": {"code": "incorrect_cvc", "message": "Your card's security code is incorrect.", "param": "cvc", "type": "card_error"}}"#,
            declined("incorrect_cvc"),
        ),
        (
            402,
            r#"{"error": {"code": "processing_error", "message": "An error occurred while processing your card. Try again in a little bit.", "type": "card_error"}}"#,
            failed("processing_error"),
        ),
        (
            400,
            r#"{"error": {"code": "parameter_invalid_integer", "message": "Invalid integer: abc", "param": "amount", "type": "invalid_request_error"}}"#,
            failed("processing_error"),
        ),
        (
            429,
            r#"{"error": {"code": "rate_limit", "message": "Too many requests hit the API too quickly.", "type": "invalid_request_error"}}"#,
            Err(()),
        ),
        (
            500,
            r#"{"error": {"message": "An unknown error occurred", "type": "api_error"}}"#,
            Err(()),
        ),
        (
            409,
            r#"{"error": {"code": "idempotency_key_in_use", "message": "There is currently another in-progress request using this Idempotent Key.", "type": "idempotency_error"}}"#,
            Err(()),
        ),
        (
            200,
            r#"{"id": "pi_3Action", "object": "payment_intent", "status": "requires_action"}"#,
            declined("authentication_required"),
        ),
        (
            200,
            r#"{"id": "pi_3Processing", "object": "payment_intent", "status": "processing"}"#,
            Err(()),
        ),
    ];
    let (url, _exchange) = recorded(
        cases
            .iter()
            .map(|(status, body, _)| Some((*status, *body)))
            .collect(),
    )
    .await;
    let dir = tempfile::tempdir().expect("a dir");
    let stripe = connector(&url, dir.path());
    for (n, (status, body, expected)) in cases.into_iter().enumerate() {
        let answer = authorize(&stripe, &format!("pay_case{n}")).await;
        assert_eq!(answer.map_err(drop), expected, "{status} {body}");
    }

    // Nothing listens: nothing was sent, so nothing was charged.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port");
    let nobody = connector(&format!("http://{closed}"), dir.path());
    assert_eq!(
        authorize(&nobody, "pay_nobody").await,
        failed("processor_unavailable").map_err(|()| String::new())
    );
}
