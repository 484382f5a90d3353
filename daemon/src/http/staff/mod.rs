//! `/staff/`: the web view of payments for agency customer service (viewers) and supervisors,
//! rendered on the server with no script. A sign-in opens the same session the console's does
//! (lockout, idle expiry, audit), kept in an `HttpOnly` cookie; every form carries a token drawn
//! from that session, so a form from anywhere else is refused.

mod actions;
mod detail;
mod list;
mod sign_in;

use super::answer::api_status_and_code;
use super::html::escape;
use super::{HttpState, cookie};
use crate::auth::Caller;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cip_common::error::ApiError;
use cip_common::secret::SessionToken;
use std::sync::Arc;

/// The session's cookie.
const SESSION_COOKIE: &str = "cip_staff";
/// The sign-in form's token, before there is a session.
const FORM_COOKIE: &str = "cip_staff_form";

pub const STYLE: &str = include_str!("../../../../assets/staff.css");

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/staff/style.css", get(style))
        .route("/staff/", get(sign_in::show))
        .route("/staff", get(|| async { Redirect::to("/staff/") }))
        .route("/staff/sign-in", post(sign_in::sign_in))
        .route("/staff/sign-out", post(sign_in::sign_out))
        .route("/staff/payments", get(list::show))
        .route("/staff/payments.csv", get(list::csv))
        .route("/staff/payments/{id}", get(detail::show))
        .route(
            "/staff/payments/{id}/{action}",
            get(actions::ask).post(actions::act),
        )
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// A signed-in staff member: who, and the session's form token.
struct Staff {
    caller: Caller,
    csrf: String,
}

/// The form token of a session: drawn from its token, which only the browser's cookie holds.
fn form_token(token: &SessionToken) -> String {
    blake3::derive_key(
        "CIP staff pages form token 2026-12",
        token.expose().as_bytes(),
    )
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect()
}

/// A cookie for the staff pages: `HttpOnly`, sent only by CIP's own pages, `Secure` over TLS.
fn set_cookie(response: &mut Response, state: &HttpState, name: &str, value: &str, max_age: &str) {
    let secure = if state.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{name}={value}; Path=/staff; HttpOnly; SameSite=Strict{max_age}{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Why a page cannot be shown to this browser.
enum Refused {
    /// No session (`false`), or it ended (`true`): to the sign-in page, which says so.
    SignIn(bool),
    /// A page that says what went wrong.
    Page(StatusCode, String),
}

/// The staff member this browser is signed in as.
async fn staff(state: &HttpState, headers: &HeaderMap) -> Result<Staff, Refused> {
    let token = cookie(headers, SESSION_COOKIE)
        .filter(|t| !t.is_empty())
        .map(|t| SessionToken::new(t.to_owned()))
        .ok_or(Refused::SignIn(false))?;
    match state.shared.auth.session(&token).await {
        Ok(caller) => Ok(Staff {
            csrf: form_token(&token),
            caller,
        }),
        Err(ApiError::SessionExpired) => Err(Refused::SignIn(true)),
        Err(e) => Err(refused(&e)),
    }
}

/// An error of the engine or the store as a page.
fn refused(error: &ApiError) -> Refused {
    Refused::Page(api_status_and_code(error).0, error.to_string())
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignIn(false) => Redirect::to("/staff/").into_response(),
            Refused::SignIn(true) => Redirect::to("/staff/?ended=1").into_response(),
            Refused::Page(status, message) => page(
                status,
                None,
                "This cannot be shown",
                &format!(
                    "<p class=\"notice\" role=\"alert\">{}</p><p><a href=\"/staff/payments\">Back to payments</a></p>",
                    escape(&message)
                ),
            ),
        }
    }
}

/// A whole staff page: `body` is HTML already; with `staff`, the header names who is signed in
/// and offers to sign out.
fn page(status: StatusCode, staff: Option<&Staff>, title: &str, body: &str) -> Response {
    let header = match staff {
        Some(staff) => format!(
            "<div class=\"who\"><span>{} ({}) · {}</span>\
             <form method=\"post\" action=\"/staff/sign-out\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" class=\"link\">Sign out</button></form></div>",
            escape(&staff.caller.user),
            staff.caller.role,
            escape(&staff.caller.application),
            escape(&staff.csrf)
        ),
        None => String::new(),
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · CIP staff</title><link rel=\"stylesheet\" href=\"/staff/style.css\"></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to main content</a>\
         <header><a class=\"brand\" href=\"/staff/payments\">CIP · payments</a>{header}</header>\
         <main id=\"main\"><h1>{title}</h1>{body}</main></body></html>\n",
        title = escape(title)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// A form post must carry the session's token.
fn checked(staff: &Staff, sent: Option<&String>) -> Result<(), Refused> {
    let sent = sent.map_or(&[][..], |s| s.as_bytes());
    if super::constant_time_eq(sent, staff.csrf.as_bytes()) {
        Ok(())
    } else {
        Err(Refused::Page(
            StatusCode::FORBIDDEN,
            "This form is out of date or did not come from CIP's staff pages: go back, reload it and try again.".to_owned(),
        ))
    }
}
