//! Every screen at 80×24 and 120×40, as text. Snapshot files are reviewed like code.

use crate::app::App;
use crate::app::Msg;
use crate::screens::render;
use crate::testing::{
    detail, fill_values, key, new_app, on_feed, on_form, on_outcome, on_summary, payment,
    payment_event, stats, typed,
};
use crate::theme::Theme;
use cip_common::event::EventKind;
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

#[test]
fn feed_following() {
    both_sizes("feed_following", &on_feed());
}

#[test]
fn feed_paused_with_new_events() {
    let mut app = on_feed();
    app.update(key(KeyCode::Char('f')));
    app.update(Msg::Events(vec![
        payment_event(
            28,
            EventKind::PaymentReceived,
            "DMV-RENEWAL",
            "Ada Lovelace",
        ),
        payment_event(
            29,
            EventKind::PaymentApproved,
            "DMV-RENEWAL",
            "Ada Lovelace",
        ),
        payment_event(
            30,
            EventKind::PaymentReceived,
            "DMV-RENEWAL",
            "Grace Hopper",
        ),
    ]));
    both_sizes("feed_paused", &app);
}

#[test]
fn feed_filtered() {
    let mut app = on_feed();
    app.update(key(KeyCode::Char('/')));
    typed(
        &mut app,
        "app:DMV-RENEWAL status:approved,declined ada grace",
    );
    both_sizes("feed_filter_typed", &app);
    app.update(key(KeyCode::Enter));
    app.update(key(KeyCode::Up));
    both_sizes("feed_filtered", &app);
}

#[test]
fn detail_pane() {
    let mut app = on_feed();
    let payment = payment(PaymentStatus::Approved);
    let timeline = vec![
        payment_event(4, EventKind::PaymentReceived, "DMV-RENEWAL", "Ada Lovelace"),
        payment_event(5, EventKind::PaymentApproved, "DMV-RENEWAL", "Ada Lovelace"),
    ];
    app.update(detail(payment, timeline));
    both_sizes("detail", &app);
}

#[test]
fn queue_with_stats() {
    let mut app = on_feed();
    app.update(key(KeyCode::F(5)));
    app.update(Msg::Stats(Ok(stats())));
    both_sizes("queue", &app);
}

#[test]
fn reports_with_a_reconciliation() {
    use cip_common::form::MethodKind;
    use cip_common::money::{Currency, Money};
    use cip_common::report::{Reconciliation, ReconciliationLine};
    let mut app = on_feed();
    app.update(key(KeyCode::F(6)));
    app.update(key(KeyCode::Tab));
    typed(&mut app, "2026-11-29");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "2026-11-3");
    app.update(key(KeyCode::Enter));
    both_sizes("reports_field_error", &app);
    typed(&mut app, "0");
    app.update(key(KeyCode::Enter));
    app.update(Msg::Exported(Ok((
        "/home/agency/payments-DMV-RENEWAL-2026-11-29-2026-11-30.csv".into(),
        1_204,
    ))));
    let line = |status, method, count, minor| ReconciliationLine {
        status,
        method,
        count,
        total: Money::new(minor, Currency::Usd),
    };
    app.update(Msg::Reconciled(Ok(Reconciliation {
        application: "DMV-RENEWAL".into(),
        day: "2026-11-29".parse().expect("a day"),
        time_zone: "America/Chicago".into(),
        lines: vec![
            line(PaymentStatus::Approved, MethodKind::Card, 1_100, 5_512_300),
            line(PaymentStatus::Declined, MethodKind::Card, 98, 401_000),
            line(PaymentStatus::InDoubt, MethodKind::Card, 1, 2_500),
            line(PaymentStatus::Voided, MethodKind::Card, 5, 12_500),
        ],
        reported: 1_150,
        unreported: 54,
        unsettled: vec![payment(PaymentStatus::InDoubt)],
    })));
    both_sizes("reports", &app);
}

#[test]
fn an_agents_restricted_view() {
    let mut app = on_form();
    app.update(key(KeyCode::F(3)));
    app.update(Msg::Events(vec![
        payment_event(2, EventKind::PaymentReceived, "DMV-RENEWAL", "Ada Lovelace"),
        payment_event(3, EventKind::PaymentApproved, "DMV-RENEWAL", "Ada Lovelace"),
    ]));
    app.update(key(KeyCode::F(5)));
    both_sizes("agent_feed_queue_refused", &app);
}

#[test]
fn a_refused_action() {
    let mut app = on_feed();
    app.update(detail(payment(PaymentStatus::Approved), Vec::new()));
    app.update(key(KeyCode::Char('v')));
    both_sizes("void_confirm", &app);
    app.update(key(KeyCode::Char('y')));
    app.update(Msg::ActionDone(Err(cip_common::ApiError::InvalidRequest {
        message: "pay_01KB2R3M4N5Q8W7XY was approved on an earlier business day (2027-01-14 08:00 UTC); it can no longer be voided: refund it instead".into(),
    })));
    both_sizes("void_refused", &app);
}

#[test]
fn help_on_the_feed() {
    let mut app = on_feed();
    app.update(key(KeyCode::Char('?')));
    both_sizes("help_feed", &app);
}
