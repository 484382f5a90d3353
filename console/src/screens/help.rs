//! Help (F1): the keys of the current screen, then what an agent needs to know to do the job.

use super::{scrolled, wrap};
use crate::app::{App, Screen, View};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Clear;

/// The keys of the supervisor's views, when one is showing.
fn view_keys(app: &App) -> Option<&'static [(&'static str, &'static str)]> {
    app.session.as_ref()?;
    if app.detail.is_some() {
        return Some(&[
            ("Esc", "back"),
            ("↑ ↓ / PgUp PgDn", "scroll"),
            ("s", "save its receipt again, beside the console"),
            ("v", "void an approved payment (supervisors; asks first)"),
            (
                "r",
                "refund part or all of an approved payment: amount, reason, note, then a \
                 summary to confirm; or resolve an in-doubt payment now (supervisors)",
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
            (
                "u",
                "unlock a lockout's user, or any user typed (asks first)",
            ),
        ],
        View::Payments => &[
            (
                "/",
                "search: a code or payment id as read, or status: app: last4: name:",
            ),
            ("s", "change the order"),
            ("PgDn / PgUp", "next / previous page"),
            ("Enter", "the selected payment in full"),
        ],
        View::Queue => &[
            ("↑ ↓", "select a payment still processing or in doubt"),
            ("Enter", "the selected payment in full"),
            (
                "r",
                "resolve the selected in-doubt payment now (asks first)",
            ),
            ("u", "unlock a user by id (asks first)"),
            ("", "figures refresh every 2 seconds"),
        ],
        View::Reports => &[
            ("Tab ↑↓", "move between the filter's fields"),
            ("Enter", "export the payments it takes to a CSV file here"),
            ("Ctrl-R", "reconcile the From day (or today)"),
        ],
    })
}

/// What an agent needs to know beyond the keys: formats, outcomes, finding a payment, receipts.
const THE_JOB: &str = include_str!("../../../assets/console-help.txt");

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
                ("Esc", "clear the form (asks first)"),
                ("F10", "sign out (asks first when the form is filled)"),
            ],
            Screen::Summary => &[("Enter", "send the payment"), ("Esc", "back to the form")],
            Screen::Processing => &[(
                "",
                "wait: the payment is on its way; it is never sent twice",
            )],
            Screen::Outcome => &[
                ("n", "new payment"),
                ("s", "save a receipt file here and show its path"),
                ("Enter", "after a decline: correct and retry"),
                ("F10", "sign out"),
            ],
        }
    };
    let width = usize::from(area.width.saturating_sub(2));
    let mut lines = vec![Line::styled(" Keys", theme.title())];
    let signed_in = app.session.is_some();
    let general = [
        ("F1 or ?", "this help (? where no text field has focus)"),
        ("Ctrl-C", "quit"),
    ];
    for (key, what) in keys
        .iter()
        .chain(views.iter().filter(|_| signed_in))
        .chain(general.iter())
    {
        let text = theme.text(&format!("  {key:<18}{what}"));
        lines.extend(wrap_hanging(&text, 20, width).into_iter().map(Line::from));
    }
    for paragraph in THE_JOB.lines().filter(|l| !l.is_empty()) {
        if paragraph.starts_with(' ') {
            let text = theme.text(&format!(" {paragraph}"));
            lines.extend(wrap(&text, width).into_iter().map(Line::from));
        } else {
            lines.push(Line::from(""));
            lines.push(Line::styled(format!(" {paragraph}"), theme.title()));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        theme.text("  Esc or F1: close   ↑↓ PgUp PgDn Home End: scroll"),
        theme.dim(),
    ));
    let block = theme.panel("Help");
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    scrolled(frame, inner, lines, app, theme);
}

/// A key's row, its description wrapping under the description's column.
fn wrap_hanging(text: &str, column: usize, width: usize) -> Vec<String> {
    let key: String = text.chars().take(column).collect();
    let what: String = text.chars().skip(column).collect();
    let mut rows = wrap(&format!("{}{what}", " ".repeat(column)), width);
    if let Some(first) = rows.first_mut() {
        first.replace_range(..column.min(first.len()), &key);
    }
    rows
}
