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
