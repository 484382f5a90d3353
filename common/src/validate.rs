//! Validation of a payment request against its application's form: every bad field is named,
//! nothing is sent while any is bad.

use crate::ach::{account_number_error, routing_number_error};
use crate::card::{Expiry, cvv_error, validate_pan};
use crate::fields::FieldErrors;
use crate::fields::path;
use crate::form::{ApplicationSpec, FieldSpec, MethodKind, Need};
use crate::free_text::{CARD_NUMBER_IN_TEXT, looks_like_card_number, refuse_card_number};
use crate::money::Currency;
use crate::payment::{PaymentMethod, PaymentRequest};
use regex::Regex;
use std::collections::BTreeMap;

/// Longest name, email or postal code accepted (a bound on what is stored).
pub const MAX_TEXT_LEN: usize = 120;

/// An application's form with its field patterns compiled once.
#[derive(Clone, Debug)]
pub struct Form {
    pub spec: ApplicationSpec,
    patterns: Vec<Option<Regex>>,
}

impl Form {
    pub fn new(spec: ApplicationSpec) -> Result<Form, String> {
        let problems = spec.problems();
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let patterns = spec
            .fields
            .iter()
            .map(|f| {
                f.pattern
                    .as_deref()
                    .map(|p| Regex::new(&format!("^(?:{p})$")).map_err(|e| e.to_string()))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        Ok(Form { spec, patterns })
    }

    /// Checks everything in `request`, collecting every error. `today` decides card expiry and
    /// "this year".
    pub fn validate(
        &self,
        request: &PaymentRequest,
        today: jiff::civil::Date,
    ) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        let spec = &self.spec;
        self.order_errors(
            &mut errors,
            request.amount_minor,
            request.currency,
            &request.fields,
            today,
        );
        text_field(
            &mut errors,
            path::PAYER_NAME,
            &request.payer.name,
            "the payer's name",
        );
        let email = request.payer.email.trim();
        if looks_like_card_number(email) {
            errors.add(path::PAYER_EMAIL, CARD_NUMBER_IN_TEXT);
        } else if email.is_empty() {
            if spec.payer_email == Need::Required {
                errors.add(path::PAYER_EMAIL, "enter the payer's email address");
            }
        } else if !plausible_email(email) {
            errors.add(
                path::PAYER_EMAIL,
                "the email address needs a name, an @ and a domain, like name@example.com",
            );
        }
        postal_code(
            &mut errors,
            path::PAYER_POSTAL_CODE,
            &request.payer.postal_code,
        );
        match &request.method {
            PaymentMethod::Card(card) => {
                if !spec.methods.contains(&MethodKind::Card) {
                    errors.add(
                        "method",
                        format!("{} does not take cards: pay by bank (ACH)", spec.id),
                    );
                }
                let brand = match validate_pan(&card.number.digits()) {
                    Ok(brand) => Some(brand),
                    Err(e) => {
                        errors.add(path::CARD_NUMBER, e.to_string());
                        None
                    }
                };
                let expiry = Expiry {
                    month: card.exp_month,
                    year: card.exp_year,
                };
                if let Some(message) = expiry.error(today) {
                    errors.add(path::CARD_EXPIRY, message);
                }
                if let Some(message) = cvv_error(card.cvv.expose(), brand) {
                    errors.add(path::CARD_CVV, message);
                }
                text_field(
                    &mut errors,
                    path::CARD_NAME,
                    &card.name,
                    "the name on the card",
                );
                postal_code(&mut errors, path::CARD_POSTAL_CODE, &card.postal_code);
            }
            PaymentMethod::Ach(ach) => {
                if !spec.methods.contains(&MethodKind::Ach) {
                    errors.add(
                        "method",
                        format!("{} does not take bank payments: pay by card", spec.id),
                    );
                }
                if let Some(message) = routing_number_error(&ach.routing_number) {
                    errors.add(path::ACH_ROUTING_NUMBER, message);
                }
                if let Some(message) = account_number_error(ach.account_number.expose()) {
                    errors.add(path::ACH_ACCOUNT_NUMBER, message);
                }
                text_field(
                    &mut errors,
                    path::ACH_HOLDER_NAME,
                    &ach.holder_name,
                    "the account holder's name",
                );
            }
        }
        errors.into_result()
    }

    /// The application's fields as they are checked, stored and fingerprinted (trimmed, and
    /// upper-cased where the spec says so), so `abc123` and `ABC123` are one request. Fields
    /// the application does not have are kept for validation to name.
    pub fn normalize_fields(&self, fields: &mut BTreeMap<String, String>) {
        for (name, value) in fields.iter_mut() {
            if let Some(field) = self.spec.fields.iter().find(|f| &f.name == name) {
                let normalized = field.normalized(value);
                if normalized != value.as_str() {
                    *value = normalized.into_owned();
                }
            }
        }
    }

    /// Checks what an agency knows before its customer pays (a hand-off): the amount, its
    /// currency and the application's own fields.
    pub fn validate_order(
        &self,
        amount_minor: i64,
        currency: Currency,
        fields: &BTreeMap<String, String>,
        today: jiff::civil::Date,
    ) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        self.order_errors(&mut errors, amount_minor, currency, fields, today);
        errors.into_result()
    }

