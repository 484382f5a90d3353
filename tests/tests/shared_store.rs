//! Two daemons on one PostgreSQL database, each serving tarpc and HTTP, behind the same
//! processor (a `cipd sandbox serve` process): what an agency or a console does on one is true
//! on the other, by the database's rules and not either process's memory. Skipped, saying so,
//! where PostgreSQL is not installed, unless `CIP_REQUIRE_TOOLS` is set (as in CI).

use cip_common::error::ApiError;
use cip_common::event::{Event, EventKind};
use cip_common::secret::Password;
use cip_tests::handoffs::{add_notifying_application, agency_callback, paid_and_notified};
use cip_tests::http::{Agency, payment_body};
use cip_tests::sandbox::SandboxServer;
use cip_tests::{Daemon, card_request, ctx, new_key, postgres};
use futures::future::join_all;
use std::time::{Duration, Instant};

/// Two daemons sharing one database and one processor, or `None` where PostgreSQL is missing.
async fn two_daemons(sandbox: &SandboxServer) -> Option<(Daemon, Daemon)> {
    if !postgres::present() {
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

/// The payment ids in every complete batch file (one with its manifest) of `daemon`'s outbox.
fn reported_in_outbox(daemon: &Daemon) -> Vec<String> {
    let outbox = daemon.dir.path().join("outbox").join("DMV-RENEWAL");
    let Ok(entries) = std::fs::read_dir(&outbox) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for entry in entries {
        let name = entry.expect("an entry").file_name();
        let name = name.to_string_lossy();
        let Some(batch) = name.strip_suffix(".manifest.json") else {
            continue;
        };
        let csv = std::fs::read(outbox.join(format!("{batch}.csv"))).expect("its file");
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let column = reader
            .headers()
            .expect("a header")
            .iter()
            .position(|h| h == "payment_id")
            .expect("a payment_id column");
        for record in reader.records() {
            ids.push(record.expect("a row")[column].to_owned());
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_run_on_one_daemon_keeps_the_others_out_until_it_ends() {
    let sandbox = SandboxServer::start();
    let Some((a, b)) = two_daemons(&sandbox).await else {
        return;
    };
    let mut taken = Vec::new();
    let mut caught = 0;
    for _ in 0..5 {
        for daemon in [&a, &b] {
            let client = daemon.client().await;
            let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
            for n in 0..150 {
                let request = card_request("4242424242424242", 100 + n);
                daemon.sent(&request);
                let payment = client
                    .submit(ctx(), agent.clone(), new_key(), request)
                    .await
                    .expect("rpc")
                    .expect("approved");
                taken.push(payment.id);
            }
        }
        // The first daemon's run is frozen while it writes its batch file: its batch is claimed
        // and not yet sent, and the second daemon's run starts then.
        let mut first = a.spawn_cipd(&["report", "run", "--app", "DMV-RENEWAL"]);
        let outbox = a.dir.path().join("outbox").join("DMV-RENEWAL");
        let writing = || {
            std::fs::read_dir(&outbox).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".part"))
            })
        };
        while first.try_wait().expect("waitable").is_none() && !writing() {
            std::thread::sleep(Duration::from_micros(100));
        }
        let frozen = first.try_wait().expect("waitable").is_none() && signal(&first, "STOP");
        let second = b.cipd(&["report", "run", "--app", "DMV-RENEWAL"], None);
        if frozen {
            signal(&first, "CONT");
            caught += 1;
            let said = String::from_utf8_lossy(&second.stderr);
            assert!(
                !second.status.success() && said.contains("under way"),
                "a run started while another was writing: {said}"
            );
        }
        let first = first.wait_with_output().expect("the run ends");
        assert!(
            first.status.success(),
            "{}",
            String::from_utf8_lossy(&first.stderr)
        );
    }
    assert!(
        caught > 0,
        "no run was caught while writing, so nothing was tested"
    );
    let out = b.cipd(&["report", "run", "--app", "DMV-RENEWAL"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reported = reported_in_outbox(&a);
    reported.extend(reported_in_outbox(&b));
    reported.sort();
    taken.sort();
    assert_eq!(
        reported, taken,
        "each payment in exactly one batch, in one outbox"
    );
}

/// Sends `SIGname` to `child`; whether it was still there to receive it.
fn signal(child: &std::process::Child, name: &str) -> bool {
    std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paid_handoff_is_notified_once_though_both_daemons_see_it_paid() {
    if !postgres::present() {
        return;
    }
    let sandbox = SandboxServer::start();
    let config = sandbox.daemon_config(4_000, 600_000, "[http]\nlisten = \"127.0.0.1:0\"\n");
    let a = Daemon::start_on_postgres(&config).await;
    // The agency's callback refuses two notifications, then takes one.
    let (port, received) = agency_callback().await;
    add_notifying_application(&a, port);
    let b = Daemon::beside(&a).await;
    let id = paid_and_notified(&a, &received).await;
    // Both daemons follow the approval at once; a second delivery would have had its first
    // attempts refused and written down long before the third attempt was taken.
    let deliveries = a.sql(&format!(
        "SELECT attempt, outcome FROM handoff_deliveries WHERE handoff_id = '{id}' ORDER BY at_ms, attempt"
    ));
    assert_eq!(
        deliveries,
        [["1", "HTTP 500"], ["2", "HTTP 500"], ["3", "HTTP 200"]],
        "one delivery, attempted three times"
    );
    assert_eq!(received.lock().expect("not poisoned").len(), 3);
    b.assert_no_card_data();
}

/// Takes `count` payments on `daemon`, every fourth declined; how many of each.
async fn take(daemon: &Daemon, count: usize) -> (u64, u64) {
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let cards = ["4242424242424242", "4000000000000002"];
    let mut declined = 0;
    for n in 0..count {
        let card = cards[usize::from(n % 4 == 3)];
        let payment = daemon.take(&client, &agent, card, 100 + n as i64).await;
        declined += u64::from(payment.status == cip_common::status::PaymentStatus::Declined);
    }
    (count as u64 - declined, declined)
}

/// The approved and declined payments of the last hour, as a supervisor's figures count them.
async fn last_hour(daemon: &Daemon) -> (u64, u64) {
    use cip_common::status::PaymentStatus;
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let stats = client
        .stats(ctx(), supervisor)
        .await
        .expect("rpc")
        .expect("stats");
    let hour = &stats.windows[2];
    assert_eq!(hour.minutes, 60, "the third window is the last hour");
    (
        hour.count(PaymentStatus::Approved),
        hour.count(PaymentStatus::Declined),
    )
}

/// A supervisor's figures count the payments just taken even while a transaction older than
/// theirs is still committing (as one waiting for its fsync is) and holds the feed's horizon
/// back: the request waits for the horizon to pass them.
#[tokio::test(flavor = "multi_thread")]
async fn the_figures_count_payments_just_taken_while_an_older_transaction_commits() {
    if !postgres::present() {
        return;
    }
    let daemon = Daemon::start_on_postgres(cip_tests::TEST_CONFIG).await;
    let database = daemon.store_url.clone().expect("on PostgreSQL");
    let database = database.rsplit("dbname=").next().expect("a database name");
    let held = postgres::cluster().open_transaction(database);
    let taken = take(&daemon, 4).await;
    // The older transaction ends while the supervisor's request waits for the horizon.
    let ends = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
    });
    assert_eq!(
        last_hour(&daemon).await,
        taken,
        "the payments the supervisor's own daemon took and answered"
    );
    ends.join().expect("the transaction ended");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_figures_on_either_daemon_count_every_payment_once() {
    let sandbox = SandboxServer::start();
    let Some((mut a, b)) = two_daemons(&sandbox).await else {
        return;
    };
    let database = a.store_url.clone().expect("on PostgreSQL");
    let database = database.rsplit("dbname=").next().expect("a database name");
    // Another client's transaction stays open while payments commit on the second daemon and
    // the first restarts: its figures load those payments, which the feed still holds back.
    let held = postgres::cluster().open_transaction(database);
    let first = take(&b, 12).await;
    a.restart_after_kill().await;
    drop(held);
    // Then more payments, once the first daemon serves again.
    let then = take(&b, 8).await;
    let mut taken = take(&a, 4).await;
    for (approved, declined) in [first, then] {
        taken = (taken.0 + approved, taken.1 + declined);
    }
    for daemon in [&a, &b] {
        assert_eq!(
            last_hour(daemon).await,
            taken,
            "every payment once, whichever daemon took it"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_with_another_fingerprint_key_is_refused_before_it_serves() {
    let sandbox = SandboxServer::start();
    let Some((a, _b)) = two_daemons(&sandbox).await else {
        return;
    };
    // A third daemon whose operator forgot to copy the key: it would make one of its own.
    let third = Daemon::unstarted_like(&a, a.store_url.clone());
    let out = third.cipd(&["serve"], None);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("is not the fingerprint key this store was first served with"),
        "{said}"
    );
    assert!(
        !third.socket.exists(),
        "it never listened: {}",
        third.socket.display()
    );
}
