//! `[processor] kind = "sandbox-http"`: a processor that speaks the sandbox's wire protocol
//! (`sandbox_server`) at `url`, such as `cipd sandbox serve`, shared by several daemons. Only an
//! answer proves an outcome: a refused connection proves nothing was sent; any other error leaves
//! the payment in doubt, to be settled by inquiry.

use super::sandbox_server::{AuthorizationBody, RefundBody};
use super::{
    Authorization, Inquiry, Outcome, Processor, ProcessorError, ProcessorFuture, Refund,
    RefundOutcome,
};
use reqwest::StatusCode;
use std::time::Duration;

/// How long a connection to the processor may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct SandboxHttp {
    client: reqwest::Client,
    /// `http://127.0.0.1:8490`, without a trailing slash.
    base: String,
}

impl SandboxHttp {
    /// A client of the processor at `url`; each call but an authorization (which the engine
    /// bounds with its deadline) gives up after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<SandboxHttp, ProcessorError> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .build()
            .map_err(|e| ProcessorError::Unreachable(e.to_string()))?;
        Ok(SandboxHttp {
            client,
            base: url.trim_end_matches('/').to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `request`; an answer with a status other than those `expected` is the processor
    /// refusing, in its own words.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        expected: &[StatusCode],
    ) -> Result<reqwest::Response, ProcessorError> {
        let response = request.send().await.map_err(unreachable)?;
        if expected.contains(&response.status()) {
            return Ok(response);
        }
        let status = response.status();
        let said = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Err(if status.is_server_error() {
            ProcessorError::Unreachable(format!("{status} {said}"))
        } else {
            ProcessorError::Refused(format!("{status} {said}"))
        })
    }
}

/// A transport error, said without the request (the URL names only a reference).
fn unreachable(e: reqwest::Error) -> ProcessorError {
    ProcessorError::Unreachable(e.without_url().to_string())
}

impl Processor for SandboxHttp {
    fn probe(&self) -> ProcessorFuture<'_, Result<(), ProcessorError>> {
        Box::pin(async {
            let request = self.client.get(self.url("/healthz"));
            self.send(request, &[StatusCode::OK]).await.map(|_| ())
        })
    }

    fn authorize<'a>(
        &'a self,
        request: Authorization<'a>,
    ) -> ProcessorFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let body = AuthorizationBody {
                reference: request.reference.to_owned(),
                amount_minor: request.amount.minor,
                currency: request.amount.currency,
                deadline_ms: u64::try_from(request.deadline.as_millis()).unwrap_or(u64::MAX),
                method: request.method.clone(),
            };
            let sent = self
                .client
                .post(self.url("/v1/authorizations"))
                .timeout(request.deadline)
                .json(&body)
                .send()
                .await;
            drop(body);
            let response = match sent {
                // Nothing reached the processor: nothing is charged.
                Err(e) if e.is_connect() => {
                    tracing::warn!(payment = %request.reference, "the processor refused the connection: {}", e.without_url());
                    return Ok(Outcome::Failed {
                        code: "processor_unavailable".to_owned(),
                    });
                }
                Err(e) => return Err(unreachable(e)),
                Ok(response) => response,
            };
            match response.status() {
                StatusCode::OK => response.json::<Outcome>().await.map_err(unreachable),
                // The processor read the request and would not take it: nothing is charged.
                status if status.is_client_error() => {
                    tracing::error!(payment = %request.reference, "the processor refused the authorization: {status}");
                    Ok(Outcome::Failed {
                        code: "processing_error".to_owned(),
                    })
                }
                status => Err(ProcessorError::Unreachable(format!(
                    "the processor answered {status}"
                ))),
            }
        })
    }

    fn inquire<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<Inquiry, ProcessorError>> {
        Box::pin(async move {
            let request = self
                .client
                .get(self.url(&format!("/v1/authorizations/{reference}")));
            let response = self
                .send(request, &[StatusCode::OK, StatusCode::NOT_FOUND])
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(Inquiry::NotFound);
            }
            let outcome = response.json::<Outcome>().await.map_err(unreachable)?;
            Ok(Inquiry::Decided(outcome))
        })
    }

    fn void<'a>(&'a self, reference: &'a str) -> ProcessorFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            let request = self
                .client
                .post(self.url(&format!("/v1/authorizations/{reference}/void")));
            self.send(request, &[StatusCode::OK]).await.map(drop)
        })
    }

    fn refund<'a>(
        &'a self,
        request: Refund<'a>,
    ) -> ProcessorFuture<'a, Result<RefundOutcome, ProcessorError>> {
        Box::pin(async move {
            let body = RefundBody {
                reference: request.reference.to_owned(),
                payment: request.payment.to_owned(),
                amount_minor: request.amount.minor,
                currency: request.amount.currency,
            };
            let request = self.client.post(self.url("/v1/refunds")).json(&body);
            let response = self.send(request, &[StatusCode::OK]).await?;
            response.json::<RefundOutcome>().await.map_err(unreachable)
        })
    }

    fn reverse<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            let request = self
                .client
                .post(self.url(&format!("/v1/authorizations/{reference}/reversal")));
            self.send(request, &[StatusCode::OK]).await.map(drop)
        })
    }
}
