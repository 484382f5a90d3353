//! A payment's receipt as plain text, for the agent to save and send on.

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
    cip_daemon::clock::format_ms(ms)
}

pub fn text(payment: &Payment) -> String {
    let mut lines = vec![
        "CIP payment receipt".to_owned(),
        String::new(),
        format!("Application:       {}", payment.application),
        format!("Status:            {}", status_words(payment.status)),
    ];
    if let Some(code) = &payment.confirmation_code {
        lines.push(format!("Confirmation code: {code}"));
    }
    lines.extend([
        format!("Amount:            {}", payment.amount),
        format!("Paid with:         {}", payment.method),
        format!("Payer:             {}", payment.payer.name),
    ]);
    for (name, value) in &payment.fields {
        lines.push(format!("{:<19}{value}", format!("{name}:")));
    }
    if let Some(message) = &payment.message {
        lines.push(format!("Note:              {message}"));
    }
    lines.extend([
        format!("Payment id:        {}", payment.id),
        format!(
            "Time:              {}",
            format_time(payment.decided_ms.unwrap_or(payment.created_ms))
        ),
        format!("Taken by:          {}", payment.user),
        String::new(),
    ]);
    lines.join("\n")
}

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
