//! The tarpc adapter: decode, check the session's role and application, call the engine or the
//! store, encode. No business rule lives here. The client side and the wire are `cip_client`'s.

use crate::auth::{Auth, Caller};
use crate::engine::Engine;
use crate::feed::Feed;
use crate::handoff::Handoffs;
use crate::lookup::Lookup;
use crate::report::{Reports, Runner};
use cip_common::calendar;
use cip_common::error::ApiError;
use cip_common::event::{Event, EventBatch};
use cip_common::form::ApplicationSpec;
use cip_common::health::DaemonStatus;
use cip_common::payment::{Mode, Payment, PaymentLookup, PaymentRequest, SearchPage, SearchQuery};
use cip_common::refund::{Refund, RefundRequest};
use cip_common::report::{ExportPart, Reconciliation, ReportFilter};
use cip_common::secret::{Password, SessionToken};
use cip_common::service::Cip;
use cip_common::session::{Role, SessionInfo};
use cip_common::stats::Stats;
use cip_config::RpcSettings;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tarpc::context::Context;

/// Everything a connection's calls share.
pub struct Shared {
    pub engine: Arc<Engine>,
    pub auth: Auth,
    pub lookup: Lookup,
    pub feed: Feed,
    pub reports: Reports,
    pub handoffs: Handoffs,
    pub health: Arc<crate::health::Health>,
    pub limits: RpcSettings,
}

/// One client connection: the shared daemon and where the client is.
#[derive(Clone)]
pub struct Connection {
    pub shared: Arc<Shared>,
    /// The peer, for the audit log: `unix uid=1000 pid=4242`.
    pub origin: Arc<str>,
}

/// Runs `work` in a task of its own, so a caller that goes away cannot stop it halfway.
pub(crate) async fn run_to_end<T: Send + 'static>(
    work: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work).await.unwrap_or_else(|e| {
        tracing::error!("a supervisor action stopped: {e}");
        Err(ApiError::Unavailable {
            reason: "the action stopped; look at the payment again".to_owned(),
        })
    })
}

/// Roles that may watch the feed.
const FEED_WATCHERS: [Role; 2] = [Role::Agent, Role::Supervisor];

impl Connection {
    /// Runs a call within the daemon's cap on deadlines, whatever the client asked for.
    async fn capped<T>(
        &self,
        call: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let cap = Duration::from_millis(self.shared.limits.max_deadline_ms);
        tokio::time::timeout(cap, call).await.unwrap_or_else(|_| {
            Err(ApiError::Unavailable {
                reason: "the call took longer than the daemon allows".to_owned(),
            })
        })
    }

    async fn caller(&self, token: &SessionToken) -> Result<Caller, ApiError> {
        self.shared.auth.session(token).await
    }

    /// The spec of `application` for a supervisor's report, if it is one of theirs.
    async fn report_spec(
        &self,
        caller: &Caller,
        application: &str,
    ) -> Result<ApplicationSpec, ApiError> {
        caller.require(&[Role::Supervisor], "see reports")?;
        if !caller
            .visible_applications()
            .iter()
            .any(|a| a == application)
        {
            return Err(ApiError::Forbidden {
                action: format!("see reports of {application}"),
            });
        }
        Ok(self.shared.engine.form(application).await?.spec.clone())
    }

    /// The caller of a call a console makes by itself, which keeps no session alive.
    async fn watcher(&self, token: &SessionToken) -> Result<Caller, ApiError> {
        self.shared.auth.watching(token).await
    }
}

impl Cip for Connection {
    async fn login(
        self,
        _: Context,
        application: String,
        user: String,
        password: Password,
    ) -> Result<SessionInfo, ApiError> {
        let origin = Arc::clone(&self.origin);
        self.capped(self.shared.auth.login(
            &application,
            &user,
            password,
            &origin,
            &crate::auth::CONSOLE,
        ))
        .await
    }

    async fn status(self, _: Context) -> Result<DaemonStatus, ApiError> {
        if !self.origin.starts_with("unix") {
            return Err(ApiError::InvalidRequest {
                message: "the daemon tells its status on its Unix socket only: run cipd status \
                          on the daemon's machine"
                    .to_owned(),
            });
        }
        let mut status = self.shared.health.status().await;
        // The connection asking is `cipd status`, not a console.
        status.consoles = status.consoles.saturating_sub(1);
        Ok(status)
    }

    async fn logout(self, _: Context, token: SessionToken) -> Result<(), ApiError> {
        self.capped(self.shared.auth.logout(&token, &self.origin))
            .await
    }

    async fn keep_alive(self, _: Context, token: SessionToken) -> Result<(), ApiError> {
        self.capped(async { self.caller(&token).await.map(drop) })
            .await
    }

