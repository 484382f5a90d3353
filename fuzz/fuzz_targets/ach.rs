//! Routing and account numbers: any text is valid or refused with a reason.
#![no_main]

use cip_common::ach::{account_number_error, routing_number_error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if routing_number_error(&text).is_none() {
        assert!(text.len() == 9 && text.bytes().all(|b| b.is_ascii_digit()));
    }
    if account_number_error(&text).is_none() {
        assert!((4..=17).contains(&text.len()));
    }
});
