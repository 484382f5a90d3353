//! The payment form: one row per field, its error beside it, the focused field's full error and
//! hint at the foot.

use super::panel;
use crate::app::App;
use crate::form::Kind;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

const LABEL: usize = 22;
const VALUE: usize = 28;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let Some(form) = app.form.as_ref() else {
        frame.render_widget(
            Paragraph::new(" Loading the application's form…").block(panel("New payment")),
            area,
        );
        return;
    };
    let title = format!(
        "{} · {} · {} to {}",
        form.spec.id,
        form.spec.name,
        form.spec.min_amount(),
        form.spec.max_amount()
    );
    let block = panel(&title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [rows_area, foot] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
    let visible = form.visible();
    let height = usize::from(rows_area.height);
    let first = form.focus.saturating_sub(height.saturating_sub(1));
    let error_width = usize::from(rows_area.width).saturating_sub(LABEL + VALUE + 4);
    let mut lines = Vec::new();
    for (i, field) in visible.iter().enumerate().skip(first).take(height) {
        let focused = i == form.focus;
        let mut value = form.display(field, focused);
        if field.kind == Kind::CardNumber
            && let Some(brand) = form.brand()
        {
            value = format!("{value:<20}{brand}");
        }
        let value_style = match (focused, form.is_suggested(&field.path)) {
            (true, true) => theme.focus().patch(theme.dim()),
            (true, false) => theme.focus(),
            (false, _) => Style::new(),
        };
        let mut spans = vec![
            Span::raw(format!(
                "{}{:<LABEL$}",
                if focused { '›' } else { ' ' },
                field.label
            )),
            Span::styled(format!("{:<VALUE$}", truncate(&value, VALUE)), value_style),
        ];
        if let Some(error) = form.error(&field.path) {
            spans.push(Span::styled(
                format!(" ✗ {}", truncate(error, error_width)),
                theme.error(),
            ));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), rows_area);

    let focused = form.focused();
    let foot_lines = match focused.and_then(|f| form.error(&f.path)) {
        Some(error) => vec![
            Line::styled(format!(" {error}"), theme.error()),
            Line::styled(keys(focused.map(|f| f.kind)), theme.dim()),
        ],
        None if focused.is_some_and(|f| form.is_suggested(&f.path)) => vec![
            Line::styled(
                " The payer's, as it usually is: Tab keeps it, typing replaces it",
                theme.dim(),
            ),
            Line::styled(keys(focused.map(|f| f.kind)), theme.dim()),
        ],
        None => {
            let others = form.other_errors();
            vec![
                others.first().map_or_else(
                    || Line::from(""),
                    |e| Line::styled(format!(" {e}"), theme.error()),
                ),
                Line::styled(keys(focused.map(|f| f.kind)), theme.dim()),
            ]
        }
    };
    frame.render_widget(Paragraph::new(foot_lines), foot);

    if let Some(field) = focused
        && !field.kind.is_choice()
        && !app.help
    {
        let row = form.focus - first;
        let cursor = form.display_cursor(field).min(VALUE - 1);
        frame.set_cursor_position(Position::new(
            rows_area.x + 1 + LABEL as u16 + cursor as u16,
            rows_area.y + row as u16,
        ));
    }
}

fn keys(kind: Option<Kind>) -> String {
    let choice = if kind.is_some_and(Kind::is_choice) {
        "  ←/→ or Space: change"
    } else {
        ""
    };
    format!(" Tab/Shift-Tab: move  Enter: next, on the last field go on{choice}")
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}
