//! Field errors: every bad field of a request, named by its dotted path, each with a message a
//! person can act on.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The dotted paths of a payment's own fields, as errors, the agency API's bodies, the hosted
/// page's form and the console name them (an application's fields are `fields.<name>`).
pub mod path {
    pub const ACH_ACCOUNT_NUMBER: &str = "ach.account_number";
    pub const ACH_ACCOUNT_TYPE: &str = "ach.account_type";
    pub const ACH_HOLDER_NAME: &str = "ach.holder_name";
    pub const ACH_ROUTING_NUMBER: &str = "ach.routing_number";
    pub const CARD_CVV: &str = "card.cvv";
    pub const CARD_EXPIRY: &str = "card.expiry";
    pub const CARD_EXP_MONTH: &str = "card.exp_month";
    pub const CARD_EXP_YEAR: &str = "card.exp_year";
    pub const CARD_NAME: &str = "card.name";
    pub const CARD_NUMBER: &str = "card.number";
    pub const CARD_POSTAL_CODE: &str = "card.postal_code";
    pub const PAYER_EMAIL: &str = "payer.email";
    pub const PAYER_NAME: &str = "payer.name";
    pub const PAYER_POSTAL_CODE: &str = "payer.postal_code";
}

/// The fields whose values are secrets: the full card number, the CVV and the bank account
/// number live in memory for the processor call only, and are never stored, logged or shown
/// again (a form sent back for correction leaves them empty).
pub const SECRET_FIELDS: [&str; 3] = [path::CARD_NUMBER, path::CARD_CVV, path::ACH_ACCOUNT_NUMBER];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Dotted path of the field: `amount`, `payer.email`, `card.number`, `fields.plate_number`.
    pub field: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}