    fn order_errors(
        &self,
        errors: &mut FieldErrors,
        amount_minor: i64,
        currency: Currency,
        fields: &BTreeMap<String, String>,
        today: jiff::civil::Date,
    ) {
        let spec = &self.spec;
        if currency != spec.currency {
            errors.add(
                "currency",
                format!("{} takes payments in {} only", spec.id, spec.currency),
            );
        } else if amount_minor < spec.min_amount_minor || amount_minor > spec.max_amount_minor {
            errors.add(
                "amount",
                format!(
                    "enter an amount from {} to {}",
                    spec.min_amount(),
                    spec.max_amount()
                ),
            );
        }
        for (field, pattern) in spec.fields.iter().zip(&self.patterns) {
            let value = fields
                .get(&field.name)
                .map_or(std::borrow::Cow::Borrowed(""), |v| field.normalized(v));
            if let Some(message) = field_error(field, pattern.as_ref(), &value, today) {
                errors.add(format!("fields.{}", field.name), message);
            }
        }
        for name in fields.keys() {
            if looks_like_card_number(name) {
                // Never echoed, not even as a field's name.
                errors.add("fields", CARD_NUMBER_IN_TEXT);
            } else if !spec.fields.iter().any(|f| &f.name == name) {
                errors.add(
                    format!("fields.{name}"),
                    format!("{} has no field {name:?}: leave it out", spec.id),
                );
            }
        }
    }
}

fn text_field(errors: &mut FieldErrors, field: &str, value: &str, what: &str) {
    let value = value.trim();
    if refuse_card_number(errors, field, value) {
        return;
    }
    if value.is_empty() {
        errors.add(field, format!("enter {what}"));
    } else if value.chars().count() > MAX_TEXT_LEN {
        errors.add(
            field,
            format!("{what} may be at most {MAX_TEXT_LEN} characters: shorten it"),
        );
    } else if value.chars().any(char::is_control) {
        errors.add(
            field,
            format!("{what} may not hold control characters: retype it"),
        );
    }
}

fn postal_code(errors: &mut FieldErrors, field: &str, value: &str) {
    let value = value.trim();
    if refuse_card_number(errors, field, value) {
        return;
    }
    if value.is_empty() {
        errors.add(field, "enter the postal code");
    } else if value.len() > 10
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
    {
        errors.add(
            field,
            "a postal code is up to 10 letters, digits, spaces or hyphens",
        );
    }
}

fn plausible_email(email: &str) -> bool {
    email.len() <= MAX_TEXT_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
}

