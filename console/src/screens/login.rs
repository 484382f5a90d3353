//! Sign in: application id, user id and password (shown as dots), the daemon's refusal in place,
//! and the demo's credentials when the console runs its own demo daemon.

use super::centered;
use crate::app::App;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

const LABEL: usize = 16;
const FIELD: usize = 30;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let login = &app.login;
    let box_area = centered(
        area,
        56,
        10 + if app.demo.is_empty() {
            0
        } else {
            3 + app.demo.len() as u16
        },
    );
    let fields = [
        (
            "Application id",
            login.application.value().to_owned(),
            login.application.visual_cursor(),
        ),
        (
            "User id",
            login.user.value().to_owned(),
            login.user.visual_cursor(),
        ),
        (
            "Password",
            "•".repeat(login.password.value().chars().count()),
            login.password.visual_cursor(),
        ),
    ];
    let mut lines = vec![Line::from("")];
    for (i, (label, value, _)) in fields.iter().enumerate() {
        let style = if i == login.focus {
            theme.focus()
        } else {
            ratatui::style::Style::new()
        };
        let marker = if i == login.focus { '›' } else { ' ' };
        lines.push(Line::from(vec![
            Span::raw(format!("{marker}{label:<0$}", LABEL - 1)),
            Span::styled(format!("{value:<FIELD$}"), style),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(match (&login.error, login.busy) {
        (_, true) => Line::styled("Signing in…", theme.dim()),
        (Some(error), _) => Line::styled(error.clone(), theme.error()),
        (None, _) => Line::styled("Enter: sign in   Tab: next field", theme.dim()),
    });
    if !app.demo.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "Demo sign-ins (this private demo only):",
            theme.title(),
        ));
        lines.push(Line::from(
            "Applications: DMV-RENEWAL PARK-RESERVE TAX-PAYMENT",
        ));
        for demo in &app.demo {
            lines.push(Line::from(format!(
                "  {:<8} {:<11} {}",
                demo.user, demo.role, demo.password
            )));
        }
        if let Some(url) = &app.demo_http {
            lines.push(Line::from(format!("Agency API, payment pages: {url}")));
            lines.push(Line::from(format!("Staff web view: {url}/staff/")));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(
                theme
                    .panel("Sign in to CIP")
                    .padding(ratatui::widgets::Padding::horizontal(1)),
            ),
        box_area,
    );
    if !app.help && !login.busy {
        let cursor = fields[login.focus].2.min(FIELD - 1) as u16;
        frame.set_cursor_position(Position::new(
            box_area.x + 2 + LABEL as u16 + cursor,
            box_area.y + 2 + login.focus as u16,
        ));
    }
}
