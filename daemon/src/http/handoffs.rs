//! Partial mode, the agency's side, over HTTP: `POST /v1/handoffs` registers a hand-off and
//! answers with its one-time pay link; `GET /v1/handoffs/{id}` says what became of it. The rules
//! are the hand-off service's (`crate::handoff`).

use super::HttpState;
use super::agency::{caller, json_body};
use super::answer::{PaymentView, Refusal};
use crate::handoff::{Order, Standing};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    status: Standing,
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
    let order: Order = json_body(body, state.settings.max_body_bytes)?;
    let registered = state.shared.handoffs.register(&caller, order).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            id: &registered.handoff.id,
            status: Standing::Open,
            pay_url: format!("{}/pay/{}", state.base_url, registered.link),
            expires_ms: registered.handoff.expires_ms,
        }),
    )
        .into_response())
}

#[derive(Serialize)]
struct HandoffView<'a> {
    id: &'a str,
    application: &'a str,
    status: Standing,
    amount_minor: i64,
    currency: &'static str,
    fields: &'a BTreeMap<String, String>,
    return_url: &'a str,
    created_ms: i64,
    expires_ms: i64,
    link_used: bool,
    payment: Option<PaymentView<'a>>,
}

pub async fn status(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let caller = caller(&state, &headers, peer).await?;
    let found = state.shared.handoffs.find(&caller.application, &id).await?;
    let handoff = &found.handoff;
    Ok(Json(HandoffView {
        id: &handoff.id,
        application: &handoff.application,
        status: found.standing,
        amount_minor: handoff.amount_minor,
        currency: handoff.currency.code(),
        fields: &handoff.fields,
        return_url: &handoff.return_url,
        created_ms: handoff.created_ms,
        expires_ms: handoff.expires_ms,
        link_used: handoff.link_used_ms.is_some(),
        payment: found.payment.as_ref().map(PaymentView::from),
    })
    .into_response())
}
