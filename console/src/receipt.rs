//! A payment's receipt as plain text, for the agent to save and send on.

use crate::form::capitalized;
use cip_common::calendar;
use cip_common::form::ApplicationSpec;
use cip_common::payment::Payment;
use cip_common::status::PaymentStatus;

/// `receipt-<confirmation code or payment id>.txt`.
pub fn file_name(payment: &Payment) -> String {
    let name = payment
        .confirmation_code
        .as_deref()
        .unwrap_or(&payment.id)
        .replace(['-', '/'], "");
    format!("receipt-{name}.txt")
}

/// Time as a person reads it: `2026-11-29 14:05 UTC`.
pub fn format_time(ms: i64) -> String {
    calendar::local_minute(&jiff::tz::TimeZone::UTC, ms)
}

/// The receipt of `payment`, for the customer: the agency's name, the application's fields by
/// their labels (a masked identifier as its last four), and the time in the agency's time zone
/// and in UTC. `spec` is the payment's application's.
pub fn text(payment: &Payment, spec: &ApplicationSpec) -> String {
    let mut lines = vec![
        format!("{} ({})", spec.name, spec.id),
        "Payment receipt".to_owned(),
        String::new(),
        line("Status", status_words(payment.status)),
    ];
    if let Some(code) = &payment.confirmation_code {
        lines.push(line("Confirmation code", code));
    }
    lines.extend([
        line("Amount", &payment.amount.to_string()),
        line("Paid with", &payment.method.to_string()),
        line("Payer", &payment.payer.name),
    ]);
    for field in &spec.fields {
        if let Some(value) = payment.fields.get(&field.name) {
            lines.push(line(&capitalized(&field.label), &field.shown(value)));
        }
    }
    if let Some(message) = &payment.message {
        lines.push(line("Note", message));
    }
    let at = payment.decided_ms.unwrap_or(payment.created_ms);
    let local = calendar::zone(&spec.time_zone)
        .map(|zone| calendar::local_minute(&zone, at))
        .unwrap_or_else(|_| format_time(at));
    lines.push(line("Time", &local));
    if !local.ends_with("UTC") {
        lines.push(line("", &format_time(at)));
    }
    lines.extend([
        line("Payment id", &payment.id),
        line("Taken by", &payment.user),
        String::new(),
    ]);
    lines.join("\n")
}

/// `Label:` and the value, the values lined up.
fn line(label: &str, value: &str) -> String {
    let label = if label.is_empty() {
        String::new()
    } else {
        format!("{label}:")
    };
    format!("{label:<LABEL_WIDTH$}{value}")
}

/// Wide enough for the longest label a receipt prints and a space.
const LABEL_WIDTH: usize = 24;

pub fn status_words(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Processing => "processing",
        PaymentStatus::Approved => "approved",
        PaymentStatus::Declined => "declined",
        PaymentStatus::Failed => "failed, nothing was charged",
        PaymentStatus::InDoubt => "in doubt, being confirmed with the processor",
        PaymentStatus::Voided => "voided",
    }
}

#[cfg(test)]
mod tests {
    use super::text;
    use crate::testing::{payment, spec};
    use cip_common::status::PaymentStatus;

    #[test]
    fn a_receipt_speaks_the_agencys_words_and_hides_what_it_must() {
        let mut tax = spec("TAX-PAYMENT");
        tax.time_zone = "America/Chicago".into();
        let mut paid = payment(PaymentStatus::Approved);
        paid.application = tax.id.clone();
        paid.fields = [
            ("taxpayer_id".to_owned(), "123456789".to_owned()),
            ("tax_year".to_owned(), "2025".to_owned()),
        ]
        .into();
        let receipt = text(&paid, &tax);
        let lines: Vec<&str> = receipt.lines().collect();
        assert_eq!(lines[0], "Tax payment (TAX-PAYMENT)", "{receipt}");
        // As it was met: `taxpayer_id: 123456789`. Now its label, and its last four only.
        assert!(receipt.contains("Taxpayer id:"), "{receipt}");
        assert!(receipt.contains("*****6789"), "{receipt}");
        assert!(!receipt.contains("123456789") && !receipt.contains("taxpayer_id"));
        assert!(receipt.contains("Tax year:") && receipt.contains("2025"));
        // 2027-01-15 08:00 UTC is 02:00 in Chicago: both are printed.
        assert!(receipt.contains("2027-01-15 02:00 CST"), "{receipt}");
        assert!(receipt.contains("2027-01-15 08:00 UTC"), "{receipt}");
        assert!(receipt.contains("7MRE-S8EE-G") && !receipt.contains(&"4242".repeat(4)));
    }
}
