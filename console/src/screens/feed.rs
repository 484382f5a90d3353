//! The live feed: one event a row, newest at the bottom; the selected row marked.

use super::{clock_time, fit, two_lines};
use crate::app::App;
use crate::theme::{Symbol, Theme};
use cip_common::event::{Event, EventDetail, EventKind};
use cip_common::refund::RefundStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let feed = &app.feed;
    let shown = feed.shown();
    let filter = if feed.filter.is_empty() {
        String::new()
    } else {
        " · filtered".to_owned()
    };
    let title = format!(
        "Feed · {} shown of {} kept{filter}",
        shown.len(),
        feed.len()
    );
    let block = theme.panel(&title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height.saturating_sub(1));
    let selected = feed.selected.unwrap_or(shown.len().saturating_sub(1));
    // Keep the selection in view; following, the newest row sits at the bottom.
    let last = (selected + 1).max(height.min(shown.len())).min(shown.len());
    let first = last.saturating_sub(height);
    let mut lines = Vec::with_capacity(height + 1);
    for (i, event) in shown.iter().enumerate().take(last).skip(first) {
        let selected = feed.selected == Some(i);
        let style = if selected {
            theme.focus()
        } else {
            row_style(event, theme)
        };
        let mut text = row(event);
        if selected {
            text.replace_range(..1, theme.symbol(Symbol::Selected));
        }
        // A row too wide goes on below its time: a decline's code is never cut.
        let rows = two_lines(&text, usize::from(inner.width), CONTINUED, theme);
        lines.extend(rows.into_iter().map(|row| Line::styled(row, style)));
    }
    // Rows that took two lines push the oldest off the top; the selection is the newest row
    // shown, or above it, so it stays in view.
    if lines.len() > height {
        lines.drain(..lines.len() - height);
    }
    if shown.is_empty() {
        lines.push(Line::styled(
            " No events yet: they appear here as they are committed.",
            theme.dim(),
        ));
    }
    while lines.len() < height {
        lines.insert(0, Line::from(""));
    }
    lines.push(Line::styled(
        fit(
            &theme.text(
                " ↑↓ select  Enter details  f pause  / filter  End follow  PgUp older  u unlock",
            ),
            usize::from(inner.width),
            theme,
        ),
        theme.dim(),
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Where a row's continuation starts: under its kind, past the time.
const CONTINUED: usize = 10;

fn kind_label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::PaymentReceived => "received",
        EventKind::PaymentApproved => "approved",
        EventKind::PaymentDeclined => "declined",
        EventKind::PaymentFailed => "failed",
        EventKind::PaymentInDoubt => "in doubt",
        EventKind::PaymentResolved => "resolved",
        EventKind::PaymentVoided => "voided",
        EventKind::PaymentLateApproval => "LATE APPR",
        EventKind::PaymentLateApprovalVoided => "late void",
        EventKind::AgencyNotified => "notified",
        EventKind::AgencyNotifyFailed => "notify ✗",
        EventKind::BatchTransmitted => "reported",
        EventKind::RefundRequested => "refund",
        EventKind::RefundSucceeded => "refunded",
        EventKind::RefundFailed => "refund ✗",
        EventKind::SignIn => "sign-in",
        EventKind::SignInFailed => "sign-in ✗",
        EventKind::Lockout => "LOCKOUT",
        EventKind::Unlock => "unlock",
    }
}

/// A payment row in the colour of the payment's status after the event; a lockout as an error.
fn row_style(event: &Event, theme: Theme) -> Style {
    match &event.detail {
        EventDetail::Payment { status, .. } => theme.status(*status),
        EventDetail::Refund { status, .. } if *status == RefundStatus::Failed => theme.error(),
        EventDetail::Security { .. } if event.kind == EventKind::Lockout => theme.error(),
        EventDetail::Security { .. } | EventDetail::Batch { .. } | EventDetail::Refund { .. } => {
            Style::new()
        }
    }
}

/// A row, the same at every width so nothing is lost at 80 columns: a payment's id is one Enter
/// away, in its detail, and the filter still finds it.
fn row(event: &Event) -> String {
    let app = event.application.as_deref().unwrap_or("-");
    match &event.detail {
        EventDetail::Payment {
            status,
            amount,
            confirmation_code,
            code,
            keyed_by,
            mode,
            ..
        } => {
            let extra = match (confirmation_code, code) {
                (Some(c), _) if event.kind != EventKind::PaymentReceived => c.clone(),
                (_, Some(code)) => code.clone(),
                _ => String::new(),
            };
            let kind = if event.kind == EventKind::PaymentResolved {
                format!("→{status}")
            } else {
                kind_label(event.kind).to_owned()
            };
            format!(
                " {} {:<9} {:<12} {:<8} {:<7} {:>9} {extra}",
                clock_time(event.at_ms),
                kind,
                app,
                keyed_by,
                mode.code(),
                amount.to_string()
            )
        }
        EventDetail::Refund {
            refund_id,
            amount,
            code,
            asked_by,
            ..
        } => format!(
            " {} {:<9} {:<12} {:<8} {:<7} {:>9} {}",
            clock_time(event.at_ms),
            kind_label(event.kind),
            app,
            asked_by,
            "refund",
            amount.to_string(),
            code.as_deref().unwrap_or(refund_id)
        ),
        EventDetail::Security {
            user,
            actor,
            origin,
        } => {
            let by = actor
                .as_deref()
                .map(|a| format!(" by {a}"))
                .unwrap_or_default();
            format!(
                " {} {:<9} {:<12} {user}{by} ({origin})",
                clock_time(event.at_ms),
                kind_label(event.kind),
                app
            )
        }
        EventDetail::Batch {
            batch_id,
            payment_count,
            approved,
            actor,
        } => format!(
            " {} {:<9} {:<12} {batch_id} {payment_count} payments, {approved} approved, by {actor}",
            clock_time(event.at_ms),
            kind_label(event.kind),
            app
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::screens::render;
    use crate::testing::on_feed;
    use crate::theme::Theme;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use ratatui::style::Color;

    /// The colour of the row that holds `word`, read at the word's first letter.
    fn colour_of_row_with(buffer: &Buffer, word: &str) -> Option<Color> {
        let area = buffer.area;
        (area.top()..area.bottom()).find_map(|y| {
            let line: String = (area.left()..area.right())
                .map(|x| buffer[(x, y)].symbol())
                .collect();
            let at = line.find(word)?;
            let x = line[..at].chars().count() as u16;
            Some(buffer[(x, y)].fg)
        })
    }

    #[test]
    fn rows_are_coloured_by_the_payments_status() {
        // Following: no row is selected, so each is drawn in its own colour.
        let app = on_feed();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("a test terminal");
        terminal
            .draw(|frame| {
                render(
                    frame,
                    &app,
                    Theme {
                        color: true,
                        ascii: false,
                    },
                )
            })
            .expect("drawn");
        let buffer = terminal.backend().buffer();
        assert_eq!(
            colour_of_row_with(buffer, "insufficient_funds"),
            Some(Color::LightRed)
        );
        assert_eq!(colour_of_row_with(buffer, "in doubt"), Some(Color::Yellow));
        assert_eq!(
            colour_of_row_with(buffer, "7MRE-S8EE-G"),
            Some(Color::LightGreen)
        );
    }
}
