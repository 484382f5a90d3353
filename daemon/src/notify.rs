//! Telling an agency what happened to its payments: that a hand-off was paid (`handoff.paid`) or
//! that a payment was refunded (`payment.refunded`), each a JSON POST to the application's
//! callback URL, signed with HMAC-SHA256, tried again with backoff until it is taken. The
//! notifier follows the committed events (an approval of a hand-off's payment, whichever way the
//! payment was settled; a refund that succeeded), and a sweep takes up what a restart or a
//! refused delivery left. Daemons sharing a store all follow; the one that claims a notice's
//! delivery sends it. Every attempt goes to its delivery log (`handoff_deliveries`,
//! `refund_deliveries`) with its event on the payment (`agency.notified` or
//! `agency.notify_failed`), so supervisors read it in the timeline and the feed.

use crate::engine::Engine;
use crate::store::Store;
use crate::store::claims::Work;
use crate::store::notices::{Delivery, Notice};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Waits before each attempt: at once, then backing off; about a minute in all.
const BACKOFF_S: [u64; 6] = [0, 1, 2, 4, 8, 16];

/// A notice's body. `amount_minor` is the payment's for `handoff.paid`, the refund's for
/// `payment.refunded`.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    handoff_id: Option<&'a str>,
    /// The hand-off's (`paid`) or the refund's (`succeeded`).
    status: &'static str,
    payment_id: &'a str,
    confirmation_code: Option<&'a str>,
    amount_minor: i64,
    currency: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    refund: Option<RefundBody<'a>>,
}

/// What `payment.refunded` adds: the refund, and the payment's figures after it.
#[derive(Serialize)]
struct RefundBody<'a> {
    refund_id: &'a str,
    reason: &'static str,
    amount_refunded_minor: i64,
    amount_refundable_minor: i64,
    refund_state: &'static str,
}

