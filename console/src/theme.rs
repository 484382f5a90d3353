//! Styles and symbols. Without colour (`NO_COLOR`), focus and errors stay visible through
//! reverse video, bold and underline; on a terminal whose font has only ASCII (the Linux console,
//! a VT100, or `cip --ascii`), every symbol, border and bar is drawn in ASCII.

use cip_common::status::PaymentStatus;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::widgets::Block;

#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
}

/// The symbols the screens draw, each with its ASCII stand-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    Connected,
    Disconnected,
    Selected,
    Cross,
    BarFull,
    BarEmpty,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to anything non-empty (https://no-color.org); ASCII when
    /// asked, or when `TERM` names a terminal whose font has no box drawing or symbols.
    pub fn from_env(ascii: bool) -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            ascii: ascii || ascii_only(&std::env::var("TERM").unwrap_or_default()),
        }
    }

    pub fn symbol(self, symbol: Symbol) -> &'static str {
        let (fancy, plain) = match symbol {
            Symbol::Connected => ("●", "*"),
            Symbol::Disconnected => ("○", "o"),
            Symbol::Selected => ("›", ">"),
            Symbol::Cross => ("✗", "x"),
            Symbol::BarFull => ("▮", "#"),
            Symbol::BarEmpty => ("▯", "."),
        };
        if self.ascii { plain } else { fancy }
    }

    /// `text` as this terminal can show it: in ASCII mode `…` becomes `...`, `↑↓` `Up/Down`, and every other
    /// symbol its one-character stand-in. For texts written elsewhere (help, notices, masked
    /// card numbers, the daemon's messages).
    pub fn text(self, text: &str) -> String {
        if !self.ascii {
            return text.to_owned();
        }
        text.replace('…', "...")
            .replace("↑↓", "Up/Down")
            .chars()
            .map(ascii_char)
            .collect()
    }

    /// In ASCII mode, the last word on what reaches the screen: any cell a widget drew outside
    /// ASCII (a sparkline's blocks, an arrow in a title) gets its stand-in.
    pub fn to_ascii(self, buffer: &mut ratatui::buffer::Buffer) {
        if !self.ascii {
            return;
        }
        for cell in buffer.content.iter_mut() {
            let symbol = cell.symbol();
            if !symbol.is_ascii() {
                let plain = symbol.chars().next().map_or(' ', ascii_char);
                cell.set_char(plain);
            }
        }
    }

    /// A bordered box with a title: box drawing, or `+-|` in ASCII mode.
    pub fn panel(self, title: &str) -> Block<'static> {
        let block = Block::bordered().title(format!(" {} ", self.text(title)));
        if self.ascii {
            block.border_set(border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            })
        } else {
            block
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

/// Terminals whose font has no box drawing or symbols: the Linux console, a VT100.
fn ascii_only(term: &str) -> bool {
    term == "linux" || term.starts_with("vt100")
}

/// One character's ASCII stand-in.
fn ascii_char(c: char) -> char {
    match c {
        c if c.is_ascii() => c,
        '●' | '•' | '█' | '▇' | '▆' | '▅' => '*',
        '○' => 'o',
        '›' | '▶' | '→' => '>',
        '◀' | '←' => '<',
        '×' | '✗' => 'x',
        '↑' => '^',
        '↓' => 'v',
        '·' | '─' | '–' | '—' => '-',
        '│' => '|',
        '▮' => '#',
        '▄' | '▃' | '▂' | '▁' => '.',
        '…' => '.',
        // A letter the font may lack (a payer's é): marked, not dropped silently.
        _ => '?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_colour_focus_and_errors_stay_visible() {
        let plain = Theme {
            color: false,
            ascii: false,
        };
        for style in [plain.focus(), plain.error(), plain.warn(), plain.bar()] {
            assert_eq!(style.fg, None);
            assert_eq!(style.bg, None);
            assert!(!style.add_modifier.is_empty(), "{style:?}");
        }
        assert!(plain.focus().add_modifier.contains(Modifier::REVERSED));
        let colour = Theme {
            color: true,
            ascii: false,
        };
        assert!(colour.focus().bg.is_some());
    }

    #[test]
    fn the_linux_console_and_a_vt100_get_ascii() {
        for term in ["linux", "vt100", "vt100-am"] {
            assert!(ascii_only(term), "{term}");
        }
        for term in ["xterm-256color", "screen", "tmux-256color", ""] {
            assert!(!ascii_only(term), "{term}");
        }
        let ascii = Theme {
            color: false,
            ascii: true,
        };
        assert_eq!(
            ascii.text("◀ Card ▶ 424242••••••4242 …"),
            "< Card > 424242******4242 ..."
        );
        assert_eq!(ascii.symbol(Symbol::Connected), "*");
    }

    #[test]
    fn payments_are_coloured_by_status_and_plain_without_colour() {
        let colour = Theme {
            color: true,
            ascii: false,
        };
        let fg = |status| colour.status(status).fg;
        assert_eq!(fg(PaymentStatus::Approved), Some(Color::LightGreen));
        assert_eq!(fg(PaymentStatus::Declined), fg(PaymentStatus::Failed));
        assert_ne!(fg(PaymentStatus::Declined), fg(PaymentStatus::Approved));
        assert_eq!(fg(PaymentStatus::InDoubt), Some(Color::Yellow));
        assert_eq!(fg(PaymentStatus::Voided), Some(Color::Magenta));
        let plain = Theme {
            color: false,
            ascii: false,
        };
        assert!(
            PaymentStatus::ALL
                .iter()
                .all(|s| plain.status(*s) == Style::new())
        );
    }
}
