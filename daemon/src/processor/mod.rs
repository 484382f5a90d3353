//! The processor (the "source application") that authorizes payments, behind one trait so the
//! sandbox and a real processor plug in the same way.

pub mod sandbox;

use cip_common::money::Money;
use cip_common::payment::PaymentMethod;
use std::future::Future;
use std::pin::Pin;

pub type ProcessorFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What CIP asks the processor to authorize. `reference` is CIP's payment id: the processor
/// keeps it, so an inquiry can find the payment and a repeat is never charged twice.
pub struct Authorization<'a> {
    pub reference: &'a str,
    pub amount: Money,
    pub method: &'a PaymentMethod,
}

#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The processor never authorized the reference: nothing was charged.
    NotFound,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("the processor cannot be reached: {0}")]
    Unreachable(String),
    #[error("the processor refused: {0}")]
    Refused(String),
}

pub trait Processor: Send + Sync {
    /// Authorizes one payment. The caller bounds the wait with its own deadline; a call that
    /// does not answer in time leaves the payment in doubt.
    fn authorize<'a>(&'a self, request: Authorization<'a>) -> ProcessorFuture<'a, Outcome>;

    /// Asks what became of `reference`, without sending it again.
    fn inquire<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<Inquiry, ProcessorError>>;

    /// Cancels the approval of `reference` before it settles.
    fn void<'a>(&'a self, reference: &'a str) -> ProcessorFuture<'a, Result<(), ProcessorError>>;
}
