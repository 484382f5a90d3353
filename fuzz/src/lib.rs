//! What the fuzz targets share: an application's form with both methods and its own fields.

use cip_common::form::ApplicationSpec;
use cip_common::validate::Form;

/// The day every target validates on.
pub const TODAY: jiff::civil::Date = jiff::civil::date(2026, 11, 29);

/// A form like the demo's tax payment: cards and ACH, a 9-digit id and a year (made once).
pub fn form() -> &'static Form {
    static FORM: std::sync::OnceLock<Form> = std::sync::OnceLock::new();
    FORM.get_or_init(make_form)
}

fn make_form() -> Form {
    let spec: ApplicationSpec = serde_json::from_value(serde_json::json!({
        "id": "TAX-PAYMENT",
        "name": "Tax payment",
        "currency": "USD",
        "min_amount_minor": 100,
        "max_amount_minor": 100_000_000,
        "methods": ["card", "ach"],
        "fields": [
            {"name": "taxpayer_id", "label": "taxpayer id", "max_len": 9,
             "pattern": "[0-9]{9}", "hint": "9 digits"},
            {"name": "tax_year", "label": "tax year", "max_len": 4,
             "pattern": "[0-9]{4}", "hint": "like 2025", "required": false}
        ]
    }))
    .expect("the spec");
    Form::new(spec).expect("a form")
}
