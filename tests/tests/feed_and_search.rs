//! The live feed and the payment search as a console uses them: events in seq order, a long poll
//! that wakes on a commit, resumption from the last seq with no gap, pages that end.

use cip_common::event::EventKind;
use cip_common::payment::SearchQuery;
use cip_common::status::PaymentStatus;
use cip_tests::{Daemon, card_request, ctx, new_key};

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_follows_commits_in_order_and_resumes_without_gaps() {
    let mut daemon = Daemon::start().await;
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let park_agent = daemon.login(&client, "PARK-RESERVE", "agent1").await;

    // Nothing yet: a short poll answers empty, at seq 0.
    let empty = client
        .events(ctx(), supervisor.clone(), 0, 100, 50)
        .await
        .expect("rpc")
        .expect("events");
    assert!(empty.events.is_empty());
    assert_eq!(empty.next_seq, 0);

    // A long poll started before the payment wakes with its first event.
    let waiting = {
        let (client, token) = (client.clone(), supervisor.clone());
        tokio::spawn(async move { client.events(ctx(), token, 0, 100, 20_000).await })
    };
    let request = card_request("4242424242424242", 777);
    daemon.sent(&request);
    let payment = client
        .submit(ctx(), agent.clone(), new_key(), request)
        .await
        .expect("rpc")
        .expect("approved");
    let woke = waiting.await.expect("task").expect("rpc").expect("events");
    assert_eq!(woke.events[0].payment_id, payment.id);
    assert_eq!(woke.events[0].kind, EventKind::PaymentReceived);

    let all = client
        .events(ctx(), supervisor.clone(), 0, 100, 0)
        .await
        .expect("rpc")
        .expect("events");
    let kinds: Vec<EventKind> = all.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::PaymentReceived, EventKind::PaymentApproved]
    );
    assert_eq!(all.events[1].confirmation_code, payment.confirmation_code);
    assert_eq!(all.events[0].seq + 1, all.events[1].seq);
    assert_eq!(all.next_seq, all.events[1].seq);

    // An agent signed in to another application sees none of it, but its cursor moves on.
    let other = client
        .events(ctx(), park_agent, 0, 100, 0)
        .await
        .expect("rpc")
        .expect("events");
    assert!(other.events.is_empty());
    assert_eq!(other.next_seq, all.next_seq);

    // Across a restart, asking from the last seq gives exactly the newer events.
    daemon.restart_after_kill().await;
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let declined = card_request("4000000000000002", 888);
    daemon.sent(&declined);
    let second = client
        .submit(ctx(), agent, new_key(), declined)
        .await
        .expect("rpc")
        .expect("declined");
    assert_eq!(second.status, PaymentStatus::Declined);
    let newer = client
        .events(ctx(), supervisor, all.next_seq, 100, 0)
        .await
        .expect("rpc")
        .expect("events");
    let seqs: Vec<u64> = newer.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [all.next_seq + 1, all.next_seq + 2]);
    assert_eq!(newer.events[1].kind, EventKind::PaymentDeclined);
    assert_eq!(newer.events[1].code.as_deref(), Some("generic_decline"));
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn search_pages_through_every_payment_newest_first() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let mut submitted = Vec::new();
    for (i, number) in ["4242424242424242", "5555555555554444", "4000000000000002"]
        .iter()
        .cycle()
        .take(7)
        .enumerate()
    {
        let request = card_request(number, 1_000 + i as i64);
        daemon.sent(&request);
        let payment = client
            .submit(ctx(), agent.clone(), new_key(), request)
            .await
            .expect("rpc")
            .expect("decided");
        submitted.push(payment);
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = client
            .search(
                ctx(),
                agent.clone(),
                SearchQuery {
                    after: after.clone(),
                    page_size: 3,
                    ..Default::default()
                },
            )
            .await
            .expect("rpc")
            .expect("page");
        assert!(page.payments.len() <= 3);
        seen.extend(page.payments);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut newest_first = submitted.clone();
    newest_first.sort_by(|a, b| (b.created_ms, &b.id).cmp(&(a.created_ms, &a.id)));
    assert_eq!(seen, newest_first);

    let declined = client
        .search(
            ctx(),
            agent.clone(),
            SearchQuery {
                status: Some(PaymentStatus::Declined),
                page_size: 50,
                ..Default::default()
            },
        )
        .await
        .expect("rpc")
        .expect("page");
    assert_eq!(declined.payments.len(), 2);
    let by_last_four = client
        .search(
            ctx(),
            agent.clone(),
            SearchQuery {
                last_four: Some("4444".into()),
                page_size: 50,
                ..Default::default()
            },
        )
        .await
        .expect("rpc")
        .expect("page");
    assert_eq!(by_last_four.payments.len(), 2);
    let code = submitted[0].confirmation_code.clone().expect("approved");
    let by_code = client
        .search(
            ctx(),
            agent,
            SearchQuery {
                confirmation_code: Some(code.to_lowercase()),
                page_size: 50,
                ..Default::default()
            },
        )
        .await
        .expect("rpc")
        .expect("page");
    assert_eq!(by_code.payments, vec![submitted[0].clone()]);
}
