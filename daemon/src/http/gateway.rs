//! Gateway mode: an agency's server sends a payment and gets its outcome in one call; it looks
//! payments up by id and searches them with the console's filters.

use super::HttpState;
use super::agency::{caller, idempotency_key, json_body};
use super::answer::{self, PaymentView, Refusal};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cip_common::error::ApiError;
use cip_common::gateway::PaymentBody;
use cip_common::payment::{
    Mode, PaymentLookup, PaymentMethod, PaymentRequest, SearchQuery, SearchSort,
};
use cip_common::status::PaymentStatus;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

/// The body of `POST /v1/payments` for `request`, as an agency's server writes it (the
/// benchmark's and the tests' HTTP clients send this).
pub fn request_json(request: &PaymentRequest) -> serde_json::Value {
    let mut body = serde_json::json!({
        "amount_minor": request.amount_minor,
        "currency": request.currency.code(),
        "payer": request.payer,
        "fields": request.fields,
    });
    match &request.method {
        PaymentMethod::Card(card) => {
            body["card"] = serde_json::json!({
                "number": card.number.expose(),
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "cvv": card.cvv.expose(),
                "name": card.name,
                "postal_code": card.postal_code,
            });
        }
        PaymentMethod::Ach(ach) => {
            body["ach"] = serde_json::json!({
                "routing_number": ach.routing_number,
                "account_number": ach.account_number.expose(),
                "account_type": ach.account_type,
                "holder_name": ach.holder_name,
            });
        }
    }
    body
}

pub async fn submit(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let caller = caller(&state, &headers, peer).await?;
    let key = idempotency_key(&headers)?;
    let body = json_body::<PaymentBody>(body, state.settings.max_body_bytes)?;
    let engine = &state.shared.engine;
    let form = engine.form(&caller.application).await?;
    let request = body.into_request(&form, engine.clock().today())?;
    let submitted = engine
        .submit_once(&caller, Mode::Gateway, key, request)
        .await?;
    let status = answer::submitted_status(&submitted.payment, submitted.replayed);
    Ok(answer::payment(status, &submitted.payment))
}

pub async fn payment(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let caller = caller(&state, &headers, peer).await?;
    let payment = state
        .shared
        .lookup
        .find(&caller, PaymentLookup::Id(id))
        .await?;
    Ok(answer::payment(axum::http::StatusCode::OK, &payment))
}

/// `GET /v1/payments?…`: the console's search filters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    status: Option<PaymentStatus>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    confirmation_code: Option<String>,
    last_four: Option<String>,
    payer_name: Option<String>,
    #[serde(default)]
    sort: SearchSort,
    #[serde(default)]
    page: u32,
    page_size: Option<u32>,
}

#[derive(Serialize)]
struct SearchAnswer<'a> {
    payments: Vec<PaymentView<'a>>,
    page: u32,
    more: bool,
}

pub async fn search(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let caller = caller(&state, &headers, peer).await?;
    let Query(params) = params.map_err(|e| {
        Refusal::Api(ApiError::InvalidRequest {
            message: format!("{}: see /openapi.json for the filters", e.body_text()),
        })
    })?;
    let max = state.shared.limits.max_page_size;
    let page_size = params.page_size.unwrap_or(50);
    if page_size == 0 || page_size > max {
        return Err(Refusal::Api(ApiError::InvalidRequest {
            message: format!("page_size is 1 to {max}: ask for the next page with page"),
        }));
    }
    let query = SearchQuery {
        application: Some(caller.application.clone()),
        status: params.status,
        from_ms: params.from_ms,
        to_ms: params.to_ms,
        confirmation_code: params.confirmation_code,
        payment_id: None,
        last_four: params.last_four,
        payer_name: params.payer_name,
        sort: params.sort,
        page: params.page,
        page_size,
    };
    let page = state.shared.lookup.search(&caller, query, max).await?;
    Ok(Json(SearchAnswer {
        payments: page.payments.iter().map(PaymentView::from).collect(),
        page: params.page,
        more: page.more,
    })
    .into_response())
}

