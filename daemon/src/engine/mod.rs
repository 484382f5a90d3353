//! The payment pipeline, and the only code that moves a payment between states. Each phase is its
//! own transaction: validate and send nothing on any error; commit the payment as `processing`
//! with its idempotency key; call the processor with a deadline; commit the outcome, the
//! confirmation code and the event together; then answer. Payments left unsettled are resolved by
//! asking the processor, never by sending again: what it has never seen is reversed, and called
//! failed only once the reversal is acknowledged; an approval that turns up after that is voided.

use crate::auth::Caller;
use crate::clock::{Clock, Entropy};
use crate::codes::{CodeKey, Codes};
use crate::figures::Figures;
use crate::metrics::METRICS;
use crate::processor::{Authorization, Outcome, Processor};
use crate::store::Store;
use crate::store::accounts::AuditEntry;
use crate::store::payments::{Begun, Decided, Decision};
use cip_common::card::validate_pan;
use cip_common::error::ApiError;
use cip_common::event::EventKind;
use cip_common::form::{ApplicationSpec, MethodKind};
use cip_common::money::Money;
use cip_common::payment::{
    MethodSummary, Mode, Payment, PaymentMethod, PaymentRequest, check_idempotency_key,
    outcome_message, payment_id,
};
use cip_common::secret::last_four;
use cip_common::stats::{QueueItem, Stats};
use cip_common::status::PaymentStatus;
use cip_common::validate::Form;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

mod figures;
mod refunds;
mod unknown;
mod voids;

pub use refunds::Refunded;

pub use unknown::{LATE_APPROVAL_CODE, LATE_APPROVAL_VOIDED_CODE, NOT_CHARGED_CODE};

/// The code an in-doubt payment carries until an inquiry settles it.
const TIMEOUT_CODE: &str = "processor_timeout";
/// Most payments the queue view lists in each of its tables.
const MAX_QUEUE_ITEMS: usize = 200;

/// The key an application's hand-off notifications are signed with (HMAC-SHA256): derived from
/// the daemon's secret key, so nothing more is stored; `cipd app show` prints it for the agency.
pub fn callback_key(key: &[u8; 32], application: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(b"cip hand-off notifications\0");
    hasher.update(application.as_bytes());
    *hasher.finalize().as_bytes()
}

/// A keyed hash of everything that makes a request what it is: equal for a replay, never
/// revealing the card number.
pub fn fingerprint(key: &[u8; 32], application: &str, request: &PaymentRequest) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(application.as_bytes());
    hasher.update(&[0]);
    serde_json::to_writer(&mut hasher, request).expect("a request always serializes");
    *hasher.finalize().as_bytes()
}

fn audit_entry(
    caller: &Caller,
    action: &'static str,
    origin: &str,
    payment_id: &str,
    at_ms: i64,
) -> AuditEntry {
    AuditEntry {
        at_ms,
        actor: caller.user.clone(),
        action,
        success: true,
        origin: origin.to_owned(),
        object: format!("payment:{payment_id}"),
    }
}

pub struct Engine {
    store: Store,
    processor: Arc<dyn Processor>,
    clock: Arc<dyn Clock>,
    entropy: Entropy,
    /// Key of the request fingerprint: a fingerprint never reveals the card number.
    fingerprint_key: [u8; 32],
    /// Issues confirmation codes, with the key derived from the fingerprint key.
    codes: Codes,
    waits: ProcessorWaits,
    figures: Arc<Figures>,
    forms: RwLock<HashMap<String, Arc<Form>>>,
    /// Payments this process is carrying to their outcome, by id; a replay of the same key waits
    /// on its receiver instead of calling the processor again.
    in_flight: Mutex<HashMap<String, watch::Receiver<Option<Payment>>>>,
    /// In-doubt payments a task of their own is settling (`Engine::follow`); sweeps leave them.
    followed: Mutex<HashSet<String>>,
    /// Pending refunds a task of this process is carrying or sending again; sweeps leave them.
    refunds_in_flight: Mutex<HashSet<String>>,
}

