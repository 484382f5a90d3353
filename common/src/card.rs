//! Card rules: the Luhn check digit, brand by IIN range, card-number and CVV length per brand, and
//! expiry through the end of its month.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    Unionpay,
}

impl Brand {
    pub fn name(self) -> &'static str {
        match self {
            Brand::Visa => "Visa",
            Brand::Mastercard => "Mastercard",
            Brand::Amex => "American Express",
            Brand::Discover => "Discover",
            Brand::Jcb => "JCB",
            Brand::Diners => "Diners Club",
            Brand::Unionpay => "UnionPay",
        }
    }

    /// The token used in storage and on the wire ("visa", "amex").
    pub fn code(self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "mastercard",
            Brand::Amex => "amex",
            Brand::Discover => "discover",
            Brand::Jcb => "jcb",
            Brand::Diners => "diners",
            Brand::Unionpay => "unionpay",
        }
    }

    pub fn from_code(code: &str) -> Option<Brand> {
        BRANDS.into_iter().find(|b| b.code() == code)
    }

    /// Card-number lengths the brand issues.
    pub fn pan_lengths(self) -> &'static [usize] {
        match self {
            Brand::Visa => &[13, 16, 19],
            Brand::Mastercard => &[16],
            Brand::Amex => &[15],
            Brand::Diners => &[14, 15, 16, 17, 18, 19],
            Brand::Discover | Brand::Jcb | Brand::Unionpay => &[16, 17, 18, 19],
        }
    }

    pub fn cvv_length(self) -> usize {
        match self {
            Brand::Amex => 4,
            _ => 3,
        }
    }
}

const BRANDS: [Brand; 7] = [
    Brand::Visa,
    Brand::Mastercard,
    Brand::Amex,
    Brand::Discover,
    Brand::Jcb,
    Brand::Diners,
    Brand::Unionpay,
];

/// `MM/YY`, as printed on the card.
impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}/{:02}", self.month, self.year % 100)
    }
}

impl fmt::Display for Brand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// IIN ranges, as (prefix length, first, last, brand). Checked in order, so the Discover
/// co-branded range 622126–622925 wins over UnionPay's 62.
const IIN_RANGES: [(usize, u32, u32, Brand); 14] = [
    (1, 4, 4, Brand::Visa),
    (2, 51, 55, Brand::Mastercard),
    (4, 2221, 2720, Brand::Mastercard),
    (2, 34, 34, Brand::Amex),
    (2, 37, 37, Brand::Amex),
    (4, 6011, 6011, Brand::Discover),
    (3, 644, 649, Brand::Discover),
    (2, 65, 65, Brand::Discover),
    (6, 622126, 622925, Brand::Discover),
    (4, 3528, 3589, Brand::Jcb),
    (3, 300, 305, Brand::Diners),
    (4, 3095, 3095, Brand::Diners),
    (2, 36, 36, Brand::Diners),
    (2, 62, 62, Brand::Unionpay),
];

/// Diners 38 and 39 are less common prefixes, checked after the main table.
const DINERS_EXTRA: [u32; 2] = [38, 39];

/// The brand of a card number from its leading digits, as soon as enough digits are known.
pub fn brand_of(digits: &str) -> Option<Brand> {
    let prefix = |len: usize| -> Option<u32> {
        digits
            .get(..len)
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
    };
    IIN_RANGES
        .iter()
        .find(|(len, first, last, _)| prefix(*len).is_some_and(|p| (*first..=*last).contains(&p)))
        .map(|(_, _, _, brand)| *brand)
        .or_else(|| {
            prefix(2)
                .filter(|p| DINERS_EXTRA.contains(p))
                .map(|_| Brand::Diners)
        })
}

/// The Luhn (mod 10) check over a string of ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Why a card number was refused; each message says what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PanError {
    #[error("enter the card number")]
    Empty,
    #[error("the card number may hold only digits (spaces and hyphens are fine): re-enter it")]
    NotDigits,
    #[error(
        "the card number's brand is not recognised: check the first digits or use another card"
    )]
    UnknownBrand,
    #[error("a {brand} card number has {expected} digits, this one has {actual}: re-enter it")]
    Length {
        brand: Brand,
        expected: &'static str,
        actual: usize,
    },
    #[error("the card number fails the check digit: re-enter it")]
    CheckDigit,
}

