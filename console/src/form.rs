//! The payment form as an agent fills it in: the fields an application's spec asks for, what was
//! typed, which field has focus, and the errors the domain's validation finds. No I/O.

use cip_common::ach::AccountType;
use cip_common::card::{Expiry, brand_of};
use cip_common::fields::FieldErrors;
use cip_common::fields::path;
use cip_common::form::{ApplicationSpec, MethodKind, Need};
use cip_common::money::Money;
use cip_common::payment::{AchInput, CardInput, Payer, PaymentMethod, PaymentRequest};
use cip_common::secret::{AccountNumber, Cvv, Pan, mask_pan};
use cip_common::validate::Form;
use std::collections::{BTreeMap, HashSet};
use tui_input::{Input, InputRequest};

/// How a field takes keys and shows its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Digits only, grouped as typed, masked to first six and last four when left.
    CardNumber,
    /// The expiry as printed (`01/28`, `1/28`, `12/2028`); digits alone show as MM/YY.
    Expiry,
    /// Digits, shown as dots.
    Secret,
    /// Letters and digits, shown as its last four once left.
    AccountNumber,
    /// An amount in the application's currency, as an agent types it; anything typed is kept
    /// so the shared amount rules can say what to type instead.
    Amount,
    /// Card or ACH, chosen with ←/→ or Space.
    Method,
    /// Checking or savings, chosen with ←/→ or Space.
    AccountType,
}

impl Kind {
    pub fn is_choice(self) -> bool {
        matches!(self, Kind::Method | Kind::AccountType)
    }

    fn max_len(self) -> usize {
        match self {
            Kind::CardNumber => 19,
            // MM/YYYY
            Kind::Expiry => 7,
            Kind::Secret => 4,
            Kind::AccountNumber => 17,
            Kind::Amount => 20,
            _ => 120,
        }
    }
}

/// One field of the form. `path` is the dotted name validation errors use.
#[derive(Clone, Debug)]
pub struct Field {
    pub path: String,
    pub label: String,
    pub kind: Kind,
    pub input: Input,
}

impl Field {
    fn new(path: &str, label: &str, kind: Kind) -> Field {
        Field {
            path: path.to_owned(),
            label: label.to_owned(),
            kind,
            input: Input::default(),
        }
    }

    pub fn value(&self) -> &str {
        self.input.value()
    }
}

#[derive(Clone, Debug)]
pub struct PaymentForm {
    pub spec: ApplicationSpec,
    form: Form,
    /// Every field of both methods; `visible` picks those of the chosen method.
    fields: Vec<Field>,
    pub method: MethodKind,
    pub account_type: AccountType,
    pub focus: usize,
    /// Fields the agent has left at least once: their errors show as they type.
    touched: HashSet<String>,
    /// After a submit attempt every error shows.
    pub show_all_errors: bool,
    /// The field (index into `fields`) holding a value offered from the payer's, untouched
    /// since: the first key typed there replaces it.
    suggested: Option<usize>,
    pub errors: FieldErrors,
    /// The date validation judges expiry and "this year" by; set by the app, never read here.
    pub today: jiff::civil::Date,
}

fn card_fields() -> Vec<Field> {
    vec![
        Field::new(path::CARD_NUMBER, "Card number", Kind::CardNumber),
        Field::new(path::CARD_EXPIRY, "Expiry (MM/YY)", Kind::Expiry),
        Field::new(path::CARD_CVV, "Security code", Kind::Secret),
        Field::new(path::CARD_NAME, "Name on card", Kind::Text),
        Field::new(path::CARD_POSTAL_CODE, "Card postal code", Kind::Text),
    ]
}

fn ach_fields() -> Vec<Field> {
    vec![
        Field::new(path::ACH_ROUTING_NUMBER, "Routing number", Kind::Text),
        Field::new(
            path::ACH_ACCOUNT_NUMBER,
            "Account number",
            Kind::AccountNumber,
        ),
        Field::new(path::ACH_ACCOUNT_TYPE, "Account type", Kind::AccountType),
        Field::new(path::ACH_HOLDER_NAME, "Account holder", Kind::Text),
    ]
}

