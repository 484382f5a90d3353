//! Supervisor actions and figures through a real daemon: void, resolve, unlock, each audited;
//! the queue's figures; agents refused all of them.

use cip_common::error::ApiError;
use cip_common::event::{EventDetail, EventKind};
use cip_common::payment::PaymentLookup;
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
    let db = rusqlite::Connection::open(daemon.dir.path().join("cip.db")).expect("db");
    let audited: Vec<(String, String, String)> = db
        .prepare("SELECT actor, action, object FROM audit_log WHERE action IN ('payment.void', 'payment.resolve', 'user.unlock')")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .expect("audit read");
    assert_eq!(
        audited,
        [
            (
                "super1".to_owned(),
                "payment.void".to_owned(),
                format!("payment:{}", approved.id)
            ),
            (
                "super1".to_owned(),
                "payment.resolve".to_owned(),
                format!("payment:{}", in_doubt.id)
            ),
            (
                "super1".to_owned(),
                "user.unlock".to_owned(),
                "user:agent1".to_owned()
            ),
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
    assert_eq!(window.count(PaymentStatus::Approved), 2);
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
