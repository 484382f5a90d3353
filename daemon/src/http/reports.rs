//! `GET /v1/reports/payments.csv`: the CSV export for an agency's server, streamed as it is
//! written (a bounded channel between the reader connection and the response), audited as the
//! calling `api` user.

use super::HttpState;
use super::agency::caller;
use super::answer::Refusal;
use crate::report::{Reports, Runner};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use cip_common::calendar;
use cip_common::error::ApiError;
use cip_common::form::ApplicationSpec;
use cip_common::payment::Mode;
use cip_common::report::ReportFilter;
use cip_common::status::PaymentStatus;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    from: Option<String>,
    to: Option<String>,
    status: Option<PaymentStatus>,
    mode: Option<Mode>,
}

/// Chunks of CSV on their way to the response; a full channel makes the export wait.
struct Chunks(mpsc::Sender<Result<Bytes, std::io::Error>>);

impl std::io::Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn payments_csv(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let caller = caller(&state, &headers, peer).await?;
    let invalid = |message: String| Refusal::Api(ApiError::InvalidRequest { message });
    let Query(params) =
        params.map_err(|e| invalid(format!("{}: see /openapi.json", e.body_text())))?;
    let day = |text: Option<String>| text.map(|t| calendar::parse_day(&t)).transpose();
    let filter = ReportFilter {
        application: caller.application.clone(),
        from: day(params.from).map_err(invalid)?,
        to: day(params.to).map_err(invalid)?,
        status: params.status,
        mode: params.mode,
        ..ReportFilter::default()
    };
    let spec = state
        .shared
        .engine
        .form(&caller.application)
        .await?
        .spec
        .clone();
    let runner = Runner {
        actor: caller.user,
        origin: format!("http {peer}"),
    };
    Ok(streamed_csv(
        state.shared.reports.clone(),
        spec,
        filter,
        runner,
        "payments.csv",
    ))
}

/// The export `filter` takes as a CSV download named `file_name`, written as it is sent and
/// audited as `runner`'s; one that fails midway aborts the response, never ends it as if whole.
pub fn streamed_csv(
    reports: Reports,
    spec: ApplicationSpec,
    filter: ReportFilter,
    runner: Runner,
    file_name: &str,
) -> Response {
    let (chunks, receiver) = mpsc::channel(16);
    let failed = chunks.clone();
    let out = Box::new(std::io::BufWriter::with_capacity(64 * 1024, Chunks(chunks)));
    tokio::spawn(async move {
        if let Err(e) = reports.export(spec, &filter, out, &runner).await {
            tracing::warn!("an export over HTTP stopped: {e}");
            // An error in the body aborts the response, so the client cannot take a cut-short
            // export for a whole one.
            let _ = failed
                .send(Err(std::io::Error::other("the export stopped")))
                .await;
        }
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let disposition = format!("attachment; filename=\"{file_name}\"");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