impl PaymentForm {
    pub fn new(spec: ApplicationSpec, today: jiff::civil::Date) -> Result<PaymentForm, String> {
        let form = Form::new(spec.clone())?;
        let email = match spec.payer_email {
            Need::Required => "Payer email",
            Need::Optional => "Email (optional)",
        };
        let mut fields = vec![
            Field::new(path::PAYER_NAME, "Payer name", Kind::Text),
            Field::new(path::PAYER_EMAIL, email, Kind::Text),
            Field::new(path::PAYER_POSTAL_CODE, "Payer postal code", Kind::Text),
        ];
        for custom in &spec.fields {
            let mut label = capitalized(&custom.label);
            if !custom.required {
                label.push_str(" (optional)");
            }
            fields.push(Field::new(
                &format!("fields.{}", custom.name),
                &label,
                Kind::Text,
            ));
        }
        fields.push(Field::new(
            "amount",
            &format!("Amount ({})", spec.currency),
            Kind::Amount,
        ));
        fields.push(Field::new("method", "Pay by", Kind::Method));
        fields.extend(card_fields());
        fields.extend(ach_fields());
        let method = spec.methods.first().copied().unwrap_or(MethodKind::Card);
        Ok(PaymentForm {
            spec,
            form,
            fields,
            method,
            account_type: AccountType::Checking,
            focus: 0,
            touched: HashSet::new(),
            show_all_errors: false,
            suggested: None,
            errors: FieldErrors::default(),
            today,
        })
    }

    /// The fields shown for the chosen method, in order.
    pub fn visible(&self) -> Vec<&Field> {
        self.fields.iter().filter(|f| self.shows(f)).collect()
    }

    fn shows(&self, field: &Field) -> bool {
        match field.path.split_once('.') {
            Some(("card", _)) => self.method == MethodKind::Card,
            Some(("ach", _)) => self.method == MethodKind::Ach,
            _ if field.kind == Kind::Method => self.spec.methods.len() > 1,
            _ => true,
        }
    }

    fn visible_index(&self, focus: usize) -> Option<usize> {
        self.fields
            .iter()
            .enumerate()
            .filter(|(_, f)| self.shows(f))
            .nth(focus)
            .map(|(i, _)| i)
    }

    pub fn focused(&self) -> Option<&Field> {
        self.visible_index(self.focus).map(|i| &self.fields[i])
    }

    /// The error to show beside a field, if any.
    pub fn error(&self, path: &str) -> Option<&str> {
        if !self.show_all_errors && !self.touched.contains(path) {
            return None;
        }
        self.errors.get(path)
    }

