//! The real `cip` in a pty against a real daemon: each way a payment could once be sent unseen,
//! reproduced as an agent met it, and shown fixed. Nothing leaves without a key pressed on a
//! summary the agent has seen.

use cip_common::payment::{MethodSummary, Payment, PaymentLookup, SearchQuery};
use cip_common::secret::SessionToken;
use cip_common::service::CipClient;
use cip_common::status::PaymentStatus;
use cip_tests::terminal::{
    Console, dmv_payment,
    keys::{ENTER, ESC, TAB, pasted},
};
use cip_tests::{Daemon, ctx};

const SUMMARY: &str = "Check with the customer, then send";
/// The form, focused on its last field (where Esc from the summary goes back to).
const FORM_AT_ITS_END: &str = "›Card postal code";

async fn agent_console(daemon: &Daemon) -> Console {
    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    console.sign_in("DMV-RENEWAL", "agent1");
    console.wait_for("Payer name");
    console
}

async fn supervisor(daemon: &Daemon) -> (CipClient, SessionToken) {
    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    (client, token)
}

/// Every payment the daemon holds for DMV-RENEWAL.
async fn payments(client: &CipClient, token: &SessionToken) -> Vec<Payment> {
    let query = SearchQuery {
        page_size: 50,
        ..SearchQuery::default()
    };
    client
        .search(ctx(), token.clone(), query)
        .await
        .expect("rpc")
        .expect("a supervisor searches")
        .payments
}

