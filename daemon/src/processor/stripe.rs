//! `[processor] kind = "stripe"`: Stripe's API. A card becomes a PaymentMethod first (no charge);
//! then one PaymentIntent, created and confirmed in one call, with CIP's payment id as its
//! `Idempotency-Key` and in its metadata. Stripe is idempotent rather than asked by reference, so
//! an inquiry is that same request sent again under the same key: Stripe answers with what the
//! first one did, or does it now, once. What the request needs to be sent again (the
//! PaymentMethod, the amount) goes to the connector's own books before it leaves, apart from
//! CIP's database, and holds no card data. ACH through Stripe is not taken.
//!
//! Books (`stripe-books.log`, tab-separated): `intent <reference> <payment method> <amount>
//! <currency>` before a PaymentIntent is sent (fsynced: a charge Stripe made must be findable),
//! `decided <reference> <payment intent>` once its id is known, `reversed <reference>` for a
//! reference never sent and now never to be.

use super::{
    Authorization, Inquiry, Outcome, Processor, ProcessorError, ProcessorFuture, Refund,
    RefundOutcome,
};
use cip_common::form::MethodKind;
use cip_common::money::Currency;
use cip_common::payment::PaymentMethod;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a connection to Stripe may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The metadata key that names CIP's payment or refund on Stripe's objects.
const METADATA_KEY: &str = "metadata[cip_reference]";

/// What a PaymentIntent of a reference was sent with, so it can be sent again as it was.
#[derive(Clone)]
struct Intent {
    payment_method: String,
    amount_minor: i64,
    currency: Currency,
    /// Stripe's id of it, once an answer named it.
    id: Option<String>,
}

struct Books {
    file: File,
    intents: HashMap<String, Intent>,
    reversed: HashSet<String>,
}

impl Books {
    fn open(path: &Path) -> std::io::Result<Books> {
        let mut books = Books {
            file: OpenOptions::new().create(true).append(true).open(path)?,
            intents: HashMap::new(),
            reversed: HashSet::new(),
        };
        for line in BufReader::new(File::open(path)?).lines() {
            books.replay(&line?);
        }
        Ok(books)
    }

    fn replay(&mut self, line: &str) {
        match line.split('\t').collect::<Vec<_>>().as_slice() {
            ["intent", reference, payment_method, amount, currency] => {
                let (Ok(amount_minor), Ok(currency)) = (amount.parse(), currency.parse()) else {
                    return tracing::warn!("the Stripe books have a line they cannot read");
                };
                self.intents.insert(
                    (*reference).to_owned(),
                    Intent {
                        payment_method: (*payment_method).to_owned(),
                        amount_minor,
                        currency,
                        id: None,
                    },
                );
            }
            ["decided", reference, id] => {
                if let Some(intent) = self.intents.get_mut(*reference) {
                    intent.id = Some((*id).to_owned());
                }
            }
            ["reversed", reference] => {
                self.reversed.insert((*reference).to_owned());
            }
            _ => tracing::warn!("the Stripe books have a line they cannot read"),
        }
    }

    /// Writes `line` and applies it; `durable`: fsynced before this returns.
    fn append(&mut self, line: &str, durable: bool) -> std::io::Result<()> {
        self.file.write_all(format!("{line}\n").as_bytes())?;
        if durable {
            self.file.sync_data()?;
        }
        self.replay(line);
        Ok(())
    }
}

pub struct Stripe {
    client: reqwest::Client,
    api_base: String,
    /// `Bearer sk_…`, marked sensitive so no debug output shows it.
    authorization: HeaderValue,
    books: Mutex<Books>,
}

