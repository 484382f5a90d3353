//! The HTTP adapter (axum): the agency API under `/v1/` (gateway payments, lookups, hand-offs),
//! CIP's hosted payment pages for partial mode under `/pay`, the staff pages under `/staff/`,
//! `/openapi.json`, and `/healthz` and `/readyz`. Thin, like the tarpc adapter: decode, check the
//! caller, call the engine, encode.

mod agency;
mod answer;
mod gateway;
mod handoffs;
pub mod health;
mod html;
mod pages;
mod rate;
mod refunds;
mod reports;
mod staff;

use crate::rpc::Shared;
use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum_server::tls_rustls::RustlsConfig;
use cip_config::HttpSettings;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use gateway::request_json;

/// The OpenAPI 3.1 document of the agency API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../assets/openapi.json");

/// Ports tried after the configured one when it is taken (the demo's "or the next free port").
const DEMO_PORTS: u16 = 20;

/// A bound HTTP listener and the address customers reach it on.
pub struct HttpListener {
    listener: TcpListener,
    /// Set when `[http]` names a certificate and key: HTTPS only.
    tls: Option<RustlsConfig>,
    /// `http://127.0.0.1:8480`, or the configured public URL.
    pub base_url: String,
}

/// Binds `settings.listen` (and reads the TLS certificate and key, so a bad one stops the start);
/// with `next_free`, tries the following ports when it is taken.
pub async fn bind(settings: &HttpSettings, next_free: bool) -> anyhow::Result<HttpListener> {
    let tls = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => {
            let mut config = crate::tls::server_config(cert, key, None)?;
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Some(RustlsConfig::from_config(Arc::new(config)))
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let wanted: SocketAddr = settings
        .listen
        .parse()
        .with_context(|| format!("http.listen {:?} is not ADDR:PORT", settings.listen))?;
    let tries = if next_free { DEMO_PORTS } else { 1 };
    let mut last_error = None;
    for offset in 0..tries {
        let mut addr = wanted;
        addr.set_port(wanted.port().saturating_add(offset));
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                let local = listener.local_addr()?;
                let base_url = match settings.public_url.is_empty() {
                    true => format!("{scheme}://{local}"),
                    false => settings.public_url.trim_end_matches('/').to_owned(),
                };
                return Ok(HttpListener {
                    listener,
                    tls,
                    base_url,
                });
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.map_or_else(
        || anyhow::anyhow!("no port to listen on"),
        anyhow::Error::from,
    ))
    .with_context(|| format!("cannot listen for HTTP on {wanted}"))
}

/// What every request handler shares.
pub struct HttpState {
    pub shared: Arc<Shared>,
    pub settings: HttpSettings,
    pub base_url: String,
    rate: rate::Limiter,
    visits: pages::Visits,
}

/// Serves HTTP on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: HttpListener,
    shared: Arc<Shared>,
    settings: HttpSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = Arc::new(HttpState {
        rate: rate::Limiter::new(settings.rate_per_second, settings.rate_burst),
        visits: pages::Visits::default(),
        shared,
        base_url: listener.base_url.clone(),
        settings,
    });
    serve_app(listener, Arc::clone(&state), shutdown).await
}

async fn serve_app(
    listener: HttpListener,
    state: Arc<HttpState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let Some(tls) = listener.tls else {
        return axum::serve(crate::tcp::no_delay(listener.listener), app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("the HTTP server stopped");
    };
    // Each connection's handshake runs in its own task with a timeout (axum-server's acceptor),
    // so a slow or broken client never holds up the others.
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
    });
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
        .acceptor(axum_server::accept::NoDelayAcceptor);
    axum_server::from_tcp(listener.listener.into_std()?)
        .acceptor(acceptor)
        .handle(handle)
        .serve(app)
        .await
        .context("the HTTPS server stopped")
}

fn router(state: Arc<HttpState>) -> Router {
    let limit = state.settings.max_body_bytes;
    Router::new()
        .route("/v1/payments", post(gateway::submit).get(gateway::search))
        .route("/v1/payments/{id}", get(gateway::payment))
        .route(
            "/v1/payments/{id}/refunds",
            post(refunds::create).get(refunds::list),
        )
        .route("/v1/handoffs", post(handoffs::create))
        .route("/v1/handoffs/{id}", get(handoffs::status))
        .route("/v1/reports/payments.csv", get(reports::payments_csv))
        .route("/openapi.json", get(openapi))
        .merge(pages::routes())
        .merge(staff::routes())
        .merge(health::routes(Arc::clone(&state.shared.health)))
        .fallback(answer::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::map_response_with_state(
            Arc::clone(&state),
            strict_transport,
        ))
        .with_state(state)
}

async fn openapi() -> Response {
    let mut response = Response::new(OPENAPI.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The value of the cookie `name` a browser sent.
fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// Whether a form's token is the one expected, in a time that does not tell how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Over TLS, browsers are told to come back only over TLS.
async fn strict_transport(State(state): State<Arc<HttpState>>, mut response: Response) -> Response {
    if state.base_url.starts_with("https://") {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Headers on every answer: nothing cached (payment data), no framing, no sniffing, and a CSP
/// that allows no script at all and styles only from CIP itself.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
