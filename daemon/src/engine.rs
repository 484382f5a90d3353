//! The payment pipeline, and the only code that moves a payment between states. Each phase is its
//! own transaction: validate and send nothing on any error; commit the payment as `processing`
//! with its idempotency key; call the processor with a deadline; commit the outcome, the
//! confirmation code and the event together; then answer. Payments left unsettled are resolved by
//! asking the processor, never by sending again.

use crate::auth::Caller;
use crate::clock::{Clock, Entropy};
use crate::processor::{Authorization, Inquiry, Outcome, Processor};
use crate::store::payments::{self, Begun, Decided, Decision};
use crate::store::{Store, StoreError, accounts};
use cip_common::card::validate_pan;
use cip_common::confirmation::{confirmation_code, crockford};
use cip_common::error::ApiError;
use cip_common::event::EventKind;
use cip_common::form::ApplicationSpec;
use cip_common::money::Money;
use cip_common::payment::{
    MethodSummary, Mode, Payment, PaymentMethod, PaymentRequest, idempotency_key_problem,
    outcome_message,
};
use cip_common::secret::last_four;
use cip_common::status::PaymentStatus;
use cip_common::validate::Form;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// The code an in-doubt payment carries until an inquiry settles it.
const TIMEOUT_CODE: &str = "processor_timeout";
/// The code of an in-doubt payment the processor never charged.
const NOT_CHARGED_CODE: &str = "not_charged";

pub struct Engine {
    store: Store,
    processor: Arc<dyn Processor>,
    clock: Arc<dyn Clock>,
    entropy: Entropy,
    /// Key of the request fingerprint: a fingerprint never reveals the card number.
    fingerprint_key: [u8; 32],
    deadline: Duration,
    forms: RwLock<HashMap<String, Arc<Form>>>,
    /// Payments this process is carrying to their outcome, by id; a replay of the same key waits
    /// on its receiver instead of calling the processor again.
    in_flight: Mutex<HashMap<String, watch::Receiver<Option<Payment>>>>,
}

impl Engine {
    pub fn new(
        store: Store,
        processor: Arc<dyn Processor>,
        clock: Arc<dyn Clock>,
        entropy: Entropy,
        fingerprint_key: [u8; 32],
        deadline: Duration,
    ) -> Engine {
        Engine {
            store,
            processor,
            clock,
            entropy,
            fingerprint_key,
            deadline,
            forms: RwLock::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn deadline_ms(&self) -> u64 {
        u64::try_from(self.deadline.as_millis()).unwrap_or(u64::MAX)
    }

    /// Payments this process is carrying right now.
    pub fn in_flight(&self) -> usize {
        self.lock_in_flight().len()
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
        let id = application.to_owned();
        let spec: Option<ApplicationSpec> = self
            .store
            .read(move |conn| accounts::application(conn, &id))
            .await?;
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
        if let Some(message) = idempotency_key_problem(&idempotency_key) {
            return Err(ApiError::InvalidRequest { message });
        }
        let form = self.form(&caller.application).await?;
        form.validate(&request, self.clock.today())
            .map_err(ApiError::Fields)?;
        let fingerprint = self.fingerprint(&caller.application, &request);
        let payment = self.new_payment(caller, mode, idempotency_key, &request);
        let engine = Arc::clone(self);
        tokio::spawn(async move { engine.carry(payment, fingerprint, request).await })
            .await
            .map_err(|e| {
                tracing::error!("payment task ended abnormally: {e}");
                ApiError::Unavailable {
                    reason: "the payment task stopped".to_owned(),
                }
            })?
    }

    /// A keyed hash of everything that makes the request what it is.
    fn fingerprint(&self, application: &str, request: &PaymentRequest) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.fingerprint_key);
        hasher.update(application.as_bytes());
        hasher.update(&[0]);
        serde_json::to_writer(&mut hasher, request).expect("a request always serializes");
        *hasher.finalize().as_bytes()
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
        Payment {
            id: format!("pay_{}", crockford(self.entropy.next_u64(), 13)),
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
            created_ms: self.clock.now_ms(),
            decided_ms: None,
        }
    }

