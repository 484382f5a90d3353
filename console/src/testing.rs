//! Builders for tests of `app::update` and the screens: an app in each state a user meets,
//! reached by the same messages the terminal and the daemon send.

use crate::app::{Answer, App, Command, DemoLogin, MIN_HEIGHT, MIN_WIDTH, Msg};
use cip_common::card::Brand;
use cip_common::event::{Event, EventDetail, EventKind};
use cip_common::form::ApplicationSpec;
use cip_common::money::{Currency, Money};
use cip_common::payment::{MethodSummary, Mode, Payer, Payment};
use cip_common::secret::SessionToken;
use cip_common::session::{Role, SessionInfo};
use cip_common::stats::Stats;
use cip_common::status::PaymentStatus;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::Instant;

/// 2027-01-15 08:00 UTC.
pub const DECIDED_MS: i64 = 1_800_000_000_000;

pub fn spec(id: &str) -> ApplicationSpec {
    cip_common::form::demo_applications()
        .expect("demo applications parse")
        .into_iter()
        .find(|s| s.id == id)
        .expect("a demo application")
}

/// A key read now.
pub fn key(code: KeyCode) -> Msg {
    with_modifiers(code, KeyModifiers::NONE)
}

pub fn with_modifiers(code: KeyCode, modifiers: KeyModifiers) -> Msg {
    Msg::Key {
        key: KeyEvent::new(code, modifiers),
        at: Instant::now(),
    }
}

/// A frame of the smallest size CIP shows is drawn: the screen the app is on has been seen, so
/// keys read from now on act on it.
pub fn seen(app: &mut App) {
    app.drawn(Instant::now(), (MIN_WIDTH, MIN_HEIGHT));
}

pub fn ctrl(c: char) -> Msg {
    with_modifiers(KeyCode::Char(c), KeyModifiers::CONTROL)
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
        jiff::civil::date(2026, 11, 29),
    );
    app.update(Msg::Connection(crate::app::Connection::Connected));
    seen(&mut app);
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
    let mut values = DMV_VALUES;
    values[6] = card;
    fill_values(app, values);
}

/// A good DMV-RENEWAL payment, field by field; the card number (empty here) is the caller's.
pub const DMV_VALUES: [&str; 11] = [
    "Ada Lovelace",
    "ada@example.com",
    "94107",
    "ABC123",
    "1234567890",
    "25.00",
    "",
    "1228",
    "123",
    "ADA LOVELACE",
    "94107",
];

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
    fill(&mut app, &"4242".repeat(4));
    app.update(key(KeyCode::Enter));
    seen(&mut app);
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
        id: "pay_01KB2R3M4N5Q8W7XY".into(),
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
        batch: None,
        refunds: Default::default(),
    }
}

/// The detail of `payment` (of DMV-RENEWAL) as the daemon answers it.
pub fn detail(payment: Payment, timeline: Vec<Event>) -> Msg {
    Msg::Detail(Ok(Box::new(crate::app::Detail {
        payment,
        timeline,
        spec: spec("DMV-RENEWAL"),
    })))
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
    seen(&mut app);
    app
}

/// A payment event as the feed gets it; approvals carry a code, declines a reason.
pub fn payment_event(seq: u64, kind: EventKind, app: &str, name: &str) -> Event {
    let status = match kind {
        EventKind::PaymentApproved => PaymentStatus::Approved,
        EventKind::PaymentDeclined => PaymentStatus::Declined,
        EventKind::PaymentInDoubt => PaymentStatus::InDoubt,
        _ => PaymentStatus::Processing,
    };
    Event {
        seq,
        at_ms: DECIDED_MS + seq as i64 * 1000,
        kind,
        application: Some(app.into()),
        detail: EventDetail::Payment {
            payment_id: format!("pay_{seq:017}"),
            status,
            amount: Money::new(2_500 + seq as i64, Currency::Usd),
            confirmation_code: (status == PaymentStatus::Approved).then(|| "7MRE-S8EE-G".into()),
            code: (status == PaymentStatus::Declined).then(|| "insufficient_funds".into()),
            last_four: "4242".into(),
            payer_name: name.into(),
            keyed_by: "agent1".into(),
            mode: Mode::Full,
        },
    }
}

