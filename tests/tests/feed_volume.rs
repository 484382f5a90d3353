//! 2,000 payments from concurrent clients while a feed client follows, with the daemon killed and
//! restarted in the middle: the feed receives every event exactly once, in seq order.

use cip_common::event::{Event, EventKind};
use cip_common::payment::Payment;
use cip_common::secret::SessionToken;
use cip_common::service::CipClient;
use cip_tests::{Daemon, card_request, connect, ctx, new_key};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PAYMENTS: usize = 2_000;
const CLIENTS: usize = 8;

/// A client that reconnects whenever the daemon goes away.
async fn reconnect(socket: &Path) -> CipClient {
    loop {
        if let Ok(client) = connect(socket).await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Submits until it gets an answer, with the same key every time.
async fn submit_until_answered(
    socket: &Path,
    client: &mut CipClient,
    token: &SessionToken,
    n: usize,
) -> Payment {
    let key = new_key();
    let request = card_request(
        if n.is_multiple_of(10) {
            "4000000000000002"
        } else {
            "4242424242424242"
        },
        100 + n as i64,
    );
    loop {
        match client
            .submit(ctx(), token.clone(), key.clone(), request.clone())
            .await
        {
            Ok(Ok(payment)) => return payment,
            Ok(Err(refused)) => panic!("payment {n} refused: {refused}"),
            Err(_) => *client = reconnect(socket).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_gets_every_event_once_in_order_across_a_restart() {
    let mut daemon = Daemon::start().await;
    let socket = daemon.socket.clone();
    let first = daemon.client().await;
    let supervisor = daemon.login(&first, "DMV-RENEWAL", "super1").await;
    let agent = daemon.login(&first, "DMV-RENEWAL", "agent1").await;

    let received: Arc<Mutex<Vec<Event>>> = Arc::default();
    let done = Arc::new(AtomicUsize::new(0));
    let feed = {
        let (socket, received, token) = (socket.clone(), Arc::clone(&received), supervisor.clone());
        tokio::spawn(async move {
            let mut client = reconnect(&socket).await;
            let mut after = 0;
            loop {
                match client.events(ctx(), token.clone(), after, 1_000, 500).await {
                    Ok(Ok(batch)) => {
                        after = batch.next_seq;
                        let mut all = received.lock().expect("not poisoned");
                        all.extend(batch.events);
                        if all
                            .iter()
                            .filter(|e| {
                                e.kind != EventKind::PaymentReceived
                                    && e.kind.code().starts_with("payment.")
                            })
                            .count()
                            >= PAYMENTS
                        {
                            return;
                        }
                    }
                    Ok(Err(refused)) => panic!("feed refused: {refused}"),
                    Err(_) => client = reconnect(&socket).await,
                }
            }
        })
    };

    let acknowledged: Arc<Mutex<Vec<Payment>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (socket, token, acknowledged, next, done) = (
            socket.clone(),
            agent.clone(),
            Arc::clone(&acknowledged),
            Arc::clone(&next),
            Arc::clone(&done),
        );
        clients.push(tokio::spawn(async move {
            let mut client = reconnect(&socket).await;
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= PAYMENTS {
                    break;
                }
                let payment = submit_until_answered(&socket, &mut client, &token, n).await;
                acknowledged.lock().expect("not poisoned").push(payment);
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while done.load(Ordering::SeqCst) < PAYMENTS / 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    daemon.restart_after_kill().await;
    for client in clients {
        client.await.expect("client finished");
    }
    tokio::time::timeout(Duration::from_secs(120), feed)
        .await
        .expect("the feed catches up")
        .expect("feed task");

    let received = received.lock().expect("not poisoned").clone();
    let seqs: Vec<u64> = received.iter().map(|e| e.seq).collect();
    let stored: Vec<u64> = daemon
        .sql("SELECT seq FROM events ORDER BY seq")
        .iter()
        .map(|row| row[0].parse().expect("a seq"))
        .collect();
    assert_eq!(
        seqs,
        stored[..seqs.len().min(stored.len())],
        "every event once, in seq order, none missing"
    );

    let acknowledged = acknowledged.lock().expect("not poisoned").clone();
    assert_eq!(acknowledged.len(), PAYMENTS);
    let mut by_payment: HashMap<&str, Vec<EventKind>> = HashMap::new();
    for event in &received {
        if let Some(id) = event.payment_id() {
            by_payment.entry(id).or_default().push(event.kind);
        }
    }
    let mut ids: Vec<&str> = acknowledged.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), PAYMENTS, "no payment acknowledged twice");
    for payment in &acknowledged {
        let kinds = &by_payment[payment.id.as_str()];
        assert_eq!(kinds[0], EventKind::PaymentReceived, "{}", payment.id);
        assert_eq!(kinds.len(), 2, "{}: {kinds:?}", payment.id);
    }
    // Payments in flight at the kill were received but never acknowledged; each was settled.
    for (id, kinds) in &by_payment {
        assert!(
            kinds.len() == 2 && kinds[0] == EventKind::PaymentReceived,
            "{id}: {kinds:?}"
        );
    }
}