/// Validates card-number digits (separators already removed) and returns the brand.
pub fn validate_pan(digits: &str) -> Result<Brand, PanError> {
    if digits.is_empty() {
        return Err(PanError::Empty);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PanError::NotDigits);
    }
    let brand = brand_of(digits).ok_or(PanError::UnknownBrand)?;
    if !brand.pan_lengths().contains(&digits.len()) {
        return Err(PanError::Length {
            brand,
            expected: lengths_text(brand),
            actual: digits.len(),
        });
    }
    if !luhn_valid(digits) {
        return Err(PanError::CheckDigit);
    }
    Ok(brand)
}

fn lengths_text(brand: Brand) -> &'static str {
    match brand {
        Brand::Visa => "13, 16 or 19",
        Brand::Mastercard => "16",
        Brand::Amex => "15",
        Brand::Diners => "14 to 19",
        Brand::Discover | Brand::Jcb | Brand::Unionpay => "16 to 19",
    }
}

/// Why a CVV was refused.
pub fn cvv_error(cvv: &str, brand: Option<Brand>) -> Option<String> {
    let expected = brand.map_or(3, Brand::cvv_length);
    let ok_digits = !cvv.is_empty() && cvv.bytes().all(|b| b.is_ascii_digit());
    if cvv.is_empty() {
        Some("enter the security code from the card".to_owned())
    } else if !ok_digits || cvv.len() != expected {
        let side = if expected == 4 { "front" } else { "back" };
        Some(format!(
            "the security code is {expected} digits on the {side} of the card: re-enter it"
        ))
    } else {
        None
    }
}

/// A card's expiry: valid through the last day of its month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiry {
    pub month: u8,
    pub year: u16,
}

/// Why typed expiry text was refused; each message says how to type it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("enter the expiry as MM/YY, like 01/28")]
    Format,
    #[error("{digits} could be {short} or {long}: enter the expiry as MM/YY, like 01/28")]
    Ambiguous {
        digits: String,
        short: String,
        long: String,
    },
    #[error("the expiry month must be 01 to 12")]
    Month,
}

