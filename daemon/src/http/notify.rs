//! Telling an agency that its hand-off was paid: a JSON POST to the application's callback URL,
//! signed with HMAC-SHA256, tried again with backoff until it is taken. Every attempt is an event
//! on the payment (`agency.notified` or `agency.notify_failed`), so supervisors read the
//! delivery log in the payment's timeline and the feed.

use crate::engine::Engine;
use crate::store::events::insert_payment_event;
use cip_common::event::EventKind;
use cip_common::payment::Payment;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// Waits before each attempt: at once, then backing off; about a minute in all.
const BACKOFF_S: [u64; 6] = [0, 1, 2, 4, 8, 16];

#[derive(Serialize)]
struct Notification<'a> {
    handoff_id: &'a str,
    status: &'static str,
    payment_id: &'a str,
    confirmation_code: Option<&'a str>,
    amount_minor: i64,
    currency: &'static str,
}

/// `X-CIP-Signature: t=<ms>,v1=<hex>`: HMAC-SHA256 with the application's key over `<ms>.<body>`.
pub fn signature(key: &[u8; 32], at_ms: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(at_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={at_ms},v1={hex}")
}

/// Sends the notification of `payment` (which paid `handoff_id`) to `url` in the background.
pub fn spawn(
    engine: Arc<Engine>,
    client: reqwest::Client,
    url: String,
    handoff_id: String,
    payment: Payment,
) {
    tokio::spawn(async move {
        let body = serde_json::to_vec(&Notification {
            handoff_id: &handoff_id,
            status: "paid",
            payment_id: &payment.id,
            confirmation_code: payment.confirmation_code.as_deref(),
            amount_minor: payment.amount.minor,
            currency: payment.amount.currency.code(),
        })
        .expect("a notification serializes");
        let key = engine.callback_key(&payment.application);
        for (attempt, wait_s) in BACKOFF_S.iter().enumerate() {
            tokio::time::sleep(Duration::from_secs(*wait_s)).await;
            let at_ms = engine.clock().now_ms();
            let sent = client
                .post(&url)
                .header("Content-Type", "application/json")
                .header("X-CIP-Signature", signature(&key, at_ms, &body))
                .body(body.clone())
                .send()
                .await;
            let (kind, outcome) = match sent {
                Ok(r) if r.status().is_success() => (
                    EventKind::AgencyNotified,
                    format!("HTTP {}", r.status().as_u16()),
                ),
                Ok(r) => (
                    EventKind::AgencyNotifyFailed,
                    format!("HTTP {}", r.status().as_u16()),
                ),
                Err(e) if e.is_timeout() => (
                    EventKind::AgencyNotifyFailed,
                    "no answer in time".to_owned(),
                ),
                Err(_) => (
                    EventKind::AgencyNotifyFailed,
                    "could not connect".to_owned(),
                ),
            };
            let mut logged = payment.clone();
            logged.code = Some(format!(
                "{outcome}, attempt {} of {}",
                attempt + 1,
                BACKOFF_S.len()
            ));
            let written = engine
                .store()
                .write(move |conn| insert_payment_event(conn, &logged, kind, at_ms))
                .await;
            if let Err(e) = written {
                tracing::warn!("notification of {handoff_id} not logged: {e}");
            }
            if kind == EventKind::AgencyNotified {
                return;
            }
        }
        tracing::warn!("the agency's callback never took the notification of {handoff_id}");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_and_body() {
        // Computed independently: python3 -c 'import hmac, hashlib;
        // print(hmac.new(bytes(32), b"1700000000000.{}", hashlib.sha256).hexdigest())'.
        assert_eq!(
            signature(&[0; 32], 1_700_000_000_000, b"{}"),
            "t=1700000000000,v1=4caf0758675a8b3f0c972770d377e575a17b55e681ddd42ee0008f6002247684"
        );
    }
}