/// Why the connector cannot start, in words that say what to fix; never quoting the key.
#[derive(Debug, thiserror::Error)]
pub enum StripeSetupError {
    #[error("cannot read processor.secret_key_file {0}: {1}")]
    Unreadable(String, std::io::Error),
    #[error(
        "processor.secret_key_file {0} may be read by others: make it readable by its owner only (chmod 600 {0})"
    )]
    Exposed(String),
    #[error("processor.secret_key_file {0} does not hold a Stripe secret key (sk_… or rk_…)")]
    NotAKey(String),
    #[error("cannot open the Stripe books {0}: {1}")]
    Books(String, std::io::Error),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl Stripe {
    /// The connector with the key in `secret_key_file` (refused unless mode 0600), its books
    /// at `books`, and `timeout` for every call but an authorization (the engine bounds that).
    pub fn new(
        api_base: &str,
        secret_key_file: &Path,
        books: &Path,
        timeout: Duration,
    ) -> Result<Stripe, StripeSetupError> {
        use std::os::unix::fs::PermissionsExt;
        let shown = secret_key_file.display().to_string();
        let mode = std::fs::metadata(secret_key_file)
            .map_err(|e| StripeSetupError::Unreadable(shown.clone(), e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(StripeSetupError::Exposed(shown));
        }
        let key = zeroize::Zeroizing::new(
            std::fs::read_to_string(secret_key_file)
                .map_err(|e| StripeSetupError::Unreadable(shown.clone(), e))?,
        );
        let key = key.trim();
        if !(key.starts_with("sk_") || key.starts_with("rk_")) {
            return Err(StripeSetupError::NotAKey(shown));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| StripeSetupError::NotAKey(shown))?;
        authorization.set_sensitive(true);
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .build()
            .map_err(|e| StripeSetupError::Client(e.to_string()))?;
        let books = Books::open(books)
            .map_err(|e| StripeSetupError::Books(books.display().to_string(), e))?;
        Ok(Stripe {
            client,
            api_base: api_base.trim_end_matches('/').to_owned(),
            authorization,
            books: Mutex::new(books),
        })
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn post(&self, path: &str, idempotency_key: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.api_base))
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .header("Idempotency-Key", idempotency_key)
    }

    /// A PaymentMethod for the card: it charges nothing.
    async fn payment_method(
        &self,
        reference: &str,
        method: &PaymentMethod,
    ) -> Result<String, Outcome> {
        let PaymentMethod::Card(card) = method else {
            return Err(Outcome::Failed {
                code: "method_not_supported".to_owned(),
            });
        };
        let digits = zeroize::Zeroizing::new(card.number.digits());
        let (month, year) = (card.exp_month.to_string(), card.exp_year.to_string());
        let form = [
            ("type", "card"),
            ("card[number]", digits.as_str()),
            ("card[exp_month]", month.as_str()),
            ("card[exp_year]", year.as_str()),
            ("card[cvc]", card.cvv.expose()),
            ("billing_details[name]", card.name.as_str()),
            (
                "billing_details[address][postal_code]",
                card.postal_code.as_str(),
            ),
            (METADATA_KEY, reference),
        ];
        let sent = self
            .post("/v1/payment_methods", &format!("{reference}-card"))
            .form(&form)
            .send()
            .await;
        // No PaymentIntent exists yet, so whatever happens here, nothing was charged.
        let response = sent.map_err(|e| {
            tracing::warn!(payment = %reference, "Stripe could not be reached: {}", e.without_url());
            unavailable()
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|_| unavailable())?;
        if status.is_success() {
            let created: Created = serde_json::from_slice(&body).map_err(|_| unavailable())?;
            return Ok(created.id);
        }
        Err(refusal(status, &body, reference).unwrap_or_else(|_| unavailable()))
    }

    /// Sends (or sends again) the PaymentIntent of `reference`, created and confirmed in one
    /// call under the reference as its idempotency key.
    async fn confirm(&self, reference: &str, intent: &Intent) -> Result<Outcome, ProcessorError> {
        let amount = intent.amount_minor.to_string();
        let currency = intent.currency.code().to_ascii_lowercase();
        let form = [
            ("amount", amount.as_str()),
            ("currency", currency.as_str()),
            ("payment_method", intent.payment_method.as_str()),
            ("payment_method_types[]", "card"),
            ("confirm", "true"),
            (METADATA_KEY, reference),
        ];
        let sent = self
            .post("/v1/payment_intents", reference)
            .form(&form)
            .send()
            .await;
        let response = match sent {
            Err(e) if e.is_connect() => {
                tracing::warn!(payment = %reference, "Stripe refused the connection: {}", e.without_url());
                return Ok(unavailable());
            }
            Err(e) => return Err(ProcessorError::Unreachable(e.without_url().to_string())),
            Ok(response) => response,
        };
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| ProcessorError::Unreachable(e.without_url().to_string()))?;
        let (outcome, id) = if status.is_success() {
            let intent: PaymentIntent = serde_json::from_slice(&body).map_err(|_| {
                ProcessorError::Unreachable("Stripe's answer is not a PaymentIntent".to_owned())
            })?;
            (intent.outcome()?, Some(intent.id))
        } else {
            let outcome = refusal(status, &body, reference)?;
            let id = serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|b| b.error.payment_intent)
                .map(|i| i.id);
            (outcome, id)
        };
        if let Some(id) = id
            && let Err(e) = self
                .books()
                .append(&format!("decided\t{reference}\t{id}"), false)
        {
            tracing::error!(payment = %reference, "the Stripe books cannot be written: {e}");
        }
        Ok(outcome)
    }

    /// The PaymentIntent id of an approved reference, from the books or by asking again.
    async fn intent_id(&self, reference: &str) -> Result<String, ProcessorError> {
        let intent = self.books().intents.get(reference).cloned();
        let Some(intent) = intent else {
            return Err(ProcessorError::Refused(format!(
                "{reference} was never sent to Stripe"
            )));
        };
        if let Some(id) = intent.id {
            return Ok(id);
        }
        self.confirm(reference, &intent).await?;
        self.books()
            .intents
            .get(reference)
            .and_then(|i| i.id.clone())
            .ok_or_else(|| ProcessorError::Refused(format!("{reference} has no PaymentIntent")))
    }

    /// Sends a request that answers with an object; a refusal Stripe gave (a `4xx` but 409 and
    /// 429) comes with Stripe's code, anything else proves nothing.
    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        request: reqwest::RequestBuilder,
        reference: &str,
    ) -> Result<T, CallError> {
        let unknown = |e: reqwest::Error| CallError::Unknown(e.without_url().to_string());
        let response = request.send().await.map_err(unknown)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unknown)?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|_| CallError::Unknown("Stripe's answer cannot be read".to_owned()));
        }
        let error = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        let said = error.as_ref().map(StripeError::said).unwrap_or_default();
        tracing::warn!(payment = %reference, "Stripe answered {status}: {said}");
        if status.is_client_error()
            && status != StatusCode::CONFLICT
            && status != StatusCode::TOO_MANY_REQUESTS
        {
            Err(CallError::Refused {
                code: error.and_then(|e| e.code),
                said: format!("Stripe answered {status}: {said}"),
            })
        } else {
            Err(CallError::Unknown(format!("Stripe answered {status}")))
        }
    }
}

