//! Two daemons on one PostgreSQL database, each serving tarpc and HTTP, behind the same
//! processor (a `cipd sandbox serve` process): what an agency or a console does on one is true
//! on the other, by the database's rules and not either process's memory. Skipped, saying so,
//! where PostgreSQL is not installed, unless `CIP_REQUIRE_TOOLS` is set (as in CI).

use cip_common::error::ApiError;
use cip_common::event::{Event, EventKind};
use cip_common::secret::Password;
use cip_tests::http::{Agency, payment_body};
use cip_tests::sandbox::SandboxServer;
use cip_tests::{Daemon, card_request, ctx, new_key, postgres, tool_present};
use futures::future::join_all;
use std::time::{Duration, Instant};

/// Two daemons sharing one database and one processor, or `None` where PostgreSQL is missing.
async fn two_daemons(sandbox: &SandboxServer) -> Option<(Daemon, Daemon)> {
    if !tool_present(
        postgres::bin_dir().is_some(),
        "PostgreSQL",
        postgres::INSTALL,
    ) {
        return None;
    }
    let config = sandbox.daemon_config(4_000, 600_000, "[http]\nlisten = \"127.0.0.1:0\"\n");
    let first = Daemon::start_on_postgres(&config).await;
    let second = Daemon::beside(&first).await;
    Some((first, second))
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_sends_of_one_key_across_two_daemons_make_one_payment_and_one_charge() {
    let sandbox = SandboxServer::start();
    let Some((a, b)) = two_daemons(&sandbox).await else {
        return;
    };
    let agencies = [
        Agency::new(&a, "DMV-RENEWAL").await,
        Agency::new(&b, "DMV-RENEWAL").await,
    ];
    let request = card_request("4242424242424242", 4_200);
    a.sent(&request);
    let (key, body) = (new_key(), payment_body(&request));
    let answers = join_all((0..20).map(|n| agencies[n % 2].pay(&key, &body))).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "one 201, the rest replays: {answers:?}");
    let id = &answers[0].1["id"];
    for (status, answer) in &answers {
        assert!(matches!(status, 200 | 201), "{status}: {answer}");
        assert_eq!(&answer["id"], id, "every answer is the one payment");
        assert_eq!(answer["status"], "approved", "{answer}");
    }
    let id = id.as_str().expect("a payment id");
    assert_eq!(
        sandbox.lines_of(id).len(),
        1,
        "one processor call: {:?}",
        sandbox.lines_of(id)
    );
    let stored = a.sql(&format!(
        "SELECT count(*) FROM payments WHERE idempotency_key = '{key}'"
    ));
    assert_eq!(stored, [["1"]]);
    a.assert_no_card_data();
    b.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_on_one_daemon_follows_every_payment_taken_on_the_other_once_in_order() {
    let sandbox = SandboxServer::start();
    let Some((a, b)) = two_daemons(&sandbox).await else {
        return;
    };
    let watching = a.client().await;
    let supervisor = a.login(&watching, "DMV-RENEWAL", "super1").await;
    let start = watching
        .events(ctx(), supervisor.clone(), 0, 1_000, 0)
        .await
        .expect("rpc")
        .expect("events")
        .next_seq;
    // Three agents on the second daemon, at once.
    const EACH: usize = 15;
    let taking = b.client().await;
    let agent = b.login(&taking, "DMV-RENEWAL", "agent1").await;
    let sends = (0..3).map(|_| {
        let (client, agent) = (taking.clone(), agent.clone());
        let requests: Vec<_> = (0..EACH)
            .map(|n| card_request("4242424242424242", 1_000 + n as i64))
            .collect();
        for request in &requests {
            b.sent(request);
        }
        async move {
            let mut taken = Vec::new();
            for request in requests {
                let payment = client
                    .submit(ctx(), agent.clone(), new_key(), request)
                    .await
                    .expect("rpc")
                    .expect("approved");
                taken.push(payment.id);
            }
            taken
        }
    });
    let taken: Vec<String> = join_all(sends).await.into_iter().flatten().collect();
    // The console on the first daemon reads on from where it was.
    let mut read: Vec<Event> = Vec::new();
    let mut after = start;
    let deadline = Instant::now() + Duration::from_secs(30);
    while read
        .iter()
        .filter(|e| e.kind == EventKind::PaymentApproved)
        .count()
        < taken.len()
    {
        assert!(Instant::now() < deadline, "the feed stopped at {after}");
        let batch = watching
            .events(ctx(), supervisor.clone(), after, 7, 2_000)
            .await
            .expect("rpc")
            .expect("events");
        after = batch.next_seq;
        read.extend(batch.events);
    }
    let seqs: Vec<u64> = read.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in order, once: {seqs:?}"
    );
    for id in &taken {
        let kinds: Vec<EventKind> = read
            .iter()
            .filter(|e| e.payment_id() == Some(id.as_str()))
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [EventKind::PaymentReceived, EventKind::PaymentApproved],
            "{id}"
        );
    }
    // What the feed read is what the database holds, every event once.
    let stored: Vec<u64> = a
        .sql(&format!(
            "SELECT seq FROM events WHERE seq > {start} AND payment_id IS NOT NULL ORDER BY seq"
        ))
        .iter()
        .map(|row| row[0].parse().expect("a seq"))
        .collect();
    let payment_seqs: Vec<u64> = read
        .iter()
        .filter(|e| e.payment_id().is_some())
        .map(|e| e.seq)
        .collect();
    assert_eq!(payment_seqs, stored);
    b.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_spread_over_two_daemons_lock_the_user_on_both() {
    let sandbox = SandboxServer::start();
    let Some((a, b)) = two_daemons(&sandbox).await else {
        return;
    };
    let clients = [a.client().await, b.client().await];
    // The test settings lock a user after three failures in a row: two here, one there.
    for client in [&clients[0], &clients[1], &clients[0]] {
        let refused = client
            .login(
                ctx(),
                "DMV-RENEWAL".into(),
                "agent1".into(),
                Password::new("not-the-password-1"),
            )
            .await
            .expect("rpc");
        assert!(refused.is_err());
    }
    for client in &clients {
        let locked = client
            .login(
                ctx(),
                "DMV-RENEWAL".into(),
                "agent1".into(),
                cip_tests::demo_password("agent1"),
            )
            .await
            .expect("rpc");
        assert!(
            matches!(locked, Err(ApiError::Locked { .. })),
            "the right password is refused while locked: {locked:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_opened_on_one_daemon_goes_on_on_the_other_until_signed_out_on_either() {
    let sandbox = SandboxServer::start();
    let Some((a, b)) = two_daemons(&sandbox).await else {
        return;
    };
    let clients = [a.client().await, b.client().await];
    let supervisor = a.login(&clients[0], "DMV-RENEWAL", "super1").await;
    let stats = clients[1]
        .stats(ctx(), supervisor.clone())
        .await
        .expect("rpc");
    assert!(stats.is_ok(), "served on the other daemon: {stats:?}");
    clients[0]
        .logout(ctx(), supervisor.clone())
        .await
        .expect("rpc")
        .expect("signed out");
    // The other daemon holds the session in memory, and finds it ended within seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match clients[1]
            .stats(ctx(), supervisor.clone())
            .await
            .expect("rpc")
        {
            Err(ApiError::SessionExpired) => break,
            other => assert!(
                Instant::now() < deadline,
                "still served 15 s after signing out elsewhere: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_starting_up_leaves_a_payment_the_other_is_carrying_to_its_answer() {
    let sandbox = SandboxServer::start();
    let Some((mut a, b)) = two_daemons(&sandbox).await else {
        return;
    };
    let agency = Agency::new(&b, "DMV-RENEWAL").await;
    // The processor answers this card after 3 seconds, within the daemons' deadline.
    let request = card_request("4000000000000325", 3_100);
    b.sent(&request);
    let paying = tokio::spawn({
        let body = payment_body(&request);
        async move { agency.pay(&new_key(), &body).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        let rows = a.sql("SELECT id FROM payments WHERE status = 'processing'");
        if let Some(row) = rows.first() {
            break row[0].clone();
        }
        assert!(Instant::now() < deadline, "the payment was never taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The other daemon restarts meanwhile, and sweeps what it finds unsettled as it starts.
    a.restart_after_kill().await;
    let status = a.sql(&format!("SELECT status FROM payments WHERE id = '{id}'"));
    assert_eq!(
        status,
        [["processing"]],
        "the sweep ran while the payment was in flight"
    );
    let (code, answer) = paying.await.expect("the agency's call");
    assert_eq!(
        (code, &answer["status"]),
        (201, &"approved".into()),
        "{answer}"
    );
    assert_eq!(
        sandbox.lines_of(&id).len(),
        1,
        "one authorization and no reversal: {:?}",
        sandbox.lines_of(&id)
    );
    a.assert_no_card_data();
    b.assert_no_card_data();
}
