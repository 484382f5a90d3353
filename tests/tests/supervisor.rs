//! Supervisor actions and figures through a real daemon: void, resolve, unlock, each audited;
//! the queue's figures; agents refused all of them.

use cip_common::calendar;
use cip_common::error::ApiError;
use cip_common::event::{EventDetail, EventKind};
use cip_common::payment::{Mode, PaymentLookup};
use cip_common::report::Reconciliation;
use cip_common::stats::Stats;
use cip_common::status::PaymentStatus;
use cip_tests::{Daemon, card_request, ctx, new_key};

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_voids_resolves_and_unlocks_and_an_agent_may_not() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let submit = |number: &str| {
        let request = card_request(number, 4_000);
        daemon.sent(&request);
        client.submit(ctx(), agent.clone(), new_key(), request)
    };
    let approved = submit("4242424242424242")
        .await
        .expect("rpc")
        .expect("approved");
    let in_doubt = submit("4000000000000309")
        .await
        .expect("rpc")
        .expect("in doubt");
    assert_eq!(in_doubt.status, PaymentStatus::InDoubt);
    let declined = submit("4000000000000002")
        .await
        .expect("rpc")
        .expect("declined");

    // Agents are refused every action, and the queue.
    for refused in [
        client
            .void(ctx(), agent.clone(), approved.id.clone())
            .await
            .expect("rpc")
            .err(),
        client
            .resolve(ctx(), agent.clone(), in_doubt.id.clone())
            .await
            .expect("rpc")
            .err(),
        client.stats(ctx(), agent.clone()).await.expect("rpc").err(),
        client
            .unlock(ctx(), agent.clone(), "agent1".into())
            .await
            .expect("rpc")
            .err(),
    ] {
        assert!(
            matches!(refused, Some(ApiError::Forbidden { .. })),
            "{refused:?}"
        );
    }

    // Void: approved → voided, once; a declined payment cannot be voided.
    let voided = client
        .void(ctx(), supervisor.clone(), approved.id.clone())
        .await
        .expect("rpc")
        .expect("voided");
    assert_eq!(voided.status, PaymentStatus::Voided);
    assert_eq!(voided.confirmation_code, approved.confirmation_code);
    let again = client
        .void(ctx(), supervisor.clone(), approved.id.clone())
        .await
        .expect("rpc");
    assert!(
        matches!(&again, Err(ApiError::InvalidRequest { message }) if message.contains("only an approved payment")),
        "{again:?}"
    );
    let refused = client
        .void(ctx(), supervisor.clone(), declined.id.clone())
        .await
        .expect("rpc");
    assert!(refused.is_err());
    assert!(daemon.ledger().contains(&format!("void\t{}", approved.id)));

    // Resolve: the processor's books say the in-doubt payment was approved.
    let resolved = client
        .resolve(ctx(), supervisor.clone(), in_doubt.id.clone())
        .await
        .expect("rpc")
        .expect("resolved");
    assert_eq!(resolved.status, PaymentStatus::Approved);
    assert!(resolved.confirmation_code.is_some());
    let stored = client
        .payment(
            ctx(),
            supervisor.clone(),
            PaymentLookup::Id(in_doubt.id.clone()),
        )
        .await
        .expect("rpc")
        .expect("found");
    assert_eq!(stored, resolved);

    // Unlock: lock agent1 out, then lift it from the console's call.
    daemon.lock_out(&client, "DMV-RENEWAL", "agent1").await;
    let locked = client
        .login(
            ctx(),
            "DMV-RENEWAL".into(),
            "agent1".into(),
            cip_tests::demo_password("agent1"),
        )
        .await
        .expect("rpc");
    assert!(matches!(locked, Err(ApiError::Locked { .. })));
    client
        .unlock(ctx(), supervisor.clone(), "agent1".into())
        .await
        .expect("rpc")
        .expect("unlocked");
    let unknown = client
        .unlock(ctx(), supervisor.clone(), "nobody".into())
        .await
        .expect("rpc");
    assert!(matches!(unknown, Err(ApiError::NotFound { .. })));
    // Unlocked now: a second unlock says so rather than pretending.
    let again = client
        .unlock(ctx(), supervisor.clone(), "agent1".into())
        .await
        .expect("rpc");
    assert!(
        matches!(&again, Err(ApiError::InvalidRequest { message }) if message.contains("agent1 is not locked out")),
        "{again:?}"
    );
    daemon.login(&client, "DMV-RENEWAL", "agent1").await;

    // The feed tells the story, and every action is in the audit log.
    let feed = client
        .events(ctx(), supervisor.clone(), 0, 1000, 0)
        .await
        .expect("rpc")
        .expect("events");
    let kinds: Vec<EventKind> = feed.events.iter().map(|e| e.kind).collect();
    for kind in [
        EventKind::PaymentVoided,
        EventKind::PaymentResolved,
        EventKind::SignInFailed,
        EventKind::Lockout,
        EventKind::Unlock,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
    }
    let unlock = feed
        .events
        .iter()
        .find(|e| e.kind == EventKind::Unlock)
        .expect("unlock event");
    assert!(
        matches!(&unlock.detail, EventDetail::Security { user, actor: Some(actor), .. } if user == "agent1" && actor == "super1")
    );
    let audited = daemon.sql(
        "SELECT actor, action, object FROM audit_log
         WHERE action IN ('payment.void', 'payment.resolve', 'user.unlock') ORDER BY id",
    );
    assert_eq!(
        audited,
        [
            [
                "super1".to_owned(),
                "payment.void".to_owned(),
                format!("payment:{}", approved.id)
            ],
            [
                "super1".to_owned(),
                "payment.resolve".to_owned(),
                format!("payment:{}", in_doubt.id)
            ],
            [
                "super1".to_owned(),
                "user.unlock".to_owned(),
                "user:agent1".to_owned()
            ],
        ]
    );

    // The queue's figures count what just happened. The 15-minute window, not the 1-minute
    // one: a minute's window is the clock's current minute, which this test may straddle.
    let stats = client
        .stats(ctx(), supervisor)
        .await
        .expect("rpc")
        .expect("stats");
    let window = &stats.windows[1];
    assert_eq!(window.minutes, 15);
    // The resolved payment is approved; the voided one counts as voided, as reconciliation has it.
    assert_eq!(window.count(PaymentStatus::Approved), 1);
    assert_eq!(window.count(PaymentStatus::Declined), 1);
    assert_eq!(window.count(PaymentStatus::Voided), 1);
    assert_eq!(window.approval_per_mille, Some(666));
    assert!(window.p50_ms.is_some());
    assert_eq!(stats.per_minute.len(), 60);
    assert!(stats.unsettled.is_empty());
    assert_eq!(stats.recent_failures.len(), 1);
    assert_eq!(stats.recent_failures[0].payment_id, declined.id);
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_void_and_a_restart_the_queue_counts_as_reconciliation_does() {
    let mut daemon = Daemon::start().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let mut paid = Vec::new();
    for number in ["4242424242424242", "4242424242424242", "4000000000000002"] {
        paid.push(daemon.take(&client, &agent, number, 4_000).await);
    }
    client
        .void(ctx(), supervisor.clone(), paid[0].id.clone())
        .await
        .expect("rpc")
        .expect("voided");

    // By status and amount, the queue's last hour and the day's reconciliation, before and after.
    let figures = |stats: &Stats| {
        let hour = &stats.windows[2];
        assert_eq!(hour.minutes, 60);
        let counts: Vec<(PaymentStatus, u64)> = [
            PaymentStatus::Approved,
            PaymentStatus::Declined,
            PaymentStatus::Voided,
        ]
        .into_iter()
        .map(|s| (s, hour.count(s)))
        .collect();
        (counts, hour.approved_amounts.clone())
    };
    let reconciled = |r: &Reconciliation| {
        let counts: Vec<(PaymentStatus, u64)> = [
            PaymentStatus::Approved,
            PaymentStatus::Declined,
            PaymentStatus::Voided,
        ]
        .into_iter()
        .map(|s| {
            (
                s,
                r.lines
                    .iter()
                    .filter(|l| l.status == s)
                    .map(|l| l.count)
                    .sum(),
            )
        })
        .collect();
        let approved = r
            .lines
            .iter()
            .filter(|l| l.status == PaymentStatus::Approved)
            .map(|l| l.total)
            .collect::<Vec<_>>();
        (counts, approved)
    };
    let expected = (
        vec![
            (PaymentStatus::Approved, 1),
            (PaymentStatus::Declined, 1),
            (PaymentStatus::Voided, 1),
        ],
        vec![paid[1].amount],
    );
    let live = client
        .stats(ctx(), supervisor.clone())
        .await
        .expect("rpc")
        .expect("stats");
    assert_eq!(figures(&live), expected, "before the restart");

    daemon.restart_after_kill().await;
    let client = daemon.client().await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let restarted = client
        .stats(ctx(), supervisor.clone())
        .await
        .expect("rpc")
        .expect("stats");
    assert_eq!(figures(&restarted), expected, "after the restart");
    assert_eq!(restarted.windows[2], live.windows[2]);
    // The day the payments were made, in the application's own time zone.
    let today = client
        .reconcile(ctx(), supervisor.clone(), "DMV-RENEWAL".into(), None)
        .await
        .expect("rpc")
        .expect("reconciliation");
    let zone = calendar::zone(&today.time_zone).expect("a known zone");
    let day = calendar::day_of(&zone, paid[0].created_ms);
    let supervisor_after = supervisor.clone();
    let reconciliation = client
        .reconcile(ctx(), supervisor.clone(), "DMV-RENEWAL".into(), Some(day))
        .await
        .expect("rpc")
        .expect("reconciliation");
    assert_eq!(reconciled(&reconciliation), expected);

    // Every payment event names who keyed the payment and its channel: an agent at the console.
    let feed = client
        .events(ctx(), supervisor_after, 0, 1000, 0)
        .await
        .expect("rpc")
        .expect("events");
    let voided: Vec<(EventKind, &str, Mode)> = feed
        .events
        .iter()
        .filter(|e| e.payment_id() == Some(paid[0].id.as_str()))
        .map(|e| match &e.detail {
            EventDetail::Payment { keyed_by, mode, .. } => (e.kind, keyed_by.as_str(), *mode),
            other => panic!("a payment event expected: {other:?}"),
        })
        .collect();
    assert_eq!(
        voided,
        [
            (EventKind::PaymentReceived, "agent1", Mode::Full),
            (EventKind::PaymentApproved, "agent1", Mode::Full),
            (EventKind::PaymentVoided, "agent1", Mode::Full),
        ]
    );
    daemon.assert_no_card_data();
}
