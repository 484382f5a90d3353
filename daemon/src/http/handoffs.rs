//! Partial mode, the agency's side: register a hand-off (what the customer owes, the
//! application's fields, the payer data known so far, where to send the customer back) and get
//! a one-time pay link; later, read what became of it.

use super::HttpState;
use super::agency::{caller, json_body};
use super::answer::{PaymentView, Refusal};
use crate::store::handoffs::{self, Handoff, KnownPayer};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cip_common::error::ApiError;
use cip_common::fields::FieldErrors;
use cip_common::free_text::refuse_card_numbers;
use cip_common::money::Currency;
use cip_common::payment::Payment;
use cip_common::status::PaymentStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// How long a pay link stays valid.
pub const LINK_VALID_MS: i64 = 90 * 60_000;

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffBody {
    pub amount_minor: i64,
    pub currency: Option<Currency>,
    pub fields: BTreeMap<String, String>,
    pub payer: KnownPayer,
    pub return_url: String,
}

#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    status: &'static str,
    pay_url: String,
    expires_ms: i64,
}

pub async fn create(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let caller = caller(&state, &headers, peer).await?;
    let mut body: HandoffBody = json_body(body, state.settings.max_body_bytes)?;
    let engine = &state.shared.engine;
    let form = engine.form(&caller.application).await?;
    form.normalize_fields(&mut body.fields);
    let mut errors = FieldErrors::default();
    let currency = body.currency.unwrap_or(form.spec.currency);
    if let Err(found) = form.validate_order(
        body.amount_minor,
        currency,
        &body.fields,
        engine.clock().today(),
    ) {
        errors.0.extend(found.0);
    }
    refuse_card_numbers(
        &mut errors,
        [
            ("payer.name", body.payer.name.as_str()),
            ("payer.email", &body.payer.email),
            ("payer.postal_code", &body.payer.postal_code),
            ("return_url", &body.return_url),
        ],
    );
    // Each allowed prefix ends at a `/` after its host, so no other host can match it.
    let plain = !body
        .return_url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\');
    if !plain
        || !form
            .spec
            .return_urls
            .iter()
            .any(|prefix| body.return_url.starts_with(prefix.as_str()))
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
    if !errors.is_empty() {
        return Err(ApiError::Fields(errors).into());
    }
    let entropy = engine.entropy();
    let secret = blake3::Hash::from(entropy.bytes::<32>())
        .to_hex()
        .to_string();
    let now = engine.clock().now_ms();
    let handoff = Handoff {
        id: format!("hof_{:016x}{:016x}", entropy.next_u64(), entropy.next_u64()),
        application: caller.application.clone(),
        user: caller.user.clone(),
        amount_minor: body.amount_minor,
        currency,
        fields: body.fields,
        payer: body.payer,
        return_url: body.return_url,
        link_used_ms: None,
        created_ms: now,
        expires_ms: now + LINK_VALID_MS,
    };
    let link_hash = *blake3::hash(secret.as_bytes()).as_bytes();
    let stored = handoff.clone();
    engine
        .store()
        .write(move |conn| handoffs::insert(conn, &stored, &link_hash))
        .await
        .map_err(ApiError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            id: &handoff.id,
            status: "open",
            pay_url: format!("{}/pay/{secret}", state.base_url),
            expires_ms: handoff.expires_ms,
        }),
    )
        .into_response())
}

/// Where a hand-off stands: `open` (nothing paid yet; a declined attempt leaves it open),
/// `pending` (the outcome is not known yet), `paid`, `voided`, or `expired`.
pub fn standing(handoff: &Handoff, payment: Option<&Payment>, now_ms: i64) -> &'static str {
    match payment.map(|p| p.status) {
        Some(PaymentStatus::Approved) => "paid",
        Some(PaymentStatus::Voided) => "voided",
        Some(PaymentStatus::Processing | PaymentStatus::InDoubt) => "pending",
        _ if now_ms >= handoff.expires_ms => "expired",
        _ => "open",
    }
}

#[derive(Serialize)]
struct HandoffView<'a> {
    id: &'a str,
    application: &'a str,
    status: &'static str,
    amount_minor: i64,
    currency: &'static str,
    fields: &'a BTreeMap<String, String>,
    return_url: &'a str,
    created_ms: i64,
    expires_ms: i64,
    link_used: bool,
    payment: Option<PaymentView<'a>>,
}

/// Of a hand-off's payments (oldest first), the one that says where it stands: the paid (or
/// voided) one, else one still being decided, else the latest attempt.
fn counting(payments: Vec<Payment>) -> Option<Payment> {
    let rank = |p: &Payment| match p.status {
        PaymentStatus::Approved | PaymentStatus::Voided => 2,
        PaymentStatus::Processing | PaymentStatus::InDoubt => 1,
        PaymentStatus::Declined | PaymentStatus::Failed => 0,
    };
    payments.into_iter().max_by_key(rank)
}

/// The hand-off with the payment that counts (see [`counting`]), if `application` owns it.
pub async fn load(
    state: &HttpState,
    application: &str,
    id: String,
) -> Result<(Handoff, Option<Payment>), ApiError> {
    let not_found = || ApiError::NotFound {
        what: "hand-off".to_owned(),
        id: id.clone(),
    };
    let wanted = id.clone();
    let found = state
        .shared
        .engine
        .store()
        .read(move |conn| {
            let Some(handoff) = handoffs::by_id(conn, &wanted)? else {
                return Ok(None);
            };
            let payments = handoffs::payments_of(conn, &handoff)?;
            Ok(Some((handoff, counting(payments))))
        })
        .await?;
    found
        .filter(|(handoff, _)| handoff.application == application)
        .ok_or_else(not_found)
}

pub async fn status(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let caller = caller(&state, &headers, peer).await?;
    let (handoff, payment) = load(&state, &caller.application, id).await?;
    let now = state.shared.engine.clock().now_ms();
    Ok(Json(HandoffView {
        id: &handoff.id,
        application: &handoff.application,
        status: standing(&handoff, payment.as_ref(), now),
        amount_minor: handoff.amount_minor,
        currency: handoff.currency.code(),
        fields: &handoff.fields,
        return_url: &handoff.return_url,
        created_ms: handoff.created_ms,
        expires_ms: handoff.expires_ms,
        link_used: handoff.link_used_ms.is_some(),
        payment: payment.as_ref().map(PaymentView::from),
    })
    .into_response())
}