impl Expiry {
    /// Reads an expiry as printed or typed: `MM/YY`, `M/YY`, `MMYY`, `MM/YYYY`, `M/YYYY`,
    /// `MM-YY`, spaces anywhere. Three digits alone (`128`: 1/28 or 12/8?) are refused.
    pub fn parse(text: &str) -> Result<Expiry, ExpiryError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some((month, year)) = compact.split_once(['/', '-']) {
            return Expiry::from_parts(month, year);
        }
        match compact.len() {
            3 if compact.bytes().all(|b| b.is_ascii_digit()) => Err(ExpiryError::Ambiguous {
                short: format!("{}/{}", &compact[..1], &compact[1..]),
                long: format!("{}/0{}", &compact[..2], &compact[2..]),
                digits: compact,
            }),
            4 | 6 if compact.is_ascii() => Expiry::from_parts(&compact[..2], &compact[2..]),
            _ => Err(ExpiryError::Format),
        }
    }

    /// An expiry from its month (1 or 2 digits) and year (2 or 4 digits), as the hosted page
    /// takes them in two boxes.
    pub fn from_parts(month: &str, year: &str) -> Result<Expiry, ExpiryError> {
        let (month, year) = (month.trim(), year.trim());
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(month) || month.len() > 2 || !digits(year) || ![2, 4].contains(&year.len()) {
            return Err(ExpiryError::Format);
        }
        let month: u8 = month.parse().map_err(|_| ExpiryError::Format)?;
        if !(1..=12).contains(&month) {
            return Err(ExpiryError::Month);
        }
        let year: u16 = year.parse().map_err(|_| ExpiryError::Format)?;
        let year = if year < 100 { 2000 + year } else { year };
        Ok(Expiry { month, year })
    }

    pub fn error(self, today: jiff::civil::Date) -> Option<&'static str> {
        if !(1..=12).contains(&self.month) {
            return Some("the expiry month must be 01 to 12");
        }
        if self.year < 2000 || self.year > 2099 {
            return Some("enter the expiry year as printed on the card");
        }
        let now = (i32::from(today.year()), i32::from(today.month()));
        if (i32::from(self.year), i32::from(self.month)) < now {
            return Some("the card has expired: use another card");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brands_by_iin_range() {
        for (digits, brand) in [
            ("4242424242424242", Brand::Visa),
            ("5555555555554444", Brand::Mastercard),
            ("5105105105105100", Brand::Mastercard),
            ("2221000000000009", Brand::Mastercard),
            ("2720990000000000", Brand::Mastercard),
            ("378282246310005", Brand::Amex),
            ("340000000000009", Brand::Amex),
            ("6011111111111117", Brand::Discover),
            ("6445644564456445", Brand::Discover),
            ("6500000000000002", Brand::Discover),
            ("6221260000000000", Brand::Discover),
            ("3528000000000000", Brand::Jcb),
            ("3589000000000000", Brand::Jcb),
            ("30569309025904", Brand::Diners),
            ("36000000000008", Brand::Diners),
            ("6200000000000005", Brand::Unionpay),
        ] {
            assert_eq!(brand_of(digits), Some(brand), "{digits}");
        }
        for digits in [
            "2220999999999999",
            "2721000000000000",
            "3527000000000000",
            "1234",
            "",
        ] {
            assert_eq!(brand_of(digits), None, "{digits}");
        }
    }

    #[test]
    fn luhn_accepts_valid_and_refuses_a_changed_digit() {
        assert!(luhn_valid("4242424242424242"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("42424242a4242424"));
        assert!(!luhn_valid(""));
    }

    #[test]
    fn lengths_are_checked_per_brand() {
        assert_eq!(validate_pan("378282246310005"), Ok(Brand::Amex));
        let err = validate_pan("37828224631000").unwrap_err();
        assert!(matches!(
            err,
            PanError::Length {
                brand: Brand::Amex,
                actual: 14,
                ..
            }
        ));
        assert!(err.to_string().contains("15 digits"));
        assert_eq!(validate_pan("4242424242424241"), Err(PanError::CheckDigit));
        assert_eq!(
            validate_pan("9999999999999995"),
            Err(PanError::UnknownBrand)
        );
        assert_eq!(validate_pan(""), Err(PanError::Empty));
    }

    #[test]
    fn cvv_length_follows_the_brand() {
        assert_eq!(cvv_error("123", Some(Brand::Visa)), None);
        assert_eq!(cvv_error("1234", Some(Brand::Amex)), None);
        assert!(
            cvv_error("123", Some(Brand::Amex))
                .unwrap()
                .contains("4 digits on the front")
        );
        assert!(
            cvv_error("1234", Some(Brand::Visa))
                .unwrap()
                .contains("3 digits")
        );
        assert!(cvv_error("12a", Some(Brand::Visa)).is_some());
        assert!(cvv_error("", None).is_some());
    }

    #[test]
    fn expiry_is_valid_through_the_end_of_its_month() {
        let card = Expiry {
            month: 11,
            year: 2026,
        };
        assert_eq!(card.error(jiff::civil::date(2026, 11, 30)), None);
        assert_eq!(
            card.error(jiff::civil::date(2026, 12, 1)),
            Some("the card has expired: use another card")
        );
        assert_eq!(
            Expiry {
                month: 13,
                year: 2027
            }
            .error(jiff::civil::date(2026, 1, 1)),
            Some("the expiry month must be 01 to 12")
        );
        assert_eq!(
            Expiry {
                month: 1,
                year: 2027
            }
            .error(jiff::civil::date(2026, 12, 31)),
            None
        );
    }

    /// Each expiry as typed, and what it is read as or the words of its refusal.
    #[test]
    fn expiry_text_is_read_as_printed_or_refused_saying_how_to_type_it() {
        for (text, month, year) in [
            ("01/28", 1, 2028),
            ("1/28", 1, 2028),
            ("0128", 1, 2028),
            ("12/2028", 12, 2028),
            ("1/2028", 1, 2028),
            ("12-28", 12, 2028),
            (" 12 / 28 ", 12, 2028),
            ("122028", 12, 2028),
        ] {
            assert_eq!(Expiry::parse(text), Ok(Expiry { month, year }), "{text}");
        }
        for (text, words) in [
            (
                "128",
                "128 could be 1/28 or 12/08: enter the expiry as MM/YY, like 01/28",
            ),
            ("", "enter the expiry as MM/YY, like 01/28"),
            ("12/8", "enter the expiry as MM/YY"),
            ("12/208", "enter the expiry as MM/YY"),
            ("123/28", "enter the expiry as MM/YY"),
            ("12/28/28", "enter the expiry as MM/YY"),
            ("ab/cd", "enter the expiry as MM/YY"),
            ("12028", "enter the expiry as MM/YY"),
            ("13/28", "the expiry month must be 01 to 12"),
            ("00/28", "the expiry month must be 01 to 12"),
            ("1328", "the expiry month must be 01 to 12"),
        ] {
            let message = Expiry::parse(text)
                .expect_err(&format!("{text:?} was accepted"))
                .to_string();
            assert!(message.contains(words), "{text:?}: {message}");
        }
        assert_eq!(
            Expiry::from_parts("1", "2028"),
            Ok(Expiry {
                month: 1,
                year: 2028
            })
        );
        assert_eq!(
            Expiry {
                month: 1,
                year: 2028
            }
            .to_string(),
            "01/28"
        );
    }
}