/// Past the most a payment's commits and processor deadline may take, how long more the daemon
/// carrying it is given to commit its outcome (or move it to in doubt): a replay waits that
/// long, and other daemons' sweeps leave it alone until then.
const CARRIER_GRACE_MS: i64 = 1_000;

/// How long after it was created a payment still `processing` may be in the hands of the daemon
/// that took it: its processor `deadline` and [`CARRIER_GRACE_MS`], and on a `shared` store the
/// most its commits of the payment and of the outcome may each wait for the database.
pub fn carried_for(deadline: Duration, shared: bool) -> Duration {
    let commits = if shared {
        2 * crate::store::ANSWER_WITHIN
    } else {
        Duration::ZERO
    };
    deadline + commits + Duration::from_millis(CARRIER_GRACE_MS.unsigned_abs())
}

/// How long CIP waits on the processor.
#[derive(Clone, Copy, Debug)]
pub struct ProcessorWaits {
    /// For an authorization's answer; after it, the payment is in doubt.
    pub deadline: Duration,
    /// After the deadline, before the first inquiry about a payment in doubt (then again with
    /// backoff until the processor tells).
    pub ask_after: Duration,
}

/// A submitted payment, and whether an earlier call with the same key had already taken it.
pub struct Submitted {
    pub payment: Payment,
    pub replayed: bool,
}