fn record_cards(daemon: &Daemon, cards: &[&str]) {
    for card in cards {
        daemon.sent(&cip_tests::card_request(card, 1));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_typed_ahead_of_the_summary_never_send_it() {
    let daemon = Daemon::start().await;
    let (client, token) = supervisor(&daemon).await;
    let mut console = agent_console(&daemon).await;
    let card = "4242".repeat(4);
    record_cards(&daemon, &[&card]);
    // As it was met: the whole form, then Enter twice, typed faster than the screen changes.
    console.type_keys(&[dmv_payment(&card).join(TAB).as_str(), ENTER, ENTER].concat());
    console.wait_for(SUMMARY);
    // Esc acts on the summary only if the second Enter did not send: then the form is back.
    console.type_keys(ESC);
    console.wait_for(FORM_AT_ITS_END);
    assert!(
        payments(&client, &token).await.is_empty(),
        "nothing was sent"
    );
    // One deliberate Enter on the summary the agent has read sends it.
    console.type_keys(ENTER);
    console.wait_for(SUMMARY);
    console.type_keys(ENTER);
    console.wait_for("APPROVED");
    assert_eq!(payments(&client, &token).await.len(), 1);
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pasted_card_number_ending_in_a_line_break_stays_in_its_field() {
    let daemon = Daemon::start().await;
    let (client, token) = supervisor(&daemon).await;
    let mut console = agent_console(&daemon).await;
    assert!(
        console.bracketed_paste(),
        "the console asks for bracketed paste"
    );
    let card = "4242".repeat(4);
    record_cards(&daemon, &[&card]);
    let values = dmv_payment("");
    console.type_keys(&values[..6].join(TAB));
    console.type_keys(TAB);
    console.type_keys(&pasted("4242 4242 4242 4242\r\n"));
    let screen = console.wait_for("4242 4242 4242 4242");
    assert!(
        screen.contains("›Card number"),
        "the line break did not move on:\n{screen}"
    );
    console.type_keys(&[TAB, &values[7..].join(TAB), ENTER].concat());
    console.wait_for(SUMMARY);
    console.type_keys(ENTER);
    console.wait_for("APPROVED");
    assert_eq!(payments(&client, &token).await.len(), 1);
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_card_is_asked_for_anew_before_the_retry() {
    let daemon = Daemon::start().await;
    let (client, token) = supervisor(&daemon).await;
    let mut console = agent_console(&daemon).await;
    let (declined, good) = ("4000000000000002", "5555555555554444");
    record_cards(&daemon, &[declined, good]);
    console.type_keys(&[dmv_payment(declined).join(TAB).as_str(), ENTER].concat());
    console.wait_for(SUMMARY);
    console.type_keys(ENTER);
    console.wait_for("DECLINED");
    // As it was met: correct and retry, a new card number, Enter. It goes on to the expiry,
    // which is empty: the old card's expiry and security code are gone.
    console.type_keys(ENTER);
    console.wait_for("›Card number");
    console.type_keys(&[good, ENTER].concat());
    let screen = console.wait_for("›Expiry");
    assert!(!screen.contains(SUMMARY), "{screen}");
    console.type_keys(&["0130", TAB, "321", ENTER, ENTER, ENTER].concat());
    console.wait_for(SUMMARY);
    console.type_keys(ENTER);
    console.wait_for("APPROVED");
    let paid = payments(&client, &token).await;
    let approved = paid
        .iter()
        .find(|p| p.status == PaymentStatus::Approved)
        .expect("the retry was approved");
    let MethodSummary::Card {
        last_four,
        exp_month,
        exp_year,
        ..
    } = &approved.method
    else {
        panic!("a card payment")
    };
    assert_eq!(
        (last_four.as_str(), *exp_month, *exp_year),
        ("4444", 1, 2030)
    );
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_do_nothing_while_the_terminal_is_too_small() {
    let daemon = Daemon::start().await;
    let (client, token) = supervisor(&daemon).await;
    let mut console = agent_console(&daemon).await;
    let card = "4242".repeat(4);
    record_cards(&daemon, &[&card]);
    console.type_keys(&[dmv_payment(&card).join(TAB).as_str(), ENTER].concat());
    console.wait_for(SUMMARY);
    // As it was met: the window shrinks, the form is hidden, and an Enter there sent it.
    console.resize(70, 20);
    console.wait_for("this one is 70×20");
    console.type_keys(ENTER);
    // Two more small sizes, each waited for, before the window is whole again: the key reaches
    // the console before the second of them, so it is handled while the screen is too small.
    for (cols, rows) in [(72, 21), (74, 22)] {
        console.resize(cols, rows);
        console.wait_for(&format!("this one is {cols}×{rows}"));
    }
    console.resize(80, 24);
    console.wait_for(SUMMARY);
    console.type_keys(ESC);
    console.wait_for(FORM_AT_ITS_END);
    assert!(
        payments(&client, &token).await.is_empty(),
        "nothing was sent"
    );
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_in_doubt_outcome_on_screen_turns_into_the_known_outcome() {
    let daemon = Daemon::start().await;
    let (client, token) = supervisor(&daemon).await;
    let mut console = agent_console(&daemon).await;
    // The processor's answer times out; an inquiry later finds it approved.
    let card = "4000000000000309";
    record_cards(&daemon, &[card]);
    console.type_keys(&[dmv_payment(card).join(TAB).as_str(), ENTER].concat());
    console.wait_for(SUMMARY);
    console.type_keys(ENTER);
    console.wait_for("IN DOUBT");
    let payment = payments(&client, &token)
        .await
        .pop()
        .expect("the payment is stored");
    assert_eq!(payment.status, PaymentStatus::InDoubt);
    let resolved = client
        .resolve(ctx(), token.clone(), payment.id.clone())
        .await
        .expect("rpc")
        .expect("resolved");
    let code = resolved.confirmation_code.expect("approved with a code");
    // The agent's screen, untouched, now shows the approval and its code.
    let screen = console.wait_for("APPROVED");
    assert!(screen.contains(&code), "{screen}");
    let looked_up = client
        .payment(ctx(), token, PaymentLookup::Id(payment.id))
        .await
        .expect("rpc")
        .expect("found");
    assert_eq!(looked_up.status, PaymentStatus::Approved);
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_counts_as_use_of_a_live_session_only() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    assert_eq!(
        client.keep_alive(ctx(), token.clone()).await.expect("rpc"),
        Ok(())
    );
    client
        .logout(ctx(), token.clone())
        .await
        .expect("rpc")
        .expect("signed out");
    assert_eq!(
        client.keep_alive(ctx(), token).await.expect("rpc"),
        Err(cip_common::error::ApiError::SessionExpired)
    );
}

/// The keys an agent presses for a card payment at DMV-RENEWAL, from the empty form to the
/// confirmation: each character typed, each Tab and each Enter. The email is left out (it is
/// optional), the amount is typed as `25`, and the name on the card and its postal code are kept
/// as offered from the payer's. The README gives the figure this prints.
#[tokio::test(flavor = "multi_thread")]
async fn a_card_payment_at_dmv_renewal_takes_at_most_80_keys() {
    let daemon = Daemon::start().await;
    let mut console = agent_console(&daemon).await;
    let card = "4242".repeat(4);
    record_cards(&daemon, &[&card]);
    let fields = [
        "Ada Lovelace",
        "",
        "94107",
        "ABC123",
        "1234567890",
        "25",
        &card,
        "1228",
        "123",
        "",
        "",
    ];
    let to_the_summary: Vec<String> = fields
        .join(TAB)
        .chars()
        .map(String::from)
        .chain([ENTER.to_owned()])
        .collect();
    console.type_keys(&to_the_summary.concat());
    let summary = console.wait_for(SUMMARY);
    assert!(
        summary.contains("Ada Lovelace") && summary.contains("94107"),
        "the card holder and postal code kept as offered:\n{summary}"
    );
    console.type_keys(ENTER);
    console.wait_for("APPROVED");
    let keys = to_the_summary.len() + 1;
    println!("a card payment at DMV-RENEWAL: {keys} keys from the form to the confirmation");
    assert!(keys <= 80, "{keys} keys");
    daemon.assert_no_card_data();
}
