//! Amounts as a person types them: parsed or refused in every currency, and an amount shown
//! reads back as itself.
#![no_main]

use cip_common::money::{Currency, Money};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for currency in Currency::ALL {
        if let Ok(money) = Money::parse(&text, currency) {
            assert!(money.minor >= 0);
            assert_eq!(Money::parse(&money.amount_text(), currency), Ok(money));
        }
    }
});
