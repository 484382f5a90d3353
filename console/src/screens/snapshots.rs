//! Every screen state the console has, drawn at 80×24 and 120×40 as text (snapshot files are
//! reviewed like code), and checked for words cut at the edge of their area.

use crate::app::{App, Msg};
use crate::screens::render;
use crate::testing::{
    ctrl, detail, fill_values, key, new_app, on_feed, on_form, on_outcome, on_summary, payment,
    payment_event, stats, typed,
};
use crate::theme::Theme;
use cip_common::event::EventKind;
use cip_common::status::PaymentStatus;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use std::collections::HashSet;

const USUAL: &[(u16, u16)] = &[(80, 24), (120, 40)];

struct State {
    name: &'static str,
    app: App,
    sizes: &'static [(u16, u16)],
}

/// The one list of states: the snapshots, the cut-word check and the ASCII check all walk it.
/// TAX-PAYMENT's form with the focus on its card-or-bank choice.
fn form_on_a_choice() -> App {
    let mut app = new_app(false);
    app.update(Msg::LoggedIn(Ok(crate::testing::session("TAX-PAYMENT"))));
    app.update(Msg::FormLoaded(Ok(crate::testing::spec("TAX-PAYMENT"))));
    for _ in 0..6 {
        app.update(key(KeyCode::Tab));
    }
    app
}

fn states() -> Vec<State> {
    let mut states = Vec::new();
    let mut add = |name, app| {
        states.push(State {
            name,
            app,
            sizes: USUAL,
        })
    };
    add("login", new_app(true));
    let mut app = new_app(false);
    app.update(Msg::LoggedIn(Err(cip_common::ApiError::Locked {
        until_ms: 0,
        until: "2026-11-29 14:35 UTC".into(),
    })));
    add("login_locked", app);
    add("form_empty", on_form());
    add("form_errors", form_with_errors());
    add("form_choice", form_on_a_choice());
    let mut app = on_form();
    typed(&mut app, "Ada Lovelace");
    for _ in 0..9 {
        app.update(key(KeyCode::Tab));
    }
    add("form_offered", app);
    let mut app = on_form();
    typed(&mut app, "Ada Lovelace");
    app.update(key(KeyCode::Esc));
    add("form_clear_confirm", app);
    add("summary", on_summary());
    let mut app = on_summary();
    app.update(key(KeyCode::Enter));
    add("processing", app);
    add("processing_slow", processing_slow());
    let mut app = on_summary();
    app.update(key(KeyCode::Enter));
    app.update(ctrl('c'));
    add("quit_while_sending", app);
    add("approved", on_outcome(PaymentStatus::Approved));
    add("declined", on_outcome(PaymentStatus::Declined));
    add("failed", on_outcome(PaymentStatus::Failed));
    add("in_doubt", on_outcome(PaymentStatus::InDoubt));
    for (name, mut app) in [
        ("help_login", new_app(false)),
        ("help_form", on_form()),
        ("help", on_summary()),
        ("help_outcome", on_outcome(PaymentStatus::Declined)),
    ] {
        app.update(key(KeyCode::F(1)));
        add(name, app);
    }
    for (name, view) in [
        ("help_feed", 3),
        ("help_payments", 4),
        ("help_queue", 5),
        ("help_reports", 6),
    ] {
        let mut app = on_feed();
        app.update(key(KeyCode::F(view)));
        app.update(key(KeyCode::F(1)));
        add(name, app);
    }
    let mut app = on_form();
    app.update(key(KeyCode::F(1)));
    for _ in 0..12 {
        app.update(key(KeyCode::Down));
    }
    add("help_scrolled", app);
    add("feed_following", on_feed());
    add("feed_paused", feed_paused());
    let filter_typed = || {
        let mut app = on_feed();
        app.update(key(KeyCode::Char('/')));
        typed(
            &mut app,
            "app:DMV-RENEWAL status:approved,declined ada grace",
        );
        app
    };
    add("feed_filter_typed", filter_typed());
    let mut app = filter_typed();
    app.update(key(KeyCode::Enter));
    app.update(key(KeyCode::Up));
    add("feed_filtered", app);
    let mut app = on_feed();
    app.update(key(KeyCode::Char('/')));
    typed(&mut app, "status:sideways");
    app.update(key(KeyCode::Enter));
    add("feed_filter_error", app);
    add("detail", on_detail(PaymentStatus::Approved));
    add("detail_failed", on_detail(PaymentStatus::Failed));
    let mut app = on_detail(PaymentStatus::Failed);
    app.update(key(KeyCode::End));
    add("detail_scrolled", app);
    add("payments", on_payments());
    let mut app = on_feed();
    app.update(key(KeyCode::F(5)));
    app.update(Msg::Stats(Ok(stats())));
    add("queue", app);
    let mut app = on_feed();
    app.update(key(KeyCode::F(5)));
    app.update(Msg::Stats(Ok(stats())));
    app.update(key(KeyCode::Char('u')));
    typed(&mut app, "agent2");
    add("queue_unlock_prompt", app);
    let (field_error, reconciled) = reports();
    add("reports_field_error", field_error);
    add("reports", reconciled);
    add("agent_feed_queue_refused", agent_feed_queue_refused());
    let (confirm, refused) = void();
    add("void_confirm", confirm);
    add("void_refused", refused);
    let (amount, confirm) = refund();
    add("refund_amount", amount);
    add("refund_confirm", confirm);
    states.push(State {
        name: "too_small",
        app: on_form(),
        sizes: &[(79, 24), (100, 20)],
    });
    states
}

