//! The help overlay: the keys of the current screen.

use super::{centered, panel};
use crate::app::{App, Screen, View};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

/// The keys of the supervisor's views, when one is showing.
fn view_keys(app: &App) -> Option<&'static [(&'static str, &'static str)]> {
    app.session.as_ref()?;
    if app.detail.is_some() {
        return Some(&[
            ("Esc", "back"),
            ("v", "void an approved payment (supervisors; asks first)"),
            (
                "r",
                "resolve an in-doubt payment now (supervisors; asks first)",
            ),
        ]);
    }
    Some(match app.view {
        View::NewPayment => return None,
        View::Feed => &[
            (
                "↑ ↓ / PgUp PgDn",
                "select; PgUp at the top loads older events",
            ),
            ("End", "follow the newest again"),
            ("f", "pause the display (events keep coming) / resume"),
            ("/", "filter: app:A,B status:declined kind:lockout words"),
            ("Enter", "the selected payment in full"),
            ("u", "unlock a lockout's user (supervisors; asks first)"),
        ],
        View::Payments => &[
            ("/", "search: status: app: code: last4: name:"),
            ("s", "change the order"),
            ("PgDn / PgUp", "next / previous page"),
            ("Enter", "the selected payment in full"),
        ],
        View::Queue => &[("", "figures refresh every 2 seconds")],
        View::Reports => &[
            ("Tab ↑↓", "move between the filter's fields"),
            ("Enter", "export the payments it takes to a CSV file here"),
            ("Ctrl-R", "reconcile the From day (or today)"),
        ],
    })
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let views: &[(&str, &str)] = &[(
        "F2 … F6",
        "the views (Alt+2 … Alt+6 where F-keys do not reach)",
    )];
    let keys: &[(&str, &str)] = if let Some(keys) = view_keys(app) {
        keys
    } else {
        match app.screen {
            Screen::Login => &[
                ("Tab / Shift-Tab", "next / previous field"),
                ("Enter", "sign in"),
            ],
            Screen::Form => &[
                ("Tab / ↓", "next field"),
                ("Shift-Tab / ↑", "previous field"),
                ("Enter", "next field; on the last, check and go on"),
                ("←/→, Space", "change a choice (card or bank, account type)"),
                ("Ctrl-U", "clear the field"),
                ("F10", "sign out"),
            ],
            Screen::Summary => &[("Enter", "send the payment"), ("Esc", "back to the form")],
            Screen::Processing => &[(
                "",
                "wait: the payment is on its way; it is never sent twice",
            )],
            Screen::Outcome => &[
                ("n", "new payment"),
                ("s", "save a receipt as a text file"),
                ("Enter", "after a decline: correct and retry"),
                ("F10", "sign out"),
            ],
        }
    };
    let mut lines = vec![Line::from("")];
    let signed_in = app.session.is_some();
    for (key, what) in keys.iter().chain(views.iter().filter(|_| signed_in)) {
        lines.push(Line::from(format!("  {key:<18}{what}")));
    }
    lines.push(Line::from(format!(
        "  {:<18}{}",
        "F1 or ?", "this help (? where no text field has focus)"
    )));
    lines.push(Line::from(format!("  {:<18}{}", "Ctrl-C", "quit")));
    lines.push(Line::from(""));
    lines.push(Line::styled("  Esc or F1: close", theme.dim()));
    let height = lines.len() as u16 + 2;
    let popup = centered(area, 76, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(panel("Help")), popup);
}