impl Engine {
    pub fn new(
        store: Store,
        processor: Arc<dyn Processor>,
        clock: Arc<dyn Clock>,
        entropy: Entropy,
        fingerprint_key: [u8; 32],
        waits: ProcessorWaits,
    ) -> Engine {
        Engine {
            store,
            processor,
            clock,
            entropy,
            fingerprint_key,
            codes: Codes::new(CodeKey::from_fingerprint_key(&fingerprint_key)),
            waits,
            figures: Arc::default(),
            forms: RwLock::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            followed: Mutex::new(HashSet::new()),
            refunds_in_flight: Mutex::new(HashSet::new()),
        }
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub fn entropy(&self) -> &Entropy {
        &self.entropy
    }

    /// The key confirmation codes are issued with, and read back to their numbers.
    pub fn code_key(&self) -> &CodeKey {
        self.codes.key()
    }

    pub fn callback_key(&self, application: &str) -> [u8; 32] {
        callback_key(&self.fingerprint_key, application)
    }

    pub fn deadline_ms(&self) -> u64 {
        u64::try_from(self.waits.deadline.as_millis()).unwrap_or(u64::MAX)
    }

    /// Asks the processor whether it answers, changing nothing (the readiness check).
    pub async fn probe_processor(&self) -> Result<(), crate::processor::ProcessorError> {
        self.processor.probe().await
    }

    /// Payments this process is carrying right now.
    pub fn in_flight(&self) -> usize {
        self.lock_in_flight().len()
    }

    /// Whether CIP has `application`; a store that cannot say is an error, not a no.
    pub async fn has_application(&self, application: &str) -> Result<bool, ApiError> {
        let cached = self
            .forms
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(application);
        Ok(cached || self.store.application(application).await?.is_some())
    }

    /// The compiled form of an application, read once from the store.
    pub async fn form(&self, application: &str) -> Result<Arc<Form>, ApiError> {
        if let Some(form) = self
            .forms
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(application)
        {
            return Ok(Arc::clone(form));
        }
        let spec: Option<ApplicationSpec> = self.store.application(application).await?;
        let spec = spec.ok_or_else(|| ApiError::NotFound {
            what: "application".to_owned(),
            id: application.to_owned(),
        })?;
        let form = Arc::new(Form::new(spec).map_err(|problem| {
            tracing::error!("application {application} has a bad form: {problem}");
            ApiError::Unavailable {
                reason: format!("application {application} is misconfigured"),
            }
        })?);
        self.forms
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(application.to_owned(), Arc::clone(&form));
        Ok(form)
    }

    /// Takes a payment through the pipeline for `caller`'s application. The work runs in its own
    /// task, so a caller that goes away never leaves a payment half done.
    pub async fn submit(
        self: &Arc<Self>,
        caller: &Caller,
        mode: Mode,
        idempotency_key: String,
        request: PaymentRequest,
    ) -> Result<Payment, ApiError> {
        self.submit_once(caller, mode, idempotency_key, request)
            .await
            .map(|submitted| submitted.payment)
    }

    /// [`Engine::submit`], telling whether this call took the payment or replayed an earlier one.
    pub async fn submit_once(
        self: &Arc<Self>,
        caller: &Caller,
        mode: Mode,
        idempotency_key: String,
        mut request: PaymentRequest,
    ) -> Result<Submitted, ApiError> {
        let received = std::time::Instant::now();
        check_idempotency_key(&idempotency_key, "idempotency_key")?;
        let form = self.form(&caller.application).await?;
        // Before the fingerprint, so `abc123` and `ABC123` are one request under one key.
        form.normalize_fields(&mut request.fields);
        form.validate(&request, self.clock.today())
            .map_err(ApiError::Fields)?;
        if !self.processor.takes(request.method.kind()) {
            let mut errors = cip_common::fields::FieldErrors::default();
            let message = match request.method.kind() {
                MethodKind::Ach => "this daemon's processor takes cards only: pay by card",
                MethodKind::Card => {
                    "this daemon's processor does not take cards: pay by bank (ACH)"
                }
            };
            errors.add("method", message);
            return Err(ApiError::Fields(errors));
        }
        let fingerprint = fingerprint(&self.fingerprint_key, &caller.application, &request);
        let payment = self.new_payment(caller, mode, idempotency_key, &request);
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let carried = engine.carry(payment, fingerprint, request).await;
            if let Ok(Submitted {
                payment,
                replayed: false,
            }) = &carried
            {
                METRICS.payment(
                    &payment.application,
                    payment.mode,
                    payment.status.code(),
                    received.elapsed(),
                );
                if payment.status == PaymentStatus::InDoubt {
                    engine.follow(payment.clone());
                }
            }
            carried
        })
        .await
        .map_err(|e| {
            tracing::error!("payment task ended abnormally: {e}");
            ApiError::Unavailable {
                reason: "the payment task stopped".to_owned(),
            }
        })?
    }

    fn new_payment(
        &self,
        caller: &Caller,
        mode: Mode,
        idempotency_key: String,
        request: &PaymentRequest,
    ) -> Payment {
        let method = match &request.method {
            PaymentMethod::Card(card) => {
                let digits = card.number.digits();
                MethodSummary::Card {
                    brand: validate_pan(&digits).expect("validated before"),
                    first_six: digits[..6].to_owned(),
                    last_four: last_four(&digits),
                    exp_month: card.exp_month,
                    exp_year: card.exp_year,
                }
            }
            PaymentMethod::Ach(ach) => MethodSummary::Ach {
                routing_number: ach.routing_number.clone(),
                last_four: last_four(ach.account_number.expose()),
                account_type: ach.account_type,
            },
        };
        let trim = |s: &str| s.trim().to_owned();
        // The id carries the creation time, so a range of ids is a range of creation times.
        let now_ms = self.clock.now_ms();
        Payment {
            id: payment_id(now_ms, self.entropy.next_u64()),
            application: caller.application.clone(),
            mode,
            status: PaymentStatus::Processing,
            amount: Money::new(request.amount_minor, request.currency),
            payer: cip_common::payment::Payer {
                name: trim(&request.payer.name),
                email: trim(&request.payer.email),
                postal_code: trim(&request.payer.postal_code),
            },
            fields: request
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), trim(v)))
                .collect(),
            method,
            confirmation_code: None,
            code: None,
            message: None,
            idempotency_key,
            user: caller.user.clone(),
            created_ms: now_ms,
            decided_ms: None,
            batch: None,
            refunds: Default::default(),
        }
    }

    async fn carry(
        &self,
        payment: Payment,
        fingerprint: [u8; 32],
        request: PaymentRequest,
    ) -> Result<Submitted, ApiError> {
        let (settled, receiver) = watch::channel(None);
        let id = payment.id.clone();
        self.lock_in_flight().insert(id.clone(), receiver);
        let result = self.carry_registered(payment, fingerprint, request).await;
        self.lock_in_flight().remove(&id);
        if let Ok(submitted) = &result {
            settled.send_replace(Some(submitted.payment.clone()));
        }
        result
    }

    fn lock_in_flight(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<Option<Payment>>>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn carry_registered(
        &self,
        payment: Payment,
        fingerprint: [u8; 32],
        request: PaymentRequest,
    ) -> Result<Submitted, ApiError> {
        let begun = self.store.begin(&payment, &fingerprint).await?;
        match begun {
            Begun::Created { .. } => {}
            Begun::Existing {
                same_request: false,
                ..
            } => {
                return Err(ApiError::IdempotencyConflict {
                    key: payment.idempotency_key,
                });
            }
            Begun::Existing {
                payment_id,
                same_request: true,
            } => {
                return self.outcome_of(&payment_id).await.map(|payment| Submitted {
                    payment,
                    replayed: true,
                });
            }
        }
        let call = self.processor.authorize(Authorization {
            reference: &payment.id,
            amount: payment.amount,
            method: &request.method,
            deadline: self.waits.deadline,
        });
        let called = std::time::Instant::now();
        let answered = tokio::time::timeout(self.waits.deadline, call).await;
        METRICS.processor_call(called.elapsed());
        let answer = match answered {
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(e)) => {
                tracing::warn!(payment = %payment.id, "in doubt: {e}");
                None
            }
            Err(_) => None,
        };
        drop(request);
        self.settle(payment, answer).await.map(|payment| Submitted {
            payment,
            replayed: false,
        })
    }

    /// Commits what the processor said (`None`: it did not answer in time) and returns the
    /// payment as stored.
    async fn settle(&self, payment: Payment, answer: Option<Outcome>) -> Result<Payment, ApiError> {
        let (status, code, authorization) = decision_of(answer);
        self.commit_move(payment, status, code, authorization, None)
            .await
    }

    /// Moves `payment` to `status` (with its code, confirmation and event, and an audit entry
    /// when a person asked for it) in one transaction; returns the payment as stored.
    async fn commit_move(
        &self,
        mut payment: Payment,
        status: PaymentStatus,
        code: Option<String>,
        authorization: Option<String>,
        audit: Option<AuditEntry>,
    ) -> Result<Payment, ApiError> {
        let from = payment.status;
        if !from.can_become(status) {
            tracing::error!("refused move of {} from {from} to {status}", payment.id);
            return Err(ApiError::InvalidRequest {
                message: format!("a {from} payment cannot become {status}"),
            });
        }
        payment.status = status;
        let now = self.clock.now_ms();
        if status != PaymentStatus::Voided {
            payment.message = code.as_deref().map(|c| outcome_message(c).to_owned());
            payment.code = code;
            payment.decided_ms = Some(now);
        }
        let mut decision = Arc::new(Decision {
            from,
            authorization,
            confirmation_number: None,
            kind: EventKind::for_status(status, from == PaymentStatus::InDoubt),
            at_ms: now,
            audit,
        });
        loop {
            if status == PaymentStatus::Approved {
                let (number, code) = self.codes.next(&self.store).await?;
                payment.confirmation_code = Some(code);
                // The store let go of the decision it refused: this changes it in place.
                Arc::make_mut(&mut decision).confirmation_number = Some(number);
            }
            let decided = self.store.decide(&payment, &decision).await?;
            match decided {
                Decided::Committed => {
                    tracing::debug!(payment = %payment.id, status = %payment.status, "payment moved");
                    return Ok(payment);
                }
                Decided::CodeTaken => continue,
                // A person asked for this move, and someone else made one first.
                Decided::Moved if decision.audit.is_some() => {
                    return Err(ApiError::InvalidRequest {
                        message: format!("{} changed just now: look at it again", payment.id),
                    });
                }
                Decided::Moved => return self.stored(&payment.id).await,
            }
        }
    }

    async fn stored(&self, id: &str) -> Result<Payment, ApiError> {
        self.store
            .payment(id)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                what: "payment".to_owned(),
                id: id.to_owned(),
            })
    }

    /// The outcome of a payment submitted before with the same key: waits while this process is
    /// still carrying it, then answers with the stored record. A payment still `processing`
    /// that this process is not carrying may be another daemon's on the same store: its
    /// commits are waited for until its processor deadline has passed (then it is in doubt).
    async fn outcome_of(&self, id: &str) -> Result<Payment, ApiError> {
        let receiver = self.lock_in_flight().get(id).cloned();
        if let Some(mut receiver) = receiver
            && let Ok(settled) = receiver.wait_for(Option::is_some).await
            && let Some(payment) = settled.clone()
        {
            return Ok(payment);
        }
        let mut committed = self.store.committed_seq();
        let mut payment = self.stored(id).await?;
        let until = self.carried_until_ms(&payment);
        while payment.status == PaymentStatus::Processing {
            let left = until - self.clock.now_ms();
            let Ok(wait) = u64::try_from(left) else { break };
            let changed = tokio::time::timeout(Duration::from_millis(wait), committed.changed());
            if !matches!(changed.await, Ok(Ok(()))) {
                break;
            }
            payment = self.stored(id).await?;
        }
        Ok(payment)
    }

    /// Until when a payment still `processing` may be in the hands of the daemon that took it.
    fn carried_until_ms(&self, payment: &Payment) -> i64 {
        let carried = carried_for(self.waits.deadline, self.store.shared());
        payment
            .created_ms
            .saturating_add(i64::try_from(carried.as_millis()).unwrap_or(i64::MAX))
    }

    /// A payment `caller` may see, or not found; a store that does not answer says so (a
    /// database failing over is not a payment that is gone).
    async fn visible_payment(&self, caller: &Caller, id: &str) -> Result<Payment, ApiError> {
        let payment = self.stored(id).await?;
        if caller.visible_applications().contains(&payment.application) {
            Ok(payment)
        } else {
            Err(ApiError::NotFound {
                what: "payment".to_owned(),
                id: id.to_owned(),
            })
        }
    }

    /// The queue and its figures for the applications `caller` may see.
    pub async fn stats(&self, caller: &Caller) -> Result<Stats, ApiError> {
        self.figures_caught_up().await;
        let now = self.clock.now_ms();
        let apps = caller.visible_applications();
        let (windows, per_minute) = self.figures.snapshot(&apps, now);
        let queue_item = |p: Payment| QueueItem {
            age_ms: now - p.created_ms,
            payment_id: p.id,
            application: p.application,
            status: p.status,
            amount: p.amount,
            code: p.code,
        };
        let unsettled = self
            .store
            .unsettled_in(&apps, MAX_QUEUE_ITEMS as u32)
            .await?
            .into_iter()
            .map(queue_item)
            .collect();
        let recent_failures = self
            .store
            .recent_failures(now - 3_600_000, &apps, MAX_QUEUE_ITEMS as u32)
            .await?
            .into_iter()
            .map(queue_item)
            .collect();
        let refunds_today = self.refunds_today(caller, &apps, now).await?;
        Ok(Stats {
            at_ms: now,
            windows,
            per_minute,
            unsettled,
            recent_failures,
            refunds_today,
        })
    }
}

/// The status, code and authorization a processor's answer gives a payment (`None`: no answer
/// in time).
fn decision_of(answer: Option<Outcome>) -> (PaymentStatus, Option<String>, Option<String>) {
    match answer {
        Some(Outcome::Approved { authorization }) => {
            (PaymentStatus::Approved, None, Some(authorization))
        }
        Some(Outcome::Declined { code }) => (PaymentStatus::Declined, Some(code), None),
        Some(Outcome::Failed { code }) => (PaymentStatus::Failed, Some(code), None),
        None => (PaymentStatus::InDoubt, Some(TIMEOUT_CODE.to_owned()), None),
    }
}
