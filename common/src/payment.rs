//! A payment as requested (with card or bank data, held in memory only) and as recorded (with
//! only what may be stored and shown).

use crate::ach::AccountType;
use crate::card::Brand;
use crate::error::ApiError;
use crate::fields::FieldErrors;
use crate::free_text::refuse_card_number;
use crate::money::{Currency, Money};
use crate::secret::{AccountNumber, Cvv, Pan};
use crate::status::PaymentStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How the payment reached CIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The agency's website sent it in one call.
    Gateway,
    /// CIP's hosted payment page took it.
    Partial,
    /// An agent keyed it in CIP's console.
    Full,
}

impl Mode {
    pub fn code(self) -> &'static str {
        match self {
            Mode::Gateway => "gateway",
            Mode::Partial => "partial",
            Mode::Full => "full",
        }
    }

    pub fn from_code(code: &str) -> Option<Mode> {
        [Mode::Gateway, Mode::Partial, Mode::Full]
            .into_iter()
            .find(|m| m.code() == code)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    pub name: String,
    pub email: String,
    pub postal_code: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInput {
    pub number: Pan,
    pub exp_month: u8,
    pub exp_year: u16,
    pub cvv: Cvv,
    pub name: String,
    pub postal_code: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AchInput {
    pub routing_number: String,
    pub account_number: AccountNumber,
    pub account_type: AccountType,
    pub holder_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethod {
    Card(CardInput),
    Ach(AchInput),
}

impl PaymentMethod {
    pub fn kind(&self) -> crate::form::MethodKind {
        match self {
            PaymentMethod::Card(_) => crate::form::MethodKind::Card,
            PaymentMethod::Ach(_) => crate::form::MethodKind::Ach,
        }
    }
}

/// A payment as submitted, before validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    pub amount_minor: i64,
    pub currency: Currency,
    pub payer: Payer,
    /// The application's own fields, by name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    pub method: PaymentMethod,
}

/// What is kept and shown of the payment method: never the full number or the CVV.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum MethodSummary {
    Card {
        brand: Brand,
        first_six: String,
        last_four: String,
        exp_month: u8,
        exp_year: u16,
    },
    Ach {
        routing_number: String,
        last_four: String,
        account_type: AccountType,
    },
}

impl MethodSummary {
    pub fn last_four(&self) -> &str {
        match self {
            MethodSummary::Card { last_four, .. } | MethodSummary::Ach { last_four, .. } => {
                last_four
            }
        }
    }
}

impl fmt::Display for MethodSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodSummary::Card {
                brand,
                first_six,
                last_four,
                ..
            } => write!(f, "{brand} {first_six}…{last_four}"),
            MethodSummary::Ach {
                routing_number,
                last_four,
                account_type,
            } => write!(f, "ACH {account_type} {routing_number} ••••{last_four}"),
        }
    }
}

/// A payment as CIP records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// CIP's payment id, also the processor's reference: `pay_…`.
    pub id: String,
    pub application: String,
    pub mode: Mode,
    pub status: PaymentStatus,
    pub amount: Money,
    pub payer: Payer,
    pub fields: BTreeMap<String, String>,
    pub method: MethodSummary,
    /// Set on approval.
    pub confirmation_code: Option<String>,
    /// The processor's decline or failure code (`insufficient_funds`), or `processor_timeout`.
    pub code: Option<String>,
    /// The code in words, for a person.
    pub message: Option<String>,
    pub idempotency_key: String,
    pub user: String,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
    /// The batch report that carries this payment to the agency, once one has taken it.
    #[serde(default)]
    pub batch: Option<BatchMark>,
    /// What has been refunded of it so far.
    #[serde(default)]
    pub refunds: crate::refund::RefundTotals,
}

