//! The outcome: an approval's confirmation code large enough to read over the phone, a decline's
//! reason in words, or what happens next to a payment in doubt.

use super::wrap;
use crate::app::App;
use crate::receipt::format_time;
use crate::theme::Theme;
use cip_common::payment::Payment;
use cip_common::status::PaymentStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let Some(payment) = app.outcome.as_ref() else {
        return;
    };
    let mut lines = vec![Line::from("")];
    let title = match payment.status {
        PaymentStatus::Approved => {
            let code = payment.confirmation_code.as_deref().unwrap_or("");
            lines.push(Line::styled(" APPROVED", theme.ok()));
            lines.push(Line::from(""));
            lines.push(Line::from(" Confirmation code (read it to the customer):"));
            lines.push(Line::from(""));
            lines.push(Line::styled(format!("     {}", spaced(code)), theme.ok()));
            lines.push(Line::from(""));
            lines.push(Line::from(format!(" Confirmation code: {code}")));
            "Approved"
        }
        PaymentStatus::Declined | PaymentStatus::Failed => {
            let heading = if payment.status == PaymentStatus::Declined {
                " DECLINED"
            } else {
                " NOT CHARGED: the payment failed"
            };
            lines.push(Line::styled(heading, theme.error()));
            lines.push(Line::from(""));
            let message = payment
                .message
                .as_deref()
                .unwrap_or("the payment was not accepted");
            let width = usize::from(area.width.saturating_sub(2));
            lines.extend(
                wrap(&format!(" {message}"), width)
                    .into_iter()
                    .map(Line::from),
            );
            lines.push(Line::styled(
                format!(" (code {})", payment.code.as_deref().unwrap_or("-")),
                theme.dim(),
            ));
            "Not approved"
        }
        _ => {
            lines.push(Line::styled(
                " IN DOUBT: the processor did not answer in time",
                theme.warn(),
            ));
            lines.push(Line::from(""));
            lines.push(Line::from(
                " Do not take the payment again. CIP asks the processor what happened; this",
            ));
            lines.push(Line::from(
                " screen shows the outcome as soon as it is known, usually within a minute.",
            ));
            lines.push(Line::from(format!(
                " Find it later by its payment id: {}",
                payment.id
            )));
            "In doubt"
        }
    };
    lines.push(Line::from(""));
    lines.extend(details(payment));
    lines.push(Line::from(""));
    let keys = match payment.status {
        PaymentStatus::Declined | PaymentStatus::Failed => {
            " Enter: correct and retry   n: new payment   s: save receipt"
        }
        _ => " n: new payment   s: save receipt   F10: sign out",
    };
    lines.push(Line::styled(keys, theme.dim()));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(theme.panel(title)),
        area,
    );
}

fn details(payment: &Payment) -> Vec<Line<'static>> {
    vec![
        Line::from(format!(" Amount      {}", payment.amount)),
        Line::from(format!(" Paid with   {}", payment.method)),
        Line::from(format!(
            " Time        {}",
            format_time(payment.decided_ms.unwrap_or(payment.created_ms))
        )),
        Line::from(format!(" Payment id  {}", payment.id)),
    ]
}

/// `K7M2-9QXD-4` as `K 7 M 2  -  9 Q X D  -  4`: easier to read aloud and to copy by eye.
fn spaced(code: &str) -> String {
    code.split('-')
        .map(|group| {
            group
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("  -  ")
}