    /// Errors not tied to a visible field (currency, an unknown field).
    pub fn other_errors(&self) -> Vec<String> {
        if !self.show_all_errors {
            return Vec::new();
        }
        let visible: Vec<String> = self.visible().iter().map(|f| f.path.clone()).collect();
        self.errors
            .0
            .iter()
            .filter(|e| !visible.contains(&e.field))
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    pub fn next(&mut self) {
        self.leave();
        self.focus = (self.focus + 1) % self.visible().len();
        self.enter();
    }

    pub fn previous(&mut self) {
        self.leave();
        let count = self.visible().len();
        self.focus = (self.focus + count - 1) % count;
        self.enter();
    }

    /// Whether anything has been typed or chosen: a form that would be lost if thrown away.
    pub fn is_filled(&self) -> bool {
        self.fields
            .iter()
            .any(|f| !f.kind.is_choice() && !f.value().trim().is_empty())
    }

    /// Focus arrives on a field. The name and postal code of a card or account usually equal
    /// the payer's, so an empty one starts as the payer's: Tab keeps it, typing changes it.
    fn enter(&mut self) {
        let Some(i) = self.visible_index(self.focus) else {
            return;
        };
        let from = match self.fields[i].path.as_str() {
            path::CARD_NAME | path::ACH_HOLDER_NAME => path::PAYER_NAME,
            path::CARD_POSTAL_CODE => path::PAYER_POSTAL_CODE,
            _ => return,
        };
        let payer = self.value(from).to_owned();
        if self.fields[i].value().is_empty() && !payer.is_empty() {
            self.fields[i].input = Input::new(payer);
            self.suggested = Some(i);
            self.revalidate();
        }
    }

    /// Whether the field at `path` shows the payer's value as offered, not yet typed over.
    pub fn is_suggested(&self, path: &str) -> bool {
        self.suggested.is_some_and(|i| self.fields[i].path == path)
    }

    /// After a decline: the refused card's number, expiry and security code (or the account's
    /// routing and account numbers) are cleared and the first of them has focus, so a payment
    /// corrected here never goes out with half of the old card.
    pub fn correct_method(&mut self) {
        const REFUSED: [&str; 5] = [
            path::CARD_NUMBER,
            path::CARD_EXPIRY,
            path::CARD_CVV,
            path::ACH_ROUTING_NUMBER,
            path::ACH_ACCOUNT_NUMBER,
        ];
        for field in &mut self.fields {
            if REFUSED.contains(&field.path.as_str()) {
                field.input.reset();
            }
        }
        self.touched.clear();
        self.show_all_errors = false;
        self.revalidate();
        if let Some(first) = self
            .visible()
            .iter()
            .position(|f| REFUSED.contains(&f.path.as_str()))
        {
            self.focus = first;
        }
    }

    pub fn is_last(&self) -> bool {
        self.focus + 1 == self.visible().len()
    }

    fn leave(&mut self) {
        self.suggested = None;
        if let Some(field) = self.focused() {
            let path = field.path.clone();
            self.touched.insert(path);
        }
    }

    /// Types into the focused field. Returns false when the key means nothing there.
    pub fn type_char(&mut self, c: char) -> bool {
        let Some(i) = self.visible_index(self.focus) else {
            return false;
        };
        let kind = self.fields[i].kind;
        let accepted = match kind {
            Kind::CardNumber | Kind::Secret => c.is_ascii_digit(),
            Kind::Expiry => c.is_ascii_digit() || c == '/' || c == '-',
            Kind::Amount => !c.is_control(),
            Kind::AccountNumber => c.is_ascii_alphanumeric(),
            Kind::Method | Kind::AccountType => {
                if c == ' ' {
                    self.toggle();
                    return true;
                }
                false
            }
            Kind::Text => !c.is_control(),
        };
        if accepted && self.suggested.take() == Some(i) {
            self.fields[i].input.reset();
        }
        if !accepted || self.fields[i].value().chars().count() >= kind.max_len() {
            return false;
        }
        self.fields[i].input.handle(InputRequest::InsertChar(c));
        self.revalidate();
        true
    }

    /// Edits the focused field (delete, move the cursor).
    pub fn edit(&mut self, request: InputRequest) -> bool {
        let Some(i) = self.visible_index(self.focus) else {
            return false;
        };
        if self.fields[i].kind.is_choice() {
            if matches!(
                request,
                InputRequest::GoToPrevChar | InputRequest::GoToNextChar
            ) {
                self.toggle();
                return true;
            }
            return false;
        }
        if self.suggested.take() == Some(i)
            && !matches!(
                request,
                InputRequest::GoToPrevChar
                    | InputRequest::GoToNextChar
                    | InputRequest::GoToStart
                    | InputRequest::GoToEnd
                    | InputRequest::GoToPrevWord
                    | InputRequest::GoToNextWord
            )
        {
            // Deleting from an offered value clears it: it was never typed.
            self.fields[i].input.reset();
            self.revalidate();
            return true;
        }
        let changed = self.fields[i].input.handle(request).is_some();
        if changed {
            self.revalidate();
        }
        changed
    }

    /// Switches the focused choice (card/ACH, checking/savings).
    fn toggle(&mut self) {
        let Some(field) = self.focused() else { return };
        match field.kind {
            Kind::Method if self.spec.methods.len() > 1 => {
                self.method = match self.method {
                    MethodKind::Card => MethodKind::Ach,
                    MethodKind::Ach => MethodKind::Card,
                };
            }
            Kind::AccountType => {
                self.account_type = match self.account_type {
                    AccountType::Checking => AccountType::Savings,
                    AccountType::Savings => AccountType::Checking,
                };
            }
            _ => {}
        }
        self.revalidate();
    }

    /// Checks the form as it stands; errors show beside touched fields.
    pub fn revalidate(&mut self) {
        self.errors = match self.request() {
            Ok(_) => FieldErrors::default(),
            Err(errors) => errors,
        };
    }

    /// Marks every field for showing errors; true when the form is ready for the summary.
    pub fn check_all(&mut self) -> bool {
        self.show_all_errors = true;
        self.revalidate();
        if let Some(first) = self
            .visible()
            .iter()
            .position(|f| self.errors.get(&f.path).is_some())
        {
            self.focus = first;
        }
        self.errors.is_empty()
    }

    fn value(&self, path: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.path == path)
            .map_or("", |f| f.value().trim())
    }

