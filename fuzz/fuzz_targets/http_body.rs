//! The agency API's JSON body: any bytes are taken or refused field by field, and a refusal
//! never quotes the card number it carried.
#![no_main]

use cip_common::gateway::PaymentBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<PaymentBody>(data) else {
        return;
    };
    let number: String = body
        .card
        .as_ref()
        .map(|c| c.number.chars().filter(char::is_ascii_digit).collect())
        .unwrap_or_default();
    if let Err(refusal) = body.into_request(cip_fuzz::form(), cip_fuzz::TODAY) {
        if number.len() >= 12 {
            assert!(!format!("{refusal} {refusal:?}").contains(&number));
        }
    }
});