    async fn carry(
        &self,
        payment: Payment,
        fingerprint: [u8; 32],
        request: PaymentRequest,
    ) -> Result<Payment, ApiError> {
        let (settled, receiver) = watch::channel(None);
        let id = payment.id.clone();
        self.lock_in_flight().insert(id.clone(), receiver);
        let result = self.carry_registered(payment, fingerprint, request).await;
        self.lock_in_flight().remove(&id);
        if let Ok(payment) = &result {
            settled.send_replace(Some(payment.clone()));
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
    ) -> Result<Payment, ApiError> {
        let received = payment.clone();
        let begun = self
            .store
            .write(move |conn| payments::begin(conn, &received, &fingerprint))
            .await?;
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
            } => return self.outcome_of(&payment_id).await,
        }
        let call = self.processor.authorize(Authorization {
            reference: &payment.id,
            amount: payment.amount,
            method: &request.method,
        });
        let answer = tokio::time::timeout(self.deadline, call).await.ok();
        drop(request);
        self.settle(payment, answer).await
    }

    /// Commits what the processor said (`None`: it did not answer in time) and returns the
    /// payment as stored.
    async fn settle(
        &self,
        mut payment: Payment,
        answer: Option<Outcome>,
    ) -> Result<Payment, ApiError> {
        let from = payment.status;
        let (status, code, authorization) = match answer {
            Some(Outcome::Approved { authorization }) => {
                (PaymentStatus::Approved, None, Some(authorization))
            }
            Some(Outcome::Declined { code }) => (PaymentStatus::Declined, Some(code), None),
            Some(Outcome::Failed { code }) => (PaymentStatus::Failed, Some(code), None),
            None => (PaymentStatus::InDoubt, Some(TIMEOUT_CODE.to_owned()), None),
        };
        if !from.can_become(status) {
            tracing::error!("refused move of {} from {from} to {status}", payment.id);
            return Ok(payment);
        }
        payment.status = status;
        payment.message = code.as_deref().map(|c| outcome_message(c).to_owned());
        payment.code = code;
        payment.decided_ms = Some(self.clock.now_ms());
        let decision = Decision {
            from,
            authorization,
            kind: EventKind::for_status(status, from == PaymentStatus::InDoubt),
        };
        let decision = Arc::new(decision);
        loop {
            if status == PaymentStatus::Approved {
                payment.confirmation_code = Some(confirmation_code(self.entropy.next_u64()));
            }
            let (record, decision_ref) = (payment.clone(), Arc::clone(&decision));
            let decided = self
                .store
                .write(move |conn| payments::decide(conn, &record, &decision_ref))
                .await?;
            match decided {
                Decided::Committed => {
                    tracing::info!(payment = %payment.id, status = %payment.status, "payment decided");
                    return Ok(payment);
                }
                Decided::CodeTaken => continue,
                Decided::Moved => return self.stored(&payment.id).await,
            }
        }
    }

    async fn stored(&self, id: &str) -> Result<Payment, ApiError> {
        let key = id.to_owned();
        self.store
            .read(move |conn| payments::by_id(conn, &key))
            .await?
            .ok_or_else(|| ApiError::NotFound {
                what: "payment".to_owned(),
                id: id.to_owned(),
            })
    }

    /// The outcome of a payment submitted before with the same key: waits while this process is
    /// still carrying it, then answers with the stored record.
    async fn outcome_of(&self, id: &str) -> Result<Payment, ApiError> {
        let receiver = self.lock_in_flight().get(id).cloned();
        if let Some(mut receiver) = receiver
            && let Ok(settled) = receiver.wait_for(Option::is_some).await
            && let Some(payment) = settled.clone()
        {
            return Ok(payment);
        }
        self.stored(id).await
    }

    /// Asks the processor about every payment left `processing` or `in_doubt` that this process is
    /// not carrying, and commits what it says. Returns how many were settled.
    pub async fn resolve_unsettled(&self) -> Result<usize, StoreError> {
        let unsettled = self.store.read(payments::unsettled).await?;
        let mut settled = 0;
        for payment in unsettled {
            if self.lock_in_flight().contains_key(&payment.id) {
                continue;
            }
            let answer = match self.processor.inquire(&payment.id).await {
                Ok(Inquiry::Decided(outcome)) => Some(outcome),
                Ok(Inquiry::NotFound) => Some(Outcome::Failed {
                    code: NOT_CHARGED_CODE.to_owned(),
                }),
                Err(e) => {
                    tracing::warn!(payment = %payment.id, "inquiry failed: {e}");
                    None
                }
            };
            if answer.is_none() && payment.status == PaymentStatus::InDoubt {
                continue;
            }
            let id = payment.id.clone();
            match self.settle(payment, answer).await {
                Ok(p) if p.status.is_decided() => settled += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(payment = %id, "not settled: {e}"),
            }
        }
        Ok(settled)
    }
}