    pub fn amount(&self) -> Result<Money, String> {
        Money::parse(self.value("amount"), self.spec.currency).map_err(|e| e.to_string())
    }

    /// The request the form holds, or every error in it.
    pub fn request(&self) -> Result<PaymentRequest, FieldErrors> {
        let mut errors = FieldErrors::default();
        let amount_minor = match self.amount() {
            Ok(money) => money.minor,
            Err(message) => {
                errors.add("amount", message);
                self.spec.min_amount_minor
            }
        };
        let method = match self.method {
            MethodKind::Card => {
                let expiry = Expiry::parse(self.value(path::CARD_EXPIRY)).unwrap_or_else(|e| {
                    errors.add(path::CARD_EXPIRY, e.to_string());
                    // Stands in so the rest is checked; its own error is the one shown.
                    Expiry {
                        month: 1,
                        year: 2099,
                    }
                });
                PaymentMethod::Card(CardInput {
                    number: Pan::new(self.value(path::CARD_NUMBER)),
                    exp_month: expiry.month,
                    exp_year: expiry.year,
                    cvv: Cvv::new(self.value(path::CARD_CVV)),
                    name: self.value(path::CARD_NAME).to_owned(),
                    postal_code: self.value(path::CARD_POSTAL_CODE).to_owned(),
                })
            }
            MethodKind::Ach => PaymentMethod::Ach(AchInput {
                routing_number: self.value(path::ACH_ROUTING_NUMBER).to_owned(),
                account_number: AccountNumber::new(self.value(path::ACH_ACCOUNT_NUMBER)),
                account_type: self.account_type,
                holder_name: self.value(path::ACH_HOLDER_NAME).to_owned(),
            }),
        };
        let mut fields: BTreeMap<String, String> = self
            .spec
            .fields
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    self.value(&format!("fields.{}", f.name)).to_owned(),
                )
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        // As the daemon will store them, so the summary shows `ABC123` for `abc123`.
        self.form.normalize_fields(&mut fields);
        let request = PaymentRequest {
            amount_minor,
            currency: self.spec.currency,
            payer: Payer {
                name: self.value(path::PAYER_NAME).to_owned(),
                email: self.value(path::PAYER_EMAIL).to_owned(),
                postal_code: self.value(path::PAYER_POSTAL_CODE).to_owned(),
            },
            fields,
            method,
        };
        if let Err(found) = self.form.validate(&request, self.today) {
            for e in found.0 {
                if errors.get(&e.field).is_none() {
                    errors.0.push(e);
                }
            }
        }
        errors.into_result().map(|()| request)
    }

    /// What a field shows: grouped or masked card numbers, MM/YY, dots for the CVV.
    pub fn display(&self, field: &Field, focused: bool) -> String {
        let value = field.value();
        match field.kind {
            Kind::CardNumber if !focused && value.len() >= 12 => mask_pan(value),
            Kind::CardNumber => group_card_number(value),
            Kind::Expiry if digits_only(value) => format!("{}/{}", &value[..2], &value[2..]),
            Kind::Secret => "•".repeat(value.chars().count()),
            Kind::AccountNumber if !focused && !value.is_empty() => {
                cip_common::secret::AccountNumber::new(value).to_string()
            }
            Kind::Method => match self.method {
                MethodKind::Card => "◀ Card ▶".to_owned(),
                MethodKind::Ach => "◀ Bank account (ACH) ▶".to_owned(),
            },
            Kind::AccountType => format!("◀ {} ▶", self.account_type),
            _ => value.to_owned(),
        }
    }

    /// Where the cursor sits within `display` for the focused field.
    pub fn display_cursor(&self, field: &Field) -> usize {
        let cursor = field.input.visual_cursor();
        match field.kind {
            Kind::CardNumber => cursor + group_breaks(field.value(), cursor),
            Kind::Expiry if cursor > 2 && digits_only(field.value()) => cursor + 1,
            _ => cursor,
        }
    }

    /// The brand the card number's first digits show.
    pub fn brand(&self) -> Option<&'static str> {
        brand_of(self.value(path::CARD_NUMBER)).map(|b| b.name())
    }

    /// Clears the card and bank secrets (after an outcome, or when starting anew).
    pub fn clear_secrets(&mut self) {
        for field in &mut self.fields {
            if matches!(
                field.path.as_str(),
                path::CARD_NUMBER | path::CARD_CVV | path::ACH_ACCOUNT_NUMBER
            ) {
                field.input.reset();
            }
        }
        self.revalidate();
    }
}