impl Payment {
    /// Where the payment stands with the agency's batch reports, in words; `time` writes a
    /// moment as the reader reads it.
    pub fn report_standing(&self, time: impl Fn(i64) -> String) -> String {
        match &self.batch {
            Some(batch) => match batch.transmitted_ms {
                Some(at) => format!("in batch {}, sent {}", batch.id, time(at)),
                None => format!("in batch {}, being written", batch.id),
            },
            None if self.status.is_decided() => "not yet reported to the agency".to_owned(),
            None => "reported once settled".to_owned(),
        }
    }
}

/// A payment's place in a batch report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMark {
    /// `bat_…`, also the batch file's name in the agency's outbox.
    pub id: String,
    /// When the batch file was complete in the outbox; `None` while it is being written.
    pub transmitted_ms: Option<i64>,
}

/// Find one payment by CIP's id or by its confirmation code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentLookup {
    Id(String),
    ConfirmationCode(String),
}

/// The order of a search's results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchSort {
    #[default]
    Newest,
    Oldest,
    AmountHighest,
    AmountLowest,
}

impl SearchSort {
    pub const ALL: [SearchSort; 4] = [
        SearchSort::Newest,
        SearchSort::Oldest,
        SearchSort::AmountHighest,
        SearchSort::AmountLowest,
    ];

    /// Its name in a URL: `newest`, `oldest`, `amount_highest`, `amount_lowest`.
    pub fn code(self) -> &'static str {
        match self {
            SearchSort::Newest => "newest",
            SearchSort::Oldest => "oldest",
            SearchSort::AmountHighest => "amount_highest",
            SearchSort::AmountLowest => "amount_lowest",
        }
    }

    pub fn from_code(code: &str) -> Option<SearchSort> {
        SearchSort::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            SearchSort::Newest => "newest first",
            SearchSort::Oldest => "oldest first",
            SearchSort::AmountHighest => "largest amount first",
            SearchSort::AmountLowest => "smallest amount first",
        }
    }
}

/// A search over payments; every filter is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    pub application: Option<String>,
    pub status: Option<PaymentStatus>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub confirmation_code: Option<String>,
    /// One payment by its id (`pay_…`), as the outcome screen shows it.
    pub payment_id: Option<String>,
    pub last_four: Option<String>,
    /// Part of the payer's name, any case.
    pub payer_name: Option<String>,
    pub sort: SearchSort,
    /// Which page, from 0.
    pub page: u32,
    pub page_size: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPage {
    pub payments: Vec<Payment>,
    /// Whether another page follows.
    pub more: bool,
}

/// A decline or failure code in words a person can act on.
pub fn outcome_message(code: &str) -> &'static str {
    match code {
        "generic_decline" => "the card issuer declined the payment: ask for another card",
        "insufficient_funds" => "insufficient funds: ask for another card or account",
        "expired_card" => "the issuer says the card has expired: ask for another card",
        "incorrect_cvc" => "the issuer says the security code is wrong: re-enter it",
        "processing_error" => "the processor had an error and nothing was charged: try again",
        "processor_unavailable" => {
            "the processor could not be reached and nothing was charged: try again shortly"
        }
        "processor_timeout" => {
            "the processor did not answer in time: CIP asks it what happened; do not take the payment again"
        }
        "not_charged" => {
            "the processor did not answer in time; CIP reversed it and nothing was charged: the payment can be taken again"
        }
        "late_approval" => {
            "an approval arrived after CIP reported nothing charged: CIP is voiding it, do not take the payment again until it is voided"
        }
        "late_approval_voided" => {
            "an approval arrived after CIP reported nothing charged, and CIP voided it: nothing was charged"
        }
        "no_account" => "the bank has no such account: check the account number",
        "account_closed" => "the bank account is closed: ask for another account or a card",
        "debit_not_authorized" => {
            "the account holder has not authorized debits: ask for another account or a card"
        }
        _ => "the processor declined the payment: ask for another payment method",
    }
}

