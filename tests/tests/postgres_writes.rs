//! Many payments' writes at once on PostgreSQL, as a busy daemon makes them: gathered into one
//! statement each (`store/postgres/gathered.rs`), yet every caller hears what it would have heard
//! alone. A key sent twice gives one payment, and the second hears of the first; a confirmation
//! number two payments drew is kept by one, and the other is told to draw again while the rest of
//! the statement's payments are approved; a payment someone else moved stays as it is. Codes
//! issued before codes had numbers are numbered and found. Skipped,
//! saying so, where PostgreSQL is not installed, unless `CIP_REQUIRE_TOOLS` is set (as in CI).

use cip_common::event::EventKind;
use cip_common::payment::{Payment, payment_id};
use cip_common::status::PaymentStatus;
use cip_daemon::admin::{Admin, Operator};
use cip_daemon::bench::demo_payment;
use cip_daemon::clock::Entropy;
use cip_daemon::codes::CodeKey;
use cip_daemon::store::payments::{Begun, Decided, Decision};
use cip_daemon::store::{Database, Store, StoreLimits};
use cip_tests::postgres;
use futures::future::join_all;
use std::sync::Arc;

/// Payments written at once: far more than the store's senders, so writes gather.
const AT_ONCE: usize = 200;
const NOW_MS: i64 = 1_796_338_800_000;

/// A store on a new database of the cluster, with the demo loaded, and the database's name.
async fn demo_store() -> Option<(Store, String)> {
    if !postgres::present() {
        return None;
    }
    let url = postgres::cluster().new_database();
    let name = url.rsplit("dbname=").next().expect("a dbname").to_owned();
    let limits = StoreLimits {
        write_queue: 4_096,
        max_batch: 64,
        readers: 8,
    };
    let database = Database {
        url: &url,
        tls_ca: None,
    };
    let store = Store::connect(database, limits)
        .await
        .expect("the store connects");
    Admin {
        store: store.clone(),
        operator: Operator::from_env(),
        entropy: Entropy::from_os(),
    }
    .load_demo()
    .await
    .expect("the demo's applications and users");
    Some((store, name))
}

