//! The real `cip` in a pty against a real daemon: an agent finds a payment later the way the
//! screens tell it to, by the payment id an in-doubt outcome shows and by a confirmation code as
//! a customer reads it out, and prints its receipt again from its detail.

use cip_tests::Daemon;
use cip_tests::terminal::{
    Console, dmv_payment,
    keys::{ENTER, TAB},
};

const F4: &str = "\x1bOS";
const CTRL_U: &str = "\x15";

/// Keys in a DMV-RENEWAL payment with `card`, sends it, and returns the outcome screen once it
/// shows `outcome`.
fn pay(console: &mut Console, card: &str, outcome: &str) -> String {
    console.type_keys(&[dmv_payment(card).join(TAB).as_str(), ENTER].concat());
    console.wait_for("Check with the customer, then send");
    console.type_keys(ENTER);
    console.wait_for(outcome)
}

/// The word after `label` on the screen.
fn after(screen: &str, label: &str) -> String {
    screen
        .lines()
        .find_map(|l| l.split(label).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} on screen:\n{screen}"))
        .trim_end_matches('│')
        .to_owned()
}

/// Searches the payments view for `typed` and returns the screen once the results are in.
fn search(console: &mut Console, typed: &str) -> String {
    console.type_keys(&["/", CTRL_U, typed, ENTER].concat());
    console.wait_until(&format!("the results for {typed:?}"), |screen| {
        screen.contains(&format!("Payments · {typed}")) && !screen.contains("Searching…")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_finds_payments_by_the_id_on_screen_and_a_code_read_aloud() {
    let daemon = Daemon::start().await;
    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    console.sign_in("DMV-RENEWAL", "agent1");
    console.wait_for("Payer name");
    let (approved_card, in_doubt_card) = ("4242".repeat(4), "4000000000000317");
    for card in [approved_card.as_str(), in_doubt_card] {
        daemon.sent(&cip_tests::card_request(card, 1));
    }
    let screen = pay(&mut console, &approved_card, "APPROVED");
    let code = after(&screen, "Confirmation code: ");
    let approved_id = after(&screen, "Payment id  ");
    console.type_keys("n");
    console.wait_for("Payer name");
    let screen = pay(&mut console, in_doubt_card, "IN DOUBT");
    let in_doubt_id = after(&screen, "payment id: ");

    console.type_keys(F4);
    console.wait_for(&approved_id);
    // The id as the in-doubt screen told the agent to search for it, typed in lower case.
    let found = search(&mut console, &in_doubt_id.to_lowercase());
    assert!(
        found.contains(&in_doubt_id) && !found.contains(&approved_id),
        "{found}"
    );
    // The code as a customer reads it out: lower case, in groups, no hyphens.
    let plain = code.replace('-', "").to_lowercase();
    let spoken = format!("{} {} {}", &plain[..4], &plain[4..8], &plain[8..]);
    let found = search(&mut console, &spoken);
    assert!(
        found.contains(&code) && found.contains(&approved_id) && !found.contains(&in_doubt_id),
        "{found}"
    );
    // Its receipt, printed again from the payment's detail.
    console.type_keys(ENTER);
    console.wait_for("Timeline");
    console.type_keys("s");
    console.wait_for("Receipt saved to");
    let file = daemon
        .dir
        .path()
        .join(format!("receipt-{}.txt", code.replace('-', "")));
    let receipt = std::fs::read_to_string(&file).expect("the receipt beside the console");
    for words in [
        "Vehicle registration renewal (DMV-RENEWAL)",
        "Plate number:",
        "Renewal notice number:",
        &code,
    ] {
        assert!(receipt.contains(words), "{words:?} in:\n{receipt}");
    }
    assert!(!receipt.contains("plate_number") && !receipt.contains(&approved_card));
    std::fs::remove_file(file).expect("removed");
    daemon.assert_no_card_data();
}
