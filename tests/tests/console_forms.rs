//! The real `cip` in a pty against a real daemon: a filled form met as an agent met it. Enter on
//! a checked form moves one field and never jumps to the summary; the form is cleared, or left by
//! signing out, only when the agent says yes; the help scrolls to what the agent needs to know.

use cip_tests::Daemon;
use cip_tests::terminal::{
    Console, dmv_payment,
    keys::{ENTER, ESC, F1, F10, TAB},
};

const END: &str = "\x1b[F";

#[tokio::test(flavor = "multi_thread")]
async fn a_filled_form_is_never_sent_cleared_or_dropped_by_a_stray_key() {
    let daemon = Daemon::start().await;
    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    console.sign_in("DMV-RENEWAL", "agent1");
    console.wait_for("Payer name");
    let card = "4242".repeat(4);
    daemon.sent(&cip_tests::card_request(&card, 1));
    // Checked once with a bad email: the form goes back to it, every error showing.
    let mut values = dmv_payment(&card);
    values[1] = "ada@example";
    console.type_keys(&[values.join(TAB).as_str(), ENTER].concat());
    console.wait_for("›Email (optional)");
    // As it was met: mended, then Enter, and the summary came up with "send" under the next
    // key. Now Enter moves one field on.
    console.type_keys(&[".com", ENTER].concat());
    let screen = console.wait_for("›Payer postal code");
    assert!(!screen.contains("Check with the customer"), "{screen}");

    // F10 with a filled form asks; no keeps the form.
    console.type_keys(F10);
    console.wait_for("The payment being keyed is discarded");
    console.type_keys("n");
    let screen = console.wait_for("Nothing was done");
    assert!(screen.contains("Ada Lovelace"), "{screen}");
    // Esc asks before it clears the form; yes clears it.
    console.type_keys(ESC);
    console.wait_for("Clear this form");
    console.type_keys("y");
    console.wait_until("an empty form", |screen| {
        screen.contains("›Payer name") && !screen.contains("Ada Lovelace")
    });

    // The help teaches the job, scrolled at 80×24 to what is below its first page.
    console.type_keys(F1);
    let first_page = console.wait_for("↓ more");
    assert!(!first_page.contains("Receipts"), "{first_page}");
    console.type_keys(END);
    console.wait_until("the help's last sections", |screen| {
        screen.contains("Finding a payment later") && screen.contains("saves it again later")
    });
    console.type_keys(ESC);
    console.wait_for("›Payer name");
    daemon.assert_no_card_data();
}