fn payment(n: usize, key: String) -> Payment {
    demo_payment(payment_id(NOW_MS, n as u64), key, NOW_MS)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_sent_twice_at_once_gives_one_payment_and_the_second_hears_of_the_first() {
    let Some((store, _)) = demo_store().await else {
        return;
    };
    // Each key twice: the same request (same fingerprint) for even keys, a different one for odd.
    let writes: Vec<(Payment, [u8; 32])> = (0..AT_ONCE)
        .map(|n| {
            let key = n / 2;
            let fingerprint = if key % 2 == 1 && n % 2 == 1 {
                [1; 32]
            } else {
                [0; 32]
            };
            (payment(n, format!("twice-{key}")), fingerprint)
        })
        .collect();
    let begun = join_all(
        writes
            .iter()
            .map(|(payment, fingerprint)| store.begin(payment, fingerprint)),
    )
    .await;

    for key in 0..AT_ONCE / 2 {
        let pair = [2 * key, 2 * key + 1];
        let created: Vec<usize> = pair
            .into_iter()
            .filter(|&n| matches!(begun[n], Ok(Begun::Created { .. })))
            .collect();
        assert_eq!(created.len(), 1, "key {key}: {:?}", &begun[2 * key..][..2]);
        let (first, second) = (created[0], pair[usize::from(created[0] == pair[0])]);
        match &begun[second] {
            Ok(Begun::Existing {
                payment_id,
                same_request,
            }) => {
                assert_eq!(payment_id, &writes[first].0.id, "key {key}");
                assert_eq!(*same_request, key % 2 == 0, "key {key}");
            }
            other => panic!("key {key}: the second heard {other:?}"),
        }
        let kept = store.payment(&writes[first].0.id).await.expect("read");
        assert_eq!(kept.map(|p| p.status), Some(PaymentStatus::Processing));
        let dropped = store.payment(&writes[second].0.id).await.expect("read");
        assert!(dropped.is_none(), "key {key}: a second payment was kept");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_number_two_payments_drew_is_kept_by_one_and_the_others_are_approved() {
    let Some((store, _)) = demo_store().await else {
        return;
    };
    let mut payments: Vec<Payment> = (0..AT_ONCE)
        .map(|n| payment(n, format!("code-{n}")))
        .collect();
    for begun in join_all(payments.iter().map(|p| store.begin(p, &[0; 32]))).await {
        assert!(matches!(begun, Ok(Begun::Created { .. })), "{begun:?}");
    }
    // The first two draw the same number; the last was moved by someone else already.
    let key = CodeKey::from_fingerprint_key(&[7; 32]);
    let drawn = |n: usize| if n < 2 { 0 } else { n as u64 };
    let decisions: Vec<Arc<Decision>> = (0..AT_ONCE)
        .map(|n| {
            Arc::new(Decision {
                from: if n == AT_ONCE - 1 {
                    PaymentStatus::InDoubt
                } else {
                    PaymentStatus::Processing
                },
                authorization: Some("A1B2C3".into()),
                confirmation_number: Some(drawn(n)),
                kind: EventKind::PaymentApproved,
                at_ms: NOW_MS + 500,
                audit: None,
            })
        })
        .collect();
    for (n, payment) in payments.iter_mut().enumerate() {
        payment.status = PaymentStatus::Approved;
        payment.decided_ms = Some(NOW_MS + 500);
        payment.confirmation_code = Some(key.code(drawn(n)));
    }
    let decided = join_all(
        payments
            .iter()
            .zip(&decisions)
            .map(|(payment, decision)| store.decide(payment, decision)),
    )
    .await;

    let taken: Vec<usize> = (0..2)
        .filter(|&n| matches!(decided[n], Ok(Decided::CodeTaken)))
        .collect();
    assert_eq!(taken.len(), 1, "{:?}", &decided[..2]);
    assert!(
        matches!(decided[AT_ONCE - 1], Ok(Decided::Moved)),
        "{:?}",
        decided[AT_ONCE - 1]
    );
    for (n, payment) in payments.iter().enumerate() {
        let stored = store
            .payment(&payment.id)
            .await
            .expect("read")
            .expect("the payment");
        let (status, code) = if taken.contains(&n) || n == AT_ONCE - 1 {
            (PaymentStatus::Processing, None)
        } else {
            assert!(
                matches!(decided[n], Ok(Decided::Committed)),
                "{n}: {:?}",
                decided[n]
            );
            (PaymentStatus::Approved, payment.confirmation_code.clone())
        };
        assert_eq!(
            (stored.status, stored.confirmation_code),
            (status, code),
            "{n}"
        );
    }
}

/// On PostgreSQL as on SQLite: codes issued before codes had numbers are numbered once, and each
/// is found by its number and text, the one whose number an older code has by its text alone.
#[tokio::test(flavor = "multi_thread")]
async fn codes_issued_before_numbers_are_numbered_and_still_found() {
    let Some((store, database)) = demo_store().await else {
        return;
    };
    let key = CodeKey::from_fingerprint_key(&[7; 32]);
    let (older, number) = (key.code(1 << 35), 1 << 35);
    // The same 40 bits with a check symbol of the older kind (mod 37): another code, one number.
    let oldest = (0..37u8)
        .map(|c| {
            format!(
                "{}{}",
                &older[..10],
                char::from(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"[usize::from(c)])
            )
        })
        .find(|code| {
            *code != older && cip_common::confirmation::normalize(code).as_ref() == Some(code)
        })
        .expect("the mod-37 form");
    let mut payments = Vec::new();
    for (n, code) in [&older, &oldest].into_iter().enumerate() {
        let mut payment = payment(n, format!("before-{n}"));
        assert!(matches!(
            store.begin(&payment, &[0; 32]).await,
            Ok(Begun::Created { .. })
        ));
        payment.status = PaymentStatus::Approved;
        payment.decided_ms = Some(NOW_MS + 500);
        payment.confirmation_code = Some(key.code(n as u64));
        let decision = Arc::new(Decision {
            from: PaymentStatus::Processing,
            authorization: Some("A1B2C3".into()),
            confirmation_number: Some(n as u64),
            kind: EventKind::PaymentApproved,
            at_ms: NOW_MS + 500,
            audit: None,
        });
        assert!(matches!(
            store.decide(&payment, &decision).await,
            Ok(Decided::Committed)
        ));
        let issued_before = postgres::cluster().psql(
            &database,
            &format!(
                "UPDATE confirmations SET code = '{code}', number = NULL
                 WHERE payment_id = '{}'",
                payment.id
            ),
        );
        assert!(issued_before.status.success(), "{issued_before:?}");
        payments.push(payment);
    }

    assert_eq!(store.number_confirmations(&key).await.expect("numbered"), 1);
    assert_eq!(store.number_confirmations(&key).await.expect("again"), 0);
    assert_eq!(key.number(&oldest), Some(number));
    for (code, payment) in [(&older, &payments[0]), (&oldest, &payments[1])] {
        let found = store
            .payment_confirmed_by(number, code)
            .await
            .expect("read");
        assert_eq!(found.map(|p| p.id), Some(payment.id.clone()), "{code}");
    }
}