fn form_with_errors() -> App {
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
    app
}

fn processing_slow() -> App {
    let mut app = on_summary();
    app.update(key(KeyCode::Enter));
    let started = app.pending.as_ref().expect("sent").started;
    app.update(Msg::Tick {
        now: started + std::time::Duration::from_millis(3_200),
    });
    app
}

fn feed_paused() -> App {
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
    app
}

/// A payment's detail with a timeline longer than 80×24 shows at once.
fn on_detail(status: PaymentStatus) -> App {
    let mut app = on_feed();
    let mut payment = payment(status);
    if status == PaymentStatus::Failed {
        payment.code = Some("generic_decline".into());
        payment.message = Some(
            "the processor refused the payment and nothing was charged: ask for another card"
                .into(),
        );
    }
    let mut timeline = vec![payment_event(
        4,
        EventKind::PaymentReceived,
        "DMV-RENEWAL",
        "Ada Lovelace",
    )];
    if status == PaymentStatus::Failed {
        timeline.extend((5..14).map(|seq| {
            payment_event(
                seq,
                EventKind::AgencyNotifyFailed,
                "DMV-RENEWAL",
                "Ada Lovelace",
            )
        }));
    }
    timeline.push(payment_event(
        14,
        EventKind::PaymentApproved,
        "DMV-RENEWAL",
        "Ada Lovelace",
    ));
    app.update(detail(payment, timeline));
    app
}

fn on_payments() -> App {
    let mut app = on_feed();
    app.update(key(KeyCode::F(4)));
    let payments = [
        PaymentStatus::Approved,
        PaymentStatus::Declined,
        PaymentStatus::InDoubt,
        PaymentStatus::Failed,
    ]
    .map(payment)
    .to_vec();
    app.update(Msg::Searched(Ok(cip_common::payment::SearchPage {
        payments,
        more: true,
    })));
    app
}

fn reports() -> (App, App) {
    use cip_common::form::MethodKind;
    use cip_common::money::{Currency, Money};
    use cip_common::refund::RefundStatus;
    use cip_common::report::{Reconciliation, ReconciliationLine, RefundReconciliationLine};
    let start = || {
        let mut app = on_feed();
        app.update(key(KeyCode::F(6)));
        app.update(key(KeyCode::Tab));
        typed(&mut app, "2026-11-29");
        app.update(key(KeyCode::Tab));
        typed(&mut app, "2026-11-3");
        app.update(key(KeyCode::Enter));
        app
    };
    let field_error = start();
    let mut app = start();
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
        refunds: vec![RefundReconciliationLine {
            status: RefundStatus::Succeeded,
            count: 3,
            total: Money::new(-7_500, Currency::Usd),
        }],
    })));
    (field_error, app)
}

fn agent_feed_queue_refused() -> App {
    let mut app = on_form();
    app.update(key(KeyCode::F(3)));
    app.update(Msg::Events(vec![
        payment_event(2, EventKind::PaymentReceived, "DMV-RENEWAL", "Ada Lovelace"),
        payment_event(3, EventKind::PaymentApproved, "DMV-RENEWAL", "Ada Lovelace"),
    ]));
    app.update(key(KeyCode::F(5)));
    app
}

fn void() -> (App, App) {
    let start = || {
        let mut app = on_feed();
        app.update(detail(payment(PaymentStatus::Approved), Vec::new()));
        app.update(key(KeyCode::Char('v')));
        app
    };
    let confirm = start();
    let mut app = start();
    app.update(key(KeyCode::Char('y')));
    app.update(Msg::ActionDone(Err(cip_common::ApiError::InvalidRequest {
        message: "pay_01KB2R3M4N5Q8W7XY was approved on an earlier business day (2027-01-14 08:00 UTC); it can no longer be voided: refund it instead".into(),
    })));
    (confirm, app)
}

/// A supervisor's refund of part of a payment already partly refunded: the amount asked with
/// what is left filled in, and the summary to confirm.
fn refund() -> (App, App) {
    let start = || {
        let mut paid = payment(PaymentStatus::Approved);
        paid.refunds.refunded_minor = 500;
        let mut app = on_feed();
        app.update(detail(paid, Vec::new()));
        app.update(key(KeyCode::Char('r')));
        app
    };
    let amount_asked = start();
    let mut app = start();
    for _ in "20.00".chars() {
        app.update(key(KeyCode::Backspace));
    }
    // The amount, the reason and the note.
    for line in ["12.50", "d", "paid twice at the desk"] {
        typed(&mut app, line);
        app.update(key(KeyCode::Enter));
    }
    (amount_asked, app)
}

fn draw(app: &App, width: u16, height: u16, theme: Theme) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|frame| render(frame, app, theme))
        .expect("drawn");
    terminal.backend().clone()
}

