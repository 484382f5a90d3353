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

    /// How the currency is marked beside an amount besides its code, longest first.
    pub fn symbols(self) -> &'static [&'static str] {
        match self {
            Currency::Usd => &["US$", "$"],
            Currency::Cad => &["CA$", "C$", "$"],
            Currency::Aud => &["AU$", "A$", "$"],
            Currency::Mxn => &["MX$", "$"],
            Currency::Eur => &["€"],
            Currency::Gbp => &["£"],
            Currency::Jpy => &["¥", "円"],
            Currency::Krw => &["₩", "원"],
            Currency::Bhd | Currency::Chf | Currency::Jod | Currency::Kwd | Currency::Omr => &[],
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
        let code = s.trim();
        Currency::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
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
    #[error("payments are positive: type the amount without a sign")]
    Negative,
    #[error("use a point for decimals, not a comma: type {suggestion}")]
    DecimalComma { suggestion: String },
    #[error("commas only separate thousands, like {example}: type the amount again without them")]
    Grouping { example: String },
    #[error("{currency} has 3 decimals, so a comma is ambiguous: type {whole} or {decimal}")]
    AmbiguousComma {
        currency: Currency,
        whole: String,
        decimal: String,
    },
    #[error("this payment is in {currency}: type the amount without {mark}")]
    OtherCurrency { currency: Currency, mark: String },
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

    /// Parses an amount as an agent types it in `currency`, refusing what could be misread.
    ///
    /// Accepted: `1234.5`, `1,234.56` (commas only between groups of three digits), the
    /// currency's own symbol or code before or after (`$25`, `25.00 USD`, `USD 25`). Refused,
    /// each saying what to type instead: a decimal comma (`12,50`), commas that do not group
    /// thousands (`1,2,3`), `1,234` where three decimals make it ambiguous (KWD), another
    /// currency's symbol or code, and a sign (payments are positive).
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        if text.contains(['-', '\u{2212}']) {
            return Err(MoneyError::Negative);
        }
        let number = without_marks(text, currency)?;
        if number.is_empty()
            || !number
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        {
            return Err(MoneyError::NotANumber);
        }
        let exponent = currency.exponent() as usize;
        if let Some(typed) = decimal_comma(number, exponent) {
            let suggestion =
                Money::parse_plain(&typed, currency).map_or(typed, |money| money.amount_text());
            return Err(MoneyError::DecimalComma { suggestion });
        }
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.contains(',') {
            if !groups_thousands(whole, ',') {
                // 1,234 with as many decimals as the currency has: 1,234.56, 1,234.567, 1,234.
                let decimals = 567 / 10i64.pow(3 - currency.exponent());
                let example = 1_234 * 10i64.pow(currency.exponent()) + decimals;
                return Err(MoneyError::Grouping {
                    example: Money::new(example, currency).amount_text(),
                });
            }
            if exponent == 3 && whole.matches(',').count() == 1 && !number.contains('.') {
                return Err(MoneyError::AmbiguousComma {
                    currency,
                    whole: whole.replace(',', ""),
                    decimal: whole.replace(',', "."),
                });
            }
        }
        Money::parse_plain(&format!("{}.{fraction}", whole.replace(',', "")), currency)
    }

    /// Digits with at most one decimal point, nothing else.
    fn parse_plain(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if !digits(whole) || !digits(fraction) || (whole.is_empty() && fraction.is_empty()) {
            return Err(MoneyError::NotANumber);
        }
        let exponent = currency.exponent();
        if fraction.len() > exponent as usize {
            return Err(MoneyError::TooManyDecimals {
                currency,
                max: exponent,
            });
        }
        let padded = format!("{whole}{fraction:0<width$}", width = exponent as usize);
        let mut minor: i64 = 0;
        for b in padded.bytes() {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        Ok(Money::new(minor, currency))
    }

    /// The amount as a person reads it, with group separators and no currency: "1,234.56".
    pub fn amount_text(&self) -> String {
        self.decimal(true)
    }

    /// The amount as a machine reads it, without group separators or currency: "1234.56" (the
    /// CSV exports and batch manifests).
    pub fn plain_decimal(&self) -> String {
        self.decimal(false)
    }

    /// The one writing of an amount: its sign, its whole units (in groups of three with
    /// `grouped`), and the currency's decimals.
    fn decimal(&self, grouped: bool) -> String {
        let exponent = self.currency.exponent();
        let scale = 10u64.pow(exponent);
        let magnitude = self.minor.unsigned_abs();
        let whole = magnitude / scale;
        let mut text = String::with_capacity(32);
        if self.minor < 0 {
            text.push('-');
        }
        if grouped {
            text.push_str(&in_thousands(whole));
        } else {
            text.push_str(&whole.to_string());
        }
        if exponent > 0 {
            use fmt::Write;
            let _ = write!(
                text,
                ".{:0width$}",
                magnitude % scale,
                width = exponent as usize
            );
        }
        text
    }
}

/// A count or whole amount in groups of three, as a person reads it: "1,234,567".
pub fn in_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(c);
    }
    text
}

