//! A whole request against an application's form, its values from the input's lines: it is
//! valid or refused field by field, each error naming a field the request has.
#![no_main]

use cip_common::money::Currency;
use cip_common::payment::{CardInput, Payer, PaymentMethod, PaymentRequest};
use cip_common::secret::{Cvv, Pan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut values = text.split('\n').map(str::to_owned);
    let mut next = || values.next().unwrap_or_default();
    let request = PaymentRequest {
        amount_minor: next().parse().unwrap_or(0),
        currency: Currency::Usd,
        payer: Payer {
            name: next(),
            email: next(),
            postal_code: next(),
        },
        fields: [
            ("taxpayer_id".to_owned(), next()),
            ("tax_year".to_owned(), next()),
        ]
        .into(),
        method: PaymentMethod::Card(CardInput {
            number: Pan::new(next()),
            exp_month: next().parse().unwrap_or(0),
            exp_year: next().parse().unwrap_or(0),
            cvv: Cvv::new(next()),
            name: next(),
            postal_code: next(),
        }),
    };
    if let Err(errors) = cip_fuzz::form().validate(&request, cip_fuzz::TODAY) {
        for error in errors.0 {
            assert!(!error.field.is_empty() && !error.message.is_empty());
        }
    }
});