fn field_error(
    field: &FieldSpec,
    pattern: Option<&Regex>,
    value: &str,
    today: jiff::civil::Date,
) -> Option<String> {
    if looks_like_card_number(value) {
        return Some(CARD_NUMBER_IN_TEXT.to_owned());
    }
    if value.is_empty() {
        return field
            .required
            .then(|| format!("enter the {}: {}", field.label, field.hint));
    }
    if value.chars().count() > field.max_len {
        return Some(format!(
            "the {} may be at most {} characters: {}",
            field.label, field.max_len, field.hint
        ));
    }
    if pattern.is_some_and(|p| !p.is_match(value)) {
        return Some(format!("the {} must be {}", field.label, field.hint));
    }
    if let Some(first) = field.year_from {
        let this_year = i32::from(today.year());
        let in_range = value
            .parse::<i32>()
            .is_ok_and(|year| (first..=this_year).contains(&year));
        if !in_range {
            return Some(format!(
                "the {} must be a year from {first} to {this_year}",
                field.label
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ach::AccountType;
    use crate::form::FieldSpec;
    use crate::money::Currency;
    use crate::payment::{AchInput, CardInput, Payer};
    use crate::secret::{AccountNumber, Cvv, Pan};
    use std::collections::BTreeMap;

    const TODAY: jiff::civil::Date = jiff::civil::date(2026, 11, 29);

    fn tax_form() -> Form {
        Form::new(ApplicationSpec {
            id: "TAX-PAYMENT".into(),
            name: "Tax payment".into(),
            currency: Currency::Usd,
            min_amount_minor: 100,
            max_amount_minor: 100_000_000,
            methods: vec![MethodKind::Card, MethodKind::Ach],
            return_urls: Vec::new(),
            callback_url: None,
            time_zone: "UTC".into(),
            report_daily_at: None,
            payer_email: Need::Optional,
            fields: vec![
                FieldSpec {
                    name: "taxpayer_id".into(),
                    label: "taxpayer id".into(),
                    required: true,
                    max_len: 9,
                    pattern: Some("[0-9]{9}".into()),
                    hint: "9 digits".into(),
                    year_from: None,
                    upper_case: false,
                    masked: false,
                },
                FieldSpec {
                    name: "tax_year".into(),
                    label: "tax year".into(),
                    required: true,
                    max_len: 4,
                    pattern: Some("[0-9]{4}".into()),
                    hint: "a year like 2025".into(),
                    year_from: Some(2000),
                    upper_case: false,
                    masked: false,
                },
            ],
        })
        .unwrap()
    }

    fn card() -> CardInput {
        CardInput {
            number: Pan::new("4242 4242 4242 4242"),
            exp_month: 12,
            exp_year: 2028,
            cvv: Cvv::new("123"),
            name: "Ada Lovelace".into(),
            postal_code: "94107".into(),
        }
    }

    fn request(method: PaymentMethod) -> PaymentRequest {
        PaymentRequest {
            amount_minor: 12_345,
            currency: Currency::Usd,
            payer: Payer {
                name: "Ada Lovelace".into(),
                email: "ada@example.com".into(),
                postal_code: "94107".into(),
            },
            fields: BTreeMap::from([
                ("taxpayer_id".into(), "123456789".into()),
                ("tax_year".into(), "2025".into()),
            ]),
            method,
        }
    }

    #[test]
    fn a_good_request_passes() {
        let form = tax_form();
        assert_eq!(
            form.validate(&request(PaymentMethod::Card(card())), TODAY),
            Ok(())
        );
        let ach = PaymentMethod::Ach(AchInput {
            routing_number: "110000000".into(),
            account_number: AccountNumber::new("000123456789"),
            account_type: AccountType::Savings,
            holder_name: "Ada Lovelace".into(),
        });
        assert_eq!(form.validate(&request(ach), TODAY), Ok(()));
    }

    #[test]
    fn every_bad_field_is_named_with_what_to_do() {
        let form = tax_form();
        let mut bad = request(PaymentMethod::Card(CardInput {
            number: Pan::new("4242424242424241"),
            exp_month: 10,
            exp_year: 2026,
            cvv: Cvv::new("12"),
            name: " ".into(),
            postal_code: "not a postal code!".into(),
        }));
        bad.amount_minor = 50;
        bad.payer.email = "ada.example.com".into();
        bad.fields.insert("tax_year".into(), "1999".into());
        bad.fields.remove("taxpayer_id");
        bad.fields.insert("colour".into(), "blue".into());
        let errors = form.validate(&bad, TODAY).unwrap_err();
        let expect = [
            (
                "amount",
                "enter an amount from 1.00 USD to 1,000,000.00 USD",
            ),
            ("payer.email", "name@example.com"),
            ("fields.taxpayer_id", "enter the taxpayer id: 9 digits"),
            ("fields.tax_year", "a year from 2000 to 2026"),
            ("fields.colour", "leave it out"),
            ("card.number", "check digit"),
            ("card.expiry", "expired"),
            ("card.cvv", "3 digits"),
            ("card.name", "enter the name on the card"),
            ("card.postal_code", "up to 10 letters"),
        ];
        for (field, words) in expect {
            let message = errors
                .get(field)
                .unwrap_or_else(|| panic!("{field} not named: {errors}"));
            assert!(message.contains(words), "{field}: {message}");
        }
        assert_eq!(errors.0.len(), expect.len(), "{errors}");
    }

    #[test]
    fn field_errors_never_echo_the_card_number_or_cvv() {
        let form = tax_form();
        let mut bad = request(PaymentMethod::Card(CardInput {
            number: Pan::new("4242424242424241"),
            cvv: Cvv::new("99999"),
            ..card()
        }));
        bad.currency = Currency::Eur;
        let errors = form.validate(&bad, TODAY).unwrap_err().to_string();
        assert!(
            !errors.contains("4242424242424241") && !errors.contains("99999"),
            "{errors}"
        );
        assert!(
            errors.contains("currency: TAX-PAYMENT takes payments in USD only"),
            "{errors}"
        );
    }

    #[test]
    fn a_form_refuses_methods_it_does_not_take() {
        let mut spec = tax_form().spec;
        spec.methods = vec![MethodKind::Ach];
        let form = Form::new(spec).unwrap();
        let errors = form
            .validate(&request(PaymentMethod::Card(card())), TODAY)
            .unwrap_err();
        assert!(
            errors
                .get("method")
                .unwrap()
                .contains("does not take cards")
        );
    }

    #[test]
    fn a_bad_spec_is_refused_with_each_problem() {
        let mut spec = tax_form().spec;
        spec.id = "lower case".into();
        spec.fields[0].pattern = Some("([".into());
        let problems = Form::new(spec).unwrap_err();
        assert!(
            problems.contains("capital letters") && problems.contains("does not compile"),
            "{problems}"
        );
    }

    /// A field set to upper case takes `abc123`, and is checked and kept as `ABC123`.
    #[test]
    fn an_upper_case_field_is_checked_and_kept_in_capitals() {
        let mut spec = tax_form().spec;
        spec.fields.push(FieldSpec {
            name: "plate_number".into(),
            label: "plate number".into(),
            required: true,
            max_len: 8,
            pattern: Some("[A-Z0-9]{1,8}".into()),
            hint: "1 to 8 letters or digits".into(),
            year_from: None,
            upper_case: true,
            masked: false,
        });
        let form = Form::new(spec).unwrap();
        for (typed, kept) in [
            ("abc123", "ABC123"),
            (" AbC123 ", "ABC123"),
            ("ABC123", "ABC123"),
        ] {
            let mut request = request(PaymentMethod::Card(card()));
            request.fields.insert("plate_number".into(), typed.into());
            assert_eq!(form.validate(&request, TODAY), Ok(()), "{typed}");
            form.normalize_fields(&mut request.fields);
            assert_eq!(request.fields["plate_number"], kept);
            assert_eq!(request.fields["taxpayer_id"], "123456789");
        }
        let mut bad = request(PaymentMethod::Card(card()));
        bad.fields.insert("plate_number".into(), "abc-12".into());
        let errors = form.validate(&bad, TODAY).unwrap_err();
        assert_eq!(
            errors.get("fields.plate_number"),
            Some("the plate number must be 1 to 8 letters or digits")
        );
    }

    /// A card number typed into free text is refused in every field that is not the card's,
    /// and never echoed, not even as the name of a field the application does not have.
    #[test]
    fn a_card_number_in_free_text_is_refused_naming_the_field() {
        use crate::free_text::CARD_NUMBER_IN_TEXT;
        let mut spec = tax_form().spec;
        spec.fields.push(FieldSpec {
            name: "note".into(),
            label: "note".into(),
            required: false,
            max_len: 80,
            pattern: None,
            hint: "anything".into(),
            year_from: None,
            upper_case: false,
            masked: false,
        });
        let form = Form::new(spec).unwrap();
        let mut bad = request(PaymentMethod::Card(card()));
        bad.payer.name = "Ada 4242 4242 4242 4242".into();
        bad.payer.email = "4242-4242-4242-4242@example.com".into();
        bad.fields
            .insert("note".into(), "ref 4242424242424242 thanks".into());
        bad.fields.insert("4242424242424242".into(), "x".into());
        let errors = form.validate(&bad, TODAY).unwrap_err();
        for field in ["payer.name", "payer.email", "fields.note", "fields"] {
            assert_eq!(errors.get(field), Some(CARD_NUMBER_IN_TEXT), "{errors}");
        }
        assert_eq!(errors.0.len(), 4, "{errors}");
        assert!(!errors.to_string().contains("4242"), "{errors}");
    }

    /// The payer's email: optional unless the application requires it, checked when given.
    #[test]
    fn the_payer_email_is_needed_only_where_the_application_asks_for_it() {
        for (need, email, error) in [
            (Need::Optional, "", None),
            (Need::Optional, "ada@example.com", None),
            (Need::Optional, "ada.example.com", Some("name@example.com")),
            (Need::Required, "", Some("enter the payer's email address")),
            (Need::Required, "ada@example.com", None),
            (Need::Required, "ada@", Some("name@example.com")),
        ] {
            let mut spec = tax_form().spec;
            spec.payer_email = need;
            let form = Form::new(spec).unwrap();
            let mut request = request(PaymentMethod::Card(card()));
            request.payer.email = email.into();
            let found = form.validate(&request, TODAY).err();
            let message = found.as_ref().and_then(|e| e.get("payer.email"));
            match (message, error) {
                (None, None) => {}
                (Some(message), Some(words)) => {
                    assert!(message.contains(words), "{need:?} {email:?}: {message}")
                }
                _ => panic!("{need:?} {email:?}: {found:?}"),
            }
        }
        assert_eq!(
            serde_json::from_str::<Need>("\"required\"").unwrap(),
            Need::Required
        );
    }
}
