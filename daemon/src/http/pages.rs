//! Partial mode, the customer's side: CIP's own pages, rendered on the server, working without
//! script. The one-time link opens a visit (a cookie); the customer signs in, pays with the
//! console's validation and messages, and sees the confirmation with a link back to the agency.

use super::html::{self, Input, capitalized, error_summary, escape};
use super::{HttpState, constant_time_eq, cookie};
use crate::auth::Caller;
use crate::handoff::{Attempt, Found, Handoff, KnownPayer, Standing};
use crate::store::StoreError;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use cip_common::ach::AccountType;
use cip_common::card::{Expiry, ExpiryError};
use cip_common::error::ApiError;
use cip_common::fields::FieldErrors;
use cip_common::fields::{SECRET_FIELDS, path};
use cip_common::form::{ApplicationSpec, MethodKind, Need};
use cip_common::money::Money;
use cip_common::payment::{AchInput, CardInput, Payer, Payment, PaymentMethod, PaymentRequest};
use cip_common::secret::{AccountNumber, Cvv, Password};
use cip_common::session::Role;
use std::collections::HashMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

const COOKIE: &str = "cip_visit";
/// Visits kept at most; expired ones are dropped first.
const MAX_VISITS: usize = 100_000;

/// A browser's visit to one hand-off's pages.
#[derive(Clone)]
struct Visit {
    handoff_id: String,
    application: String,
    /// Sent back in every form: a post without it is refused.
    csrf: String,
    caller: Option<Caller>,
    /// The idempotency key of the form on screen: sending it twice takes one payment.
    form_key: String,
    expires_ms: i64,
}

#[derive(Default)]
pub struct Visits(Mutex<HashMap<[u8; 32], Visit>>);

impl Visits {
    fn get(&self, cookie: &str, now_ms: i64) -> Option<Visit> {
        let visits = self.0.lock().unwrap_or_else(|p| p.into_inner());
        visits
            .get(blake3::hash(cookie.as_bytes()).as_bytes())
            .filter(|v| v.expires_ms > now_ms)
            .cloned()
    }

    fn put(&self, cookie: &str, visit: Visit, now_ms: i64) {
        let mut visits = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if visits.len() >= MAX_VISITS {
            visits.retain(|_, v| v.expires_ms > now_ms);
        }
        visits.insert(*blake3::hash(cookie.as_bytes()).as_bytes(), visit);
    }
}

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/pay/style.css", get(style))
        .route("/pay", get(show).post(pay))
        .route("/pay/sign-in", axum::routing::post(sign_in))
        .route("/pay/{link}", get(link_page).post(open_link))
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        html::STYLE,
    )
        .into_response()
}

fn html_page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html::page(title, body),
    )
        .into_response()
}

fn dead_end(status: StatusCode, message: &str) -> Response {
    html_page(
        status,
        "This payment page cannot be used",
        &format!(
            "<p class=\"notice\">{}</p><p>Go back to the agency's website and start the payment again.</p>",
            escape(message)
        ),
    )
}

fn random_hex(state: &HttpState) -> String {
    state.shared.engine.entropy().secret_hex()
}

const SPENT: &str = "This payment link has been used already, has expired, or is not a CIP link.";

/// The hand-off a link found, or the page that says why there is none.
fn linked(found: Result<Option<Handoff>, StoreError>) -> Result<Handoff, DeadEnd> {
    match found {
        Ok(Some(handoff)) => Ok(handoff),
        Ok(None) => Err(DeadEnd(StatusCode::NOT_FOUND, SPENT)),
        Err(e) => {
            tracing::error!("store: {e}");
            Err(DeadEnd(
                StatusCode::SERVICE_UNAVAILABLE,
                "CIP's database did not answer: reload this page in a moment.",
            ))
        }
    }
}

