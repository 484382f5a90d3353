//! While the processor decides: elapsed time, and what happens when the answer is slow or lost.

use super::wrap;
use crate::app::{App, Connection};
use crate::theme::{Symbol, Theme};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

/// After this long the screen says the processor is slow.
const SLOW_AFTER_MS: u128 = 1_000;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let elapsed = app.elapsed();
    let seconds = format!("{:.1} s", elapsed.as_secs_f64());
    let ticks = (elapsed.as_millis() / 250) as usize;
    let bar: String = (0..30)
        .map(|i| {
            theme.symbol(if i <= ticks % 31 {
                Symbol::BarFull
            } else {
                Symbol::BarEmpty
            })
        })
        .collect();
    let width = usize::from(area.width.saturating_sub(2));
    let wrapped = |text: &str, style: Style| {
        wrap(text, width)
            .into_iter()
            .map(move |line| Line::styled(line, style))
    };
    let mut lines = vec![
        Line::from(""),
        Line::styled(
            theme.text(&format!(" Sending the payment…  {seconds}")),
            theme.title(),
        ),
        Line::from(format!(" {bar}")),
        Line::from(""),
    ];
    let pending = app.pending.as_ref();
    if pending.is_some_and(|p| p.waiting) || app.connection != Connection::Connected {
        lines.extend(wrapped(
            " The connection to CIP was lost. The payment is sent again with the same key as soon as CIP answers, so it can never be charged twice.",
            theme.warn(),
        ));
    } else if elapsed.as_millis() > SLOW_AFTER_MS {
        lines.extend(wrapped(
            " The processor is slow to answer. Keep the customer on the line; do not take the payment again.",
            Style::new(),
        ));
    }
    if let Some(pending) = pending.filter(|p| p.attempts > 1) {
        lines.push(Line::styled(
            format!(" Attempt {} (same idempotency key)", pending.attempts),
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(theme.panel("Processing")), area);
}
