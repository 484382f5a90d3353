//! A supervisor's actions on a payment's page: void, resolve now, and refund, each a POST form
//! behind a page that says what it will do and asks to go on. Anyone else who posts one (a
//! viewer forging the form) is refused with 403, as at the console.

use super::{Refused, Staff, page, refused, staff};
use crate::http::HttpState;
use crate::http::html::{Input, error_summary, escape};
use crate::rpc::run_to_end;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cip_common::error::ApiError;
use cip_common::fields::FieldErrors;
use cip_common::money::Money;
use cip_common::payment::{Payment, PaymentLookup};
use cip_common::refund::{RefundReason, RefundRequest};
use cip_common::session::Role;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

/// What a supervisor may do to a payment, as its page offers it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Void,
    Resolve,
    Refund,
}

impl Action {
    fn from_path(name: &str) -> Option<Action> {
        match name {
            "void" => Some(Action::Void),
            "resolve" => Some(Action::Resolve),
            "refund" => Some(Action::Refund),
            _ => None,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Action::Void => "void",
            Action::Resolve => "resolve",
            Action::Refund => "refund",
        }
    }

    /// What the refusal says this user may not do.
    fn what(self) -> &'static str {
        match self {
            Action::Void => "void payments",
            Action::Resolve => "resolve payments",
            Action::Refund => "refund payments",
        }
    }

    /// The actions `payment` offers a supervisor now; the engine still decides.
    pub fn offered(payment: &Payment) -> Vec<(Action, &'static str)> {
        use cip_common::status::PaymentStatus::{Approved, InDoubt};
        let mut offered = Vec::new();
        if payment.status == Approved && payment.batch.is_none() && payment.refunded().minor == 0 {
            offered.push((Action::Void, "Void this payment"));
        }
        if payment.status == Approved && payment.refundable().minor > 0 {
            offered.push((Action::Refund, "Refund this payment"));
        }
        if payment.status == InDoubt {
            offered.push((Action::Resolve, "Ask the processor now"));
        }
        offered
    }
}

/// The action named `name` on the payment `id` of the application signed in to, for a
/// supervisor: anyone else is refused.
async fn acting_on(
    state: &HttpState,
    headers: &HeaderMap,
    id: &str,
    name: &str,
) -> Result<(Action, Staff, Payment), Refused> {
    let action = Action::from_path(name).ok_or_else(|| {
        refused(&ApiError::NotFound {
            what: "page".to_owned(),
            id: name.to_owned(),
        })
    })?;
    let staff = staff(state, headers).await?;
    staff
        .caller
        .require(&[Role::Supervisor], action.what())
        .map_err(|e| refused(&e))?;
    let payment = state
        .shared
        .lookup
        .find(&staff.caller, PaymentLookup::Id(id.to_owned()))
        .await
        .and_then(|p| {
            if p.application == staff.caller.application {
                Ok(p)
            } else {
                Err(ApiError::NotFound {
                    what: "payment".to_owned(),
                    id: id.to_owned(),
                })
            }
        })
        .map_err(|e| refused(&e))?;
    Ok((action, staff, payment))
}

/// The payment as the confirmation pages show it.
fn summary(payment: &Payment, body: &mut String) {
    let _ = write!(
        body,
        "<dl class=\"summary\"><dt>Payment</dt><dd>{}</dd><dt>Confirmation code</dt><dd>{}</dd>\
         <dt>Amount</dt><dd>{}</dd><dt>Refundable</dt><dd>{}</dd><dt>Payer</dt><dd>{}</dd>\
         <dt>Paid with</dt><dd>{}</dd></dl>",
        escape(&payment.id),
        escape(payment.confirmation_code.as_deref().unwrap_or("—")),
        escape(&payment.amount.to_string()),
        escape(&payment.refundable().to_string()),
        escape(&payment.payer.name),
        escape(&payment.method.to_string()),
    );
}

