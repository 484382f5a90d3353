//! Properties of the parsers every payment goes through, over generated input: amounts, card
//! numbers, CVVs, routing and account numbers.

use cip_common::ach::{account_number_error, routing_number_error};
use cip_common::card::{brand_of, cvv_error, luhn_valid, validate_pan};
use cip_common::money::{Currency, Money};
use proptest::prelude::*;

fn currency() -> impl Strategy<Value = Currency> {
    proptest::sample::select(Currency::ALL.to_vec())
}

/// The digit that makes `body` pass the Luhn check.
fn luhn_digit(body: &str) -> char {
    ('0'..='9')
        .find(|d| luhn_valid(&format!("{body}{d}")))
        .expect("one digit completes any body")
}

/// `text` with the digit at `at` moved by `by` (1 to 9).
fn changed(text: &str, at: usize, by: u8) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = at % bytes.len();
    bytes[at] = b'0' + (bytes[at] - b'0' + by) % 10;
    String::from_utf8(bytes).expect("digits")
}

proptest! {
    #[test]
    fn an_amount_reads_back_as_it_is_shown(minor in 1i64..=1_000_000_000_000_000, currency in currency()) {
        let money = Money::new(minor, currency);
        prop_assert_eq!(Money::parse(&money.amount_text(), currency), Ok(money));
    }

    #[test]
    fn any_text_is_an_amount_or_refused_and_never_negative(text in "\\PC{0,40}", currency in currency()) {
        if let Ok(money) = Money::parse(&text, currency) {
            prop_assert!(money.minor >= 0);
            prop_assert_eq!(money.currency, currency);
        }
    }

    #[test]
    fn a_check_digit_completes_any_number_and_one_wrong_digit_breaks_it(
        body in "[0-9]{11,18}", at in 0usize..19, by in 1u8..10,
    ) {
        let number = format!("{body}{}", luhn_digit(&body));
        prop_assert!(luhn_valid(&number));
        prop_assert!(!luhn_valid(&changed(&number, at, by)));
    }

    #[test]
    fn card_checks_take_any_text_without_panicking(text in "\\PC{0,30}", cvv in "\\PC{0,6}") {
        let brand = brand_of(&text);
        if let Ok(valid) = validate_pan(&text) {
            prop_assert!(luhn_valid(&text));
            prop_assert_eq!(Some(valid), brand);
            prop_assert!(valid.pan_lengths().contains(&text.len()));
        }
        let _ = cvv_error(&cvv, brand);
    }

    #[test]
    fn a_routing_number_with_one_wrong_digit_fails_its_checksum(
        body in "[0-9]{8}", at in 0usize..9, by in 1u8..10,
    ) {
        // The ninth digit that makes the 3-7-1 weighted sum a multiple of ten.
        let d: Vec<u32> = body.bytes().map(|b| u32::from(b - b'0')).collect();
        let partial = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5]);
        let routing = format!("{body}{}", (10 - partial % 10) % 10);
        prop_assert_eq!(routing_number_error(&routing), None);
        prop_assert!(routing_number_error(&changed(&routing, at, by)).is_some());
    }

    #[test]
    fn account_numbers_are_four_to_seventeen_letters_or_digits(text in "\\PC{0,24}") {
        let valid = (4..=17).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric());
        prop_assert_eq!(account_number_error(&text).is_none(), valid);
        let _ = routing_number_error(&text);
    }
}
