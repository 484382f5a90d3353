//! Card numbers and CVVs: any text is a valid card of a brand, or refused with a reason.
#![no_main]

use cip_common::card::{brand_of, cvv_error, luhn_valid, validate_pan};
use cip_common::secret::Pan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let digits = Pan::new(text.to_string()).digits();
    let brand = brand_of(&digits);
    if let Ok(valid) = validate_pan(&digits) {
        assert!(luhn_valid(&digits));
        assert_eq!(Some(valid), brand);
    }
    let _ = cvv_error(&text, brand);
});
