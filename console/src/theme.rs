//! Styles, with and without colour: under `NO_COLOR`, focus and errors stay visible through
//! reverse video, bold and underline.

use cip_common::status::PaymentStatus;
use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to anything non-empty (https://no-color.org).
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn pick(self, colored: Style, plain: Style) -> Style {
        if self.color { colored } else { plain }
    }

    pub fn focus(self) -> Style {
        self.pick(
            Style::new().fg(Color::Black).bg(Color::Cyan),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }

    pub fn error(self) -> Style {
        self.pick(
            Style::new().fg(Color::LightRed),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    pub fn ok(self) -> Style {
        self.pick(
            Style::new()
                .fg(Color::LightGreen)
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    pub fn warn(self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )
    }

    /// A payment's row by its status: approved green, declined and failed red, in doubt yellow,
    /// voided magenta. Without colour the row's status word tells it alone.
    pub fn status(self, status: PaymentStatus) -> Style {
        let color = match status {
            PaymentStatus::Approved => Color::LightGreen,
            PaymentStatus::Declined | PaymentStatus::Failed => Color::LightRed,
            PaymentStatus::InDoubt => Color::Yellow,
            PaymentStatus::Voided => Color::Magenta,
            PaymentStatus::Processing => return Style::new(),
        };
        self.pick(Style::new().fg(color), Style::new())
    }

    pub fn dim(self) -> Style {
        self.pick(Style::new().fg(Color::DarkGray), Style::new())
    }

    pub fn title(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn bar(self) -> Style {
        self.pick(
            Style::new().fg(Color::White).bg(Color::Blue),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_colour_focus_and_errors_stay_visible() {
        let plain = Theme { color: false };
        for style in [plain.focus(), plain.error(), plain.warn(), plain.bar()] {
            assert_eq!(style.fg, None);
            assert_eq!(style.bg, None);
            assert!(!style.add_modifier.is_empty(), "{style:?}");
        }
        assert!(plain.focus().add_modifier.contains(Modifier::REVERSED));
        assert!(Theme { color: true }.focus().bg.is_some());
    }

    #[test]
    fn payments_are_coloured_by_status_and_plain_without_colour() {
        let colour = Theme { color: true };
        let fg = |status| colour.status(status).fg;
        assert_eq!(fg(PaymentStatus::Approved), Some(Color::LightGreen));
        assert_eq!(fg(PaymentStatus::Declined), fg(PaymentStatus::Failed));
        assert_ne!(fg(PaymentStatus::Declined), fg(PaymentStatus::Approved));
        assert_eq!(fg(PaymentStatus::InDoubt), Some(Color::Yellow));
        assert_eq!(fg(PaymentStatus::Voided), Some(Color::Magenta));
        let plain = Theme { color: false };
        assert!(
            PaymentStatus::ALL
                .iter()
                .all(|s| plain.status(*s) == Style::new())
        );
    }
}
