//! While the processor decides: elapsed time, and what happens when the answer is slow or lost.

use super::panel;
use crate::app::{App, Connection};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

/// After this long the screen says the processor is slow.
const SLOW_AFTER_MS: u128 = 1_000;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let elapsed = app.elapsed();
    let seconds = format!("{:.1} s", elapsed.as_secs_f64());
    let ticks = (elapsed.as_millis() / 250) as usize;
    let bar: String = (0..30)
        .map(|i| if i <= ticks % 31 { '▮' } else { '▯' })
        .collect();
    let mut lines = vec![
        Line::from(""),
        Line::styled(format!(" Sending the payment…  {seconds}"), theme.title()),
        Line::from(format!(" {bar}")),
        Line::from(""),
    ];
    let pending = app.pending.as_ref();
    if pending.is_some_and(|p| p.waiting) || app.connection != Connection::Connected {
        lines.push(Line::styled(
            " The connection to CIP was lost. The payment is sent again with the same key as soon",
            theme.warn(),
        ));
        lines.push(Line::styled(
            " as CIP answers, so it can never be charged twice.",
            theme.warn(),
        ));
    } else if elapsed.as_millis() > SLOW_AFTER_MS {
        lines.push(Line::from(
            " The processor is slow to answer. Keep the customer on the line;",
        ));
        lines.push(Line::from(" do not take the payment again."));
    }
    if let Some(pending) = pending.filter(|p| p.attempts > 1) {
        lines.push(Line::styled(
            format!(" Attempt {} (same idempotency key)", pending.attempts),
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(panel("Processing")), area);
}
