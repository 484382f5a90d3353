//! The processor (the "source application") that authorizes payments, behind one trait so the
//! sandbox and a real processor plug in the same way. Every verb names CIP's own reference, so
//! any call can be sent again without a second effect.

pub mod sandbox;
pub mod sandbox_http;
pub mod sandbox_server;
pub mod stripe;

use cip_common::form::MethodKind;
use cip_common::money::Money;
use cip_common::payment::PaymentMethod;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub type ProcessorFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What CIP asks the processor to authorize. `reference` is CIP's payment id: the processor
/// keeps it, so an inquiry can find the payment and a repeat is never charged twice.
pub struct Authorization<'a> {
    pub reference: &'a str,
    pub amount: Money,
    pub method: &'a PaymentMethod,
    /// How long CIP waits for the answer; after it, the payment is in doubt.
    pub deadline: Duration,
}

/// A processor's decision; on the sandbox's wire, `{"outcome": "approved", "authorization": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Approved {
        authorization: String,
    },
    Declined {
        code: String,
    },
    /// Nothing was charged.
    Failed {
        code: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inquiry {
    /// The processor has a decision for the reference.
    Decided(Outcome),
    /// The processor has no authorization of the reference yet. Not final: one may still
    /// arrive, until a reversal of the reference is acknowledged.
    NotFound,
}

/// A refund of an approved payment: `reference` is CIP's refund id, so a refund sent again is
/// made once; `payment` is the reference of the payment it gives back.
pub struct Refund<'a> {
    pub reference: &'a str,
    pub payment: &'a str,
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RefundOutcome {
    Succeeded,
    Declined { code: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("the processor cannot be reached: {0}")]
    Unreachable(String),
    #[error("the processor refused: {0}")]
    Refused(String),
}

/// A processor that cannot answer now: the caller may try again shortly.
impl From<ProcessorError> for cip_common::error::ApiError {
    fn from(e: ProcessorError) -> Self {
        cip_common::error::ApiError::Unavailable {
            reason: e.to_string(),
        }
    }
}

pub trait Processor: Send + Sync {
    /// Whether the processor takes payments by `method`; one it does not is refused before
    /// anything is stored or sent.
    fn takes(&self, method: MethodKind) -> bool {
        let _ = method;
        true
    }

    /// Whether the processor answers now, asked in a way that changes nothing: the readiness
    /// check's probe. One in this process always answers.
    fn probe(&self) -> ProcessorFuture<'_, Result<(), ProcessorError>> {
        Box::pin(async { Ok(()) })
    }

    /// Authorizes one payment. The caller bounds the wait with its own deadline; a call that
    /// does not answer in time, or ends in an error that does not prove nothing was sent
    /// (anything but a refused connection), leaves the payment in doubt.
    fn authorize<'a>(
        &'a self,
        request: Authorization<'a>,
    ) -> ProcessorFuture<'a, Result<Outcome, ProcessorError>>;

    /// Asks what became of `reference`, without sending it again.
    fn inquire<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<Inquiry, ProcessorError>>;

    /// Cancels the approval of `reference` before it settles.
    fn void<'a>(&'a self, reference: &'a str) -> ProcessorFuture<'a, Result<(), ProcessorError>>;

    /// Gives back `amount` of an approved payment to the card or account it was paid with.
    fn refund<'a>(
        &'a self,
        request: Refund<'a>,
    ) -> ProcessorFuture<'a, Result<RefundOutcome, ProcessorError>>;

    /// Reverses `reference` whatever became of it: once acknowledged, nothing is charged for it,
    /// now or later, and an authorization of it that arrives afterwards is refused.
    fn reverse<'a>(&'a self, reference: &'a str)
    -> ProcessorFuture<'a, Result<(), ProcessorError>>;
}