/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// An idempotency key's refusal, or `Ok` for 1 to 255 letters, digits and hyphens that do not
/// look like a card number (see [`crate::free_text`]); keys are stored and logged, so one that
/// does is refused naming `field`, the key as its caller knows it, before anything is stored.
pub fn check_idempotency_key(key: &str, field: &str) -> Result<(), ApiError> {
    let shaped = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !shaped {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY_LEN} letters, digits and hyphens: generate one per payment and reuse it only to retry"
            ),
        });
    }
    let mut errors = FieldErrors::default();
    refuse_card_number(&mut errors, field, key);
    errors.into_result().map_err(ApiError::Fields)
}

/// CIP's payment id: `pay_`, the time in milliseconds (9 Crockford symbols, so ids sort by time
/// and new rows land together at the end of the tables' indexes) and 40 random bits (two ids
/// of one millisecond collide about once in 10^12 at 15,000 payments/s).
pub fn payment_id(now_ms: i64, random: u64) -> String {
    time_sorted_id("pay_", now_ms, random)
}

/// The payment id a person typed (any case, with or without `pay_`, `O` for 0 and `I`/`L` for 1,
/// as in confirmation codes), or `None` when it cannot be one.
pub fn normalize_payment_id(typed: &str) -> Option<String> {
    let typed = typed.trim();
    let symbols = match typed.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("pay_") => &typed[4..],
        _ => typed,
    };
    let mut id = String::with_capacity(4 + PAYMENT_ID_SYMBOLS);
    id.push_str("pay_");
    for c in symbols.chars() {
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        };
        if !c.is_ascii_alphanumeric() || c == 'U' {
            return None;
        }
        id.push(c);
    }
    (symbols.chars().count() == PAYMENT_ID_SYMBOLS).then_some(id)
}

/// Symbols after `pay_`: 9 of time and 8 of randomness.
const PAYMENT_ID_SYMBOLS: usize = 17;

/// A bound between payment ids: after every id made before `ms`, before every id made at or
/// after it. A range of ids between two bounds is a range of creation times.
pub fn payment_id_bound(ms: i64) -> String {
    format!(
        "pay_{}",
        crate::confirmation::crockford(u64::try_from(ms).unwrap_or(0), 9)
    )
}

/// A batch report's id, `bat_…`, built like a payment id, so batch files sort by time.
pub fn batch_id(now_ms: i64, random: u64) -> String {
    time_sorted_id("bat_", now_ms, random)
}

pub(crate) fn time_sorted_id(prefix: &str, now_ms: i64, random: u64) -> String {
    let millis = u64::try_from(now_ms).unwrap_or(0);
    format!(
        "{prefix}{}{}",
        crate::confirmation::crockford(millis, 9),
        crate::confirmation::crockford(random, 8)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_ids_sort_by_time() {
        let earlier = payment_id(1_800_000_000_000, u64::MAX);
        let later = payment_id(1_800_000_000_001, 0);
        assert!(earlier < later, "{earlier} {later}");
        assert_eq!(earlier.len(), 21);
        assert_ne!(payment_id(1, 1), payment_id(1, 2));
    }

    #[test]
    fn an_idempotency_key_like_a_card_number_is_refused_naming_the_field() {
        assert_eq!(check_idempotency_key("order-2026-0001", "key"), Ok(()));
        assert!(matches!(
            check_idempotency_key("no spaces", "key"),
            Err(ApiError::InvalidRequest { .. })
        ));
        for key in [
            "4242424242424242",
            "4242-4242-4242-4242",
            "ref-4242424242424242",
        ] {
            match check_idempotency_key(key, "Idempotency-Key") {
                Err(ApiError::Fields(errors)) => assert_eq!(
                    errors.get("Idempotency-Key"),
                    Some(crate::free_text::CARD_NUMBER_IN_TEXT),
                    "{key}"
                ),
                other => panic!("{key}: {other:?}"),
            }
        }
    }
}
