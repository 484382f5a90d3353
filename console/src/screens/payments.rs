//! The payments table over the daemon's search: filtered, sorted, paged.

use super::fit;
use crate::app::App;
use crate::theme::{Symbol, Theme};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let table = &app.payments;
    let query = if table.query_text.is_empty() {
        "all"
    } else {
        table.query_text.as_str()
    };
    let title = format!(
        "Payments · {query} · {} · page {}",
        table.query.sort.label(),
        table.query.page + 1
    );
    let block = theme.panel(&title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let narrow = width < WIDE;
    let height = usize::from(inner.height.saturating_sub(2));
    let mut lines = vec![Line::styled(
        fit(
            &columns(
                narrow,
                " ",
                [
                    "time",
                    "status",
                    "payment",
                    "amount",
                    "code",
                    "application",
                    "card",
                    "payer",
                ],
            ),
            width,
            theme,
        ),
        theme.title(),
    )];
    match &table.page {
        None => lines.push(Line::styled(" Searching…", theme.dim())),
        Some(page) if page.payments.is_empty() => {
            lines.push(Line::styled(" No payments match.", theme.dim()))
        }
        Some(page) => {
            let first = table.selected.saturating_sub(height.saturating_sub(1));
            for (i, p) in page.payments.iter().enumerate().skip(first).take(height) {
                let style = if i == table.selected {
                    theme.focus()
                } else {
                    Style::new()
                };
                let marker = if i == table.selected {
                    theme.symbol(Symbol::Selected)
                } else {
                    " "
                };
                let text = columns(
                    narrow,
                    marker,
                    [
                        &super::clock_time(p.created_ms),
                        p.status.code(),
                        &p.id,
                        &p.amount.to_string(),
                        p.confirmation_code
                            .as_deref()
                            .or(p.code.as_deref())
                            .unwrap_or("-"),
                        &p.application,
                        p.method.last_four(),
                        &p.payer.name,
                    ],
                );
                lines.push(Line::styled(fit(&text, width, theme), style));
            }
        }
    }
    while lines.len() <= height {
        lines.push(Line::from(""));
    }
    let more = table.page.as_ref().is_some_and(|p| p.more);
    let paging = if more { "PgDn next page  " } else { "" };
    lines.push(Line::styled(
        fit(
            &theme.text(&format!(
                " ↑↓ select  Enter details  / search  s sort  {paging}PgUp previous"
            )),
            width,
            theme,
        ),
        theme.dim(),
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// From this width the table shows the application and the card's last four too.
const WIDE: usize = 100;

/// A row's cells in their columns. Narrow, the application and card make room for a whole decline
/// code (`insufficient_funds`) and the payer's name.
fn columns(narrow: bool, marker: &str, cells: [&str; 8]) -> String {
    let [time, status, id, amount, code, application, card, payer] = cells;
    if narrow {
        format!("{marker}{time:<8} {status:<9} {id:<21} {amount:>10} {code:<18} {payer}")
    } else {
        format!(
            "{marker}{time:<8} {status:<9} {id:<21} {amount:>10} {code:<18} {application:<12} {card:<4} {payer}"
        )
    }
}
