//! Moving up: a SQLite store holding a day's activity and 100,000 payments, copied into
//! PostgreSQL with `cipd store copy`, then served by a daemon on the copy, answers searches,
//! lookups, the feed, replays and exports exactly as the daemon on the SQLite file does. Skipped,
//! saying so, where PostgreSQL is not installed, unless `CIP_REQUIRE_TOOLS` is set (as in CI).

use cip_common::payment::{SearchQuery, SearchSort};
use cip_common::refund::{RefundReason, RefundRequest, RefundStatus};
use cip_common::status::PaymentStatus;
use cip_daemon::store::{Store, StoreLimits};
use cip_tests::handoffs::{add_notifying_application, agency_callback, paid_and_notified};
use cip_tests::http::{Agency, HTTP_CONFIG, payment_body};
use cip_tests::{Daemon, card_request, ctx, new_key, postgres};

/// Payments written straight into the SQLite file, besides the day's activity.
const HISTORY: u64 = 100_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_copied_store_answers_every_search_and_export_as_the_sqlite_one_did() {
    if !postgres::present() {
        return;
    }
    let mut old = Daemon::start_on_sqlite(HTTP_CONFIG).await;
    let (port, received) = agency_callback().await;
    add_notifying_application(&old, port);

    // A day's activity: payments declined, approved, voided and refunded, a gateway payment
    // under a key,
    // a hand-off paid and its agency notified (refused twice, then taken), and a batch report.
    let client = old.client().await;
    let agent = old.login(&client, "DMV-RENEWAL", "agent1").await;
    let supervisor = old.login(&client, "DMV-RENEWAL", "super1").await;
    let mut taken = Vec::new();
    for number in ["4242424242424242", "4000000000000002", "5555555555554444"] {
        taken.push(old.take(&client, &agent, number, 4_000).await);
    }
    client
        .void(ctx(), supervisor.clone(), taken[0].id.clone())
        .await
        .expect("rpc")
        .expect("voided");
    let refund = client
        .refund(
            ctx(),
            supervisor.clone(),
            taken[2].id.clone(),
            new_key(),
            RefundRequest {
                amount_minor: 1_500,
                reason: RefundReason::Duplicate,
                note: "paid twice".to_owned(),
                expected_refundable_minor: Some(4_000),
            },
        )
        .await
        .expect("rpc")
        .expect("refunded");
    assert_eq!(refund.status, RefundStatus::Succeeded);
    let request = card_request("4242424242424242", 1_234);
    old.sent(&request);
    let (key, body) = (new_key(), payment_body(&request));
    let (status, paid) = Agency::new(&old, "DMV-RENEWAL")
        .await
        .pay(&key, &body)
        .await;
    assert_eq!(status, 201, "{paid}");
    paid_and_notified(&old, &received).await;
    let run = old.cipd(&["report", "run", "--app", "DMV-RENEWAL"], None);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // …and a long history, written while the daemon is stopped.
    old.kill();
    let database = old.dir.path().join("cip.db");
    let limits = StoreLimits {
        write_queue: 4_096,
        max_batch: 512,
        readers: 2,
    };
    let store = Store::open(&database, limits).expect("the SQLite store opens");
    let written = cip_daemon::bench::write_payments(&store, None, Some(HISTORY))
        .await
        .expect("payments written");
    assert_eq!(written, HISTORY);
    drop(store);

    let url = postgres::cluster().new_database();
    let copy = old.cipd(&["store", "copy", "--to", &url], None);
    let said = String::from_utf8_lossy(&copy.stdout).into_owned();
    assert!(
        copy.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    // Every table, with as many rows as the SQLite file holds.
    let counted: Vec<(String, String)> = said
        .lines()
        .skip(1)
        .map_while(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .filter(|(_, rows)| rows.parse::<u64>().is_ok())
        .collect();
    assert_eq!(counted.len(), 16, "{said}");
    for (table, rows) in &counted {
        assert_eq!(
            old.sql(&format!("SELECT count(*) FROM {table}")),
            [[rows.clone()]],
            "{table}"
        );
    }
    let payments = &counted
        .iter()
        .find(|(t, _)| t == "payments")
        .expect("payments")
        .1;
    assert_eq!(payments.parse::<u64>().ok(), Some(HISTORY + 5), "{said}");
    let again = old.cipd(&["store", "copy", "--to", &url], None);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds CIP data"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // Both served: the SQLite file as it was, and its copy on PostgreSQL.
    old.serve().await;
    let refused = old.cipd(
        &["store", "copy", "--to", &postgres::cluster().new_database()],
        None,
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("stop it before"),
        "a copy while the daemon serves: {}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let new = Daemon::like(&old, Some(url)).await;
    let (before, after) = (old.client().await, new.client().await);
    // The supervisor's session goes on on the copy.
    let code = taken[2].confirmation_code.clone().expect("approved");
    let searches = [
        SearchQuery {
            page_size: 50,
            ..SearchQuery::default()
        },
        SearchQuery {
            sort: SearchSort::Oldest,
            page: 7,
            page_size: 100,
            ..SearchQuery::default()
        },
        SearchQuery {
            status: Some(PaymentStatus::Voided),
            page_size: 50,
            ..SearchQuery::default()
        },
        SearchQuery {
            last_four: Some("4444".into()),
            page_size: 50,
            ..SearchQuery::default()
        },
        SearchQuery {
            confirmation_code: Some(code.to_lowercase()),
            page_size: 50,
            ..SearchQuery::default()
        },
        SearchQuery {
            payer_name: Some("ada".into()),
            sort: SearchSort::AmountHighest,
            page: 3,
            page_size: 200,
            ..SearchQuery::default()
        },
    ];
    for query in searches {
        let there = before
            .search(ctx(), supervisor.clone(), query.clone())
            .await
            .expect("rpc")
            .expect("a page");
        let here = after
            .search(ctx(), supervisor.clone(), query.clone())
            .await
            .expect("rpc")
            .expect("a page on the copy");
        assert!(!there.payments.is_empty(), "{query:?} finds something");
        assert_eq!(here, there, "{query:?}");
    }
    let refunds = |client: &cip_common::service::CipClient| {
        let (client, supervisor, id) = (client.clone(), supervisor.clone(), taken[2].id.clone());
        async move {
            client
                .refunds(ctx(), supervisor, id)
                .await
                .expect("rpc")
                .expect("refunds")
        }
    };
    let copied = refunds(&after).await;
    assert_eq!(
        copied,
        refunds(&before).await,
        "the refund survives the copy"
    );
    assert_eq!(
        copied.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&refund.id]
    );
    assert!(
        copied[0].batch_id.is_some(),
        "and the batch that reported it"
    );
    for payment in &taken {
        let there = before
            .timeline(ctx(), supervisor.clone(), payment.id.clone())
            .await
            .expect("rpc")
            .expect("a timeline");
        let here = after
            .timeline(ctx(), supervisor.clone(), payment.id.clone())
            .await
            .expect("rpc")
            .expect("a timeline on the copy");
        assert_eq!(here, there);
    }
    let feed = |client: &cip_common::service::CipClient| {
        let (client, supervisor) = (client.clone(), supervisor.clone());
        async move {
            client
                .events(ctx(), supervisor, 0, 500, 0)
                .await
                .expect("rpc")
                .expect("events")
                .events
        }
    };
    assert_eq!(
        feed(&after).await,
        feed(&before).await,
        "the feed's first page"
    );

    // The agency's key, sent again to the copy, finds its payment and charges nothing more.
    let (status, replayed) = Agency::new(&new, "DMV-RENEWAL")
        .await
        .pay(&key, &body)
        .await;
    assert_eq!((status, &replayed["id"]), (200, &paid["id"]), "{replayed}");
    // Exports, byte for byte.
    for application in ["DMV-RENEWAL", "DMV-NOTIFY"] {
        let there = old.cipd(&["report", "export", "--app", application], None);
        let here = new.cipd(&["report", "export", "--app", application], None);
        assert!(
            here.status.success(),
            "{}",
            String::from_utf8_lossy(&here.stderr)
        );
        assert!(
            there.stdout.len() > 100,
            "{application} exports its payments"
        );
        assert!(
            here.stdout == there.stdout,
            "{application}'s export differs on the copy"
        );
    }
    assert_eq!(
        new.sql("SELECT count(*) FROM audit_log WHERE action = 'store.copy'"),
        [["1"]]
    );
    // The copy takes payments of its own after those it holds.
    let request = card_request("5555555555554444", 2_222);
    new.sent(&request);
    let fresh = after
        .submit(ctx(), agent, new_key(), request)
        .await
        .expect("rpc")
        .expect("approved on the copy");
    assert_eq!(fresh.status, PaymentStatus::Approved);
    old.assert_no_card_data();
    new.assert_no_card_data();
}
