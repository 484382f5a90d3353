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
use crate::theme::{Symbol, Theme};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

pub fn render(frame: &mut Frame, app: &App, theme: Theme) {
    draw(frame, app, theme);
    theme.to_ascii(frame.buffer_mut());
}

fn draw(frame: &mut Frame, app: &App, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, theme);
        return;
    }
    let signed_in = app.session.is_some();
    let width = usize::from(area.width);
    let (notice_lines, cursor_row) = notice(app, theme, width);
    let [title, body, notice, views, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length((notice_lines.len() as u16).max(1)),
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
        _ if app.help => help::render(frame, body, app, theme),
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
    frame.render_widget(Paragraph::new(notice_lines), notice);
    if signed_in {
        views_bar(frame, views, app, theme);
    }
    if let (Some(row), Some(prompt)) = (cursor_row, &app.prompt)
        && !app.help
    {
        let before = prompt_marker(&prompt.purpose).chars().count() + 1;
        let x = notice.x + before as u16 + prompt.input.visual_cursor() as u16;
        frame.set_cursor_position(ratatui::layout::Position::new(
            x.min(notice.right() - 1),
            notice.y + row,
        ));
    }
    status_bar(frame, status, app, theme);
}

/// The lines between the body and the views bar: the filter or search prompt, a question to
/// confirm, or a notice, each as many lines as its words need. With a prompt, the row of its input.
fn notice(app: &App, theme: Theme, width: usize) -> (Vec<Line<'static>>, Option<u16>) {
    let wrapped = |text: &str, style| {
        wrap(&theme.text(text), width)
            .into_iter()
            .map(move |line| Line::styled(line, style))
    };
    if let Some(prompt) = &app.prompt {
        let label = match &prompt.purpose {
            PromptFor::FeedFilter => {
                " Filter (app: status: kind: words; Enter applies, Esc cancels)".to_owned()
            }
            PromptFor::PaymentSearch => {
                " Search: a code or payment id as read, or status: app: last4: name:".to_owned()
            }
            PromptFor::UnlockUser => {
                " The user id, as they sign in; Enter asks to confirm, Esc cancels".to_owned()
            }
            PromptFor::Refund(draft) => draft.label(),
        };
        let mut lines: Vec<Line> = wrapped(&label, theme.dim()).collect();
        let row = lines.len() as u16;
        lines.push(Line::from(vec![
            Span::styled(prompt_marker(&prompt.purpose), theme.focus()),
            Span::raw(format!(" {}", prompt.input.value())),
        ]));
        if let Some(error) = &prompt.error {
            lines.extend(wrapped(&format!(" {error}"), theme.error()));
        }
        let cursor = prompt.error.is_none().then_some(row);
        return (lines, cursor);
    }
    if let Some(confirm) = &app.confirm {
        return (
            wrapped(&format!(" {}", confirm.question), theme.warn()).collect(),
            None,
        );
    }
    let text = match (&app.notice, app.connection) {
        (Some(text), _) => text.clone(),
        (None, Connection::Lost) => format!("CIP is not answering at {}: retrying…", app.daemon),
        (None, _) => return (Vec::new(), None),
    };
    (wrapped(&format!(" {text}"), theme.warn()).collect(), None)
}

/// What stands before a prompt's input.
fn prompt_marker(purpose: &PromptFor) -> &'static str {
    match purpose {
        PromptFor::UnlockUser => " Unlock user: ",
        PromptFor::FeedFilter | PromptFor::PaymentSearch => " / ",
        PromptFor::Refund(draft) => draft.marker(),
    }
}

/// `text` in lines of at most `width` columns, broken between words; a line after the first
/// starts under the first's text (past its leading spaces), so a label's value stays in its
/// column. A word longer than a whole line is the only thing ever broken.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let indent = text.len() - text.trim_start().len();
    let hang = if indent * 2 < width { indent } else { 0 };
    let mut lines = Vec::new();
    let mut line = " ".repeat(indent);
    let mut empty = true;
    let mut rest = text[indent..].split(' ').peekable();
    while let Some(word) = rest.next() {
        let used = line.chars().count();
        let need = word.chars().count() + usize::from(!empty);
        if !empty && used + need > width {
            lines.push(std::mem::replace(&mut line, " ".repeat(hang)));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        let mut word: Vec<char> = word.chars().collect();
        while line.chars().count() + word.len() > width && width > hang {
            let take = width - line.chars().count();
            line.extend(word.drain(..take));
            lines.push(std::mem::replace(&mut line, " ".repeat(hang)));
        }
        line.extend(word);
        empty = false;
        if rest.peek().is_none() {
            break;
        }
    }
    lines.push(line);
    lines
}

/// Lines too tall for `area` shown from the scroll offset, the last row kept for "↓ more" or
/// "↑ more above" when there is more to see that way.
pub fn scrolled(frame: &mut Frame, area: Rect, lines: Vec<Line>, app: &App, theme: Theme) {
    let mut height = usize::from(area.height);
    if lines.len() > height {
        height = height.saturating_sub(1);
    }
    let overflow = lines.len().saturating_sub(height) as u16;
    let offset = app.scroll.offset(overflow);
    let shown: Vec<Line> = lines
        .into_iter()
        .skip(usize::from(offset))
        .take(height)
        .collect();
    frame.render_widget(Paragraph::new(shown), area);
    if overflow > 0 && area.height > 0 {
        let hint = match (offset < overflow, theme.ascii) {
            (true, false) => "↓ more (↑↓ PgUp PgDn Home End)",
            (true, true) => "more below (Up/Down PgUp PgDn Home End)",
            (false, false) => "↑ more above (↑ PgUp Home)",
            (false, true) => "more above (Up PgUp Home)",
        };
        let at = Rect {
            y: area.bottom() - 1,
            height: 1,
            ..area
        };
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {hint} "), theme.focus())).right_aligned(),
            at,
        );
    }
}

/// A table row that does not fit `width`: its first line, then the rest on one more line from
/// column `indent` (cut between words if even that is too long), so a code or reason at the end
/// of a row is read whole.
pub fn two_lines(text: &str, width: usize, indent: usize, theme: Theme) -> Vec<String> {
    let mut rows = wrap(&theme.text(text), width).into_iter();
    let mut lines: Vec<String> = rows.next().into_iter().collect();
    let rest: Vec<String> = rows.map(|r| r.trim().to_owned()).collect();
    if !rest.is_empty() {
        let rest = format!("{}{}", " ".repeat(indent), rest.join(" "));
        lines.push(fit(&rest, width, theme));
    }
    lines
}

/// `text` cut to `width` columns between words, `…` marking what was left off.
pub fn fit(text: &str, width: usize, theme: Theme) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let more = theme.text("…");
    let room = width.saturating_sub(more.chars().count() + 1);
    let mut cut: String = text.chars().take(room + 1).collect();
    match cut.trim_end().rfind(' ') {
        Some(space) => cut.truncate(space),
        None => cut.truncate(room),
    }
    format!("{} {more}", cut.trim_end())
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
        Connection::Connected => (Symbol::Connected, "connected"),
        Connection::Connecting => (Symbol::Disconnected, "connecting"),
        Connection::Lost => (Symbol::Disconnected, "reconnecting"),
    };
    let connection = format!("{} {}", theme.symbol(connection.0), connection.1);
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
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| String::new(),
        |t| {
            t.to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%H:%M:%S")
                .to_string()
        },
    )
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

#[cfg(test)]
mod snapshots;
