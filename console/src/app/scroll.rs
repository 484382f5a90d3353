//! How far the help or a payment's detail is scrolled. The screen says how many lines it could
//! not show (`room`) each time it draws, so End, PgDn and ↓ stop at the last line.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use std::cell::Cell;

/// Lines a PgUp or PgDn moves: most of a screen at 80×24, keeping a line of context.
const PAGE: u16 = 10;

#[derive(Debug, Default)]
pub struct Scroll {
    offset: u16,
    /// Lines below the last shown at offset 0, set by the last draw.
    room: Cell<u16>,
}

impl Scroll {
    /// The first line to show, for a text `overflow` lines taller than its area.
    pub fn offset(&self, overflow: u16) -> u16 {
        self.room.set(overflow);
        self.offset.min(overflow)
    }

    pub fn reset(&mut self) {
        self.offset = 0;
    }

    /// Moves for ↑ ↓ PgUp PgDn Home End; false for any other key.
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        let room = self.room.get();
        let now = self.offset.min(room);
        self.offset = match key.code {
            KeyCode::Up => now.saturating_sub(1),
            KeyCode::Down => now.saturating_add(1).min(room),
            KeyCode::PageUp => now.saturating_sub(PAGE),
            KeyCode::PageDown => now.saturating_add(PAGE).min(room),
            KeyCode::Home => 0,
            // Before the first draw `room` is unknown: the draw clamps.
            KeyCode::End => u16::MAX,
            _ => return false,
        };
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{key, on_form};
    use ratatui::crossterm::event::KeyCode;

    #[test]
    fn keys_scroll_the_help_not_the_form_and_closing_starts_it_at_the_top() {
        let mut app = on_form();
        let focus = app.form.as_ref().expect("a form").focus;
        app.update(key(KeyCode::F(1)));
        app.scroll.offset(40);
        for code in [KeyCode::Down, KeyCode::Down, KeyCode::PageDown] {
            app.update(key(code));
        }
        assert_eq!(app.scroll.offset(40), 12);
        app.update(key(KeyCode::End));
        assert_eq!(app.scroll.offset(40), 40);
        app.update(key(KeyCode::Up));
        assert_eq!(app.scroll.offset(40), 39, "Up after End moves at once");
        app.update(key(KeyCode::Home));
        assert_eq!(app.scroll.offset(40), 0);
        app.update(key(KeyCode::PageDown));
        app.update(key(KeyCode::Esc));
        assert!(!app.help);
        assert_eq!(app.form.as_ref().expect("a form").focus, focus);
        app.update(key(KeyCode::F(1)));
        assert_eq!(app.scroll.offset(40), 0);
    }
}
