//! The tarpc contract between `cipd` and its clients. Every call but `login` and
//! `gateway_submit` carries the session token from `login`; the daemon checks role and
//! application on every call.

use crate::error::ApiError;
use crate::event::{Event, EventBatch};
use crate::form::ApplicationSpec;
use crate::health::DaemonStatus;
use crate::payment::{Payment, PaymentLookup, PaymentRequest, SearchPage, SearchQuery};
use crate::refund::{Refund, RefundRequest};
use crate::report::{ExportPart, Reconciliation, ReportFilter};
use crate::secret::{Password, SessionToken};
use crate::session::SessionInfo;
use crate::stats::Stats;

#[tarpc::service]
pub trait Cip {
    /// Signs in to one application. Wrong credentials never say which part was wrong.
    async fn login(
        application: String,
        user: String,
        password: Password,
    ) -> Result<SessionInfo, ApiError>;

    /// How the daemon is doing (`cipd status`). No session: whoever may open the socket (the
    /// `cip` group) or reach the TLS port with a client certificate may ask.
    async fn status() -> Result<DaemonStatus, ApiError>;

    async fn logout(token: SessionToken) -> Result<(), ApiError>;

    /// The session is in use (an agent typing a payment): its idle clock starts again.
    async fn keep_alive(token: SessionToken) -> Result<(), ApiError>;

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

    /// Up to `max` events before `before_seq` that the session may see, oldest first: older
    /// history for a feed whose buffer starts at `before_seq`.
    async fn events_before(
        token: SessionToken,
        before_seq: u64,
        max: u32,
    ) -> Result<Vec<Event>, ApiError>;

    /// Every event of one payment, oldest first.
    async fn timeline(token: SessionToken, payment_id: String) -> Result<Vec<Event>, ApiError>;

    /// Supervisors: the queue and its figures.
    async fn stats(token: SessionToken) -> Result<Stats, ApiError>;

    /// Supervisors: void an approved payment (within the business day the settings allow).
    async fn void(token: SessionToken, payment_id: String) -> Result<Payment, ApiError>;

    /// Supervisors: ask the processor about an in-doubt payment now and settle it.
    async fn resolve(token: SessionToken, payment_id: String) -> Result<Payment, ApiError>;

    /// Supervisors: give back part or all of an approved payment. The same key and request
    /// give the same refund; the same key with a different request is a conflict.
    async fn refund(
        token: SessionToken,
        payment_id: String,
        idempotency_key: String,
        request: RefundRequest,
    ) -> Result<Refund, ApiError>;

    /// Supervisors: a payment's refunds, oldest first.
    async fn refunds(token: SessionToken, payment_id: String) -> Result<Vec<Refund>, ApiError>;

    /// Supervisors: lift a user's lockout.
    async fn unlock(token: SessionToken, user: String) -> Result<(), ApiError>;

    /// Supervisors: the next part of a CSV export of the payments `filter` takes (the columns of
    /// `cipd report export`): from the start, header first, when `after` is `None`, else after
    /// that payment. The first part is audited as the export.
    async fn export_part(
        token: SessionToken,
        filter: ReportFilter,
        after: Option<String>,
    ) -> Result<ExportPart, ApiError>;

    /// Supervisors: an application's reconciliation of one of its local days (today if `None`).
    async fn reconcile(
        token: SessionToken,
        application: String,
        day: Option<jiff::civil::Date>,
    ) -> Result<Reconciliation, ApiError>;
}