/// A form posting `fields` (hidden) to the action, with its button, and the way back.
fn confirm_form(
    staff: &Staff,
    payment: &Payment,
    action: Action,
    fields: &[(&str, &str)],
    button: &str,
    body: &mut String,
) {
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/staff/payments/{}/{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&payment.id),
        action.path(),
        escape(&staff.csrf)
    );
    for (name, value) in fields {
        let _ = write!(
            body,
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        );
    }
    let _ = write!(
        body,
        "<div class=\"actions\"><button type=\"submit\" class=\"warning\">{}</button>\
         <a href=\"/staff/payments/{}\">Cancel, and go back to the payment</a></div></form>",
        escape(button),
        escape(&payment.id)
    );
}

/// The page that asks before an action (for a refund, its form first).
pub async fn ask(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let (action, staff, payment) = match acting_on(&state, &headers, &id, &action).await {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    match action {
        Action::Refund => refund_form(&staff, &payment, &HashMap::new(), &FieldErrors::default()),
        Action::Void => {
            let mut body = String::new();
            summary(&payment, &mut body);
            body.push_str(
                "<p>Voiding cancels the whole payment before it is reported to the agency: the \
                 payer is not charged. It cannot be undone.</p>",
            );
            confirm_form(&staff, &payment, action, &[], "Void the payment", &mut body);
            page(StatusCode::OK, Some(&staff), "Void this payment?", &body)
        }
        Action::Resolve => {
            let mut body = String::new();
            summary(&payment, &mut body);
            body.push_str(
                "<p>The processor did not answer in time. CIP asks it again by itself; this asks \
                 it now. Nothing is charged a second time.</p>",
            );
            confirm_form(
                &staff,
                &payment,
                action,
                &[],
                "Ask the processor now",
                &mut body,
            );
            page(
                StatusCode::OK,
                Some(&staff),
                "Ask the processor what happened?",
                &body,
            )
        }
    }
}

/// The refund's form: the amount (the whole refundable amount unless changed), the reason and a
/// note, each error beside its field.
fn refund_form(
    staff: &Staff,
    payment: &Payment,
    sent: &HashMap<String, String>,
    errors: &FieldErrors,
) -> Response {
    let mut body = String::new();
    error_summary(errors, &mut body);
    summary(payment, &mut body);
    let refundable = payment.refundable();
    let amount = sent
        .get("amount")
        .cloned()
        .unwrap_or_else(|| refundable.amount_text());
    let note = sent.get("note").cloned().unwrap_or_default();
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/staff/payments/{}/refund\" novalidate>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"step\" value=\"check\">",
        escape(&payment.id),
        escape(&staff.csrf)
    );
    let hint = format!("At most {refundable}");
    let label = format!("Amount ({})", payment.amount.currency.code());
    Input {
        label: &label,
        name: "amount",
        value: &amount,
        attributes: "inputmode=\"decimal\" autocomplete=\"off\"",
        hint: &hint,
    }
    .render(errors, &mut body);
    let chosen = sent.get("reason").map_or("", String::as_str);
    let error = errors.get("reason");
    let _ = write!(
        body,
        "<div class=\"field{}\"><label for=\"reason\">Reason</label>{}<select id=\"reason\" name=\"reason\"{}>\
         <option value=\"\">Choose a reason</option>",
        if error.is_some() { " invalid" } else { "" },
        error.map_or(String::new(), |e| format!(
            "<p class=\"error\" id=\"reason-error\">{}</p>",
            escape(e)
        )),
        if error.is_some() {
            " aria-describedby=\"reason-error\" aria-invalid=\"true\""
        } else {
            ""
        }
    );
    for reason in RefundReason::ALL {
        let _ = write!(
            body,
            "<option value=\"{}\"{}>{}</option>",
            reason.code(),
            if reason.code() == chosen {
                " selected"
            } else {
                ""
            },
            escape(&crate::http::html::capitalized(reason.label()))
        );
    }
    body.push_str("</select></div>");
    Input {
        label: "Note (optional)",
        name: "note",
        value: &note,
        attributes: "autocomplete=\"off\" maxlength=\"500\"",
        hint: "What the agency should know: a card number is refused here",
    }
    .render(errors, &mut body);
    let _ = write!(
        body,
        "<div class=\"actions\"><button type=\"submit\">Continue</button>\
         <a href=\"/staff/payments/{}\">Cancel, and go back to the payment</a></div></form>",
        escape(&payment.id)
    );
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(status, Some(staff), "Refund this payment", &body)
}

