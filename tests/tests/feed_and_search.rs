//! The live feed and the payment search as a console uses them: events in seq order, a long poll
//! that wakes on a commit, resumption from the last seq with no event missed, pages that end.

use cip_common::event::{Event, EventDetail, EventKind};
use cip_common::payment::{SearchQuery, SearchSort};
use cip_common::status::PaymentStatus;
use cip_tests::{Daemon, card_request, ctx, new_key};

fn payment_detail(event: &Event) -> (Option<String>, Option<String>) {
    match &event.detail {
        EventDetail::Payment {
            confirmation_code,
            code,
            ..
        } => (confirmation_code.clone(), code.clone()),
        _ => panic!("a payment event expected: {event:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_follows_commits_in_order_and_resumes_missing_nothing() {
    let mut daemon = Daemon::start().await;
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let park_agent = daemon.login(&client, "PARK-RESERVE", "agent1").await;

    // Supervisors see sign-ins; agents see only payment events.
    let signed_in = client
        .events(ctx(), supervisor.clone(), 0, 100, 0)
        .await
        .expect("rpc")
        .expect("events");
    let who: Vec<(EventKind, String)> = signed_in
        .events
        .iter()
        .map(|e| match &e.detail {
            EventDetail::Security { user, .. } => (e.kind, user.clone()),
            _ => panic!("only sign-ins yet: {e:?}"),
        })
        .collect();
    assert_eq!(
        who,
        [
            (EventKind::SignIn, "super1".to_owned()),
            (EventKind::SignIn, "agent1".to_owned()),
            (EventKind::SignIn, "agent1".to_owned())
        ]
    );
    let quiet = client
        .events(ctx(), agent.clone(), 0, 100, 50)
        .await
        .expect("rpc")
        .expect("events");
    assert!(quiet.events.is_empty());
    assert_eq!(quiet.next_seq, signed_in.next_seq);

    // A long poll started before the payment wakes with its first event.
    let waiting = {
        let (client, token, from) = (client.clone(), supervisor.clone(), signed_in.next_seq);
        tokio::spawn(async move { client.events(ctx(), token, from, 100, 20_000).await })
    };
    let request = card_request("4242424242424242", 777);
    daemon.sent(&request);
    let payment = client
        .submit(ctx(), agent.clone(), new_key(), request)
        .await
        .expect("rpc")
        .expect("approved");
    let woke = waiting.await.expect("task").expect("rpc").expect("events");
    assert_eq!(woke.events[0].payment_id(), Some(payment.id.as_str()));
    assert_eq!(woke.events[0].kind, EventKind::PaymentReceived);

    let all = client
        .events(ctx(), agent.clone(), 0, 100, 0)
        .await
        .expect("rpc")
        .expect("events");
    let kinds: Vec<EventKind> = all.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::PaymentReceived, EventKind::PaymentApproved]
    );
    assert_eq!(payment_detail(&all.events[1]).0, payment.confirmation_code);
    assert!(all.events[0].seq < all.events[1].seq);
    assert_eq!(all.next_seq, all.events[1].seq);

    // An agent signed in to another application sees none of it, but its cursor moves on.
    let other = client
        .events(ctx(), park_agent, 0, 100, 0)
        .await
        .expect("rpc")
        .expect("events");
    assert!(other.events.is_empty());
    assert_eq!(other.next_seq, all.next_seq);

    // The payment's timeline, and older events for a feed whose buffer starts later.
    let timeline = client
        .timeline(ctx(), supervisor.clone(), payment.id.clone())
        .await
        .expect("rpc")
        .expect("timeline");
    assert_eq!(timeline, all.events);
    let older = client
        .events_before(ctx(), supervisor.clone(), all.events[0].seq, 2)
        .await
        .expect("rpc")
        .expect("older events");
    assert_eq!(older, signed_in.events[1..]);

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
    // Each after the last one read, in order; with the kinds below, none missed, none twice.
    let seqs: Vec<u64> = newer.events.iter().map(|e| e.seq).collect();
    assert!(seqs[0] > all.next_seq, "{seqs:?} after {}", all.next_seq);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let kinds: Vec<EventKind> = newer.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::SignIn,
            EventKind::SignIn,
            EventKind::PaymentReceived,
            EventKind::PaymentDeclined
        ]
    );
    assert_eq!(
        payment_detail(&newer.events[3]).1.as_deref(),
        Some("generic_decline")
    );
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
    for page in 0.. {
        let found = client
            .search(
                ctx(),
                agent.clone(),
                SearchQuery {
                    page,
                    page_size: 3,
                    ..Default::default()
                },
            )
            .await
            .expect("rpc")
            .expect("page");
        assert!(found.payments.len() <= 3);
        seen.extend(found.payments);
        if !found.more {
            break;
        }
    }
    let largest = client
        .search(
            ctx(),
            agent.clone(),
            SearchQuery {
                sort: SearchSort::AmountHighest,
                payer_name: Some("LOVELACE".into()),
                page_size: 2,
                ..Default::default()
            },
        )
        .await
        .expect("rpc")
        .expect("page");
    let amounts: Vec<i64> = largest.payments.iter().map(|p| p.amount.minor).collect();
    assert_eq!(amounts, [1_006, 1_005]);
    assert!(largest.more);
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
