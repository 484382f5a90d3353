//! Health for load balancers and monitors: `/healthz` (the process answers) and `/readyz` (it
//! can take payments: 503 with the reason when not), on the HTTP listener and the metrics one;
//! and the metrics listener itself, `/metrics` on `[metrics] listen`.

use crate::health::Health;
use crate::metrics::METRICS;
use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::sync::Arc;
use tokio::net::TcpListener;

/// `/healthz` and `/readyz`, for any router.
pub fn routes<S>(health: Arc<Health>) -> Router<S> {
    Router::new()
        .route("/healthz", get(alive))
        .route("/readyz", get(ready))
        .with_state(health)
}

async fn alive() -> Response {
    axum::Json(json!({ "status": "alive" })).into_response()
}

async fn ready(State(health): State<Arc<Health>>) -> Response {
    let readiness = health.readiness().await;
    match readiness.reason() {
        None => axum::Json(json!({ "status": "ready" })).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "not ready", "reason": reason })),
        )
            .into_response(),
    }
}

async fn metrics(State(health): State<Arc<Health>>) -> Response {
    let mut response = METRICS.scrape(&health).await.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Binds `[metrics] listen`, so a taken port stops the start.
pub async fn bind_metrics(listen: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen for metrics on {listen}"))
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    health: Arc<Health>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(Arc::clone(&health))
        .merge(routes(health));
    axum::serve(crate::tcp::no_delay(listener), app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the metrics server stopped")
}