/// The link's first page: what is to be paid and a button. Only the button spends the link, so
/// a mail scanner or a link preview that fetches it leaves it for the customer.
async fn link_page(State(state): State<Arc<HttpState>>, Path(link): Path<String>) -> Response {
    let engine = &state.shared.engine;
    let handoff = match linked(state.shared.handoffs.linked(&link).await) {
        Ok(handoff) => handoff,
        Err(page) => return page.into_response(),
    };
    let name = match engine.form(&handoff.application).await {
        Ok(form) => form.spec.name.clone(),
        Err(e) => return dead_end(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let amount = Money::new(handoff.amount_minor, handoff.currency);
    html_page(
        StatusCode::OK,
        "Your payment",
        &format!(
            "<dl class=\"order\"><dt>For</dt><dd>{}</dd><dt>Amount</dt><dd>{}</dd></dl>\
             <form method=\"post\" action=\"/pay/{}\"><button type=\"submit\" id=\"continue\">\
             Continue to payment</button></form>",
            escape(&name),
            escape(&amount.to_string()),
            escape(&link)
        ),
    )
}

/// Opens the link once: a visit starts, the link is spent, and the browser moves to `/pay`
/// (so the link's secret leaves the address bar and the history).
async fn open_link(State(state): State<Arc<HttpState>>, Path(link): Path<String>) -> Response {
    let handoff = match linked(state.shared.handoffs.spend_link(&link).await) {
        Ok(handoff) => handoff,
        Err(page) => return page.into_response(),
    };
    let cookie = random_hex(&state);
    let now = state.shared.engine.clock().now_ms();
    state.visits.put(
        &cookie,
        Visit {
            form_key: state.shared.handoffs.form_key(&handoff.id),
            handoff_id: handoff.id,
            application: handoff.application,
            csrf: random_hex(&state),
            caller: None,
            expires_ms: handoff.expires_ms,
        },
        now,
    );
    let secure = if state.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let mut response = Redirect::to("/pay").into_response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{COOKIE}={cookie}; Path=/pay; HttpOnly; SameSite=Lax{secure}"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A page that ends the way: its status and what it says.
struct DeadEnd(StatusCode, &'static str);

impl IntoResponse for DeadEnd {
    fn into_response(self) -> Response {
        dead_end(self.0, self.1)
    }
}

/// The visit this browser is on, or the page that says why there is none.
fn visit(state: &HttpState, headers: &HeaderMap) -> Result<(String, Visit), DeadEnd> {
    let now = state.shared.engine.clock().now_ms();
    cookie(headers, COOKIE)
        .map(str::to_owned)
        .and_then(|cookie| state.visits.get(&cookie, now).map(|v| (cookie, v)))
        .ok_or(DeadEnd(
            StatusCode::FORBIDDEN,
            "This browser has no payment open: open the link the agency gave you.",
        ))
}

/// A form post must carry the visit's token.
fn checked(visit: &Visit, form: &HashMap<String, String>) -> Result<(), DeadEnd> {
    let sent = form.get("csrf").map_or(&[][..], |s| s.as_bytes());
    if constant_time_eq(sent, visit.csrf.as_bytes()) {
        Ok(())
    } else {
        Err(DeadEnd(
            StatusCode::FORBIDDEN,
            "This form is out of date or did not come from CIP's page.",
        ))
    }
}

async fn show(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    let (cookie, mut visit) = match visit(&state, &headers) {
        Ok(found) => found,
        Err(page) => return page.into_response(),
    };
    let handoffs = &state.shared.handoffs;
    if let Ok(found) = handoffs.find(&visit.application, &visit.handoff_id).await {
        let key = handoffs.key_after(
            &visit.handoff_id,
            visit.form_key.clone(),
            found.payment.as_ref(),
        );
        if key != visit.form_key {
            visit.form_key = key;
            let now = state.shared.engine.clock().now_ms();
            state.visits.put(&cookie, visit.clone(), now);
        }
    }
    render(&state, &visit, Entered::default()).await
}

/// What the customer typed that may be shown again (never a card or account number, or a CVV),
/// with the errors and the notice to show.
#[derive(Default)]
struct Entered {
    values: HashMap<String, String>,
    errors: FieldErrors,
    notice: Option<String>,
}

/// The page the visit is at: sign-in, the form, pending, or the confirmation.
async fn render(state: &HttpState, visit: &Visit, entered: Entered) -> Response {
    let Found {
        handoff,
        payment,
        standing,
    } = match state
        .shared
        .handoffs
        .find(&visit.application, &visit.handoff_id)
        .await
    {
        Ok(found) => found,
        Err(e) => return dead_end(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let spec = match state.shared.engine.form(&handoff.application).await {
        Ok(form) => form.spec.clone(),
        Err(e) => return dead_end(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let amount = Money::new(handoff.amount_minor, handoff.currency);
    let mut body = format!(
        "<dl class=\"order\"><dt>For</dt><dd>{}</dd><dt>Amount</dt><dd>{}</dd>",
        escape(&spec.name),
        escape(&amount.to_string())
    );
    for field in &spec.fields {
        if let Some(value) = handoff.fields.get(&field.name) {
            let _ = write!(
                body,
                "<dt>{}</dt><dd>{}</dd>",
                escape(&capitalized(&field.label)),
                escape(value)
            );
        }
    }
    body.push_str("</dl>");
    if let Some(notice) = &entered.notice {
        let _ = write!(
            body,
            "<p class=\"notice\" role=\"alert\">{}</p>",
            escape(notice)
        );
    }
    error_summary(&entered.errors, &mut body);
    let title = match (standing, &visit.caller) {
        (Standing::Paid | Standing::Voided, _) => {
            confirmation(
                &mut body,
                &handoff.id,
                &handoff.return_url,
                &spec,
                payment.as_ref(),
            );
            "Payment approved"
        }
        (Standing::Pending, _) => {
            body.push_str(
                "<p>The processor has not answered yet. CIP is asking it what happened: do not pay \
                 again. Reload this page in a minute, or return to the agency, which will hear the \
                 outcome from CIP.</p>",
            );
            let _ = write!(
                body,
                "<p><a href=\"{}\">Return to {}</a></p>",
                escape(&return_link(&handoff.return_url, &handoff.id)),
                escape(&spec.name)
            );
            "Payment being checked"
        }
        (Standing::Expired, _) => {
            body.push_str("<p class=\"notice\">This payment has expired. Go back to the agency's website and start again.</p>");
            "Payment expired"
        }
        (Standing::Open, None) => {
            sign_in_form(&mut body, visit, &entered);
            "Sign in to pay"
        }
        (Standing::Open, Some(_)) => {
            payment_form(&mut body, visit, &spec, &handoff.payer, &entered);
            "Pay"
        }
    };
    let code = if entered.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    html_page(code, title, &body)
}

fn return_link(return_url: &str, handoff_id: &str) -> String {
    let joiner = if return_url.contains('?') { '&' } else { '?' };
    format!("{return_url}{joiner}handoff={handoff_id}")
}

fn confirmation(
    body: &mut String,
    handoff_id: &str,
    return_url: &str,
    spec: &ApplicationSpec,
    payment: Option<&Payment>,
) {
    if let Some(payment) = payment {
        let _ = write!(
            body,
            "<p>Your confirmation code</p><p class=\"code\" id=\"confirmation-code\">{}</p>\
             <p class=\"hint\">Payment {} · {} · {}</p>",
            escape(payment.confirmation_code.as_deref().unwrap_or("")),
            escape(&payment.id),
            escape(&payment.method.to_string()),
            escape(&payment.status.to_string()),
        );
    }
    let _ = write!(
        body,
        "<p><a id=\"return\" href=\"{}\">Return to {}</a></p>",
        escape(&return_link(return_url, handoff_id)),
        escape(&spec.name)
    );
}

fn sign_in_form(body: &mut String, visit: &Visit, entered: &Entered) {
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/pay/sign-in\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&visit.csrf)
    );
    let none = FieldErrors::default();
    for input in [
        Input {
            label: "User id",
            name: "user",
            value: entered.values.get("user").map_or("", String::as_str),
            attributes: "autocomplete=\"username\" required",
            hint: "",
        },
        Input {
            label: "Password",
            name: "password",
            value: "",
            attributes: "type=\"password\" autocomplete=\"current-password\" required",
            hint: "",
        },
    ] {
        input.render(&none, body);
    }
    body.push_str("<button type=\"submit\">Sign in</button></form>");
}

fn payment_form(
    body: &mut String,
    visit: &Visit,
    spec: &ApplicationSpec,
    known: &KnownPayer,
    entered: &Entered,
) {
    let value = |name: &str, known: &str| -> String {
        entered
            .values
            .get(name)
            .cloned()
            .unwrap_or_else(|| known.to_owned())
    };
    let errors = &entered.errors;
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/pay\" novalidate><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"key\" value=\"{}\"><fieldset><legend>Payer</legend>",
        escape(&visit.csrf),
        escape(&visit.form_key)
    );
    let (name, email, postal) = (
        value(path::PAYER_NAME, &known.name),
        value(path::PAYER_EMAIL, &known.email),
        value(path::PAYER_POSTAL_CODE, &known.postal_code),
    );
    for input in [
        Input {
            label: "Name",
            name: path::PAYER_NAME,
            value: &name,
            attributes: "autocomplete=\"name\"",
            hint: "",
        },
        Input {
            label: match spec.payer_email {
                Need::Required => "Email",
                Need::Optional => "Email (optional)",
            },
            name: path::PAYER_EMAIL,
            value: &email,
            attributes: "type=\"email\" autocomplete=\"email\"",
            hint: "",
        },
        Input {
            label: "Postal code",
            name: path::PAYER_POSTAL_CODE,
            value: &postal,
            attributes: "autocomplete=\"postal-code\"",
            hint: "",
        },
    ] {
        input.render(errors, body);
    }
    body.push_str("</fieldset>");
    for error in ["amount", "currency", "method"] {
        if let Some(message) = errors.get(error) {
            let _ = write!(body, "<p class=\"error\">{}</p>", escape(message));
        }
    }
    let both = spec.methods.len() > 1;
    let chosen = value("method", spec.methods.first().map_or("card", |m| m.code()));
    for method in &spec.methods {
        let _ = write!(body, "<fieldset><legend>");
        if both {
            let _ = write!(
                body,
                "<label><input type=\"radio\" name=\"method\" value=\"{code}\"{checked}> {label}</label>",
                code = method.code(),
                checked = if chosen == method.code() {
                    " checked"
                } else {
                    ""
                },
                label = method_label(*method)
            );
        } else {
            let _ = write!(
                body,
                "{}<input type=\"hidden\" name=\"method\" value=\"{}\">",
                method_label(*method),
                method.code()
            );
        }
        body.push_str("</legend>");
        match method {
            MethodKind::Card => {
                let (month, year, card_name, card_postal) = (
                    value(path::CARD_EXP_MONTH, ""),
                    value(path::CARD_EXP_YEAR, ""),
                    value(path::CARD_NAME, &known.name),
                    value(path::CARD_POSTAL_CODE, &known.postal_code),
                );
                Input {
                    label: "Card number",
                    name: path::CARD_NUMBER,
                    value: "",
                    attributes: "inputmode=\"numeric\" autocomplete=\"cc-number\"",
                    hint: "",
                }
                .render(errors, body);
                Input { label: "Expiry month (MM)", name: path::CARD_EXP_MONTH, value: &month, attributes: "inputmode=\"numeric\" autocomplete=\"cc-exp-month\" maxlength=\"2\"", hint: "" }.render_as(path::CARD_EXPIRY, errors, body);
                Input { label: "Expiry year (YYYY)", name: path::CARD_EXP_YEAR, value: &year, attributes: "inputmode=\"numeric\" autocomplete=\"cc-exp-year\" maxlength=\"4\"", hint: "" }.render_as(path::CARD_EXPIRY, errors, body);
                Input { label: "Security code (CVV)", name: path::CARD_CVV, value: "", attributes: "type=\"password\" inputmode=\"numeric\" autocomplete=\"cc-csc\" maxlength=\"4\"", hint: "3 digits on the back, or 4 on the front of an American Express card" }.render(errors, body);
                Input {
                    label: "Name on card",
                    name: path::CARD_NAME,
                    value: &card_name,
                    attributes: "autocomplete=\"cc-name\"",
                    hint: "",
                }
                .render(errors, body);
                Input {
                    label: "Card postal code",
                    name: path::CARD_POSTAL_CODE,
                    value: &card_postal,
                    attributes: "autocomplete=\"postal-code\"",
                    hint: "",
                }
                .render(errors, body);
            }
            MethodKind::Ach => {
                let (routing, kind, holder) = (
                    value(path::ACH_ROUTING_NUMBER, ""),
                    value(path::ACH_ACCOUNT_TYPE, "checking"),
                    value(path::ACH_HOLDER_NAME, &known.name),
                );
                Input {
                    label: "Routing number",
                    name: path::ACH_ROUTING_NUMBER,
                    value: &routing,
                    attributes: "inputmode=\"numeric\" maxlength=\"9\"",
                    hint: "9 digits",
                }
                .render(errors, body);
                Input {
                    label: "Account number",
                    name: path::ACH_ACCOUNT_NUMBER,
                    value: "",
                    attributes: "autocomplete=\"off\"",
                    hint: "",
                }
                .render(errors, body);
                let _ = write!(
                    body,
                    "<div class=\"field\"><label for=\"ach-account_type\">Account type</label>\
                     <select id=\"ach-account_type\" name=\"ach.account_type\">\
                     <option value=\"checking\"{}>Checking</option><option value=\"savings\"{}>Savings</option></select></div>",
                    if kind == "checking" { " selected" } else { "" },
                    if kind == "savings" { " selected" } else { "" },
                );
                Input {
                    label: "Account holder",
                    name: path::ACH_HOLDER_NAME,
                    value: &holder,
                    attributes: "autocomplete=\"name\"",
                    hint: "",
                }
                .render(errors, body);
            }
        }
        body.push_str("</fieldset>");
    }
    body.push_str("<button type=\"submit\" id=\"pay\">Pay</button></form>");
}

fn method_label(method: MethodKind) -> &'static str {
    match method {
        MethodKind::Card => "Card",
        MethodKind::Ach => "Bank account (ACH)",
    }
}

async fn sign_in(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(mut form): Form<HashMap<String, String>>,
) -> Response {
    let (cookie, mut visit) = match visit(&state, &headers) {
        Ok(found) => found,
        Err(page) => return page.into_response(),
    };
    if let Err(page) = checked(&visit, &form) {
        return page.into_response();
    }
    let user = form.remove("user").unwrap_or_default();
    let password = Password::new(form.remove("password").unwrap_or_default());
    let signed_in = state
        .shared
        .auth
        .authenticate(
            &visit.application,
            user.trim(),
            password,
            &format!("http {peer}"),
        )
        .await
        .and_then(|caller| {
            caller.require(&[Role::Agent, Role::Api], "pay on CIP's payment page")?;
            Ok(caller)
        });
    match signed_in {
        Ok(caller) => {
            visit.caller = Some(caller);
            let now = state.shared.engine.clock().now_ms();
            state.visits.put(&cookie, visit, now);
            Redirect::to("/pay").into_response()
        }
        Err(e) => {
            let entered = Entered {
                values: HashMap::from([("user".to_owned(), user)]),
                notice: Some(e.to_string()),
                ..Entered::default()
            };
            render(&state, &visit, entered).await
        }
    }
}

/// The request the form describes, from the hand-off's amount and fields and what was typed.
fn request_of(
    form: &mut HashMap<String, String>,
    handoff: &Handoff,
) -> Result<PaymentRequest, FieldErrors> {
    let mut take = |name: &str| form.remove(name).unwrap_or_default();
    let payer = Payer {
        name: take(path::PAYER_NAME),
        email: take(path::PAYER_EMAIL),
        postal_code: take(path::PAYER_POSTAL_CODE),
    };
    let mut errors = FieldErrors::default();
    let method = match take("method").as_str() {
        "ach" => {
            let account_type = match take(path::ACH_ACCOUNT_TYPE).as_str() {
                "savings" => AccountType::Savings,
                _ => AccountType::Checking,
            };
            PaymentMethod::Ach(AchInput {
                routing_number: take(path::ACH_ROUTING_NUMBER),
                account_number: AccountNumber::new(take(path::ACH_ACCOUNT_NUMBER)),
                account_type,
                holder_name: take(path::ACH_HOLDER_NAME),
            })
        }
        _ => {
            let expiry =
                Expiry::from_parts(&take(path::CARD_EXP_MONTH), &take(path::CARD_EXP_YEAR))
                    .unwrap_or_else(|e| {
                        // The page asks in two boxes, so the shared rule's "MM/YY" is said as such.
                        let message = match e {
                            ExpiryError::Format => {
                                "enter the month (MM) and year (YY or YYYY) printed on the card"
                                    .to_owned()
                            }
                            other => other.to_string(),
                        };
                        errors.add(path::CARD_EXPIRY, message);
                        Expiry { month: 0, year: 0 }
                    });
            PaymentMethod::Card(CardInput {
                number: cip_common::secret::Pan::new(take(path::CARD_NUMBER)),
                exp_month: expiry.month,
                exp_year: expiry.year,
                cvv: Cvv::new(take(path::CARD_CVV)),
                name: take(path::CARD_NAME),
                postal_code: take(path::CARD_POSTAL_CODE),
            })
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(PaymentRequest {
        amount_minor: handoff.amount_minor,
        currency: handoff.currency,
        payer,
        fields: handoff.fields.clone(),
        method,
    })
}

/// The values that may be shown again after a refusal.
fn shown_again(form: &HashMap<String, String>) -> HashMap<String, String> {
    form.iter()
        .filter(|(k, _)| {
            !SECRET_FIELDS.contains(&k.as_str()) && k.as_str() != "csrf" && k.as_str() != "key"
        })
        // What looks like a card number is refused next to its field, never shown again.
        .filter(|(_, v)| !cip_common::free_text::looks_like_card_number(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

async fn pay(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Form(mut form): Form<HashMap<String, String>>,
) -> Response {
    let (cookie, mut visit) = match visit(&state, &headers) {
        Ok(found) => found,
        Err(page) => return page.into_response(),
    };
    if let Err(page) = checked(&visit, &form) {
        return page.into_response();
    }
    let Some(caller) = visit.caller.clone() else {
        return render(&state, &visit, Entered::default()).await;
    };
    let handoffs = &state.shared.handoffs;
    let handoff = match handoffs.find(&visit.application, &visit.handoff_id).await {
        Ok(found) if found.standing == Standing::Open => found.handoff,
        Ok(_) => return Redirect::to("/pay").into_response(),
        Err(e) => return dead_end(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let values = shown_again(&form);
    let key = form.remove("key");
    let request = match request_of(&mut form, &handoff) {
        Ok(request) => request,
        Err(errors) => {
            let entered = Entered {
                values,
                errors,
                notice: None,
            };
            return render(&state, &visit, entered).await;
        }
    };
    drop(form);
    let attempt = handoffs
        .pay(&caller, &handoff, key, &visit.form_key, request)
        .await;
    let (next_key, entered) = match attempt {
        Ok(Attempt::Taken(_)) => return Redirect::to("/pay").into_response(),
        Ok(Attempt::Over { payment, next_key }) => {
            let notice = payment
                .message
                .map(|m| format!("The payment did not go through: {m}."));
            (
                next_key,
                Entered {
                    values,
                    notice,
                    ..Entered::default()
                },
            )
        }
        Ok(Attempt::Conflict { next_key }) => {
            let notice = Some(
                "This form was already used for a payment with other details: check the \
                 details below and press Pay again."
                    .to_owned(),
            );
            (
                next_key,
                Entered {
                    values,
                    notice,
                    ..Entered::default()
                },
            )
        }
        Err(ApiError::Fields(errors)) => (
            visit.form_key.clone(),
            Entered {
                values,
                errors,
                notice: None,
            },
        ),
        Err(e) => (
            visit.form_key.clone(),
            Entered {
                values,
                notice: Some(e.to_string()),
                ..Entered::default()
            },
        ),
    };
    if next_key != visit.form_key {
        visit.form_key = next_key;
        let now = state.shared.engine.clock().now_ms();
        state.visits.put(&cookie, visit.clone(), now);
    }
    render(&state, &visit, entered).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handoff() -> Handoff {
        Handoff {
            id: "hof_1".into(),
            application: "DMV-RENEWAL".into(),
            user: "api1".into(),
            amount_minor: 2_500,
            currency: cip_common::money::Currency::Usd,
            fields: Default::default(),
            payer: Default::default(),
            return_url: "https://agency.example/".into(),
            link_used_ms: None,
            created_ms: 0,
            expires_ms: 1,
        }
    }

    /// The two expiry boxes are read by the same rule as the console's field: a one-digit
    /// month and a two-digit year are what the customer means, never a refusal or 12/20.
    #[test]
    fn the_expiry_boxes_take_the_month_and_year_as_printed() {
        for (month, year, read) in [
            ("1", "28", Some((1, 2028))),
            ("12", "2028", Some((12, 2028))),
            ("01", "2028", Some((1, 2028))),
            ("13", "28", None),
            ("12", "208", None),
            ("", "", None),
        ] {
            let mut form = HashMap::from([
                ("card.exp_month".to_owned(), month.to_owned()),
                ("card.exp_year".to_owned(), year.to_owned()),
            ]);
            let found = request_of(&mut form, &handoff());
            match (found, read) {
                (Ok(request), Some((m, y))) => match request.method {
                    PaymentMethod::Card(card) => {
                        assert_eq!((card.exp_month, card.exp_year), (m, y), "{month}/{year}")
                    }
                    PaymentMethod::Ach(_) => panic!("a card was asked for"),
                },
                (Err(errors), None) => {
                    let message = errors.get("card.expiry").expect("the expiry is named");
                    assert!(message.contains("month"), "{month}/{year}: {message}");
                }
                (found, _) => panic!("{month}/{year}: {}", found.is_ok()),
            }
        }
    }
}
