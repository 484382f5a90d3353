//! The reports view: the export filter with each field's hint or error beside it, the last
//! export's file and row count, and a day's reconciliation.

use crate::app::{App, ReportField};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

const LABEL: usize = 14;
const FIELD: usize = 14;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let reports = &app.reports;
    let mut lines = vec![Line::styled(
        " Export payments as CSV or reconcile a day; an empty field takes every one",
        theme.title(),
    )];
    for (i, field) in ReportField::ALL.into_iter().enumerate() {
        let focused = i == reports.focus;
        let beside = match &reports.errors[i] {
            Some(error) => Span::styled(format!(" {error}"), theme.error()),
            None => Span::styled(format!(" {}", field.hint()), theme.dim()),
        };
        lines.push(Line::from(vec![
            Span::raw(format!(
                "{}{:<LABEL$}",
                if focused { '›' } else { ' ' },
                field.label()
            )),
            Span::styled(
                format!("{:<FIELD$}", reports.inputs[i].value()),
                if focused {
                    theme.focus()
                } else {
                    ratatui::style::Style::new()
                },
            ),
            beside,
        ]));
    }
    lines.push(Line::styled(
        " Enter: export to a CSV file  Ctrl-R: reconcile the From day (or today)",
        theme.dim(),
    ));
    lines.push(match (&reports.exporting, &reports.exported) {
        (Some(exporting), _) => Line::from(format!(
            " Exporting to {}: {} payments so far…",
            exporting.file_name, exporting.rows
        )),
        (None, Some((path, rows))) => {
            Line::styled(format!(" {rows} rows written to {path}"), theme.ok())
        }
        (None, None) => Line::from(""),
    });
    lines.push(Line::from(""));
    if reports.reconciling {
        lines.push(Line::styled(" Reconciling…", theme.dim()));
    } else if let Some(r) = &reports.reconciliation {
        lines.push(Line::styled(
            format!(" {} on {} ({})", r.application, r.day, r.time_zone),
            theme.title(),
        ));
        lines.push(Line::from(format!(
            " {:<10} {:<6} {:>8} {:>18}",
            "status", "method", "payments", "total"
        )));
        for line in &r.lines {
            lines.push(Line::from(format!(
                " {:<10} {:<6} {:>8} {:>18}",
                line.status.code(),
                line.method.code(),
                line.count,
                line.total.to_string()
            )));
        }
        if r.lines.is_empty() {
            lines.push(Line::styled(" no payments that day", theme.dim()));
        }
        for line in &r.refunds {
            lines.push(Line::from(format!(
                " {:<10} {:<6} {:>8} {:>18}",
                line.status.code(),
                "refund",
                line.count,
                line.total.to_string()
            )));
        }
        if let Some(net) = r.net() {
            lines.push(Line::from(format!(" net (approved less refunded): {net}")));
        }
        lines.push(Line::from(format!(
            " {} reported to the agency in batches, {} not yet",
            r.reported, r.unreported
        )));
        match r.unsettled.len() {
            0 => lines.push(Line::styled(" none in doubt", theme.ok())),
            n => {
                lines.push(Line::styled(
                    format!(" {n} not settled: resolve them from F5"),
                    theme.warn(),
                ));
                for p in &r.unsettled {
                    lines.push(Line::from(format!(
                        "  {} {:<10} {:>12} {}",
                        p.id,
                        p.status.code(),
                        p.amount.to_string(),
                        p.payer.name
                    )));
                }
            }
        }
    }
    let block = theme.panel("Reports");
    let inner = block.inner(area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(block),
        area,
    );
    if !app.help && app.detail.is_none() {
        let input = &reports.inputs[reports.focus];
        let cursor = input.visual_cursor().min(FIELD - 1) as u16;
        frame.set_cursor_position(Position::new(
            inner.x + 1 + LABEL as u16 + cursor,
            inner.y + 1 + reports.focus as u16,
        ));
    }
}
