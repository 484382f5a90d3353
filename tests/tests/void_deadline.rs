//! A supervisor may void an approved payment until the end of the day it was approved in, in its
//! application's time zone (the day its reports count it in), whatever the day is in UTC: the
//! engine on a real store and the sandbox, with a clock that moves only when told.

use cip_common::error::ApiError;
use cip_common::payment::{Mode, Payment};
use cip_common::session::Role;
use cip_common::status::PaymentStatus;
use cip_daemon::admin::{Admin, Operator};
use cip_daemon::auth::Caller;
use cip_daemon::clock::{Entropy, ManualClock};
use cip_daemon::engine::{Engine, ProcessorWaits};
use cip_daemon::processor::sandbox::Sandbox;
use cip_daemon::store::{Store, StoreLimits};
use std::sync::Arc;
use std::time::Duration;

/// 2026-12-03 23:00 UTC: 17:00 in Chicago (UTC-6 in December).
const AFTERNOON_IN_CHICAGO_MS: i64 = 1_796_338_800_000;
/// 2026-12-04 05:59 UTC: 23:59 in Chicago, still the 3rd there.
const BEFORE_MIDNIGHT_IN_CHICAGO_MS: i64 = 1_796_363_940_000;
/// 2026-12-04 06:01 UTC: 00:01 on the 4th in Chicago, the same UTC day as the minute before.
const AFTER_MIDNIGHT_IN_CHICAGO_MS: i64 = 1_796_364_060_000;

fn caller(user: &str, role: Role) -> Caller {
    Caller {
        user: user.to_owned(),
        role,
        application: "DMV-CHICAGO".to_owned(),
        grants: vec!["DMV-CHICAGO".to_owned()],
    }
}

async fn approved(engine: &Arc<Engine>, key: &str) -> Payment {
    let payment = engine
        .submit(
            &caller("agent1", Role::Agent),
            Mode::Full,
            key.to_owned(),
            cip_tests::card_request("4242424242424242", 2_500),
        )
        .await
        .expect("taken");
    assert_eq!(payment.status, PaymentStatus::Approved);
    payment
}

#[tokio::test(flavor = "multi_thread")]
async fn a_void_is_allowed_until_midnight_in_the_application_s_time_zone() {
    let dir = tempfile::tempdir().expect("a temporary dir");
    let store = Store::open(
        &dir.path().join("cip.db"),
        StoreLimits {
            write_queue: 64,
            max_batch: 16,
            readers: 2,
        },
    )
    .expect("a store");
    let admin = Admin {
        store: store.clone(),
        operator: Operator::from_env(),
        entropy: Entropy::from_os(),
    };
    admin.load_demo().await.expect("the demo");
    let mut spec = admin
        .application("DMV-RENEWAL")
        .await
        .expect("the demo app");
    spec.id = "DMV-CHICAGO".to_owned();
    spec.time_zone = "America/Chicago".to_owned();
    admin.add_application(spec).await.expect("added");
    let clock = Arc::new(ManualClock::new(AFTERNOON_IN_CHICAGO_MS));
    let engine = Arc::new(Engine::new(
        store,
        Arc::new(
            Sandbox::open(&dir.path().join("ledger.log"), Duration::ZERO).expect("the sandbox"),
        ),
        clock.clone(),
        Entropy::from_os(),
        [7; 32],
        ProcessorWaits {
            deadline: Duration::from_secs(5),
            ask_after: Duration::from_secs(1),
        },
    ));
    let supervisor = caller("super1", Role::Supervisor);

    // Approved in the afternoon; at 23:59 there, a day later in UTC, it can still be voided.
    let afternoon = approved(&engine, "afternoon").await;
    clock.advance_ms(BEFORE_MIDNIGHT_IN_CHICAGO_MS - clock.now());
    let voided = engine
        .void(&supervisor, &afternoon.id, "test")
        .await
        .expect("voided on its own local day");
    assert_eq!(voided.status, PaymentStatus::Voided);

    // Approved at 23:59 there; two minutes later, the same day in UTC, it is a day too late.
    let late = approved(&engine, "late-evening").await;
    clock.advance_ms(AFTER_MIDNIGHT_IN_CHICAGO_MS - clock.now());
    match engine.void(&supervisor, &late.id, "test").await {
        Err(ApiError::InvalidRequest { message }) => {
            assert!(
                message.contains("approved on an earlier day")
                    && message.contains("2026-12-03 23:59")
                    && message.contains("refund it instead"),
                "the supervisor is told why and what to do: {message}"
            );
        }
        other => panic!("a void after local midnight is refused: {other:?}"),
    }
}
