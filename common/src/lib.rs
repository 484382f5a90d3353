//! CIP's domain, pure: money, card and bank data, payment requests and records, statuses and their
//! transitions, events, errors and the tarpc service contract. No I/O, no runtime, no SQL.

pub mod ach;
pub mod calendar;
pub mod card;
pub mod confirmation;
pub mod error;
pub mod event;
pub mod fields;
pub mod form;
pub mod frame;
pub mod free_text;
pub mod gateway;
pub mod health;
pub mod money;
pub mod payment;
pub mod refund;
pub mod report;
pub mod secret;
pub mod service;
pub mod session;
pub mod stats;
pub mod status;
pub mod validate;

pub use error::ApiError;
pub use fields::{FieldError, FieldErrors};
pub use money::{Currency, Money, MoneyError};
pub use payment::{Payment, PaymentRequest};
pub use status::PaymentStatus;
pub use validate::Form;