/// Expiry digits typed without a slash, long enough to show one (`122` shows as `12/2`).
fn digits_only(expiry: &str) -> bool {
    expiry.len() > 2 && expiry.bytes().all(|b| b.is_ascii_digit())
}

/// A label as a heading: "plate number" becomes "Plate number".
pub fn capitalized(label: &str) -> String {
    let mut chars = label.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Group sizes of a card number as printed: Amex 4-6-5, Diners (14) 4-6-4, others 4-4-4-4.
fn groups(digits: &str) -> &'static [usize] {
    match brand_of(digits) {
        Some(cip_common::card::Brand::Amex) => &[4, 6, 5],
        Some(cip_common::card::Brand::Diners) if digits.len() <= 14 => &[4, 6, 4],
        _ => &[4, 4, 4, 4, 3],
    }
}

pub fn group_card_number(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + 4);
    let mut rest = digits;
    for size in groups(digits) {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(rest.len().min(*size));
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(head);
        rest = tail;
    }
    out
}

/// Spaces the grouping puts before the `cursor`-th digit.
fn group_breaks(digits: &str, cursor: usize) -> usize {
    let mut boundary = 0;
    let mut breaks = 0;
    for size in groups(digits) {
        boundary += size;
        if cursor > boundary || (cursor == boundary && cursor < digits.len()) {
            breaks += 1;
        }
    }
    breaks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_group_as_printed() {
        assert_eq!(group_card_number(&"4242".repeat(4)), "4242 4242 4242 4242");
        assert_eq!(group_card_number("378282246310005"), "3782 822463 10005");
        assert_eq!(group_card_number("42424"), "4242 4");
        assert_eq!(group_card_number(""), "");
    }

    use crate::app::Screen;
    use crate::testing::{DMV_VALUES, fill_values, key, on_form};
    use cip_common::payment::PaymentMethod;
    use ratatui::crossterm::event::KeyCode;

    /// The DMV-RENEWAL form filled with a good Visa payment, with `amount`, `expiry` and `plate`
    /// typed as given; focus ends on the last field.
    fn filled(amount: &str, expiry: &str, plate: &str) -> crate::app::App {
        let mut app = on_form();
        let card = "4242".repeat(4);
        let mut values = DMV_VALUES;
        (values[3], values[5], values[6], values[7]) = (plate, amount, &card, expiry);
        fill_values(&mut app, values);
        app
    }

    fn form(app: &crate::app::App) -> &PaymentForm {
        app.form.as_ref().expect("a form")
    }

    #[test]
    fn a_dollar_sign_typed_in_the_amount_is_kept_and_read_as_the_amount() {
        let mut app = filled("$25", "12/28", "ABC123");
        assert_eq!(form(&app).value("amount"), "$25");
        assert_eq!(form(&app).error("amount"), None);
        app.update(key(KeyCode::Enter));
        assert_eq!(app.screen, Screen::Summary);
        assert_eq!(
            form(&app).request().expect("a good request").amount_minor,
            2_500
        );
    }

    #[test]
    fn a_decimal_comma_is_refused_beside_the_amount_saying_use_a_point() {
        let mut app = filled("12,50", "12/28", "ABC123");
        let error = form(&app)
            .error("amount")
            .expect("an error beside the amount");
        assert!(
            error.contains("use a point") && error.contains("12.50"),
            "{error}"
        );
        app.update(key(KeyCode::Enter));
        assert_eq!(app.screen, Screen::Form, "nothing goes on with 12,50");
        let other = filled("€25", "12/28", "ABC123");
        let error = form(&other).error("amount").expect("an error");
        assert!(error.contains("this payment is in USD"), "{error}");
    }

    #[test]
    fn an_expiry_of_1_28_is_january_2028_and_128_is_asked_again() {
        for (typed, shown, read) in [
            ("1/28", "1/28", Some((1, 2028))),
            ("12/2028", "12/2028", Some((12, 2028))),
            ("1228", "12/28", Some((12, 2028))),
            ("128", "12/8", None),
        ] {
            let app = filled("25.00", typed, "ABC123");
            let form = form(&app);
            let field = form
                .visible()
                .into_iter()
                .find(|f| f.path == "card.expiry")
                .expect("an expiry field");
            assert_eq!(form.display(field, false), shown, "{typed}");
            match (form.request(), read) {
                (Ok(request), Some(expected)) => match request.method {
                    PaymentMethod::Card(card) => {
                        assert_eq!((card.exp_month, card.exp_year), expected, "{typed}")
                    }
                    PaymentMethod::Ach(_) => panic!("a card was typed"),
                },
                (Err(errors), None) => {
                    let error = errors.get("card.expiry").expect("the expiry is named");
                    assert!(error.contains("MM/YY, like 01/28"), "{typed}: {error}");
                }
                (found, _) => panic!("{typed}: {:?}", found.err()),
            }
        }
    }

    #[test]
    fn a_plate_typed_in_lower_case_goes_on_in_capitals_and_the_email_may_be_left_out() {
        let mut app = on_form();
        let card = "4242".repeat(4);
        let mut values = DMV_VALUES;
        (values[1], values[3], values[6], values[7]) = ("", "abc123", &card, "12/28");
        fill_values(&mut app, values);
        let request = form(&app).request().expect("a good request");
        assert_eq!(request.fields["plate_number"], "ABC123");
        assert_eq!(request.payer.email, "");
        let email = form(&app)
            .visible()
            .into_iter()
            .find(|f| f.path == "payer.email")
            .map(|f| f.label.clone());
        assert_eq!(email.as_deref(), Some("Email (optional)"));
    }
}
