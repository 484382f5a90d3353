//! Builders for tests of `app::update` and the screens: an app in each state a user meets,
//! reached by the same messages the terminal and the daemon send.

use crate::app::{Answer, App, Command, DemoLogin, Msg};
use cip_common::card::Brand;
use cip_common::form::ApplicationSpec;
use cip_common::money::{Currency, Money};
use cip_common::payment::{MethodSummary, Mode, Payer, Payment};
use cip_common::secret::SessionToken;
use cip_common::session::{Role, SessionInfo};
use cip_common::status::PaymentStatus;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::Instant;
use time::macros::date;

/// 2027-01-15 08:00 UTC.
pub const DECIDED_MS: i64 = 1_800_000_000_000;

pub fn spec(id: &str) -> ApplicationSpec {
    cip_daemon::admin::demo_applications()
        .expect("demo applications parse")
        .into_iter()
        .find(|s| s.id == id)
        .expect("a demo application")
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn typed(app: &mut App, text: &str) -> Vec<Command> {
    text.chars()
        .flat_map(|c| app.update(key(KeyCode::Char(c))))
        .collect()
}

pub fn new_app(demo: bool) -> App {
    let logins = if demo {
        vec![
            DemoLogin {
                user: "agent1".into(),
                role: "agent".into(),
                password: "agent1-demo-pass".into(),
            },
            DemoLogin {
                user: "super1".into(),
                role: "supervisor".into(),
                password: "super1-demo-pass".into(),
            },
        ]
    } else {
        Vec::new()
    };
    let mut app = App::new(
        "/run/cip/cipd.sock".into(),
        logins,
        "cip-TEST".into(),
        10_000,
        Instant::now(),
        date!(2026 - 11 - 29),
    );
    app.update(Msg::Connection(crate::app::Connection::Connected));
    app
}

pub fn session(application: &str) -> SessionInfo {
    SessionInfo {
        token: SessionToken::new("t".repeat(64)),
        user: "agent1".into(),
        role: Role::Agent,
        application: application.into(),
        idle_timeout_ms: 900_000,
    }
}

/// Signed in to DMV-RENEWAL with its form loaded.
pub fn on_form() -> App {
    let mut app = new_app(false);
    app.update(Msg::LoggedIn(Ok(session("DMV-RENEWAL"))));
    app.update(Msg::FormLoaded(Ok(spec("DMV-RENEWAL"))));
    app
}

/// Fills the DMV-RENEWAL form with `card`, leaving focus on the last field.
pub fn fill(app: &mut App, card: &str) {
    fill_values(
        app,
        [
            "Ada Lovelace",
            "ada@example.com",
            "94107",
            "ABC123",
            "1234567890",
            "25.00",
            card,
            "1228",
            "123",
            "ADA LOVELACE",
            "94107",
        ],
    );
}

/// Types each value into the DMV-RENEWAL form's fields in order.
pub fn fill_values(app: &mut App, values: [&str; 11]) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            app.update(key(KeyCode::Tab));
        }
        typed(app, value);
    }
}

/// On the summary of a good Visa payment.
pub fn on_summary() -> App {
    let mut app = on_form();
    fill(&mut app, "4242424242424242");
    app.update(key(KeyCode::Enter));
    app
}

pub fn payment(status: PaymentStatus) -> Payment {
    let (code, message, confirmation) = match status {
        PaymentStatus::Approved => (None, None, Some("7MRE-S8EE-G".to_owned())),
        PaymentStatus::Declined => (
            Some("insufficient_funds".to_owned()),
            Some(cip_common::payment::outcome_message("insufficient_funds").to_owned()),
            None,
        ),
        _ => (
            Some("processor_timeout".to_owned()),
            Some(cip_common::payment::outcome_message("processor_timeout").to_owned()),
            None,
        ),
    };
    Payment {
        id: "pay_3RQ5Q3FG3VDNV".into(),
        application: "DMV-RENEWAL".into(),
        mode: Mode::Full,
        status,
        amount: Money::new(2_500, Currency::Usd),
        payer: Payer {
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            postal_code: "94107".into(),
        },
        fields: [("plate_number".to_owned(), "ABC123".to_owned())].into(),
        method: MethodSummary::Card {
            brand: Brand::Visa,
            first_six: "424242".into(),
            last_four: "4242".into(),
            exp_month: 12,
            exp_year: 2028,
        },
        confirmation_code: confirmation,
        code,
        message,
        idempotency_key: "cip-TEST-1".into(),
        user: "agent1".into(),
        created_ms: DECIDED_MS - 900,
        decided_ms: Some(DECIDED_MS),
    }
}

/// Sent from the summary and answered with a payment of `status`.
pub fn on_outcome(status: PaymentStatus) -> App {
    let mut app = on_summary();
    app.update(key(KeyCode::Enter));
    let key = app.pending.as_ref().expect("sent").key.clone();
    app.update(Msg::Submitted {
        key,
        answer: Answer::Payment(Box::new(payment(status))),
    });
    app
}