/// The refund `sent` asks for, or every field's error.
fn refund_request(
    payment: &Payment,
    sent: &HashMap<String, String>,
) -> Result<RefundRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let text = |name: &str| sent.get(name).map_or("", |v| v.trim());
    let amount = match Money::parse(text("amount"), payment.amount.currency) {
        Ok(amount) if amount.minor > 0 => Some(amount),
        Ok(_) => {
            errors.add("amount", "Enter an amount above zero");
            None
        }
        Err(e) => {
            errors.add(
                "amount",
                format!("Enter the amount to refund, like 25.00: {e}"),
            );
            None
        }
    };
    let reason = RefundReason::from_code(text("reason"));
    if reason.is_none() {
        errors.add("reason", "Choose why the money goes back");
    }
    let expected = text("expected_refundable").parse::<i64>().ok();
    match (amount, reason) {
        (Some(amount), Some(reason)) if errors.is_empty() => Ok(RefundRequest {
            amount_minor: amount.minor,
            reason,
            note: text("note").to_owned(),
            expected_refundable_minor: expected,
        }),
        _ => Err(errors),
    }
}

/// Carries out a confirmed action (a refund's form goes to its confirmation first), then shows
/// the payment with what happened.
pub async fn act(
    State(state): State<Arc<HttpState>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(sent): Form<HashMap<String, String>>,
) -> Response {
    let (action, staff, payment) = match acting_on(&state, &headers, &id, &action).await {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = super::checked(&staff, sent.get("csrf")) {
        return refused.into_response();
    }
    let origin = format!("web {peer}");
    let engine = Arc::clone(&state.shared.engine);
    let caller = staff.caller.clone();
    let done = match action {
        Action::Void => run_to_end(async move { engine.void(&caller, &id, &origin).await })
            .await
            .map(|_| "voided"),
        Action::Resolve => {
            run_to_end(async move { engine.resolve_now(&caller, &id, &origin).await })
                .await
                .map(|_| "resolved")
        }
        Action::Refund => {
            let request = match refund_request(&payment, &sent) {
                Ok(request) => request,
                Err(errors) => return refund_form(&staff, &payment, &sent, &errors),
            };
            if sent.get("step").map(String::as_str) == Some("check") {
                return refund_confirmation(&state, &staff, &payment, &request);
            }
            let key = sent.get("key").cloned().unwrap_or_default();
            run_to_end(async move { engine.refund(&caller, &id, key, request, &origin).await })
                .await
                .map(|_| "refunded")
        }
    };
    match done {
        Ok(done) => {
            Redirect::to(&format!("/staff/payments/{}?done={done}", payment.id)).into_response()
        }
        Err(ApiError::Fields(errors)) if action == Action::Refund => {
            refund_form(&staff, &payment, &sent, &errors)
        }
        Err(e) => refused(&e).into_response(),
    }
}

/// What the refund will do, and a button that does it under one idempotency key: pressed twice,
/// it refunds once.
fn refund_confirmation(
    state: &HttpState,
    staff: &Staff,
    payment: &Payment,
    request: &RefundRequest,
) -> Response {
    let amount = Money::new(request.amount_minor, payment.amount.currency);
    let mut body = String::new();
    summary(payment, &mut body);
    let _ = write!(
        body,
        "<p>{} goes back to the payer's {}, because: {}.{}</p>",
        escape(&amount.to_string()),
        escape(&payment.method.to_string()),
        escape(request.reason.label()),
        if request.note.is_empty() {
            String::new()
        } else {
            format!(" Note: {}", escape(&request.note))
        }
    );
    let key = state.shared.engine.entropy().secret_hex();
    let (amount_text, expected) = (amount.amount_text(), payment.refundable().minor.to_string());
    confirm_form(
        staff,
        payment,
        Action::Refund,
        &[
            ("step", "send"),
            ("key", &key),
            ("amount", &amount_text),
            ("reason", request.reason.code()),
            ("note", &request.note),
            ("expected_refundable", &expected),
        ],
        &format!("Refund {amount}"),
        &mut body,
    );
    page(StatusCode::OK, Some(staff), "Refund this payment?", &body)
}