pub fn security_event(seq: u64, kind: EventKind, user: &str) -> Event {
    Event {
        seq,
        at_ms: DECIDED_MS + seq as i64 * 1000,
        kind,
        application: Some("DMV-RENEWAL".into()),
        detail: EventDetail::Security {
            user: user.into(),
            actor: None,
            origin: "unix uid=1000 pid=4242".into(),
        },
    }
}

/// A supervisor signed in to DMV-RENEWAL, on the feed, with a morning's events.
pub fn on_feed() -> App {
    let mut app = new_app(false);
    let mut supervisor = session("DMV-RENEWAL");
    supervisor.user = "super1".into();
    supervisor.role = Role::Supervisor;
    app.update(Msg::LoggedIn(Ok(supervisor)));
    let mut events = vec![security_event(1, EventKind::SignIn, "agent1")];
    let names = [
        "Ada Lovelace",
        "Grace Hopper",
        "Alan Turing",
        "Katherine Johnson",
    ];
    for n in 0..12u64 {
        let seq = 2 + n * 2;
        let app_id = if n % 3 == 2 {
            "PARK-RESERVE"
        } else {
            "DMV-RENEWAL"
        };
        let outcome = match n % 4 {
            1 => EventKind::PaymentDeclined,
            3 if n == 11 => EventKind::PaymentInDoubt,
            _ => EventKind::PaymentApproved,
        };
        events.push(payment_event(
            seq,
            EventKind::PaymentReceived,
            app_id,
            names[n as usize % 4],
        ));
        events.push(payment_event(
            seq + 1,
            outcome,
            app_id,
            names[n as usize % 4],
        ));
    }
    events.push(security_event(26, EventKind::SignInFailed, "agent2"));
    events.push(security_event(27, EventKind::Lockout, "agent2"));
    app.update(Msg::Events(events));
    app
}

/// Queue figures of a busy hour.
pub fn stats() -> Stats {
    use cip_common::stats::{QueueItem, WindowStats};
    let window = |minutes: u32, scale: u64| WindowStats {
        minutes,
        counts: vec![
            (PaymentStatus::Approved, 90 * scale),
            (PaymentStatus::Declined, 8 * scale),
            (PaymentStatus::Failed, scale),
            (PaymentStatus::InDoubt, 1),
        ],
        approval_per_mille: Some(909),
        approved_amounts: vec![Money::new(225_000 * scale as i64, Currency::Usd)],
        p50_ms: Some(4),
        p95_ms: Some(12),
        p99_ms: Some(3_000),
    };
    let item = |id: &str, status: PaymentStatus, age_ms: i64, code: Option<&str>| QueueItem {
        payment_id: id.into(),
        application: "DMV-RENEWAL".into(),
        status,
        amount: Money::new(2_500, Currency::Usd),
        age_ms,
        code: code.map(str::to_owned),
    };
    Stats {
        at_ms: DECIDED_MS,
        windows: vec![window(1, 1), window(15, 14), window(60, 55)],
        per_minute: (0..60u64).map(|m| 60 + (m * 37 % 50)).collect(),
        unsettled: vec![item(
            "pay_00000000000IN",
            PaymentStatus::InDoubt,
            95_000,
            Some("processor_timeout"),
        )],
        recent_failures: vec![
            item(
                "pay_000000000DECL",
                PaymentStatus::Declined,
                30_000,
                Some("insufficient_funds"),
            ),
            item(
                "pay_000000000FAIL",
                PaymentStatus::Failed,
                300_000,
                Some("processing_error"),
            ),
        ],
        refunds_today: cip_common::stats::RefundsToday {
            succeeded: 3,
            refunded: vec![Money::new(4_550, Currency::Usd)],
            failed: 1,
            pending: 1,
        },
    }
}
