//! A supervisor at the real `cip` in a pseudo-terminal against a real daemon: feed rows that name
//! the agent and channel, an in-doubt payment selected and resolved from the queue, and a user
//! unlocked by typing their id.

use cip_common::status::PaymentStatus;
use cip_tests::terminal::{
    Console,
    keys::{ENTER, ESC, F10, TAB},
};
use cip_tests::{Daemon, card_request, ctx, demo_password, new_key};

const F5: &str = "\x1b[15~";
const DOWN: &str = "\x1b[B";
const UP: &str = "\x1b[A";

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_sees_who_keyed_resolves_from_the_queue_and_unlocks_a_user_by_id() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    // The sandbox times this card out: the payment is left in doubt, approved in its books.
    let request = card_request("4000000000000309", 4_000);
    daemon.sent(&request);
    let in_doubt = client
        .submit(ctx(), agent, new_key(), request)
        .await
        .expect("rpc")
        .expect("in doubt");
    assert_eq!(in_doubt.status, PaymentStatus::InDoubt);
    daemon.lock_out(&client, "DMV-RENEWAL", "agent1").await;

    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    console.wait_for("Sign in to CIP");
    console.wait_for("● connected");
    console.type_keys(&["DMV-RENEWAL", TAB, "super1", TAB, "super1-demo-pass", ENTER].concat());
    console.wait_for("following");
    // At 80 columns the row names the agent who keyed it and the channel: the console.
    let screen = console.wait_for("in doubt  DMV-RENEWAL  agent1   full");
    assert!(screen.contains("processor_timeout"), "{screen}");

    // The queue: the in-doubt payment is selected, opens with Enter, and resolves with r then y.
    console.type_keys(F5);
    let screen = console.wait_for("Unsettled (processing, in doubt) (1)");
    assert!(
        screen.contains(&format!("›{}", in_doubt.id)),
        "selected:\n{screen}"
    );
    console.type_keys(&[DOWN, UP, ENTER].concat());
    let screen = console.wait_for("r resolve now");
    assert!(screen.contains(&in_doubt.id), "{screen}");
    console.type_keys(ENTER);
    console.wait_for("Unsettled (processing, in doubt) (1)");
    console.type_keys("r");
    console.wait_for(&format!("Ask the processor about {} now", in_doubt.id));
    console.type_keys("y");
    console.wait_for(&format!("{} resolved: approved", in_doubt.id));
    console.wait_for("Unsettled (processing, in doubt) (0)");

    // u asks for any user: one that does not exist is refused plainly, agent1 is unlocked.
    console.type_keys("u");
    console.wait_for("Unlock user:");
    console.type_keys(&["nobody", ENTER].concat());
    console.wait_for("Unlock user nobody?");
    console.type_keys("y");
    console.wait_for("Refused: no user matches \"nobody\"");
    console.type_keys("u");
    console.wait_for("Unlock user:");
    console.type_keys(&["agent1", ENTER].concat());
    console.wait_for("Unlock user agent1? It can sign in again at once. (y/n)");
    console.type_keys("y");
    console.wait_for("agent1 unlocked");
    client
        .login(
            ctx(),
            "DMV-RENEWAL".into(),
            "agent1".into(),
            demo_password("agent1"),
        )
        .await
        .expect("rpc")
        .expect("agent1 signs in again");
    // Unlocking a user who is not locked out says so.
    console.type_keys("u");
    console.wait_for("Unlock user:");
    console.type_keys(&["agent1", ENTER, "y"].concat());
    console.wait_for("agent1 is not locked out");
    daemon.assert_no_card_data();
}

/// A supervisor refunds part of a payment from its detail: the amount, a reason, a note, the
/// summary confirmed; the detail shows what is left and the feed the refund. An agent's detail
/// of the same payment offers no refund, and `r` is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_refunds_part_of_a_payment_from_its_detail_and_an_agent_may_not() {
    const F3: &str = "\x1bOR";
    const F4: &str = "\x1bOS";
    const CTRL_U: &str = "\x15";
    const END: &str = "\x1b[F";
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let paid = daemon
        .take(&client, &agent, "4242424242424242", 4_000)
        .await;
    assert_eq!(paid.status, PaymentStatus::Approved);
    let open = |console: &mut Console| {
        console.type_keys(F4);
        console.wait_for(&paid.id);
        console.type_keys(&["/", CTRL_U, &paid.id, ENTER].concat());
        console.wait_until("the payment found", |screen| {
            screen.contains(&format!("Payments · {}", paid.id)) && !screen.contains("Searching…")
        });
        console.type_keys(ENTER);
        console.wait_for("Timeline")
    };

    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    console.sign_in("DMV-RENEWAL", "super1");
    console.wait_for("following");
    let detail = open(&mut console);
    assert!(detail.contains("v void  r refund"), "{detail}");
    assert!(
        detail.contains("0.00 USD (none), 40.00 USD refundable"),
        "{detail}"
    );
    console.type_keys("r");
    console.wait_for("Amount to refund, at most 40.00 USD");
    console.type_keys(&[CTRL_U, "15", ENTER].concat());
    console.wait_for("Reason: d duplicate");
    console.type_keys(&["d", ENTER].concat());
    console.wait_for("A note for the agency's finance office");
    console.type_keys(&["paid twice at the desk", ENTER].concat());
    console.wait_for(&format!(
        "Refund 15.00 USD of {} (duplicate payment)",
        paid.id
    ));
    console.type_keys("y");
    console.wait_for(&format!("15.00 USD refunded of {}", paid.id));
    console.wait_for("15.00 USD (partial), 25.00 USD refundable");
    // The timeline, at the foot of the detail, tells the refund.
    console.type_keys(END);
    console.wait_for("refund.succeeded");
    console.type_keys(ESC);
    console.wait_for("Enter details");
    console.type_keys(F3);
    let feed = console.wait_for("refunded");
    assert!(
        feed.contains("super1") && feed.contains("15.00 USD"),
        "{feed}"
    );
    console.type_keys(F10);

    let mut console = Console::start(&daemon.socket, daemon.dir.path());
    console.sign_in("DMV-RENEWAL", "agent1");
    console.wait_for("Payer name");
    let detail = open(&mut console);
    assert!(!detail.contains("r refund"), "no refund offered: {detail}");
    console.type_keys("r");
    console.wait_for("Only a supervisor can refund payments");
    let refunds = client
        .refunds(
            ctx(),
            daemon.login(&client, "DMV-RENEWAL", "super1").await,
            paid.id.clone(),
        )
        .await
        .expect("rpc")
        .expect("refunds");
    assert_eq!(refunds.len(), 1, "{refunds:?}");
}