/// `text` without the currency's own code or symbol before or after it; another currency's is
/// refused, naming it.
fn without_marks(text: &str, currency: Currency) -> Result<&str, MoneyError> {
    let own: Vec<&str> = std::iter::once(currency.code())
        .chain(currency.symbols().iter().copied())
        .collect();
    let mut rest = text;
    let leading = |rest: &str, mark: &str| {
        rest.get(..mark.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(mark))
    };
    if let Some(mark) = own.iter().find(|mark| leading(rest, mark)) {
        rest = rest[mark.len()..].trim_start();
    }
    let trailing = |rest: &str, mark: &str| {
        rest.len()
            .checked_sub(mark.len())
            .and_then(|at| rest.get(at..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(mark))
    };
    if let Some(mark) = own.iter().find(|mark| trailing(rest, mark)) {
        rest = rest[..rest.len() - mark.len()].trim_end();
    }
    let upper = rest.to_ascii_uppercase();
    let foreign = Currency::ALL
        .into_iter()
        .filter(|other| *other != currency)
        .flat_map(|other| std::iter::once(other.code()).chain(other.symbols().iter().copied()))
        .filter(|mark| !own.contains(mark) && upper.contains(mark))
        .max_by_key(|mark| mark.len());
    match foreign {
        Some(mark) => Err(MoneyError::OtherCurrency {
            currency,
            mark: mark.to_owned(),
        }),
        None => Ok(rest),
    }
}

/// `whole` is digits in groups of three after a first group of one to three, split by `separator`.
fn groups_thousands(whole: &str, separator: char) -> bool {
    let mut groups = whole.split(separator);
    let first = groups.next().unwrap_or("");
    (1..=3).contains(&first.len())
        && !(first.starts_with('0') && whole.contains(separator))
        && first.chars().all(|c| c.is_ascii_digit())
        && groups.all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit()))
}

