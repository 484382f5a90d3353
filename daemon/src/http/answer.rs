//! What the agency API answers: a payment as JSON with the status code its outcome calls for,
//! and every refusal as `{"error", "message", "errors"?}` with its own status code.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cip_common::error::ApiError;
use cip_common::fields::FieldErrors;
use cip_common::payment::{MethodSummary, Mode, Payer, Payment};
use cip_common::refund::RefundState;
use cip_common::status::PaymentStatus;
use serde::Serialize;
use std::collections::BTreeMap;

/// A payment as the API shows it: amounts in minor units, never card or account numbers.
#[derive(Serialize)]
pub struct PaymentView<'a> {
    pub id: &'a str,
    pub application: &'a str,
    pub mode: Mode,
    pub status: PaymentStatus,
    pub amount_minor: i64,
    pub currency: &'static str,
    pub payer: &'a Payer,
    pub fields: &'a BTreeMap<String, String>,
    pub method: &'a MethodSummary,
    pub confirmation_code: Option<&'a str>,
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
    pub idempotency_key: &'a str,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
    pub amount_refunded_minor: i64,
    pub amount_refundable_minor: i64,
    pub refund_state: RefundState,
}

impl<'a> From<&'a Payment> for PaymentView<'a> {
    fn from(p: &'a Payment) -> Self {
        PaymentView {
            id: &p.id,
            application: &p.application,
            mode: p.mode,
            status: p.status,
            amount_minor: p.amount.minor,
            currency: p.amount.currency.code(),
            payer: &p.payer,
            fields: &p.fields,
            method: &p.method,
            confirmation_code: p.confirmation_code.as_deref(),
            code: p.code.as_deref(),
            message: p.message.as_deref(),
            idempotency_key: &p.idempotency_key,
            created_ms: p.created_ms,
            decided_ms: p.decided_ms,
            amount_refunded_minor: p.refunds.refunded_minor,
            amount_refundable_minor: p.refundable().minor,
            refund_state: p.refund_state(),
        }
    }
}

/// The status code of a payment just submitted: 201 taken and approved, 200 the same answer
/// again (a replay), 402 declined, 503 the processor could not be reached, 502 it failed
/// otherwise, 202 the outcome is not known yet.
pub fn submitted_status(payment: &Payment, replayed: bool) -> StatusCode {
    match payment.status {
        PaymentStatus::Approved | PaymentStatus::Voided if replayed => StatusCode::OK,
        PaymentStatus::Approved | PaymentStatus::Voided => StatusCode::CREATED,
        PaymentStatus::Declined => StatusCode::PAYMENT_REQUIRED,
        PaymentStatus::Failed if payment.code.as_deref() == Some("processor_unavailable") => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        PaymentStatus::Failed => StatusCode::BAD_GATEWAY,
        PaymentStatus::Processing | PaymentStatus::InDoubt => StatusCode::ACCEPTED,
    }
}

pub fn payment(status: StatusCode, payment: &Payment) -> Response {
    (status, Json(PaymentView::from(payment))).into_response()
}

/// Every refusal of the HTTP side.
#[derive(Debug)]
pub enum Refusal {
    Api(ApiError),
    /// A header the call needs is missing or malformed.
    Header {
        name: &'static str,
        message: String,
    },
    /// The body is not the JSON the call takes.
    Body(String),
    TooLarge {
        limit: usize,
    },
    RateLimited {
        retry_after_s: u64,
    },
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

/// The HTTP status of an error, and its code in an answer's body.
pub fn api_status_and_code(e: &ApiError) -> (StatusCode, &'static str) {
    match e {
        ApiError::Fields(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields"),
        ApiError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
        ApiError::SessionExpired => (StatusCode::UNAUTHORIZED, "session_expired"),
        ApiError::Locked { .. } => (StatusCode::LOCKED, "locked"),
        ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
        ApiError::IdempotencyConflict { .. } => (StatusCode::CONFLICT, "idempotency_conflict"),
        ApiError::Stale { .. } => (StatusCode::CONFLICT, "stale"),
        ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
        ApiError::InvalidRequest { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
        ApiError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a FieldErrors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_until_ms: Option<i64>,
}

impl Refusal {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Refusal::Api(e) => api_status_and_code(e),
            Refusal::Header { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            Refusal::Body(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            Refusal::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Refusal::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::Api(e) => e.to_string(),
            Refusal::Header { name, message } => format!("header {name}: {message}"),
            Refusal::Body(message) => message.clone(),
            Refusal::TooLarge { limit } => {
                format!("the body is larger than {limit} bytes: send only the payment")
            }
            Refusal::RateLimited { retry_after_s } => format!(
                "this application sent more requests than CIP takes from it: retry after {retry_after_s} s"
            ),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, error) = self.status_and_code();
        let body = Body {
            error,
            message: self.message(),
            errors: match &self {
                Refusal::Api(ApiError::Fields(errors)) => Some(errors),
                _ => None,
            },
            locked_until_ms: match &self {
                Refusal::Api(ApiError::Locked { until_ms, .. }) => Some(*until_ms),
                _ => None,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Refusal::Api(ApiError::BadCredentials | ApiError::SessionExpired) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"CIP\", charset=\"UTF-8\""),
                );
            }
            Refusal::RateLimited { retry_after_s } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
            }
            Refusal::Api(ApiError::Unavailable { .. }) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            _ => {}
        }
        response
    }
}

pub async fn not_found() -> Refusal {
    Refusal::Api(ApiError::NotFound {
        what: "page".to_owned(),
        id: "this address".to_owned(),
    })
}