const PLAIN: Theme = Theme {
    color: false,
    ascii: false,
};

fn rows(backend: &TestBackend) -> Vec<String> {
    let buffer = backend.buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect()
        })
        .collect()
}

/// Words: maximal runs of characters that are neither space nor border, with a letter or digit
/// (runs of bar and sparkline glyphs grow with the width and are not words).
fn words(rows: &[String]) -> Vec<String> {
    rows.iter()
        .flat_map(|row| {
            row.split(|c: char| c.is_whitespace() || ('\u{2500}'..='\u{257f}').contains(&c))
                .filter(|w| w.chars().any(char::is_alphanumeric))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The words of the narrow render that are cut: not words of a very wide render of the same
/// state, but the start of one (`nothing w` of `was`, `generic_decl…` of `generic_decline`).
fn cut_words(app: &App, width: u16, height: u16) -> Vec<String> {
    cut(
        &rows(&draw(app, width, height, PLAIN)),
        &rows(&draw(app, 400, height, PLAIN)),
    )
}

fn cut(narrow: &[String], wide: &[String]) -> Vec<String> {
    let wide: HashSet<String> = words(wide).into_iter().collect();
    words(narrow)
        .into_iter()
        .filter(|word| {
            let stem = word.trim_end_matches(['…', '.']);
            !wide.contains(word)
                && wide
                    .iter()
                    .any(|whole| whole.len() > stem.len() && whole.starts_with(stem))
        })
        .collect()
}

#[test]
fn every_screen_at_both_sizes() {
    for state in states() {
        for &(width, height) in state.sizes {
            insta::assert_snapshot!(
                format!("{}_{width}x{height}", state.name),
                draw(&state.app, width, height, PLAIN)
            );
        }
    }
}

#[test]
fn no_screen_cuts_a_word() {
    let mut cut = Vec::new();
    for state in states() {
        for &(width, height) in state.sizes {
            let words = cut_words(&state.app, width, height);
            if !words.is_empty() {
                cut.push(format!("{} at {width}x{height}: {words:?}", state.name));
            }
        }
    }
    assert!(cut.is_empty(), "words cut:\n{}", cut.join("\n"));
}

/// Words lost whole at the edge (a message's last words past the border) are not cut, but gone:
/// drawn tall enough to show everything, the narrow render holds every word of the wide one,
/// unless a row marks what it leaves off with a closing `…`.
#[test]
fn no_screen_drops_words_unmarked() {
    let mut lost = Vec::new();
    for state in states().into_iter().filter(|s| s.sizes == USUAL) {
        let narrow = rows(&draw(&state.app, 80, 200, PLAIN));
        // A row that ends in `…` left words off on purpose (`fit`).
        let marked = |row: &String| row.trim_end_matches([' ', '│']).ends_with('…');
        if narrow.iter().any(marked) {
            continue;
        }
        let narrow: HashSet<String> = words(&narrow).into_iter().collect();
        let missing: Vec<String> = words(&rows(&draw(&state.app, 400, 200, PLAIN)))
            .into_iter()
            .filter(|w| !narrow.contains(w))
            .collect();
        if !missing.is_empty() {
            lost.push(format!("{}: {missing:?}", state.name));
        }
    }
    assert!(
        lost.is_empty(),
        "words lost at 80 columns:\n{}",
        lost.join("\n")
    );
}

#[test]
fn the_check_finds_a_cut_word() {
    let wide = ["│ generic_decline: nothing was charged; ask for another card │".to_owned()];
    let narrow = [
        "│ generic_decl nothing w│".to_owned(),
        "│ generic_decline: nothing │".to_owned(),
        "│ was charged; ask for ano…│".to_owned(),
    ];
    assert_eq!(cut(&narrow, &wide), ["generic_decl", "w", "ano…"]);
}

/// How ASCII mode looks, for review: borders, the marker, masked digits, a bar and a scroll hint.
#[test]
fn ascii_mode() {
    let ascii = Theme {
        color: false,
        ascii: true,
    };
    let names = [
        "form_errors",
        "processing_slow",
        "detail_failed",
        "feed_following",
    ];
    for state in states().into_iter().filter(|s| names.contains(&s.name)) {
        insta::assert_snapshot!(
            format!("ascii_{}_80x24", state.name),
            draw(&state.app, 80, 24, ascii)
        );
    }
}

/// The Linux console's default font shows printable ASCII whatever its Unicode table.
#[test]
fn in_ascii_mode_every_cell_is_printable_ascii() {
    let ascii = Theme {
        color: false,
        ascii: true,
    };
    let mut bad = Vec::new();
    for state in states() {
        for &(width, height) in state.sizes {
            for (y, row) in rows(&draw(&state.app, width, height, ascii))
                .iter()
                .enumerate()
            {
                if let Some(c) = row.chars().find(|c| !(' '..='~').contains(c)) {
                    bad.push(format!(
                        "{} {width}x{height} row {y}: {c:?} in {row:?}",
                        state.name
                    ));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "not on the Linux console:\n{}",
        bad.join("\n")
    );
}
