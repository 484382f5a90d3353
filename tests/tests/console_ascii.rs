//! The real `cip --ascii` in a pseudo-terminal, as on a Linux console whose font holds printable
//! ASCII and little more: every screen an agent meets, borders, symbols, masked card and help
//! included, is drawn in printable ASCII.

use cip_tests::Daemon;
use cip_tests::terminal::{
    Console, dmv_payment,
    keys::{ENTER, ESC, F1, TAB},
};

/// The characters on screen that are not printable ASCII, with the screen.
fn not_ascii(screen: &str) -> Option<String> {
    let odd: String = screen
        .chars()
        .filter(|c| *c != '\n' && !(' '..='~').contains(c))
        .collect();
    (!odd.is_empty()).then(|| format!("{odd:?} on\n{screen}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn with_ascii_every_screen_an_agent_meets_is_printable_ascii() {
    let daemon = Daemon::start().await;
    let mut console = Console::start_with(&daemon.socket, daemon.dir.path(), &["--ascii"]);
    let mut screens = vec![console.wait_for("Sign in to CIP")];
    screens.push(console.wait_for("* connected"));
    console.type_keys(&["DMV-RENEWAL", TAB, "agent1", TAB, "agent1-demo-pass", ENTER].concat());
    screens.push(console.wait_for("Payer name"));
    console.type_keys(F1);
    screens.push(console.wait_for("Taking a payment"));
    console.type_keys(ESC);
    console.wait_for("Payer name");
    let card = "4242".repeat(4);
    daemon.sent(&cip_tests::card_request(&card, 1));
    console.type_keys(&dmv_payment(&card).join(TAB));
    console.type_keys(ENTER);
    screens.push(console.wait_for("Check with the customer, then send"));
    console.type_keys(ENTER);
    screens.push(console.wait_for("APPROVED"));
    for screen in screens {
        assert_eq!(not_ascii(&screen), None);
    }
    daemon.assert_no_card_data();
}
