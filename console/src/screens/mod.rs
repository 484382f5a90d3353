//! Screens: each a pure render of the app's state. `render` picks the screen, draws the status
//! bar, and lays the help overlay or the "too small" notice on top.

mod form;
mod help;
mod login;
mod outcome;
mod processing;
mod summary;

use crate::app::{App, Connection, Screen};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

/// The smallest terminal the console draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn render(frame: &mut Frame, app: &App, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, theme);
        return;
    }
    let [title, body, notice, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" CIP ", theme.bar()),
            Span::styled(format!(" {}", screen_title(app)), theme.title()),
        ])),
        title,
    );
    match app.screen {
        Screen::Login => login::render(frame, body, app, theme),
        Screen::Form => form::render(frame, body, app, theme),
        Screen::Summary => summary::render(frame, body, app, theme),
        Screen::Processing => processing::render(frame, body, app, theme),
        Screen::Outcome => outcome::render(frame, body, app, theme),
    }
    let notice_text = match (&app.notice, app.connection) {
        (Some(text), _) => Some(text.clone()),
        (None, Connection::Lost) => {
            Some(format!("CIP is not answering at {}: retrying…", app.daemon))
        }
        (None, _) => None,
    };
    if let Some(text) = notice_text {
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {text}"), theme.warn())),
            notice,
        );
    }
    status_bar(frame, status, app, theme);
    if app.help {
        help::render(frame, body, app, theme);
    }
}

fn screen_title(app: &App) -> &'static str {
    match app.screen {
        Screen::Login => "Sign in",
        Screen::Form => "New payment",
        Screen::Summary => "Check the payment",
        Screen::Processing => "Processing",
        Screen::Outcome => "Outcome",
    }
}

fn status_bar(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let connection = match app.connection {
        Connection::Connected => "● connected",
        Connection::Connecting => "○ connecting",
        Connection::Lost => "○ reconnecting",
    };
    let who = app
        .session
        .as_ref()
        .map(|s| format!("  {} ({}) @ {}", s.user, s.role, s.application))
        .unwrap_or_default();
    let keys = if app.session.is_some() {
        "F1 help  F10 sign out  Ctrl-C quit "
    } else {
        "F1 help  Ctrl-C quit "
    };
    let left = format!(" {connection}{who}");
    let width = usize::from(area.width);
    let gap = width.saturating_sub(left.chars().count() + keys.chars().count());
    let line = format!("{left}{}{keys}", " ".repeat(gap));
    frame.render_widget(Paragraph::new(line).style(theme.bar()), area);
}

fn too_small(frame: &mut Frame, area: Rect, theme: Theme) {
    let text = vec![
        Line::styled("Terminal too small", theme.title()),
        Line::from(format!(
            "CIP needs {MIN_WIDTH}×{MIN_HEIGHT}; this one is {}×{}.",
            area.width, area.height
        )),
        Line::from("Enlarge the window; your work is kept."),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}

/// A rectangle of at most `width`×`height`, centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// A bordered box with a title.
pub fn panel(title: &str) -> Block<'_> {
    Block::bordered().title(format!(" {title} "))
}

#[cfg(test)]
mod snapshots;
