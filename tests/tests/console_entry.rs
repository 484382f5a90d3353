//! Amounts, expiries and field values are read as an agent means them: the real `cip` in a
//! pseudo-terminal against a real daemon, and the daemon's own rule that a field kept in capitals
//! is one request under one key whatever the case it was typed in.

use cip_common::payment::PaymentLookup;
use cip_common::status::PaymentStatus;
use cip_tests::terminal::{
    Console, confirmation_code,
    keys::{ENTER, TAB},
};
use cip_tests::{Daemon, card_request, ctx, new_key};

/// Shift-Tab, as a terminal sends it.
const BACK_TAB: &str = "\x1b[Z";
/// Backspace, as a terminal sends it.
const BACKSPACE: &str = "\x7f";

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_is_told_to_use_a_point_and_a_lower_case_plate_and_1_28_expiry_are_kept_as_meant()
{
    let daemon = Daemon::start().await;
    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    console.sign_in("DMV-RENEWAL", "agent1");
    console.wait_for("Payer name");

    let payer = [
        "Ada Lovelace",
        "ada@example.com",
        "94107",
        "abc123",
        "1234567890",
    ];
    console.type_keys(&payer.join(TAB));
    console.type_keys(&[TAB, "12,50", TAB].concat());
    let screen = console.wait_for("use a point");
    assert!(screen.contains("Amount (USD)"), "{screen}");
    // Back on the amount, the whole message shows what to type.
    console.type_keys(BACK_TAB);
    console.wait_for("use a point for decimals, not a comma: type 12.50");
    console.type_keys(&BACKSPACE.repeat(5));
    // January of a year still ahead, typed with a one-digit month: once read as 12/8.
    let year = cip_tests::exp_year();
    let expiry = format!("1/{:02}", year % 100);
    let card = [
        "12.50",
        "4242 4242 4242 4242",
        &expiry,
        "123",
        "ADA LOVELACE",
        "94107",
    ];
    console.type_keys(&card.join(TAB));
    console.type_keys(ENTER);
    let summary = console.wait_for("Check with the customer, then send");
    assert!(
        summary.contains("12.50 USD")
            && summary.contains("ABC123")
            && summary.contains(&format!("0{expiry}")),
        "{summary}"
    );
    console.type_keys(ENTER);
    let screen = console.wait_for("APPROVED");
    let code = confirmation_code(&screen);

    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let payment = client
        .payment(ctx(), token, PaymentLookup::ConfirmationCode(code))
        .await
        .expect("rpc")
        .expect("the code on screen finds the payment");
    assert_eq!(payment.status, PaymentStatus::Approved);
    assert_eq!(payment.amount.minor, 1_250);
    assert_eq!(payment.fields["plate_number"], "ABC123");
    match payment.method {
        cip_common::payment::MethodSummary::Card {
            exp_month,
            exp_year,
            ..
        } => assert_eq!((exp_month, exp_year), (1, year)),
        other => panic!("a card was paid with: {other:?}"),
    }
    daemon.sent(&card_request("4242424242424242", 1));
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_with_the_plate_in_other_case_is_the_same_request_under_its_key() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let key = new_key();
    let mut request = card_request("4242424242424242", 2_500);
    daemon.sent(&request);
    request
        .fields
        .insert("plate_number".into(), " abc123".into());
    let first = client
        .submit(ctx(), token.clone(), key.clone(), request.clone())
        .await
        .expect("rpc")
        .expect("approved");
    assert_eq!(first.fields["plate_number"], "ABC123");
    request
        .fields
        .insert("plate_number".into(), "ABC123".into());
    let retry = client
        .submit(ctx(), token, key, request)
        .await
        .expect("rpc")
        .expect("the same request, replayed");
    assert_eq!(retry, first);
    assert_eq!(daemon.processor_calls(&first.id), 1);
}
