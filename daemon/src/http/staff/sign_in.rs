//! Signing in to the staff pages and out of them: application id, user id and password, checked
//! as the console checks them (lockout, audit), through the door that lets viewers and
//! supervisors in.

use super::{FORM_COOKIE, Refused, SESSION_COOKIE, checked, page, set_cookie, staff};
use crate::auth::STAFF_PAGES;
use crate::http::HttpState;
use crate::http::answer::api_status_and_code;
use crate::http::cookie;
use crate::http::html::{Input, capitalized, error_summary, escape};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cip_common::fields::FieldErrors;
use cip_common::secret::{Password, SessionToken};
use std::collections::HashMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the sign-in page shows besides its form.
#[derive(Default)]
struct Shown {
    application: String,
    user: String,
    errors: FieldErrors,
    notice: Option<String>,
}

/// The sign-in page, or the payments for a browser already signed in.
pub async fn show(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if staff(&state, &headers).await.is_ok() {
        return Redirect::to("/staff/payments").into_response();
    }
    let notice = if query.contains_key("ended") {
        Some(format!(
            "Your session ended ({} minutes without use, or signed out elsewhere): sign in again.",
            state.shared.auth.idle_ms() / 60_000
        ))
    } else if query.contains_key("signed_out") {
        Some("You have signed out.".to_owned())
    } else {
        None
    };
    form(
        &state,
        StatusCode::OK,
        Shown {
            notice,
            ..Shown::default()
        },
    )
}

/// The sign-in form with a new form token, in its cookie and its hidden field.
fn form(state: &HttpState, status: StatusCode, shown: Shown) -> Response {
    let token = state.shared.engine.entropy().secret_hex();
    let mut body = String::new();
    if let Some(notice) = &shown.notice {
        let _ = write!(
            body,
            "<p class=\"notice\" role=\"alert\">{}</p>",
            escape(notice)
        );
    }
    error_summary(&shown.errors, &mut body);
    let _ = write!(
        body,
        "<p>Agency staff and supervisors: sign in with the application you work for.</p>\
         <form method=\"post\" action=\"/staff/sign-in\" novalidate>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&token)
    );
    for input in [
        Input {
            label: "Application id",
            name: "application",
            value: &shown.application,
            attributes: "autocomplete=\"organization\" spellcheck=\"false\"",
            hint: "Like DMV-RENEWAL",
        },
        Input {
            label: "User id",
            name: "user",
            value: &shown.user,
            attributes: "autocomplete=\"username\" spellcheck=\"false\"",
            hint: "",
        },
        Input {
            label: "Password",
            name: "password",
            value: "",
            attributes: "type=\"password\" autocomplete=\"current-password\"",
            hint: "",
        },
    ] {
        input.render(&shown.errors, &mut body);
    }
    body.push_str("<button type=\"submit\">Sign in</button></form>");
    let mut response = page(status, None, "Sign in to CIP's payments", &body);
    set_cookie(&mut response, state, FORM_COOKIE, &token, "");
    response
}

pub async fn sign_in(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(mut sent): Form<HashMap<String, String>>,
) -> Response {
    let expected = cookie(&headers, FORM_COOKIE).unwrap_or_default();
    let token = sent.get("csrf").map_or("", String::as_str);
    if expected.is_empty() || !crate::http::constant_time_eq(token.as_bytes(), expected.as_bytes())
    {
        return Refused::Page(
            StatusCode::FORBIDDEN,
            "This sign-in form is out of date or did not come from CIP: open /staff/ and sign in there.".to_owned(),
        )
        .into_response();
    }
    if let Err(retry_after_s) = state.rate.take(&format!("staff {}", peer.ip())) {
        return Refused::Page(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many sign-ins from this address: try again in {retry_after_s} s."),
        )
        .into_response();
    }
    let mut take = |name: &str| sent.remove(name).unwrap_or_default();
    let (application, user, password) = (
        take("application").trim().to_owned(),
        take("user").trim().to_owned(),
        Password::new(take("password")),
    );
    let mut errors = FieldErrors::default();
    for (name, value, what) in [
        (
            "application",
            application.as_str(),
            "Enter the application id, like DMV-RENEWAL",
        ),
        ("user", user.as_str(), "Enter your user id"),
        ("password", password.expose(), "Enter your password"),
    ] {
        if value.is_empty() {
            errors.add(name, what);
        }
    }
    let shown = |errors, notice| Shown {
        application: application.clone(),
        user: user.clone(),
        errors,
        notice,
    };
    if !errors.is_empty() {
        return form(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            shown(errors, None),
        );
    }
    let origin = format!("web {peer}");
    match state
        .shared
        .auth
        .login(&application, &user, password, &origin, &STAFF_PAGES)
        .await
    {
        Ok(session) => {
            let mut response = Redirect::to("/staff/payments").into_response();
            set_cookie(
                &mut response,
                &state,
                SESSION_COOKIE,
                session.token.expose(),
                "",
            );
            set_cookie(&mut response, &state, FORM_COOKIE, "", "; Max-Age=0");
            response
        }
        Err(e) => {
            let status = api_status_and_code(&e).0;
            form(
                &state,
                status,
                shown(FieldErrors::default(), Some(capitalized(&e.to_string()))),
            )
        }
    }
}

pub async fn sign_out(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(sent): Form<HashMap<String, String>>,
) -> Response {
    let signed_in = match staff(&state, &headers).await {
        Ok(staff) => staff,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = checked(&signed_in, sent.get("csrf")) {
        return refused.into_response();
    }
    let token = SessionToken::new(
        cookie(&headers, SESSION_COOKIE)
            .unwrap_or_default()
            .to_owned(),
    );
    if let Err(e) = state
        .shared
        .auth
        .logout(&token, &format!("web {peer}"))
        .await
    {
        return super::refused(&e).into_response();
    }
    let mut response = Redirect::to("/staff/?signed_out=1").into_response();
    set_cookie(&mut response, &state, SESSION_COOKIE, "", "; Max-Age=0");
    response
}