    async fn application(
        self,
        _: Context,
        token: SessionToken,
        id: String,
    ) -> Result<ApplicationSpec, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            if !caller.grants.contains(&id) {
                return Err(ApiError::Forbidden {
                    action: format!("use application {id}"),
                });
            }
            Ok(self.shared.engine.form(&id).await?.spec.clone())
        })
        .await
    }

    async fn submit(
        self,
        _: Context,
        token: SessionToken,
        idempotency_key: String,
        request: PaymentRequest,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            caller.require(&[Role::Agent, Role::Supervisor], "key in payments")?;
            self.shared
                .engine
                .submit(&caller, Mode::Full, idempotency_key, request)
                .await
        })
        .await
    }

    async fn gateway_submit(
        self,
        _: Context,
        application: String,
        user: String,
        password: Password,
        idempotency_key: String,
        request: PaymentRequest,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self
                .shared
                .auth
                .authenticate(&application, &user, password, &self.origin)
                .await?;
            caller.require(&[Role::Api], "submit gateway payments")?;
            self.shared
                .engine
                .submit(&caller, Mode::Gateway, idempotency_key, request)
                .await
        })
        .await
    }

    async fn payment(
        self,
        _: Context,
        token: SessionToken,
        lookup: PaymentLookup,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            self.shared.lookup.find(&caller, lookup).await
        })
        .await
    }

    async fn search(
        self,
        _: Context,
        token: SessionToken,
        query: SearchQuery,
    ) -> Result<SearchPage, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            let max = self.shared.limits.max_page_size;
            self.shared.lookup.search(&caller, query, max).await
        })
        .await
    }

    async fn events(
        self,
        _: Context,
        token: SessionToken,
        after_seq: u64,
        max: u32,
        wait_ms: u32,
    ) -> Result<EventBatch, ApiError> {
        self.capped(async {
            let caller = self.watcher(&token).await?;
            caller.require(&FEED_WATCHERS, "watch the feed")?;
            let limits = &self.shared.limits;
            let max = max.clamp(1, limits.max_events);
            let wait = Duration::from_millis(u64::from(wait_ms.min(limits.max_wait_ms)));
            self.shared
                .feed
                .events_after(after_seq, caller.visibility(), max, wait)
                .await
                .map_err(ApiError::from)
        })
        .await
    }

    async fn events_before(
        self,
        _: Context,
        token: SessionToken,
        before_seq: u64,
        max: u32,
    ) -> Result<Vec<Event>, ApiError> {
        self.capped(async {
            let caller = self.watcher(&token).await?;
            caller.require(&FEED_WATCHERS, "watch the feed")?;
            let max = max.clamp(1, self.shared.limits.max_events);
            Ok(self
                .shared
                .feed
                .events_before(before_seq, caller.visibility(), max)
                .await?)
        })
        .await
    }

    async fn timeline(
        self,
        _: Context,
        token: SessionToken,
        payment_id: String,
    ) -> Result<Vec<Event>, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            self.shared.lookup.timeline(&caller, payment_id).await
        })
        .await
    }

    async fn stats(self, _: Context, token: SessionToken) -> Result<Stats, ApiError> {
        self.capped(async {
            let caller = self.watcher(&token).await?;
            caller.require(&[Role::Supervisor], "see the queue")?;
            self.shared.engine.stats(&caller).await
        })
        .await
    }

    async fn void(
        self,
        _: Context,
        token: SessionToken,
        payment_id: String,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            caller.require(&[Role::Supervisor], "void payments")?;
            let (engine, origin) = (Arc::clone(&self.shared.engine), self.origin.to_string());
            // Its own task: once the processor has voided, the record follows whatever the caller does.
            run_to_end(async move { engine.void(&caller, &payment_id, &origin).await }).await
        })
        .await
    }

    async fn resolve(
        self,
        _: Context,
        token: SessionToken,
        payment_id: String,
    ) -> Result<Payment, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            caller.require(&[Role::Supervisor], "resolve payments")?;
            let (engine, origin) = (Arc::clone(&self.shared.engine), self.origin.to_string());
            run_to_end(async move { engine.resolve_now(&caller, &payment_id, &origin).await }).await
        })
        .await
    }

    async fn refund(
        self,
        _: Context,
        token: SessionToken,
        payment_id: String,
        idempotency_key: String,
        request: RefundRequest,
    ) -> Result<Refund, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            caller.require(&[Role::Supervisor], "refund payments")?;
            let engine = &self.shared.engine;
            let refunded = engine
                .refund(&caller, &payment_id, idempotency_key, request, &self.origin)
                .await?;
            Ok(refunded.refund)
        })
        .await
    }

    async fn refunds(
        self,
        _: Context,
        token: SessionToken,
        payment_id: String,
    ) -> Result<Vec<Refund>, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            caller.require(&[Role::Supervisor], "see refunds")?;
            self.shared.engine.refunds(&caller, &payment_id).await
        })
        .await
    }

    async fn unlock(self, _: Context, token: SessionToken, user: String) -> Result<(), ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            self.shared.auth.unlock(&caller, &user, &self.origin).await
        })
        .await
    }

    async fn export_part(
        self,
        _: Context,
        token: SessionToken,
        filter: ReportFilter,
        after: Option<String>,
    ) -> Result<ExportPart, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            let spec = self.report_spec(&caller, &filter.application).await?;
            let runner = Runner {
                actor: caller.user,
                origin: self.origin.to_string(),
            };
            // Half a frame: room for the answer's envelope around the rows.
            let max_bytes = self.shared.limits.max_frame_bytes / 2;
            Ok(self
                .shared
                .reports
                .export_part(spec, &filter, after, max_bytes, &runner)
                .await?)
        })
        .await
    }

    async fn reconcile(
        self,
        _: Context,
        token: SessionToken,
        application: String,
        day: Option<jiff::civil::Date>,
    ) -> Result<Reconciliation, ApiError> {
        self.capped(async {
            let caller = self.caller(&token).await?;
            let spec = self.report_spec(&caller, &application).await?;
            let engine = &self.shared.engine;
            let day =
                day.unwrap_or_else(|| calendar::day_of(&spec.zone(), engine.clock().now_ms()));
            Ok(self.shared.reports.reconcile(&spec, day).await?)
        })
        .await
    }
}
