//! Screens: each a pure render of the app's state. `render` picks the screen, draws the status
//! bar, and lays the help overlay or the "too small" notice on top.

mod detail;
mod feed;
mod form;
mod help;
mod login;
mod outcome;
mod payments;
mod processing;
mod queue;
mod reports;
mod summary;

use crate::app::{App, Connection, MIN_HEIGHT, MIN_WIDTH, PromptFor, Screen, View};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

pub fn render(frame: &mut Frame, app: &App, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, theme);
        return;
    }
    let signed_in = app.session.is_some();
    let [title, body, notice, views, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(u16::from(signed_in)),
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
    match (signed_in, app.view, &app.detail) {
        (true, View::NewPayment, _) | (false, ..) => match app.screen {
            Screen::Login => login::render(frame, body, app, theme),
            Screen::Form => form::render(frame, body, app, theme),
            Screen::Summary => summary::render(frame, body, app, theme),
            Screen::Processing => processing::render(frame, body, app, theme),
            Screen::Outcome => outcome::render(frame, body, app, theme),
        },
        (true, _, Some(detail)) => detail::render(frame, body, app, detail, theme),
        (true, View::Feed, None) => feed::render(frame, body, app, theme),
        (true, View::Payments, None) => payments::render(frame, body, app, theme),
        (true, View::Queue, None) => queue::render(frame, body, app, theme),
        (true, View::Reports, None) => reports::render(frame, body, app, theme),
    }
    if signed_in {
        views_bar(frame, views, app, theme);
    }
    if let Some(prompt) = &app.prompt {
        let label = match prompt.purpose {
            PromptFor::FeedFilter => {
                "Filter (app: status: kind: words; Enter applies, Esc cancels)"
            }
            PromptFor::PaymentSearch => {
                "Search: a code or payment id as read, or status: app: last4: name:"
            }
            PromptFor::UnlockUser => {
                "The user id, as they sign in; Enter asks to confirm, Esc cancels"
            }
        };
        let marker = match prompt.purpose {
            PromptFor::UnlockUser => " Unlock user: ",
            PromptFor::FeedFilter | PromptFor::PaymentSearch => " / ",
        };
        let line = match &prompt.error {
            Some(error) => Line::styled(format!(" {error}"), theme.error()),
            None => Line::from(vec![
                Span::styled(marker, theme.focus()),
                Span::raw(format!(" {}", prompt.input.value())),
            ]),
        };
        frame.render_widget(Paragraph::new(line), notice);
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {label}"), theme.dim())),
            views,
        );
        if prompt.error.is_none() && !app.help {
            let x = notice.x + marker.len() as u16 + 1 + prompt.input.visual_cursor() as u16;
            frame.set_cursor_position(ratatui::layout::Position::new(
                x.min(notice.right() - 1),
                notice.y,
            ));
        }
        status_bar(frame, status, app, theme);
        return;
    }
    if let Some(confirm) = &app.confirm {
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {}", confirm.question), theme.warn())),
            notice,
        );
        status_bar(frame, status, app, theme);
        return;
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
    if app.session.is_some() && app.view != View::NewPayment {
        return if app.detail.is_some() {
            "Payment"
        } else {
            app.view.title()
        };
    }
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
        if app.view == View::Feed && app.feed.paused {
            format!("paused · {} new · f resumes ", app.feed.new_while_paused)
        } else if app.view == View::Feed && app.feed.following() {
            "following ".to_owned()
        } else {
            "F10 sign out  Ctrl-C quit ".to_owned()
        }
    } else {
        "F1 help  Ctrl-C quit ".to_owned()
    };
    let left = format!(" {connection}{who}");
    let width = usize::from(area.width);
    let gap = width.saturating_sub(left.chars().count() + keys.chars().count());
    let line = format!("{left}{}{keys}", " ".repeat(gap));
    frame.render_widget(Paragraph::new(line).style(theme.bar()), area);
}

/// The views and their keys, the current one marked.
fn views_bar(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let mut spans = vec![Span::raw(" ")];
    for view in View::ALL {
        let label = format!("{} {}", view.key_name(), view.title());
        if view == app.view {
            spans.push(Span::styled(label, theme.focus()));
        } else {
            spans.push(Span::raw(label));
        }
        spans.push(Span::raw("  "));
    }
    spans.push(Span::styled("F1 help", theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Time of day for lists: `14:05:09` (UTC).
pub fn clock_time(ms: i64) -> String {
    let format = time::macros::format_description!("[hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
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