/// When the last comma in `number` can only be a decimal comma (`12,50`, `0,5`, `1.234,56`):
/// the amount written with a point instead. Three digits after a lone comma (`1,234`) group
/// thousands, or are ambiguous where a currency has three decimals, so they are not taken here.
fn decimal_comma(number: &str, exponent: usize) -> Option<String> {
    let (before, after) = number.rsplit_once(',')?;
    let points = before.contains('.');
    let decimal = !after.is_empty()
        && after.len() <= exponent
        && (after.len() < 3 || points)
        && after.chars().all(|c| c.is_ascii_digit())
        && if points {
            groups_thousands(before, '.')
        } else {
            before.chars().all(|c| c.is_ascii_digit())
        };
    decimal.then(|| format!("{}.{after}", before.replace('.', "")))
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
    fn a_count_reads_in_thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (10_000, "10,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(in_thousands(n), text);
        }
    }

    #[test]
    fn an_amount_is_written_with_its_sign_even_below_one_unit() {
        for (minor, currency, plain, grouped) in [
            (-50, Currency::Usd, "-0.50", "-0.50"),
            (-100, Currency::Usd, "-1.00", "-1.00"),
            (0, Currency::Usd, "0.00", "0.00"),
            (5, Currency::Usd, "0.05", "0.05"),
            (123_450, Currency::Usd, "1234.50", "1,234.50"),
            (-123_456_789, Currency::Usd, "-1234567.89", "-1,234,567.89"),
            (1_500, Currency::Jpy, "1500", "1,500"),
            (-7, Currency::Jpy, "-7", "-7"),
            (1_234, Currency::Kwd, "1.234", "1.234"),
            (-1, Currency::Kwd, "-0.001", "-0.001"),
        ] {
            let money = Money::new(minor, currency);
            assert_eq!(money.plain_decimal(), plain, "{minor} {currency}");
            assert_eq!(money.amount_text(), grouped, "{minor} {currency}");
        }
    }

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
        for text in ["abc", "1.2.3", "1e3", ".", "$", "1 234", "$2$5"] {
            assert_eq!(
                Money::parse(text, Currency::Usd),
                Err(MoneyError::NotANumber),
                "{text}"
            );
        }
        assert_eq!(Money::parse("  ", Currency::Usd), Err(MoneyError::Empty));
    }

    /// Each amount as typed, in its currency, and what it is read as: minor units, or the words
    /// the refusal must hold.
    #[test]
    fn amounts_are_read_as_meant_or_refused_saying_what_to_type() {
        use Currency::*;
        let read = [
            ("1,234.56", Usd, 123_456),
            ("12,345", Usd, 1_234_500),
            ("1,234,567", Usd, 123_456_700),
            ("12.5", Usd, 1_250),
            ("12.", Usd, 1_200),
            (".5", Usd, 50),
            ("$25", Usd, 2_500),
            ("$ 25", Usd, 2_500),
            ("25.00 USD", Usd, 2_500),
            ("USD 25", Usd, 2_500),
            ("usd25", Usd, 2_500),
            ("US$1,000", Usd, 100_000),
            ("25$", Cad, 2_500),
            ("C$25", Cad, 2_500),
            ("$25", Mxn, 2_500),
            ("€12.50", Eur, 1_250),
            ("12.50 €", Eur, 1_250),
            ("£3", Gbp, 300),
            ("¥1,234", Jpy, 1_234),
            ("1,234,567", Jpy, 1_234_567),
            ("₩5,000", Krw, 5_000),
            ("1234", Kwd, 1_234_000),
            ("1.234", Kwd, 1_234),
            ("1,234.5", Kwd, 1_234_500),
            ("1,234,567", Kwd, 1_234_567_000),
            ("KWD 1.5", Kwd, 1_500),
        ];
        for (text, currency, minor) in read {
            assert_eq!(
                Money::parse(text, currency),
                Ok(Money::new(minor, currency)),
                "{text} {currency}"
            );
        }
        let refused = [
            (
                "12,50",
                Usd,
                "use a point for decimals, not a comma: type 12.50",
            ),
            (
                "0,5",
                Usd,
                "use a point for decimals, not a comma: type 0.50",
            ),
            (
                ",5",
                Usd,
                "use a point for decimals, not a comma: type 0.50",
            ),
            (
                "1.234,56",
                Usd,
                "use a point for decimals, not a comma: type 1,234.56",
            ),
            (
                "€1.234,5",
                Eur,
                "use a point for decimals, not a comma: type 1,234.50",
            ),
            (
                "1,5",
                Kwd,
                "use a point for decimals, not a comma: type 1.500",
            ),
            (
                "1,2,3",
                Usd,
                "commas only separate thousands, like 1,234.56",
            ),
            ("12,34.5", Usd, "commas only separate thousands"),
            ("1,2345", Usd, "commas only separate thousands"),
            ("0,500", Usd, "commas only separate thousands"),
            ("1234,567", Usd, "commas only separate thousands"),
            (
                "12,5",
                Jpy,
                "commas only separate thousands, like 1,234: type",
            ),
            (
                "12,34.5",
                Kwd,
                "commas only separate thousands, like 1,234.567: type",
            ),
            ("1,23", Jpy, "commas only separate thousands"),
            (
                "1,234",
                Kwd,
                "KWD has 3 decimals, so a comma is ambiguous: type 1234 or 1.234",
            ),
            ("1,234", Bhd, "type 1234 or 1.234"),
            (
                "€25",
                Usd,
                "this payment is in USD: type the amount without €",
            ),
            (
                "25 EUR",
                Usd,
                "this payment is in USD: type the amount without EUR",
            ),
            (
                "C$25",
                Usd,
                "this payment is in USD: type the amount without C$",
            ),
            (
                "$25",
                Jpy,
                "this payment is in JPY: type the amount without $",
            ),
            (
                "$25",
                Eur,
                "this payment is in EUR: type the amount without $",
            ),
            ("-5", Usd, "payments are positive"),
            ("-$5", Usd, "payments are positive"),
            ("$-5", Usd, "payments are positive"),
            ("1.5", Jpy, "JPY has 0 digits"),
        ];
        for (text, currency, words) in refused {
            let message = Money::parse(text, currency)
                .expect_err(&format!("{text} {currency} was accepted"))
                .to_string();
            assert!(message.contains(words), "{text} {currency}: {message}");
        }
    }

    #[test]
    fn currency_codes_parse_and_serialize_as_iso_codes() {
        assert_eq!("kwd".parse::<Currency>().unwrap(), Currency::Kwd);
        assert!("XYZ".parse::<Currency>().is_err());
        assert_eq!(serde_json::to_string(&Currency::Jpy).unwrap(), "\"JPY\"");
    }
}
