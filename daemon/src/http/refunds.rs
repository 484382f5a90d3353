//! Refunds over the agency API: `POST /v1/payments/{id}/refunds` gives back part or all of an
//! approved payment under an `Idempotency-Key`; `GET` lists what was given back.

use super::HttpState;
use super::agency::{caller, idempotency_key, json_body};
use super::answer::Refusal;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cip_common::payment::{Payment, PaymentLookup};
use cip_common::refund::{Refund, RefundReason, RefundRequest, RefundState, RefundStatus};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// A refund as the API shows it, amounts in minor units.
#[derive(Serialize)]
struct RefundView<'a> {
    id: &'a str,
    payment_id: &'a str,
    amount_minor: i64,
    currency: &'static str,
    reason: RefundReason,
    note: &'a str,
    status: RefundStatus,
    code: Option<&'a str>,
    idempotency_key: &'a str,
    asked_by: &'a str,
    created_ms: i64,
    decided_ms: Option<i64>,
}

impl<'a> From<&'a Refund> for RefundView<'a> {
    fn from(r: &'a Refund) -> Self {
        RefundView {
            id: &r.id,
            payment_id: &r.payment_id,
            amount_minor: r.amount.minor,
            currency: r.amount.currency.code(),
            reason: r.reason,
            note: &r.note,
            status: r.status,
            code: r.code.as_deref(),
            idempotency_key: &r.idempotency_key,
            asked_by: &r.asked_by,
            created_ms: r.created_ms,
            decided_ms: r.decided_ms,
        }
    }
}

/// A payment's refunds with what it was paid, what came back, and what may still.
#[derive(Serialize)]
struct RefundsView<'a> {
    payment_id: &'a str,
    amount_minor: i64,
    currency: &'static str,
    amount_refunded_minor: i64,
    amount_refundable_minor: i64,
    refund_state: RefundState,
    refunds: Vec<RefundView<'a>>,
}

/// 201 a new refund that was answered, 202 one still waiting on the processor (it is sent
/// again until answered: do not ask again under a new key), 200 a replay of the key.
pub async fn create(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let caller = caller(&state, &headers, peer).await?;
    let key = idempotency_key(&headers)?;
    let request = json_body::<RefundRequest>(body, state.settings.max_body_bytes)?;
    let refunded = state
        .shared
        .engine
        .refund(&caller, &payment_id, key, request, &format!("http {peer}"))
        .await?;
    let status = match refunded.refund.status {
        _ if refunded.replayed => StatusCode::OK,
        RefundStatus::Pending => StatusCode::ACCEPTED,
        RefundStatus::Succeeded | RefundStatus::Failed => StatusCode::CREATED,
    };
    Ok((status, Json(RefundView::from(&refunded.refund))).into_response())
}

pub async fn list(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
) -> Result<Response, Refusal> {
    let caller = caller(&state, &headers, peer).await?;
    let payment: Payment = state
        .shared
        .lookup
        .find(&caller, PaymentLookup::Id(payment_id))
        .await?;
    let refunds = state.shared.engine.refunds(&caller, &payment.id).await?;
    let view = RefundsView {
        payment_id: &payment.id,
        amount_minor: payment.amount.minor,
        currency: payment.amount.currency.code(),
        amount_refunded_minor: payment.refunds.refunded_minor,
        amount_refundable_minor: payment.refundable().minor,
        refund_state: payment.refund_state(),
        refunds: refunds.iter().map(RefundView::from).collect(),
    };
    Ok(Json(view).into_response())
}
