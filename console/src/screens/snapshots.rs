//! Every screen at 80×24 and 120×40, as text. Snapshot files are reviewed like code.

use crate::app::App;
use crate::screens::render;
use crate::testing::{fill_values, key, new_app, on_form, on_outcome, on_summary};
use crate::theme::Theme;
use cip_common::status::PaymentStatus;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;

fn draw(app: &App, width: u16, height: u16) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|frame| render(frame, app, Theme { color: false }))
        .expect("drawn");
    terminal.backend().clone()
}

fn both_sizes(name: &str, app: &App) {
    insta::assert_snapshot!(format!("{name}_80x24"), draw(app, 80, 24));
    insta::assert_snapshot!(format!("{name}_120x40"), draw(app, 120, 40));
}

#[test]
fn login() {
    both_sizes("login", &new_app(true));
}

#[test]
fn login_refused() {
    let mut app = new_app(false);
    app.update(crate::app::Msg::LoggedIn(Err(
        cip_common::ApiError::Locked {
            until_ms: 0,
            until: "2026-11-29 14:35 UTC".into(),
        },
    )));
    both_sizes("login_locked", &app);
}

#[test]
fn empty_form() {
    both_sizes("form_empty", &on_form());
}

#[test]
fn form_with_field_errors() {
    let mut app = on_form();
    fill_values(
        &mut app,
        [
            "Ada Lovelace",
            "ada.example.com",
            "94107",
            "ABC-123",
            "12345",
            "2500.00",
            "4242424242424241",
            "1224",
            "12",
            "ADA LOVELACE",
            "94107",
        ],
    );
    app.update(key(KeyCode::Enter));
    both_sizes("form_errors", &app);
}

#[test]
fn summary() {
    both_sizes("summary", &on_summary());
}

#[test]
fn approved() {
    both_sizes("approved", &on_outcome(PaymentStatus::Approved));
}

#[test]
fn declined() {
    both_sizes("declined", &on_outcome(PaymentStatus::Declined));
}

#[test]
fn in_doubt() {
    both_sizes("in_doubt", &on_outcome(PaymentStatus::InDoubt));
}

#[test]
fn help() {
    let mut app = on_summary();
    app.update(key(KeyCode::F(1)));
    both_sizes("help", &app);
}

#[test]
fn too_small() {
    insta::assert_snapshot!("too_small_79x24", draw(&on_form(), 79, 24));
    insta::assert_snapshot!("too_small_100x20", draw(&on_form(), 100, 20));
}

#[test]
fn processing_a_slow_approval_shows_time_and_progress() {
    let mut app = on_summary();
    app.update(key(KeyCode::Enter));
    let started = app.pending.as_ref().expect("sent").started;
    app.update(crate::app::Msg::Tick {
        now: started + std::time::Duration::from_millis(3_200),
    });
    both_sizes("processing_slow", &app);
}
