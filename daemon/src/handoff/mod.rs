//! Partial mode's rules, apart from HTTP: registering a hand-off (the order checked against the
//! application's form, the return-URL policy, the one-time link's secret and lifetime), opening
//! and spending the link, paying it under a form key, and telling the agency (`notify`). The HTTP
//! adapter decodes, renders and encodes around it.

mod standing;

pub use standing::Standing;

use crate::auth::Caller;
use crate::clock::Entropy;
use crate::engine::Engine;
use crate::store::handoffs;
pub use crate::store::handoffs::{Handoff, KnownPayer};
use crate::store::{Store, StoreError};
use cip_common::error::ApiError;
use cip_common::fields::path;
use cip_common::free_text::{looks_like_card_number, refuse_card_numbers};
use cip_common::money::Currency;
use cip_common::payment::{Mode, Payment, PaymentRequest};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How long a pay link stays valid.
pub const LINK_VALID_MS: i64 = 90 * 60_000;

/// What an agency registers for its customer: what is owed, the application's fields, what it
/// knows of the payer, and where to send the customer back.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Order {
    pub amount_minor: i64,
    pub currency: Option<Currency>,
    pub fields: BTreeMap<String, String>,
    pub payer: KnownPayer,
    pub return_url: String,
}

/// A registered hand-off and the secret of its one-time link (only the secret's hash is kept).
pub struct Registered {
    pub handoff: Handoff,
    pub link: String,
}

/// A hand-off, the payment that counts for it, and where it stands.
pub struct Found {
    pub handoff: Handoff,
    pub payment: Option<Payment>,
    pub standing: Standing,
}

/// What came of paying a hand-off from its form.
pub enum Attempt {
    /// Approved, or its outcome not known yet: the hand-off's page shows where it stands.
    Taken(Payment),
    /// Declined or failed: the attempt is over, and the form's next one goes under `next_key`.
    Over { payment: Payment, next_key: String },
    /// The form's key was used already for a payment with other details: a new key.
    Conflict { next_key: String },
}

/// Partial mode's service, beside [`Engine`].
#[derive(Clone)]
pub struct Handoffs {
    store: Store,
    engine: Arc<Engine>,
}

impl Handoffs {
    pub fn new(store: Store, engine: Arc<Engine>) -> Handoffs {
        Handoffs { store, engine }
    }

    /// Registers `order` for `caller`'s application; every field to fix is named at once.
    pub async fn register(
        &self,
        caller: &Caller,
        mut order: Order,
    ) -> Result<Registered, ApiError> {
        let engine = &self.engine;
        let form = engine.form(&caller.application).await?;
        form.normalize_fields(&mut order.fields);
        let currency = order.currency.unwrap_or(form.spec.currency);
        let mut errors = form
            .validate_order(
                order.amount_minor,
                currency,
                &order.fields,
                engine.clock().today(),
            )
            .err()
            .unwrap_or_default();
        refuse_card_numbers(
            &mut errors,
            [
                (path::PAYER_NAME, order.payer.name.as_str()),
                (path::PAYER_EMAIL, &order.payer.email),
                (path::PAYER_POSTAL_CODE, &order.payer.postal_code),
                ("return_url", &order.return_url),
            ],
        );
        if errors.get("return_url").is_none()
            && !return_url_allowed(&order.return_url, &form.spec.return_urls)
        {
            errors.add(
                "return_url",
                format!(
                    "send the customer back to an address {} allows: one starting with {}",
                    caller.application,
                    form.spec.return_urls.join(" or ")
                ),
            );
        }
        errors.into_result().map_err(ApiError::Fields)?;
        let entropy = engine.entropy();
        let link = entropy.secret_hex();
        let now = engine.clock().now_ms();
        let handoff = Handoff {
            id: handoff_id(entropy),
            application: caller.application.clone(),
            user: caller.user.clone(),
            amount_minor: order.amount_minor,
            currency,
            fields: order.fields,
            payer: order.payer,
            return_url: order.return_url,
            link_used_ms: None,
            created_ms: now,
            expires_ms: now + LINK_VALID_MS,
        };
        self.store.add_handoff(&handoff, &link_hash(&link)).await?;
        Ok(Registered { handoff, link })
    }

    /// The hand-off `id` if `application` owns it, with the payment that counts and where it
    /// stands; another application's hand-off is not found.
    pub async fn find(&self, application: &str, id: &str) -> Result<Found, ApiError> {
        let (handoff, payment) = self
            .store
            .handoff(id)
            .await?
            .map(|(handoff, payments)| (handoff, standing::counting(payments)))
            .filter(|(handoff, _)| handoff.application == application)
            .ok_or_else(|| ApiError::NotFound {
                what: "hand-off".to_owned(),
                id: id.to_owned(),
            })?;
        let standing = Standing::of(&handoff, payment.as_ref(), self.engine.clock().now_ms());
        Ok(Found {
            handoff,
            payment,
            standing,
        })
    }

    /// The hand-off behind an unused, unexpired link, leaving the link unused: a mail scanner or
    /// a link preview that fetches it leaves it for the customer.
    pub async fn linked(&self, link: &str) -> Result<Option<Handoff>, StoreError> {
        let (hash, now) = (link_hash(link), self.engine.clock().now_ms());
        self.store.unused_link(&hash, now).await
    }

