//! The same idempotency key gives the same answer and one processor call; a different request
//! under the same key is refused, naming the key.

use cip_common::error::ApiError;
use cip_common::payment::PaymentLookup;
use cip_common::status::PaymentStatus;
use cip_tests::{Daemon, card_request, ctx, new_key};

const VISA: &str = "4242424242424242";

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_returns_the_identical_record_and_a_changed_body_is_refused() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let key = new_key();
    let request = card_request(VISA, 4_200);
    daemon.sent(&request);

    let first = client
        .submit(ctx(), token.clone(), key.clone(), request.clone())
        .await
        .expect("rpc")
        .expect("approved");
    assert_eq!(first.status, PaymentStatus::Approved);
    let replay = client
        .submit(ctx(), token.clone(), key.clone(), request.clone())
        .await
        .expect("rpc")
        .expect("replayed");
    assert_eq!(replay, first);
    let stored = client
        .payment(ctx(), token.clone(), PaymentLookup::Id(first.id.clone()))
        .await
        .expect("rpc")
        .expect("found");
    assert_eq!(stored, first);

    let changed = card_request(VISA, 4_201);
    let refused = client
        .submit(ctx(), token.clone(), key.clone(), changed)
        .await
        .expect("rpc");
    match refused {
        Err(err @ ApiError::IdempotencyConflict { .. }) => {
            assert!(err.to_string().contains(&key), "{err}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(daemon.processor_calls(&first.id), 1);
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_submits_with_one_key_make_one_processor_call() {
    let daemon = Daemon::start().await;
    let key = new_key();
    // The slow approval keeps the first call in flight while the others arrive.
    let request = card_request("4000000000000325", 1_999);
    daemon.sent(&request);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let client = daemon.client().await;
        let token = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
        clients.push((client, token));
    }
    let submits = (0..20).map(|i| {
        let (client, token) = clients[i % clients.len()].clone();
        let (key, request) = (key.clone(), request.clone());
        async move { client.submit(ctx(), token, key, request).await }
    });
    let answers: Vec<_> = futures::future::join_all(submits)
        .await
        .into_iter()
        .map(|answer| answer.expect("rpc").expect("approved"))
        .collect();
    let first = answers[0].clone();
    assert_eq!(first.status, PaymentStatus::Approved);
    assert!(answers.iter().all(|answer| *answer == first));
    assert_eq!(daemon.processor_calls(&first.id), 1);
    assert_eq!(daemon.ledger().lines().count(), 1);
    daemon.assert_no_card_data();
}
