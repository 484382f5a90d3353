//! The real `cip` in a pseudo-terminal against a real daemon: an agent signs in, keys in
//! payments, reads the outcome off the screen, and carries on across a daemon restart.

use cip_common::payment::PaymentLookup;
use cip_common::status::PaymentStatus;
use cip_tests::terminal::{
    Console, confirmation_code, dmv_payment,
    keys::{ENTER, TAB},
};
use cip_tests::{Daemon, ctx};

fn sign_in(console: &mut Console) {
    console.sign_in("DMV-RENEWAL", "agent1");
    console.wait_for("Payer name");
}

/// Keys in a DMV-RENEWAL payment of 25.00 with `card` and sends it from the summary.
fn key_in(console: &mut Console, card: &str) {
    console.type_keys(&dmv_payment(card).join(TAB));
    console.type_keys(ENTER);
    console.wait_for("Check with the customer, then send");
    console.type_keys(ENTER);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_keys_in_payments_and_reads_the_outcomes() {
    let mut daemon = Daemon::start().await;
    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    sign_in(&mut console);

    key_in(&mut console, "4242 4242 4242 4242");
    let screen = console.wait_for("APPROVED");
    let code = confirmation_code(&screen);
    assert!(
        screen.contains("25.00 USD") && screen.contains("424242…4242"),
        "{screen}"
    );
    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let payment = client
        .payment(
            ctx(),
            token.clone(),
            PaymentLookup::ConfirmationCode(code.clone()),
        )
        .await
        .expect("rpc")
        .expect("the code on screen finds the payment");
    assert_eq!(payment.status, PaymentStatus::Approved);
    assert_eq!(payment.amount.minor, 2_500);
    assert_eq!(payment.user, "agent1");
    assert_eq!(payment.fields["plate_number"], "ABC123");

    // A receipt, then a declined card with its reason in words.
    console.type_keys("s");
    console.wait_for("Receipt saved to");
    let receipt = std::fs::read_to_string(
        daemon
            .dir
            .path()
            .join(format!("receipt-{}.txt", code.replace('-', ""))),
    )
    .expect("the receipt file");
    assert!(
        receipt.contains(&code) && !receipt.contains("4242424242424242"),
        "{receipt}"
    );
    std::fs::remove_file(
        daemon
            .dir
            .path()
            .join(format!("receipt-{}.txt", code.replace('-', ""))),
    )
    .expect("removed");
    console.type_keys("n");
    console.wait_for("Payer name");
    key_in(&mut console, "4000 0000 0000 0002");
    let screen = console.wait_for("DECLINED");
    assert!(
        screen.contains("the card issuer declined the payment"),
        "{screen}"
    );

    // The daemon restarts mid-session: the console reconnects and carries on, still signed in.
    console.type_keys("n");
    console.wait_for("Payer name");
    daemon.kill();
    console.wait_for("reconnecting");
    daemon.serve().await;
    console.wait_for("● connected");
    key_in(&mut console, "5555 5555 5555 4444");
    let screen = console.wait_for("APPROVED");
    let second = confirmation_code(&screen);
    assert_ne!(second, code);
    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let payment = client
        .payment(ctx(), token, PaymentLookup::ConfirmationCode(second))
        .await
        .expect("rpc")
        .expect("found after the restart");
    assert_eq!(payment.user, "agent1");
    for secret in ["4242424242424242", "4000000000000002", "5555555555554444"] {
        daemon.sent(&cip_tests::card_request(secret, 1));
    }
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_sighup_restore_the_terminal() {
    let daemon = Daemon::start().await;
    for signal in ["TERM", "HUP"] {
        let mut console = Console::start(&daemon.socket, daemon.dir.path());
        console.wait_for("Sign in to CIP");
        assert!(
            console.left_in_tui_mode(),
            "the console draws on the alternate screen"
        );
        let status = console.signal_and_wait(signal);
        assert!(status.success(), "SIG{signal}: {status:?}");
        // The reader thread may still be draining the last bytes.
        let start = std::time::Instant::now();
        while console.left_in_tui_mode() && start.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            !console.left_in_tui_mode(),
            "SIG{signal} left the terminal in the console's mode"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_follows_the_feed_while_payments_arrive() {
    let daemon = Daemon::start().await;
    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    console.sign_in("DMV-RENEWAL", "super1");
    console.wait_for("following");
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let mut codes = Vec::new();
    for number in ["4242424242424242", "5555555555554444", "378282246310005"] {
        let request = cip_tests::card_request(number, 1_234);
        daemon.sent(&request);
        let payment = client
            .submit(ctx(), agent.clone(), cip_tests::new_key(), request)
            .await
            .expect("rpc")
            .expect("approved");
        codes.push(payment.confirmation_code.expect("a code"));
    }
    for code in &codes {
        console.wait_for(code);
    }
    let screen = console.wait_for("sign-in");
    assert!(
        screen.contains("agent1"),
        "the supervisor sees the agent's sign-in:\n{screen}"
    );
    // The queue shows the three approvals.
    console.type_keys("\x1b[15~");
    let screen = console.wait_for("approval rate");
    assert!(screen.contains("100.0%"), "{screen}");
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_exports_and_reconciles_from_the_reports_view() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    for number in ["4242424242424242", "5555555555554444", "4000000000009995"] {
        let request = cip_tests::card_request(number, 1_234);
        daemon.sent(&request);
        client
            .submit(ctx(), agent.clone(), cip_tests::new_key(), request)
            .await
            .expect("rpc")
            .expect("decided");
    }
    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    console.sign_in("DMV-RENEWAL", "super1");
    console.wait_for("following");
    console.type_keys("\x1b[17~");
    console.wait_for("Export payments as CSV");
    console.type_keys(ENTER);
    let screen = console.wait_for("rows written to");
    assert!(screen.contains("3 rows written to"), "{screen}");
    // The file beside the console is the export `cipd report export` writes, byte for byte.
    let file = daemon.dir.path().join("payments-DMV-RENEWAL-all-now.csv");
    let written = std::fs::read(&file).expect("the export is in the console's directory");
    let cli = daemon.cipd(&["report", "export", "--app", "DMV-RENEWAL"], None);
    assert_eq!(
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&cli.stdout)
    );
    // Ctrl-R: today's reconciliation.
    console.type_keys("\x12");
    let screen = console.wait_for("reported to the agency in batches");
    let words: Vec<String> = screen
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for expected in [
        "│ approved card 2 24.68 USD │",
        "│ declined card 1 12.34 USD │",
        "│ 0 reported to the agency in batches, 3 not yet │",
        "│ none in doubt │",
    ] {
        assert!(
            words.iter().any(|l| l == expected),
            "{expected:?} in:\n{screen}"
        );
    }
    daemon.assert_no_card_data();
}