    /// Spends the link: its hand-off the first time, nothing ever after.
    pub async fn spend_link(&self, link: &str) -> Result<Option<Handoff>, StoreError> {
        let (hash, now) = (link_hash(link), self.engine.clock().now_ms());
        self.store.use_link(&hash, now).await
    }

    /// A new form key for `handoff_id`: the hand-off's key prefix, which ties the payment to it in
    /// the same commit, and a random part, new for each attempt.
    pub fn form_key(&self, handoff_id: &str) -> String {
        form_key(self.engine.entropy(), handoff_id)
    }

    /// The key the form on screen goes under: `key`, unless the attempt made under it is over (it
    /// was declined or failed, perhaps settled by an inquiry after the page was left).
    pub fn key_after(&self, handoff_id: &str, key: String, last: Option<&Payment>) -> String {
        match last {
            Some(payment)
                if payment.idempotency_key == key && standing::attempt_is_over(payment) =>
            {
                self.form_key(handoff_id)
            }
            _ => key,
        }
    }

    /// Pays the open hand-off `handoff` with `request` under the form's `key` (or `fallback`, the
    /// key the page gave, when the one sent does not belong to this hand-off).
    pub async fn pay(
        &self,
        caller: &Caller,
        handoff: &Handoff,
        key: Option<String>,
        fallback: &str,
        request: PaymentRequest,
    ) -> Result<Attempt, ApiError> {
        let key = key
            .filter(|key| key.starts_with(&handoffs::key_prefix(&handoff.id)))
            .unwrap_or_else(|| fallback.to_owned());
        match self
            .engine
            .submit_once(caller, Mode::Partial, key.clone(), request)
            .await
        {
            Ok(submitted) if standing::attempt_is_over(&submitted.payment) => Ok(Attempt::Over {
                payment: submitted.payment,
                next_key: self.form_key(&handoff.id),
            }),
            Ok(submitted) => Ok(Attempt::Taken(submitted.payment)),
            Err(ApiError::IdempotencyConflict { .. }) => Ok(Attempt::Conflict {
                next_key: self.form_key(&handoff.id),
            }),
            Err(e) => Err(e),
        }
    }
}

/// Whether the customer may be sent back to `url`: a plain address under one of the allowed
/// prefixes. Each prefix ends at a `/` after its host, so no other host can match it.
fn return_url_allowed(url: &str, allowed: &[String]) -> bool {
    let plain = !url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\');
    plain
        && allowed
            .iter()
            .any(|prefix| url.starts_with(prefix.as_str()))
}

fn link_hash(link: &str) -> [u8; 32] {
    *blake3::hash(link.as_bytes()).as_bytes()
}

/// A new form key for `handoff_id`, drawn again in the rare case its random digits make a run a
/// card number could be: the engine refuses such a key, as it would an agency's.
fn form_key(entropy: &Entropy, handoff_id: &str) -> String {
    loop {
        let key = format!(
            "{}{}",
            handoffs::key_prefix(handoff_id),
            &entropy.secret_hex()[..16]
        );
        if !looks_like_card_number(&key) {
            return key;
        }
    }
}

/// A new hand-off id, whose form keys' prefix holds no run of digits a card number could be
/// (hex is mostly digits; once in a few hundred draws, 13 of them in a row pass Luhn).
fn handoff_id(entropy: &Entropy) -> String {
    loop {
        let id = format!("hof_{:016x}{:016x}", entropy.next_u64(), entropy.next_u64());
        if !looks_like_card_number(&handoffs::key_prefix(&id)) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hex is mostly digits: without drawing again, about one hand-off in a few hundred had
    /// keys the engine refused as card numbers, and its customer saw the form come back.
    #[test]
    fn no_form_key_looks_like_a_card_number() {
        let entropy = Entropy::seeded(15);
        for _ in 0..5_000 {
            let id = handoff_id(&entropy);
            let key = form_key(&entropy, &id);
            assert!(!looks_like_card_number(&key), "{key}");
            cip_common::payment::check_idempotency_key(&key, "key")
                .expect("a key the engine takes");
        }
    }

    #[test]
    fn the_customer_goes_back_only_under_an_allowed_prefix() {
        let allowed = ["https://agency.example/".to_owned()];
        assert!(return_url_allowed(
            "https://agency.example/done?x=1",
            &allowed
        ));
        for refused in [
            "https://agency.example.evil/",
            "https://evil.example/https://agency.example/",
            "https://agency.example/\\evil",
            "https://agency.example/ x",
        ] {
            assert!(!return_url_allowed(refused, &allowed), "{refused}");
        }
    }

    #[test]
    fn a_payment_s_key_names_its_hand_off() {
        let key = format!("{}0123456789abcdef", handoffs::key_prefix("hof_00aa"));
        assert_eq!(handoffs::handoff_of_key(&key).as_deref(), Some("hof_00aa"));
        assert_eq!(handoffs::handoff_of_key("console-key-1"), None);
    }
}
