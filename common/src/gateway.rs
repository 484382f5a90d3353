//! The gateway's JSON body: what an agency's server sends to `POST /v1/payments`, and how it
//! becomes a payment request with every field error named at once.

use crate::ach::AccountType;
use crate::error::ApiError;
use crate::fields::FieldErrors;
use crate::fields::path;
use crate::money::Currency;
use crate::payment::{AchInput, CardInput, Payer, PaymentMethod, PaymentRequest};
use crate::secret::{AccountNumber, Cvv, Pan};
use crate::validate::Form;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `POST /v1/payments`: the body. Missing values are empty, so validation names each one.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentBody {
    pub amount_minor: i64,
    pub currency: Option<Currency>,
    pub payer: PayerBody,
    pub fields: BTreeMap<String, String>,
    pub card: Option<CardBody>,
    pub ach: Option<AchBody>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PayerBody {
    pub name: String,
    pub email: String,
    pub postal_code: String,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct CardBody {
    pub number: String,
    pub exp_month: u8,
    pub exp_year: u16,
    pub cvv: String,
    pub name: String,
    pub postal_code: String,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AchBody {
    pub routing_number: String,
    pub account_number: String,
    pub account_type: Option<AccountType>,
    pub holder_name: String,
}

impl PaymentBody {
    /// The engine's request. When the currency, the method or the account type is missing, the
    /// rest is still checked against `form` (with the application's currency, checking, or no
    /// method), so the answer names every field to fix at once.
    pub fn into_request(
        self,
        form: &Form,
        today: jiff::civil::Date,
    ) -> Result<PaymentRequest, ApiError> {
        let mut errors = FieldErrors::default();
        if self.currency.is_none() {
            errors.add("currency", "name the currency, like USD");
        }
        let no_card = || CardBody::default();
        let card = |card: CardBody| {
            PaymentMethod::Card(CardInput {
                number: Pan::new(card.number),
                exp_month: card.exp_month,
                exp_year: card.exp_year,
                cvv: Cvv::new(card.cvv),
                name: card.name,
                postal_code: card.postal_code,
            })
        };
        // Without a method, a blank card stands in so the rest is checked; its errors are not
        // the caller's.
        let (method, stand_in) = match (self.card, self.ach) {
            (Some(body), None) => (card(body), false),
            (None, Some(ach)) => {
                if ach.account_type.is_none() {
                    errors.add(path::ACH_ACCOUNT_TYPE, "say checking or savings");
                }
                let method = PaymentMethod::Ach(AchInput {
                    routing_number: ach.routing_number,
                    account_number: AccountNumber::new(ach.account_number),
                    account_type: ach.account_type.unwrap_or(AccountType::Checking),
                    holder_name: ach.holder_name,
                });
                (method, false)
            }
            (None, None) => {
                errors.add(
                    "card",
                    "send a card object, or an ach object for a bank debit",
                );
                (card(no_card()), true)
            }
            (Some(_), Some(_)) => {
                errors.add("ach", "send a card or an ach object, not both");
                (card(no_card()), true)
            }
        };
        let request = PaymentRequest {
            amount_minor: self.amount_minor,
            currency: self.currency.unwrap_or(form.spec.currency),
            payer: Payer {
                name: self.payer.name,
                email: self.payer.email,
                postal_code: self.payer.postal_code,
            },
            fields: self.fields,
            method,
        };
        if errors.is_empty() {
            return Ok(request);
        }
        if let Err(found) = form.validate(&request, today) {
            let stood_in =
                |field: &str| stand_in && (field.starts_with("card") || field == "method");
            errors
                .0
                .extend(found.0.into_iter().filter(|e| !stood_in(&e.field)));
        }
        Err(ApiError::Fields(errors))
    }
}
