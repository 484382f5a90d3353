//! The queue: figures over 1, 15 and 60 minutes, payments per minute, and the payments that
//! need a supervisor's eye (unsettled, to select and open or resolve; recently declined or failed).

use super::two_lines;
use crate::app::App;
use crate::theme::{Symbol, Theme};
use cip_common::stats::{QueueItem, WindowStats};
use cip_common::status::PaymentStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Sparkline};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let block = theme.panel("Queue");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(stats) = app.stats.as_ref() else {
        frame.render_widget(
            Paragraph::new(Line::styled(" Loading the figures…", theme.dim())),
            inner,
        );
        return;
    };
    let [figures, refunds, spark_label, spark, lists, keys] = Layout::vertical([
        Constraint::Length(9),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(2),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(Line::styled(
            " ↑↓ select  Enter details  r resolve in doubt  u unlock a user",
            theme.dim(),
        )),
        keys,
    );
    let cell = |w: &WindowStats, f: &dyn Fn(&WindowStats) -> String| format!("{:>16}", f(w));
    let line = |label: &str, f: &dyn Fn(&WindowStats) -> String| {
        let cells: String = stats.windows.iter().map(|w| cell(w, f)).collect();
        Line::from(format!(" {label:<16}{cells}"))
    };
    let ms = |v: Option<u64>| v.map_or("-".to_owned(), |v| format!("{v} ms"));
    let mut rows = vec![Line::styled(
        format!(
            " {:<16}{}",
            "last",
            stats
                .windows
                .iter()
                .map(|w| format!("{:>16}", format!("{} min", w.minutes)))
                .collect::<String>()
        ),
        theme.title(),
    )];
    for status in [
        PaymentStatus::Approved,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
        PaymentStatus::InDoubt,
        PaymentStatus::Voided,
    ] {
        rows.push(line(status.code(), &|w| w.count(status).to_string()));
    }
    rows.push(line("approval rate", &|w| {
        w.approval_per_mille
            .map_or("-".to_owned(), |m| format!("{}.{}%", m / 10, m % 10))
    }));
    rows.push(line("approved", &|w| {
        let amounts: Vec<String> = w.approved_amounts.iter().map(|m| m.to_string()).collect();
        if amounts.is_empty() {
            "-".to_owned()
        } else {
            amounts.join(" + ")
        }
    }));
    rows.push(line("p50/p95/p99", &|w| {
        format!("{}/{}/{}", ms(w.p50_ms), ms(w.p95_ms), ms(w.p99_ms)).replace(" ms/", "/")
    }));
    frame.render_widget(Paragraph::new(rows), figures);
    let today = &stats.refunds_today;
    let refunded: Vec<String> = today.refunded.iter().map(|m| m.to_string()).collect();
    let refunded = if refunded.is_empty() {
        "nothing".to_owned()
    } else {
        refunded.join(" + ")
    };
    frame.render_widget(
        Paragraph::new(Line::from(format!(
            " {:<16}{} succeeded, {refunded} refunded; {} failed; {} pending",
            "refunds today", today.succeeded, today.failed, today.pending
        ))),
        refunds,
    );
    let peak = stats.per_minute.iter().max().copied().unwrap_or(0);
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!(" payments per minute, last hour (peak {peak})"),
            theme.dim(),
        )),
        spark_label,
    );
    frame.render_widget(
        Sparkline::default().data(&stats.per_minute),
        spark.inner(ratatui::layout::Margin::new(1, 0)),
    );
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(lists);
    let selected = app.queue_selection().map(|item| item.payment_id.as_str());
    list(
        frame,
        left,
        "Unsettled (processing, in doubt)",
        &stats.unsettled,
        selected,
        theme,
    );
    list(
        frame,
        right,
        "Declined or failed, last hour",
        &stats.recent_failures,
        None,
        theme,
    );
}

/// `selected` is marked, and kept in view however long the list.
fn list(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    items: &[QueueItem],
    selected: Option<&str>,
    theme: Theme,
) {
    let mut lines = vec![Line::styled(
        format!(" {title} ({})", items.len()),
        theme.title(),
    )];
    let rows = usize::from(area.height.saturating_sub(1));
    let at = items
        .iter()
        .position(|item| Some(item.payment_id.as_str()) == selected);
    let first = at.map_or(0, |at| (at + 1).saturating_sub(rows));
    for item in items.iter().skip(first).take(rows) {
        let age = item.age_ms / 1000;
        let age = if age >= 60 {
            format!("{}m{:02}s", age / 60, age % 60)
        } else {
            format!("{age}s")
        };
        let what = item
            .code
            .clone()
            .unwrap_or_else(|| item.status.code().to_owned());
        let chosen = Some(item.payment_id.as_str()) == selected;
        let text = format!(
            "{}{:<18} {:>12} {:>6} {what}",
            if chosen {
                theme.symbol(Symbol::Selected)
            } else {
                " "
            },
            item.payment_id,
            item.amount.to_string(),
            age
        );
        // The reason goes on a line of its own where the half-screen list is too narrow.
        let style = if chosen { theme.focus() } else { Style::new() };
        lines.extend(
            two_lines(&text, usize::from(area.width), 3, theme)
                .into_iter()
                .map(|line| Line::styled(line, style)),
        );
    }
    if items.is_empty() {
        lines.push(Line::styled(" none", theme.dim()));
    }
    frame.render_widget(Paragraph::new(lines), area);
}
