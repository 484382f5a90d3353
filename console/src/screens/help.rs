//! The help overlay: the keys of the current screen.

use super::{centered, panel};
use crate::app::{App, Screen};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let keys: &[(&str, &str)] = match app.screen {
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
    };
    let mut lines = vec![Line::from("")];
    for (key, what) in keys {
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
    let popup = centered(area, 70, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(panel("Help")), popup);
}
