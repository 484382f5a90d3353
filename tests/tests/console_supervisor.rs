//! A supervisor at the real `cip` in a pseudo-terminal against a real daemon: feed rows that name
//! the agent and channel, an in-doubt payment selected and resolved from the queue, and a user
//! unlocked by typing their id.

use cip_common::status::PaymentStatus;
use cip_tests::terminal::{
    Console,
    keys::{ENTER, TAB},
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
    let screen = console.wait_for("v void  r resolve in doubt");
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
