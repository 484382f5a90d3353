//! One payment in full: every stored field, masked as everywhere else, where it stands with the
//! agency's batch reports, its refunds and its timeline.

use super::actions::Action;
use super::{page, refused, staff};
use crate::http::HttpState;
use crate::http::html::{capitalized, escape};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cip_common::calendar;
use cip_common::money::Money;
use cip_common::payment::{Payment, PaymentLookup};
use cip_common::refund::Refund;
use cip_common::session::Role;
use cip_common::status::PaymentStatus;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

pub async fn show(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let staff = match staff(&state, &headers).await {
        Ok(staff) => staff,
        Err(refused) => return refused.into_response(),
    };
    let shared = &state.shared;
    // Only the application signed in to: another one's payment is not found, as for the API.
    let found = shared
        .lookup
        .find(&staff.caller, PaymentLookup::Id(id.clone()))
        .await
        .and_then(|p| {
            if p.application == staff.caller.application {
                Ok(p)
            } else {
                Err(cip_common::error::ApiError::NotFound {
                    what: "payment".to_owned(),
                    id: id.clone(),
                })
            }
        });
    let payment = match found {
        Ok(payment) => payment,
        Err(e) => return refused(&e).into_response(),
    };
    let (spec, timeline, refunds) = match tokio::try_join!(
        shared.engine.form(&payment.application),
        shared.lookup.timeline(&staff.caller, payment.id.clone()),
        shared.engine.refunds(&staff.caller, &payment.id),
    ) {
        Ok((form, timeline, refunds)) => (form.spec.clone(), timeline, refunds),
        Err(e) => return refused(&e).into_response(),
    };
    let zone = spec.zone();
    let time = |ms: i64| calendar::local_minute(&zone, ms);
    let mut body = String::from("<p><a href=\"/staff/payments\">Back to payments</a></p>");
    let done = match query.get("done").map(String::as_str) {
        Some("voided") => Some("The payment is voided: the payer is not charged."),
        Some("resolved") => Some("The processor answered: the payment's status below is its own."),
        Some("refunded") => Some("The refund is asked for: its status is in Refunds below."),
        _ => None,
    };
    if let Some(done) = done {
        let _ = write!(body, "<p class=\"notice\" role=\"status\">{done}</p>");
    }
    if staff.caller.role == Role::Supervisor {
        let offered = Action::offered(&payment);
        if !offered.is_empty() {
            body.push_str("<ul class=\"actions\" aria-label=\"Actions\">");
            for (action, label) in offered {
                let _ = write!(
                    body,
                    "<li><a class=\"button secondary\" href=\"/staff/payments/{}/{}\">{label}</a></li>",
                    escape(&payment.id),
                    action.path()
                );
            }
            body.push_str("</ul>");
        }
    }
    let _ = write!(
        body,
        "<p class=\"hint\">Times are in {} ({}'s time zone).</p>",
        escape(&spec.time_zone),
        escape(&spec.id)
    );
    body.push_str("<h2>Payment</h2><dl class=\"summary\">");
    for (label, value) in fields(&payment, &spec, &time) {
        let _ = write!(
            body,
            "<dt>{}</dt><dd>{}</dd>",
            escape(&label),
            escape(&value)
        );
    }
    body.push_str("</dl>");
    if !refunds.is_empty() {
        refunds_table(&refunds, &time, &mut body);
    }
    body.push_str(
        "<h2 id=\"timeline\">Timeline</h2><div class=\"table\" role=\"region\" \
         aria-labelledby=\"timeline\" tabindex=\"0\"><table><thead><tr>\
         <th scope=\"col\">When</th><th scope=\"col\">What</th><th scope=\"col\">Details</th>\
         </tr></thead><tbody>",
    );
    for event in &timeline {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&time(event.at_ms)),
            escape(event.kind.code()),
            escape(&event.summary())
        );
    }
    body.push_str("</tbody></table></div>");
    let title = format!("Payment {}", payment.id);
    page(StatusCode::OK, Some(&staff), &title, &body)
}

