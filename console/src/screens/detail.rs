//! One payment in full: every stored field, the masked card or account, and its timeline.

use super::{clock_time, scrolled, wrap};
use crate::app::{App, Detail};
use crate::receipt::format_time;
use crate::theme::Theme;
use cip_common::money::Money;
use cip_common::status::PaymentStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, app: &App, detail: &Detail, theme: Theme) {
    let p = &detail.payment;
    let row = |label: &str, value: String| format!(" {label:<14}{value}");
    let mut fields = vec![
        row("Payment id", p.id.clone()),
        row("Status", p.status.to_string()),
        row(
            "Application",
            format!("{} ({} mode)", p.application, p.mode.code()),
        ),
        row("Amount", p.amount.to_string()),
    ];
    if p.status == PaymentStatus::Approved {
        let pending = Money::new(p.refunds.pending_minor, p.amount.currency);
        let waiting = if pending.minor > 0 {
            format!(", {pending} waiting on the processor")
        } else {
            String::new()
        };
        fields.push(row(
            "Refunded",
            format!(
                "{} ({}), {} refundable{waiting}",
                p.refunded(),
                p.refund_state().code(),
                p.refundable()
            ),
        ));
    }
    fields.extend([
        row("Paid with", p.method.to_string()),
        row(
            "Confirmation",
            p.confirmation_code.clone().unwrap_or_else(|| "-".into()),
        ),
        row(
            "Payer",
            format!(
                "{} <{}> {}",
                p.payer.name, p.payer.email, p.payer.postal_code
            ),
        ),
    ]);
    for (name, value) in &p.fields {
        fields.push(row(name, value.clone()));
    }
    if let Some(code) = &p.code {
        fields.push(row(
            "Code",
            format!("{code}: {}", p.message.clone().unwrap_or_default()),
        ));
    }
    fields.push(row("Taken by", p.user.clone()));
    fields.push(row("Received", format_time(p.created_ms)));
    fields.push(row("Key", p.idempotency_key.clone()));
    fields.push(row("Agency report", p.report_standing(format_time)));
    let mut timeline = Vec::new();
    for event in &detail.timeline {
        timeline.push(theme.text(&format!(
            " #{:<6} {} {:<18} {}",
            event.seq,
            clock_time(event.at_ms),
            event.kind.code(),
            event.summary()
        )));
    }
    let supervisor = app
        .session
        .as_ref()
        .is_some_and(|s| s.role == cip_common::session::Role::Supervisor);
    let keys = match p.status {
        PaymentStatus::Approved if supervisor => " Esc back  s save receipt  v void  r refund",
        PaymentStatus::InDoubt if supervisor => " Esc back  s save receipt  r resolve now",
        _ => " Esc back  s save receipt",
    };
    let block = theme.panel("Payment");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [body, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let width = usize::from(body.width);
    // Values wrap under their column (past the 15 columns of label).
    let value_wrap = |text: &str| {
        let rows = wrap(&format!("{:15}{}", "", &text[15.min(text.len())..]), width);
        let label: String = text.chars().take(15).collect();
        rows.into_iter().enumerate().map(move |(i, row)| {
            if i == 0 {
                Line::from(format!("{label}{}", &row[15..]))
            } else {
                Line::from(row)
            }
        })
    };
    let mut lines: Vec<Line> = fields
        .iter()
        .flat_map(|f| value_wrap(&theme.text(f)))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::styled(" Timeline", theme.title()));
    lines.extend(timeline.iter().flat_map(|t| wrap(t, width)).map(Line::from));
    scrolled(frame, body, lines, app, theme);
    frame.render_widget(Paragraph::new(Line::styled(keys, theme.dim())), foot);
}