/// A call Stripe refused (with its code), or one whose fate is unknown.
enum CallError {
    Refused { code: Option<String>, said: String },
    Unknown(String),
}

impl From<CallError> for ProcessorError {
    fn from(e: CallError) -> ProcessorError {
        match e {
            CallError::Refused { said, .. } => ProcessorError::Refused(said),
            CallError::Unknown(said) => ProcessorError::Unreachable(said),
        }
    }
}

fn unavailable() -> Outcome {
    Outcome::Failed {
        code: "processor_unavailable".to_owned(),
    }
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct PaymentIntent {
    id: String,
    status: String,
    last_payment_error: Option<StripeError>,
}

impl PaymentIntent {
    fn outcome(&self) -> Result<Outcome, ProcessorError> {
        Ok(match self.status.as_str() {
            "succeeded" | "requires_capture" => Outcome::Approved {
                authorization: self.id.clone(),
            },
            "requires_payment_method" => match &self.last_payment_error {
                Some(error) => error.outcome(),
                None => Outcome::Declined {
                    code: "generic_decline".to_owned(),
                },
            },
            // A server takes no customer through 3D Secure: the issuer's step is a decline.
            "requires_action" => Outcome::Declined {
                code: "authentication_required".to_owned(),
            },
            "canceled" => Outcome::Failed {
                code: "canceled".to_owned(),
            },
            other => {
                return Err(ProcessorError::Unreachable(format!(
                    "the PaymentIntent is still {other}"
                )));
            }
        })
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: StripeError,
}

#[derive(Deserialize)]
struct StripeError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    payment_intent: Option<PaymentIntentRef>,
}

#[derive(Deserialize)]
struct PaymentIntentRef {
    id: String,
}

impl StripeError {
    /// The card's refusal, as CIP's codes say it.
    fn outcome(&self) -> Outcome {
        match self.code.as_deref() {
            Some("card_declined") | None => Outcome::Declined {
                code: self
                    .decline_code
                    .clone()
                    .unwrap_or_else(|| "generic_decline".to_owned()),
            },
            Some("processing_error") => Outcome::Failed {
                code: "processing_error".to_owned(),
            },
            Some(code) => Outcome::Declined {
                code: code.to_owned(),
            },
        }
    }

    /// Type and code only: Stripe's message may repeat what was sent.
    fn said(&self) -> String {
        format!(
            "{} {}",
            self.kind.as_deref().unwrap_or("error"),
            self.code.as_deref().unwrap_or("")
        )
        .trim()
        .to_owned()
    }
}

/// What a refusal from Stripe means: a card's refusal (402) is a decline; a request Stripe would
/// not take (400, 401, 403, 404) charged nothing; anything else (409 for a key in use, 429, 5xx)
/// proves nothing, and the payment is in doubt.
fn refusal(status: StatusCode, body: &[u8], reference: &str) -> Result<Outcome, ProcessorError> {
    let error = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let said = error.as_ref().map(StripeError::said).unwrap_or_default();
    match status {
        StatusCode::PAYMENT_REQUIRED => Ok(error.map_or(
            Outcome::Declined {
                code: "generic_decline".to_owned(),
            },
            |e| e.outcome(),
        )),
        StatusCode::BAD_REQUEST
        | StatusCode::UNAUTHORIZED
        | StatusCode::FORBIDDEN
        | StatusCode::NOT_FOUND => {
            tracing::error!(payment = %reference, "Stripe would not take the request ({status}: {said}): nothing was charged");
            Ok(Outcome::Failed {
                code: "processing_error".to_owned(),
            })
        }
        _ => {
            tracing::warn!(payment = %reference, "Stripe answered {status} ({said}): the payment is in doubt");
            Err(ProcessorError::Unreachable(format!(
                "Stripe answered {status}"
            )))
        }
    }
}

#[derive(Deserialize)]
struct StripeRefund {
    status: String,
    failure_reason: Option<String>,
}

impl Processor for Stripe {
    fn takes(&self, method: MethodKind) -> bool {
        method == MethodKind::Card
    }

    /// Reads the account's balance: a call that changes nothing, and that proves the key is
    /// still taken.
    fn probe(&self) -> ProcessorFuture<'_, Result<(), ProcessorError>> {
        Box::pin(async {
            let request = self
                .client
                .get(format!("{}/v1/balance", self.api_base))
                .header(reqwest::header::AUTHORIZATION, self.authorization.clone());
            self.call::<serde_json::Value>(request, "readiness probe")
                .await
                .map(|_| ())
                .map_err(ProcessorError::from)
        })
    }

    fn authorize<'a>(
        &'a self,
        request: Authorization<'a>,
    ) -> ProcessorFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let reference = request.reference;
            if self.books().reversed.contains(reference) {
                return Ok(Outcome::Failed {
                    code: "reversed".to_owned(),
                });
            }
            let known = self.books().intents.get(reference).cloned();
            let intent = match known {
                Some(intent) => intent,
                None => {
                    let payment_method = match self.payment_method(reference, request.method).await
                    {
                        Ok(id) => id,
                        Err(outcome) => return Ok(outcome),
                    };
                    let intent = Intent {
                        payment_method,
                        amount_minor: request.amount.minor,
                        currency: request.amount.currency,
                        id: None,
                    };
                    let line = format!(
                        "intent\t{reference}\t{}\t{}\t{}",
                        intent.payment_method,
                        intent.amount_minor,
                        intent.currency.code()
                    );
                    // Before the charge can happen, so an inquiry can always send it again.
                    if let Err(e) = self.books().append(&line, true) {
                        tracing::error!(payment = %reference, "the Stripe books cannot be written: {e}");
                        return Ok(Outcome::Failed {
                            code: "processing_error".to_owned(),
                        });
                    }
                    intent
                }
            };
            self.confirm(reference, &intent).await
        })
    }

    fn inquire<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<Inquiry, ProcessorError>> {
        Box::pin(async move {
            let intent = self.books().intents.get(reference).cloned();
            match intent {
                // Never sent: nothing can be charged until CIP sends it, which it never does.
                None => Ok(Inquiry::NotFound),
                Some(intent) => self.confirm(reference, &intent).await.map(Inquiry::Decided),
            }
        })
    }

    fn void<'a>(&'a self, reference: &'a str) -> ProcessorFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            let id = self.intent_id(reference).await?;
            let intent: PaymentIntent = self
                .call(
                    self.client
                        .get(format!("{}/v1/payment_intents/{id}", self.api_base))
                        .header(reqwest::header::AUTHORIZATION, self.authorization.clone()),
                    reference,
                )
                .await?;
            match intent.status.as_str() {
                "canceled" => Ok(()),
                "requires_capture" => Ok(self
                    .call::<PaymentIntent>(
                        self.post(
                            &format!("/v1/payment_intents/{id}/cancel"),
                            &format!("{reference}-void"),
                        ),
                        reference,
                    )
                    .await
                    .map(drop)?),
                // Captured at once: a void the same day gives the whole amount back.
                "succeeded" => {
                    let refund: StripeRefund = self
                        .call(
                            self.post("/v1/refunds", &format!("{reference}-void"))
                                .form(&[
                                    ("payment_intent", id.as_str()),
                                    (METADATA_KEY, reference),
                                ]),
                            reference,
                        )
                        .await?;
                    match refund.status.as_str() {
                        "succeeded" | "pending" => Ok(()),
                        _ => Err(ProcessorError::Refused(format!(
                            "Stripe did not give {reference} back: {}",
                            refund.failure_reason.unwrap_or_default()
                        ))),
                    }
                }
                other => Err(ProcessorError::Refused(format!(
                    "{reference} has no approval to void: it is {other} at Stripe"
                ))),
            }
        })
    }

    fn refund<'a>(
        &'a self,
        request: Refund<'a>,
    ) -> ProcessorFuture<'a, Result<RefundOutcome, ProcessorError>> {
        Box::pin(async move {
            let id = self.intent_id(request.payment).await?;
            let amount = request.amount.minor.to_string();
            let sent: Result<StripeRefund, CallError> = self
                .call(
                    self.post("/v1/refunds", request.reference).form(&[
                        ("payment_intent", id.as_str()),
                        ("amount", amount.as_str()),
                        (METADATA_KEY, request.reference),
                    ]),
                    request.reference,
                )
                .await;
            match sent {
                Ok(refund) => Ok(match refund.status.as_str() {
                    // Stripe took it; a card refund that is pending completes by itself.
                    "succeeded" | "pending" => RefundOutcome::Succeeded,
                    _ => RefundOutcome::Declined {
                        code: refund
                            .failure_reason
                            .unwrap_or_else(|| "refund_failed".to_owned()),
                    },
                }),
                Err(CallError::Refused { code, .. }) => Ok(RefundOutcome::Declined {
                    code: code.unwrap_or_else(|| "refund_failed".to_owned()),
                }),
                Err(CallError::Unknown(said)) => Err(ProcessorError::Unreachable(said)),
            }
        })
    }

    fn reverse<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            let sent = self.books().intents.contains_key(reference);
            if !sent {
                // Never sent, and from now on never to be.
                return self
                    .books()
                    .append(&format!("reversed\t{reference}"), true)
                    .map_err(|e| ProcessorError::Unreachable(e.to_string()));
            }
            match self.inquire(reference).await? {
                Inquiry::Decided(Outcome::Approved { .. }) => self.void(reference).await,
                _ => Ok(()),
            }
        })
    }
}
