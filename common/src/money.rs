//! Money as integer minor units of an ISO 4217 currency. Never floats; overflow is an error.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The currencies CIP accepts, with their ISO 4217 minor-unit exponents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Aud,
    Bhd,
    Cad,
    Chf,
    Eur,
    Gbp,
    Jod,
    Jpy,
    Krw,
    Kwd,
    Mxn,
    Omr,
    Usd,
}

impl Currency {
    pub const ALL: [Currency; 13] = [
        Currency::Aud,
        Currency::Bhd,
        Currency::Cad,
        Currency::Chf,
        Currency::Eur,
        Currency::Gbp,
        Currency::Jod,
        Currency::Jpy,
        Currency::Krw,
        Currency::Kwd,
        Currency::Mxn,
        Currency::Omr,
        Currency::Usd,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Aud => "AUD",
            Currency::Bhd => "BHD",
            Currency::Cad => "CAD",
            Currency::Chf => "CHF",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Jod => "JOD",
            Currency::Jpy => "JPY",
            Currency::Krw => "KRW",
            Currency::Kwd => "KWD",
            Currency::Mxn => "MXN",
            Currency::Omr => "OMR",
            Currency::Usd => "USD",
        }
    }

    /// Digits after the decimal point (ISO 4217 minor unit).
    pub fn exponent(self) -> u32 {
        match self {
            Currency::Jpy | Currency::Krw => 0,
            Currency::Bhd | Currency::Jod | Currency::Kwd | Currency::Omr => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| MoneyError::UnknownCurrency(s.trim().to_owned()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MoneyError {
    #[error("the amount is too large: enter a smaller amount")]
    Overflow,
    #[error("enter an amount")]
    Empty,
    #[error("the amount must be a number like 1,234.56")]
    NotANumber,
    #[error("{currency} has {max} digits after the decimal point: enter at most {max}")]
    TooManyDecimals { currency: Currency, max: u32 },
    #[error("amounts in {left} and {right} cannot be combined")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("unknown currency {0:?}: use an ISO 4217 code such as USD")]
    UnknownCurrency(String),
}

/// An amount of money: integer minor units (cents, fils, yen) of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            });
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Parses a decimal amount as a person types it ("1,234.56", "1234.5", "500") in `currency`.
    /// Group separators are commas; a sign is not accepted (payments are positive).
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        let exponent = currency.exponent();
        let mut minor: i64 = 0;
        let mut digits = 0;
        for c in whole.chars() {
            match c {
                ',' => continue,
                '0'..='9' => {
                    digits += 1;
                    minor = minor
                        .checked_mul(10)
                        .and_then(|m| m.checked_add(i64::from(c as u8 - b'0')))
                        .ok_or(MoneyError::Overflow)?;
                }
                _ => return Err(MoneyError::NotANumber),
            }
        }
        let fraction = fraction.unwrap_or("");
        if !fraction.chars().all(|c| c.is_ascii_digit()) {
            return Err(MoneyError::NotANumber);
        }
        if fraction.len() > exponent as usize {
            return Err(MoneyError::TooManyDecimals {
                currency,
                max: exponent,
            });
        }
        if digits == 0 && fraction.is_empty() {
            return Err(MoneyError::NotANumber);
        }
        for i in 0..exponent as usize {
            let d = fraction.as_bytes().get(i).map_or(0, |b| b - b'0');
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(d)))
                .ok_or(MoneyError::Overflow)?;
        }
        Ok(Money::new(minor, currency))
    }

    /// The amount as a person reads it, with group separators and no currency: "1,234.56".
    pub fn amount_text(&self) -> String {
        let exponent = self.currency.exponent();
        let scale = 10u64.pow(exponent);
        let magnitude = self.minor.unsigned_abs();
        let whole = (magnitude / scale).to_string();
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3 + 8);
        if self.minor < 0 {
            grouped.push('-');
        }
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if exponent > 0 {
            grouped.push('.');
            grouped.push_str(&format!(
                "{:0width$}",
                magnitude % scale,
                width = exponent as usize
            ));
        }
        grouped
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_text(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpy_usd_and_kwd_round_trip_through_text() {
        for (text, currency, minor) in [
            ("1,234", Currency::Jpy, 1_234),
            ("1,234.56", Currency::Usd, 123_456),
            ("1,234.567", Currency::Kwd, 1_234_567),
            ("0.05", Currency::Usd, 5),
            ("0.005", Currency::Kwd, 5),
        ] {
            let money = Money::parse(text, currency).unwrap();
            assert_eq!(money.minor, minor, "{text} {currency}");
            assert_eq!(money.amount_text(), text);
            assert_eq!(Money::parse(&money.amount_text(), currency), Ok(money));
        }
        assert_eq!(Money::parse("12.5", Currency::Usd).unwrap().minor, 1_250);
        assert_eq!(Money::new(1_250, Currency::Usd).to_string(), "12.50 USD");
    }

    #[test]
    fn too_many_decimals_names_the_currency_limit() {
        let err = Money::parse("1.5", Currency::Jpy).unwrap_err();
        assert_eq!(
            err,
            MoneyError::TooManyDecimals {
                currency: Currency::Jpy,
                max: 0
            }
        );
        assert!(err.to_string().contains("JPY has 0 digits"));
        assert!(Money::parse("1.234", Currency::Usd).is_err());
        assert!(Money::parse("1.2345", Currency::Kwd).is_err());
    }

    #[test]
    fn overflow_is_an_error_never_a_wrap() {
        let max = Money::new(i64::MAX, Currency::Usd);
        assert_eq!(
            max.checked_add(Money::new(1, Currency::Usd)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::parse("92233720368547758.08", Currency::Usd),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::parse("92233720368547758.07", Currency::Usd)
                .unwrap()
                .minor,
            i64::MAX
        );
        assert_eq!(
            Money::parse("99999999999999999999", Currency::Jpy),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn mixing_currencies_is_refused() {
        let err = Money::new(1, Currency::Usd)
            .checked_add(Money::new(1, Currency::Eur))
            .unwrap_err();
        assert!(matches!(err, MoneyError::CurrencyMismatch { .. }));
    }

    #[test]
    fn junk_is_not_a_number() {
        for text in ["abc", "1.2.3", "-5", "1e3", ".", "$5"] {
            assert!(Money::parse(text, Currency::Usd).is_err(), "{text}");
        }
        assert_eq!(Money::parse("  ", Currency::Usd), Err(MoneyError::Empty));
    }

    #[test]
    fn currency_codes_parse_and_serialize_as_iso_codes() {
        assert_eq!("kwd".parse::<Currency>().unwrap(), Currency::Kwd);
        assert!("XYZ".parse::<Currency>().is_err());
        assert_eq!(serde_json::to_string(&Currency::Jpy).unwrap(), "\"JPY\"");
    }
}