/// Every stored field of `p` a person reads, labelled, in the order the console shows them.
fn fields(
    p: &Payment,
    spec: &cip_common::form::ApplicationSpec,
    time: &dyn Fn(i64) -> String,
) -> Vec<(String, String)> {
    let mut rows = vec![
        ("Payment id".to_owned(), p.id.clone()),
        ("Status".to_owned(), p.status.to_string()),
        (
            "Confirmation code".to_owned(),
            p.confirmation_code.clone().unwrap_or_else(|| "—".into()),
        ),
        ("Amount".to_owned(), p.amount.to_string()),
    ];
    if p.status == PaymentStatus::Approved {
        let pending = Money::new(p.refunds.pending_minor, p.amount.currency);
        rows.push((
            "Refunded".to_owned(),
            format!(
                "{} ({}), {} refundable{}",
                p.refunded(),
                p.refund_state().code(),
                p.refundable(),
                if pending.minor > 0 {
                    format!(", {pending} waiting on the processor")
                } else {
                    String::new()
                }
            ),
        ));
    }
    rows.extend([
        (
            "Application".to_owned(),
            format!("{} ({})", spec.name, p.application),
        ),
        ("Mode".to_owned(), p.mode.code().to_owned()),
        ("Paid with".to_owned(), p.method.to_string()),
        ("Payer".to_owned(), p.payer.name.clone()),
        ("Payer email".to_owned(), p.payer.email.clone()),
        ("Payer postal code".to_owned(), p.payer.postal_code.clone()),
    ]);
    for field in &spec.fields {
        if let Some(value) = p.fields.get(&field.name) {
            rows.push((capitalized(&field.label), value.clone()));
        }
    }
    if let Some(code) = &p.code {
        rows.push((
            "Processor's code".to_owned(),
            format!("{code}: {}", p.message.clone().unwrap_or_default()),
        ));
    }
    rows.extend([
        ("Taken by".to_owned(), p.user.clone()),
        ("Received".to_owned(), time(p.created_ms)),
        (
            "Decided".to_owned(),
            p.decided_ms.map_or_else(|| "not yet".to_owned(), time),
        ),
        ("Idempotency key".to_owned(), p.idempotency_key.clone()),
        ("Agency report".to_owned(), p.report_standing(time)),
    ]);
    rows
}

fn refunds_table(refunds: &[Refund], time: &dyn Fn(i64) -> String, body: &mut String) {
    body.push_str(
        "<h2 id=\"refunds\">Refunds</h2><div class=\"table\" role=\"region\" \
         aria-labelledby=\"refunds\" tabindex=\"0\"><table><thead><tr>\
         <th scope=\"col\">Refund</th><th scope=\"col\" class=\"number\">Amount</th>\
         <th scope=\"col\">Status</th><th scope=\"col\">Reason</th><th scope=\"col\">Note</th>\
         <th scope=\"col\">Asked by</th><th scope=\"col\">Asked</th><th scope=\"col\">Decided</th>\
         <th scope=\"col\">Agency report</th></tr></thead><tbody>",
    );
    for r in refunds {
        let status = match &r.code {
            Some(code) => format!("{} ({code})", r.status),
            None => r.status.to_string(),
        };
        let _ = write!(
            body,
            "<tr><th scope=\"row\">{}</th><td class=\"number\">{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.id),
            escape(&r.amount.to_string()),
            escape(&status),
            escape(r.reason.code()),
            escape(&r.note),
            escape(&r.asked_by),
            escape(&time(r.created_ms)),
            escape(&r.decided_ms.map_or_else(|| "not yet".to_owned(), time)),
            escape(&r.batch_id.as_ref().map_or_else(
                || "not yet reported to the agency".to_owned(),
                |b| format!("in batch {b}")
            )),
        );
    }
    body.push_str("</tbody></table></div>");
}
