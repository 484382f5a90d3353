//! The tarpc contract between `cipd` and its clients. Every call but `login` and
//! `gateway_submit` carries the session token from `login`; the daemon checks role and
//! application on every call.

use crate::error::ApiError;
use crate::event::EventBatch;
use crate::form::ApplicationSpec;
use crate::payment::{Payment, PaymentLookup, PaymentRequest, SearchPage, SearchQuery};
use crate::secret::{Password, SessionToken};
use crate::session::SessionInfo;

#[tarpc::service]
pub trait Cip {
    /// Signs in to one application. Wrong credentials never say which part was wrong.
    async fn login(
        application: String,
        user: String,
        password: Password,
    ) -> Result<SessionInfo, ApiError>;

    async fn logout(token: SessionToken) -> Result<(), ApiError>;

    /// The form spec of an application the session may use.
    async fn application(token: SessionToken, id: String) -> Result<ApplicationSpec, ApiError>;

    /// Full mode: submit a payment for the session's application. The same key and request give
    /// the same answer; the same key with a different request is a conflict.
    async fn submit(
        token: SessionToken,
        idempotency_key: String,
        request: PaymentRequest,
    ) -> Result<Payment, ApiError>;

    /// Gateway mode: sign in and submit in one call.
    async fn gateway_submit(
        application: String,
        user: String,
        password: Password,
        idempotency_key: String,
        request: PaymentRequest,
    ) -> Result<Payment, ApiError>;

    async fn payment(token: SessionToken, lookup: PaymentLookup) -> Result<Payment, ApiError>;

    async fn search(token: SessionToken, query: SearchQuery) -> Result<SearchPage, ApiError>;

    /// Events after `after_seq` that the session may see; waits up to `wait_ms` for one.
    async fn events(
        token: SessionToken,
        after_seq: u64,
        max: u32,
        wait_ms: u32,
    ) -> Result<EventBatch, ApiError>;
}
