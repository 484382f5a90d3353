//! Who is calling the agency API, and what it sent: the application header, HTTP Basic
//! credentials of an `api` user, the per-application rate, and JSON bodies decoded with every
//! field error named.

use super::HttpState;
use super::answer::Refusal;
use crate::auth::Caller;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use cip_common::error::ApiError;
use cip_common::fields::FieldErrors;
use cip_common::free_text::looks_like_card_number;
use cip_common::payment::check_idempotency_key;
use cip_common::secret::Password;
use cip_common::session::Role;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use zeroize::Zeroizing;

pub const APPLICATION_HEADER: &str = "x-cip-application";

/// The `api` user calling for the application it names, after the rate check (so a flood of
/// guesses from one address costs no argon2 beyond the rate).
pub async fn caller(
    state: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Caller, Refusal> {
    let application = headers
        .get(APPLICATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(Refusal::Header {
            name: "X-CIP-Application",
            message: "name the application the payment is for, like DMV-RENEWAL".to_owned(),
        })?;
    // An application CIP does not have is refused before anything is counted or hashed (a store
    // that cannot say is CIP briefly unavailable, not the caller's fault); a known one is
    // limited per calling address, so nobody else's flood can stop an agency. Nothing else
    // about the application is told before its credentials are checked.
    if !state.shared.engine.has_application(application).await? {
        return Err(Refusal::Api(ApiError::BadCredentials));
    }
    state
        .rate
        .take(&format!("{application} {}", peer.ip()))
        .map_err(|retry_after_s| Refusal::RateLimited { retry_after_s })?;
    let (user, password) =
        basic_credentials(headers).ok_or(Refusal::Api(ApiError::BadCredentials))?;
    let caller = state
        .shared
        .auth
        .authenticate(application, &user, password, &format!("http {peer}"))
        .await?;
    // Another role's right password is answered like a wrong one: never which part was wrong.
    caller
        .require(&[Role::Api], "call the agency API")
        .map_err(|_| ApiError::BadCredentials)?;
    Ok(caller)
}

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The `Idempotency-Key` a payment or a refund is taken under, refused unless well formed.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, Refusal> {
    let key = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(Refusal::Header {
            name: "Idempotency-Key",
            message: "send a new key of 1 to 255 letters, digits and hyphens with each payment \
                      or refund, and the same key to retry it"
                .to_owned(),
        })?
        .to_owned();
    check_idempotency_key(&key, "Idempotency-Key")?;
    Ok(key)
}

/// User id and password from `Authorization: Basic`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, Password)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), Password::new(password)))
}

/// The body as `T`: 413 beyond the size limit, 400 when it is not JSON, 422 naming the field
/// whose value has the wrong type.
pub fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, Refusal> {
    let bytes = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Refusal::TooLarge { limit },
        _ => Refusal::Body(format!("the body could not be read: {rejection}")),
    })?;
    let mut json = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let mut field = e.path().to_string();
        // A map's keys are in the path, and one may be a card number: name what holds it.
        if looks_like_card_number(&field) {
            field = field
                .split('.')
                .take_while(|part| !looks_like_card_number(part))
                .collect::<Vec<_>>()
                .join(".");
            if field.is_empty() {
                field.push('.');
            }
        }
        let inner = e.into_inner();
        // serde's own words can quote the value sent, which may be a card number: never used.
        match inner.classify() {
            serde_json::error::Category::Data if field != "." => {
                let mut errors = FieldErrors::default();
                errors.add(
                    field,
                    "this value has the wrong type or form: send it as /openapi.json shows",
                );
                Refusal::Api(ApiError::Fields(errors))
            }
            _ => Refusal::Body(format!(
                "the body is not the JSON object this call takes (line {}, column {}): send \
                 Content-Type: application/json with the fields /openapi.json shows",
                inner.line(),
                inner.column()
            )),
        }
    })
}
