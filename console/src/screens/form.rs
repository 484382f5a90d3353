//! The payment form: one row per field, its error beside it, the focused field's full error and
//! hint at the foot.

use super::{fit, wrap};
use crate::app::App;
use crate::form::Kind;
use crate::theme::{Symbol, Theme};
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
            Paragraph::new(" Loading the application's form…").block(theme.panel("New payment")),
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
    let block = theme.panel(&title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The foot: the focused field's error in full (or the first error elsewhere), then the keys.
    let focused = form.focused();
    let error = focused
        .and_then(|f| form.error(&f.path))
        .map(str::to_owned)
        .or_else(|| form.other_errors().first().map(|e| e.to_string()));
    let mut foot_lines: Vec<Line> = match error {
        Some(error) => wrap(&theme.text(&format!(" {error}")), usize::from(inner.width))
            .into_iter()
            .map(|line| Line::styled(line, theme.error()))
            .collect(),
        None if focused.is_some_and(|f| form.is_suggested(&f.path)) => vec![Line::styled(
            " The payer's, as it usually is: Tab keeps it, typing replaces it",
            theme.dim(),
        )],
        None => vec![Line::from("")],
    };
    foot_lines.push(Line::styled(
        theme.text(&keys(focused.map(|f| f.kind))),
        theme.dim(),
    ));
    let [rows_area, foot] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(foot_lines.len() as u16),
    ])
    .areas(inner);
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
                if focused {
                    theme.symbol(Symbol::Selected)
                } else {
                    " "
                },
                field.label
            )),
            Span::styled(
                format!("{:<VALUE$}", truncate(&theme.text(&value), VALUE, theme)),
                value_style,
            ),
        ];
        if let Some(error) = form.error(&field.path) {
            let cross = theme.symbol(Symbol::Cross);
            // Its start beside the field; in full below when the field has focus.
            let error = fit(&theme.text(error), error_width.saturating_sub(3), theme);
            spans.push(Span::styled(format!(" {cross} {error}"), theme.error()));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), rows_area);

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
        "  ←/→ Space: change"
    } else {
        ""
    };
    format!(" Tab/Enter: next  Enter on the last: summary  Esc: clear{choice}")
}

/// A value longer than its box shows its end, where the agent is typing.
fn truncate(text: &str, width: usize, theme: Theme) -> String {
    let count = text.chars().count();
    if count <= width {
        text.to_owned()
    } else {
        let more = theme.text("…");
        let skip = count - width + more.chars().count();
        format!("{more}{}", text.chars().skip(skip).collect::<String>())
    }
}