fn body(notice: &Notice) -> Vec<u8> {
    let payment = notice.payment();
    let common = |kind, status, amount_minor| Body {
        kind,
        handoff_id: None,
        status,
        payment_id: &payment.id,
        confirmation_code: payment.confirmation_code.as_deref(),
        amount_minor,
        currency: payment.amount.currency.code(),
        refund: None,
    };
    let body = match notice {
        Notice::Paid { handoff_id, .. } => Body {
            handoff_id: Some(handoff_id),
            ..common("handoff.paid", "paid", payment.amount.minor)
        },
        Notice::Refunded { refund, .. } => Body {
            refund: Some(RefundBody {
                refund_id: &refund.id,
                reason: refund.reason.code(),
                amount_refunded_minor: payment.refunded().minor,
                amount_refundable_minor: payment.refundable().minor,
                refund_state: payment.refund_state().code(),
            }),
            ..common(
                "payment.refunded",
                refund.status.code(),
                refund.amount.minor,
            )
        },
    };
    serde_json::to_vec(&body).expect("a notice serializes")
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

/// Sends notices, one delivery at a time per subject, across daemons.
pub struct Notifier {
    store: Store,
    engine: Arc<Engine>,
    client: reqwest::Client,
    sending: Mutex<HashSet<String>>,
}

/// How often notices not yet taken are looked for, and how far back.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
const SWEEP_BACK_MS: i64 = 24 * 60 * 60 * 1000;
/// How long the notifier lets commits gather after one wakes it: a notice may wait that long,
/// and the store is read for it no more than a few times a second, however busy.
const GATHER: Duration = Duration::from_millis(100);

impl Notifier {
    pub fn new(store: Store, engine: Arc<Engine>) -> reqwest::Result<Notifier> {
        Ok(Notifier {
            store,
            engine,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            sending: Mutex::new(HashSet::new()),
        })
    }

    /// Tells the agency the notice, if its application has a callback URL: in the background,
    /// unless it was taken already or a delivery is under way, in this process or on another
    /// daemon.
    async fn notify(self: &Arc<Self>, notice: Notice) {
        let Ok(form) = self.engine.form(&notice.payment().application).await else {
            return;
        };
        let Some(url) = form.spec.callback_url.clone() else {
            return;
        };
        if !self.lock_sending().insert(notice.subject().to_owned()) {
            return;
        }
        let notifier = Arc::clone(self);
        tokio::spawn(async move {
            notifier.claim_and_deliver(&url, &notice).await;
            notifier.lock_sending().remove(notice.subject());
        });
    }

    /// Delivers the notice under the store's claim, so no other daemon sends it at the same
    /// time; taken already (asked once the claim is held), it is not sent again. Without the
    /// claim, the sweep looks again later.
    async fn claim_and_deliver(&self, url: &str, notice: &Notice) {
        let subject = notice.subject();
        let claim = match self.store.claim(Work::Notice { subject }).await {
            Ok(Some(claim)) => claim,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("notice of {subject} not claimed: {e}");
                return;
            }
        };
        if !self
            .store
            .notified(notice.kind(), subject)
            .await
            .unwrap_or(true)
        {
            self.deliver(url, notice).await;
        }
        drop(claim);
    }

    fn lock_sending(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.sending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Until the daemon stops: the notices of the last day not yet taken (a restart may have cut
    /// their delivery short), then every one the commits make due, and again every
    /// [`SWEEP_EVERY`] what is still not taken.
    pub async fn run(self: Arc<Self>) {
        let mut committed = self.store.committed_seq();
        let mut seen = *committed.borrow_and_update();
        self.sweep().await;
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.tick().await;
        loop {
            tokio::select! {
                changed = committed.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    tokio::time::sleep(GATHER).await;
                    let upto = *committed.borrow_and_update();
                    match self.store.notices_between(seen, upto).await {
                        Ok(due) => {
                            seen = upto;
                            for notice in due {
                                self.notify(notice).await;
                            }
                        }
                        // Read again at the next commit, from the same place.
                        Err(e) => tracing::warn!("notices due not read: {e}"),
                    }
                }
                _ = sweep.tick() => self.sweep().await,
            }
        }
    }

    /// How many notices are due and not yet taken by their callbacks.
    pub async fn backlog(&self) -> Result<usize, crate::store::StoreError> {
        let since = self.engine.clock().now_ms() - SWEEP_BACK_MS;
        Ok(self.store.notices_due(since).await?.len())
    }

    async fn sweep(self: &Arc<Self>) {
        let since = self.engine.clock().now_ms() - SWEEP_BACK_MS;
        match self.store.notices_due(since).await {
            Ok(due) => {
                for notice in due {
                    self.notify(notice).await;
                }
            }
            Err(e) => tracing::warn!("notices due not read: {e}"),
        }
    }

    async fn deliver(&self, url: &str, notice: &Notice) {
        let engine = &self.engine;
        let (payment, subject) = (notice.payment(), notice.subject());
        let body = body(notice);
        let key = engine.callback_key(&payment.application);
        for (attempt, wait_s) in BACKOFF_S.iter().enumerate() {
            tokio::time::sleep(Duration::from_secs(*wait_s)).await;
            let at_ms = engine.clock().now_ms();
            let sent = self
                .client
                .post(url)
                .header("Content-Type", "application/json")
                .header("X-CIP-Signature", signature(&key, at_ms, &body))
                .body(body.clone())
                .send()
                .await;
            let (taken, outcome, result) = match sent {
                Ok(r) if r.status().is_success() => {
                    (true, format!("HTTP {}", r.status().as_u16()), "taken")
                }
                Ok(r) => (false, format!("HTTP {}", r.status().as_u16()), "refused"),
                Err(e) if e.is_timeout() => (false, "no answer in time".to_owned(), "timeout"),
                Err(_) => (false, "could not connect".to_owned(), "unreachable"),
            };
            crate::metrics::METRICS.webhook_delivery(result);
            let written = self
                .store
                .record_delivery(Delivery {
                    kind: notice.kind(),
                    subject: subject.to_owned(),
                    payment_id: payment.id.clone(),
                    attempt: u32::try_from(attempt + 1).expect("a handful of attempts"),
                    at_ms,
                    outcome,
                    taken,
                })
                .await;
            if let Err(e) = written {
                tracing::warn!("notice of {subject} not recorded: {e}");
            }
            if taken {
                return;
            }
        }
        tracing::warn!(
            "the agency's callback did not take the notice of {subject}; tried again later"
        );
    }
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
