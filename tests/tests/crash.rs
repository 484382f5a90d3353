//! A cipd killed with SIGKILL while payments are in flight restarts with every acknowledged
//! payment and confirmation present, none charged twice, and in-doubt payments resolved as the
//! sandbox contract says.

use cip_common::payment::{Payment, PaymentLookup};
use cip_common::status::PaymentStatus;
use cip_tests::{Daemon, card_request, ctx, new_key};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest this test waits for anything: far beyond a loaded machine's worst, so running
/// out means what was awaited never happened.
const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_daemon_keeps_every_acknowledged_payment_and_charges_none_twice() {
    let mut daemon = Daemon::start().await;
    let acknowledged: Arc<Mutex<Vec<Payment>>> = Arc::default();

    // Two payments the processor will leave in doubt, acknowledged as such before the kill.
    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let submits = [
        ("4000000000000309", PaymentStatus::Approved),
        ("4000000000000317", PaymentStatus::Failed),
    ]
    .map(|(number, resolves_to)| {
        let request = card_request(number, 3_000);
        daemon.sent(&request);
        let (client, token) = (client.clone(), token.clone());
        async move {
            let payment = client
                .submit(ctx(), token, new_key(), request)
                .await
                .expect("rpc")
                .expect("accepted");
            assert_eq!(payment.status, PaymentStatus::InDoubt);
            (payment.id, resolves_to)
        }
    });
    let in_doubt: HashMap<String, PaymentStatus> =
        tokio::time::timeout(WAIT, futures::future::join_all(submits))
            .await
            .unwrap_or_else(|_| panic!("the in-doubt payments were not answered within {WAIT:?}"))
            .into_iter()
            .collect();

    // Clients submitting approvals (and slow approvals, which are mid-call at the kill).
    let mut workers = Vec::new();
    for worker in 0..4 {
        let client = daemon.client().await;
        let token = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
        let acknowledged = Arc::clone(&acknowledged);
        let number = if worker == 0 {
            "4000000000000325"
        } else {
            "4242424242424242"
        };
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let request = card_request(number, 100 + i);
                match client
                    .submit(ctx(), token.clone(), new_key(), request)
                    .await
                {
                    Ok(Ok(payment)) => acknowledged.lock().expect("not poisoned").push(payment),
                    _ => break,
                }
            }
        }));
    }
    // Every wait has a bound, and says what never happened when it runs out.
    let started = std::time::Instant::now();
    loop {
        let taken = acknowledged.lock().expect("not poisoned").len();
        if taken >= 40 {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "only {taken} of 40 payments were acknowledged within {WAIT:?} before the kill \
             (workers ended: {}): {}",
            workers.iter().filter(|w| w.is_finished()).count(),
            daemon.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    daemon.kill();
    for worker in workers {
        tokio::time::timeout(WAIT, worker)
            .await
            .unwrap_or_else(|_| {
                panic!("a worker's call did not end within {WAIT:?} of the daemon's death")
            })
            .expect("worker ends when the daemon dies");
    }
    daemon.serve().await;

    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    let acknowledged = acknowledged.lock().expect("not poisoned").clone();
    assert!(acknowledged.len() >= 40);
    for before in &acknowledged {
        let after = client
            .payment(ctx(), token.clone(), PaymentLookup::Id(before.id.clone()))
            .await
            .expect("rpc")
            .expect("an acknowledged payment survives");
        assert_eq!(&after, before);
        let code = before
            .confirmation_code
            .clone()
            .expect("approved with a code");
        let by_code = client
            .payment(ctx(), token.clone(), PaymentLookup::ConfirmationCode(code))
            .await
            .expect("rpc")
            .expect("found by its code");
        assert_eq!(by_code.id, before.id);
    }
    for (id, resolves_to) in &in_doubt {
        let after = client
            .payment(ctx(), token.clone(), PaymentLookup::Id(id.clone()))
            .await
            .expect("rpc")
            .expect("found");
        assert_eq!(after.status, *resolves_to, "{id}");
        assert_eq!(
            after.confirmation_code.is_some(),
            *resolves_to == PaymentStatus::Approved
        );
    }
    // Nothing is left processing, and the processor's books show no reference authorized twice.
    // On SQLite the start settles all; on PostgreSQL, which other daemons may share, a payment
    // that may still be in the hands of whichever daemon took it is left to it, and settled
    // once that time has passed (and the next sweep came).
    let patience = match daemon.store_url {
        Some(_) => {
            cip_daemon::engine::carried_for(Duration::from_secs(4), true) + Duration::from_secs(5)
        }
        None => Duration::ZERO,
    };
    let until = std::time::Instant::now() + patience;
    let unsettled = loop {
        let found = client
            .search(
                ctx(),
                token.clone(),
                cip_common::payment::SearchQuery {
                    status: Some(PaymentStatus::Processing),
                    page_size: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("rpc")
            .expect("search");
        if found.payments.is_empty() || std::time::Instant::now() >= until {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(unsettled.payments.is_empty(), "{:?}", unsettled.payments);
    let ledger = daemon.ledger();
    let mut charged = HashMap::new();
    for line in ledger.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols[4] == "approved" {
            *charged.entry(cols[1].to_owned()).or_insert(0) += 1;
        }
    }
    assert!(
        charged.values().all(|n| *n == 1),
        "a reference was charged twice"
    );
    for payment in &acknowledged {
        assert_eq!(
            charged.get(&payment.id),
            Some(&1),
            "{} not in the books",
            payment.id
        );
    }
    daemon.assert_no_card_data();
}
