//! `cipd sandbox serve`: the sandbox's books behind HTTP, so several daemons share one processor.
//! The wire protocol (README, "Processors") is the contract a bank's own adapter implements; every
//! call names CIP's reference, so any call can be sent again without a second effect.
//!
//! - `POST /v1/authorizations` with [`AuthorizationBody`]: `200` and an [`Outcome`]. A row that
//!   never answers holds the request until the caller gives up.
//! - `GET /v1/authorizations/{reference}`: `200` and the [`Outcome`] decided, or `404` while the
//!   processor has none (not final: one may still arrive until a reversal is acknowledged).
//! - `POST /v1/authorizations/{reference}/void`: `200`, or `409` when there is no approval to void.
//! - `POST /v1/authorizations/{reference}/reversal`: `200` once recorded: nothing is charged for
//!   the reference, and an authorization of it that arrives later is refused.
//! - `POST /v1/refunds` with [`RefundBody`]: `200` and a [`RefundOutcome`].
//!
//! A malformed body is a `400` naming where it is malformed, never quoting it: it may hold a card
//! number. Nothing of a request is logged.

use super::sandbox::Sandbox;
use super::{Authorization, Outcome, Processor, ProcessorError, Refund, RefundOutcome};
use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cip_common::money::{Currency, Money};
use cip_common::payment::PaymentMethod;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body the sandbox reads.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// `POST /v1/authorizations`.
#[derive(Serialize, Deserialize)]
pub struct AuthorizationBody {
    pub reference: String,
    pub amount_minor: i64,
    pub currency: Currency,
    /// How long the caller waits for the answer, in milliseconds.
    pub deadline_ms: u64,
    /// The card or account, as CIP's API takes it.
    pub method: PaymentMethod,
}

/// `POST /v1/refunds`.
#[derive(Serialize, Deserialize)]
pub struct RefundBody {
    pub reference: String,
    pub payment: String,
    pub amount_minor: i64,
    pub currency: Currency,
}

/// Serves `sandbox` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sandbox: Sandbox,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/v1/authorizations", post(authorize))
        .route("/v1/authorizations/{reference}", get(inquire))
        .route("/v1/authorizations/{reference}/void", post(void))
        .route("/v1/authorizations/{reference}/reversal", post(reverse))
        .route("/v1/refunds", post(refund))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(sandbox));
    axum::serve(
        crate::tcp::no_delay(listener),
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("the sandbox server stopped")
}

/// Where a body is malformed; answered as a `400` that never quotes the body.
struct Malformed(String);

impl IntoResponse for Malformed {
    fn into_response(self) -> Response {
        let error = format!(
            "malformed request at {}: see the sandbox protocol in CIP's README",
            self.0
        );
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": error })),
        )
            .into_response()
    }
}

fn decoded<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Malformed> {
    let mut reader = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| Malformed(e.path().to_string()))
}

fn refused(e: &ProcessorError) -> Response {
    let status = match e {
        ProcessorError::Refused(_) => StatusCode::CONFLICT,
        ProcessorError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, axum::Json(json!({ "error": e.to_string() }))).into_response()
}

async fn authorize(State(sandbox): State<Arc<Sandbox>>, body: Bytes) -> Response {
    let body: AuthorizationBody = match decoded(&body) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let request = Authorization {
        reference: &body.reference,
        amount: Money::new(body.amount_minor, body.currency),
        method: &body.method,
        deadline: Duration::from_millis(body.deadline_ms),
    };
    match sandbox.authorize(request).await {
        Ok(outcome) => axum::Json(outcome).into_response(),
        Err(e) => refused(&e),
    }
}

async fn inquire(State(sandbox): State<Arc<Sandbox>>, Path(reference): Path<String>) -> Response {
    match sandbox.inquire(&reference).await {
        Ok(super::Inquiry::Decided(outcome)) => axum::Json::<Outcome>(outcome).into_response(),
        Ok(super::Inquiry::NotFound) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "no authorization of this reference yet" })),
        )
            .into_response(),
        Err(e) => refused(&e),
    }
}

async fn void(State(sandbox): State<Arc<Sandbox>>, Path(reference): Path<String>) -> Response {
    match sandbox.void(&reference).await {
        Ok(()) => axum::Json(json!({ "voided": true })).into_response(),
        Err(e) => refused(&e),
    }
}

async fn reverse(State(sandbox): State<Arc<Sandbox>>, Path(reference): Path<String>) -> Response {
    match sandbox.reverse(&reference).await {
        Ok(()) => axum::Json(json!({ "reversed": true })).into_response(),
        Err(e) => refused(&e),
    }
}

async fn refund(State(sandbox): State<Arc<Sandbox>>, body: Bytes) -> Response {
    let body: RefundBody = match decoded(&body) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let request = Refund {
        reference: &body.reference,
        payment: &body.payment,
        amount: Money::new(body.amount_minor, body.currency),
    };
    match sandbox.refund(request).await {
        Ok(outcome) => axum::Json::<RefundOutcome>(outcome).into_response(),
        Err(e) => refused(&e),
    }
}