#[cfg(test)]
mod properties {
    use super::{Refusal, json_body};
    use axum::response::IntoResponse;
    use cip_common::error::ApiError;
    use cip_common::gateway::PaymentBody;
    use cip_common::validate::Form;
    use proptest::prelude::*;

    fn demo_form() -> Form {
        let specs = cip_common::form::demo_applications().expect("the demo applications");
        Form::new(specs.into_iter().next().expect("one")).expect("a form")
    }

    fn text() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            "\\PC{0,24}".prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
        ]
    }

    proptest! {
        /// Whatever JSON an agency sends, the body is taken or refused field by field, and no
        /// refusal quotes the card number, account number or CVV it carried.
        #[test]
        fn any_body_is_taken_or_refused_without_quoting_its_secrets(
            number in "[0-9 -]{12,23}",
            cvv in "[0-9]{0,5}",
            account in "[0-9]{8,17}",
            method in 0u8..3,
            amount in any::<i64>(),
            month in any::<u8>(),
            year in any::<u16>(),
            currency in "\\PC{0,4}",
            name in text(),
            extra in proptest::option::of("[a-z_]{1,12}"),
        ) {
            let mut body = serde_json::json!({
                "amount_minor": amount,
                "currency": currency,
                "payer": {"name": name, "email": "a@example.com", "postal_code": "94107"},
                "fields": {"plate_number": "ABC123", "renewal_notice_number": "1234567890"},
                "card": {"number": number, "exp_month": month, "exp_year": year, "cvv": cvv,
                         "name": "A B", "postal_code": "94107"},
                "ach": {"routing_number": "110000000", "account_number": account,
                        "account_type": "checking", "holder_name": "A B"},
            });
            match method {
                0 => body["ach"] = serde_json::Value::Null,
                1 => body["card"] = serde_json::Value::Null,
                _ => {}
            }
            if let Some(key) = extra {
                body[key] = serde_json::Value::from(1);
            }
            // Decoded as the adapter decodes it, so a body serde refuses is answered as a user
            // sees it: a 422 naming each field to fix.
            let bytes = axum::body::Bytes::from(serde_json::to_vec(&body).expect("JSON"));
            let decoded = json_body::<PaymentBody>(Ok(bytes), usize::MAX);
            let refused_by_serde = decoded.is_err();
            let refusal = match decoded {
                Ok(body) => body
                    .into_request(&demo_form(), jiff::civil::date(2026, 11, 29))
                    .err()
                    .map(Refusal::from),
                Err(refusal) => {
                    let named = match &refusal {
                        Refusal::Api(ApiError::Fields(errors)) => errors
                            .0
                            .iter()
                            .map(|e| e.field.clone())
                            .collect::<Vec<_>>(),
                        _ => Vec::new(),
                    };
                    prop_assert!(
                        !named.is_empty() && named.iter().all(|f| !f.is_empty() && f != "."),
                        "a body serde refuses names the field to fix: {refusal:?}"
                    );
                    Some(refusal)
                }
            };
            if let Some(refusal) = refusal {
                let said = format!("{refusal:?}");
                // A run too short to be a card number (a card has 12 to 19 digits) is in every
                // answer by chance, so only a card-length run is looked for.
                let digits: String = number.chars().filter(char::is_ascii_digit).collect();
                if digits.len() >= 12 {
                    prop_assert!(!said.contains(&digits) && !said.contains(number.trim()), "{said}");
                }
                prop_assert!(!said.contains(&account), "{said}");
                if cvv.len() >= 3 {
                    prop_assert!(!said.contains(&format!("\"{cvv}\"")), "{said}");
                }
                let status = refusal.into_response().status();
                prop_assert!(
                    !refused_by_serde || status == axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "{status}: {said}"
                );
            }
        }
    }
}
