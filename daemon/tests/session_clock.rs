//! Session idle expiry and lockout expiry under a clock the test moves: no sleeps.

use cip_common::error::ApiError;
use cip_common::secret::Password;
use cip_common::session::Role;
use cip_daemon::admin::{Admin, Operator};
use cip_daemon::auth::{Auth, AuthSettings, CONSOLE};
use cip_daemon::clock::{Entropy, ManualClock};
use cip_daemon::store::{Store, StoreLimits};
use std::sync::Arc;

const MINUTE: i64 = 60_000;

fn admin(store: &Store) -> Admin {
    Admin {
        store: store.clone(),
        operator: Operator {
            actor: "test".into(),
            origin: "test".into(),
        },
        entropy: Entropy::seeded(7),
    }
}

/// Signs in with a demo user's demo password.
async fn demo_login(auth: &Auth, user: &str) -> cip_common::session::SessionInfo {
    auth.login(
        "DMV-RENEWAL",
        user,
        Password::new(format!("{user}-demo-pass")),
        "test",
        &CONSOLE,
    )
    .await
    .unwrap()
}

async fn setup() -> (tempfile::TempDir, Arc<ManualClock>, Auth, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("cip.db"),
        StoreLimits {
            write_queue: 64,
            max_batch: 16,
            readers: 2,
        },
    )
    .unwrap();
    admin(&store).load_demo().await.unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let auth = Auth::new(
        store.clone(),
        clock.clone(),
        Entropy::seeded(8),
        AuthSettings {
            max_failures: 6,
            lockout_ms: 30 * MINUTE,
            idle_ms: 15 * MINUTE,
            verified_for_ms: MINUTE,
        },
    )
    .unwrap();
    (dir, clock, auth, store)
}

#[tokio::test]
async fn a_session_ends_after_fifteen_idle_minutes_and_use_keeps_it_alive() {
    let (_dir, clock, auth, store) = setup().await;
    let session = demo_login(&auth, "agent1").await;
    assert_eq!(session.role, Role::Agent);
    // Used every 14 minutes, it stays open for an hour.
    for _ in 0..4 {
        clock.advance_ms(14 * MINUTE);
        assert_eq!(auth.session(&session.token).await.unwrap().user, "agent1");
    }
    clock.advance_ms(15 * MINUTE + 1);
    assert_eq!(
        auth.session(&session.token).await.unwrap_err(),
        ApiError::SessionExpired
    );
    // Ended for good, even if the clock were to go back.
    assert_eq!(
        auth.session(&session.token).await.unwrap_err(),
        ApiError::SessionExpired
    );
    let audit = store.audit_entries(10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "session.expired" && e.actor == "agent1")
    );
    assert!(
        audit
            .iter()
            .any(|e| e.action == "login" && e.outcome == "success" && e.origin == "test")
    );
}

#[tokio::test]
async fn a_lockout_lasts_thirty_minutes_then_the_count_starts_again() {
    let (_dir, clock, auth, store) = setup().await;
    let wrong = || Password::new("wrong-password-00");
    for _ in 0..5 {
        let err = auth
            .login("DMV-RENEWAL", "super1", wrong(), "test", &CONSOLE)
            .await
            .unwrap_err();
        assert_eq!(err, ApiError::BadCredentials);
    }
    let sixth = auth
        .login("DMV-RENEWAL", "super1", wrong(), "test", &CONSOLE)
        .await
        .unwrap_err();
    let ApiError::Locked { until_ms, .. } = sixth else {
        panic!("{sixth:?}")
    };
    assert_eq!(until_ms - clock.now(), 30 * MINUTE);
    clock.advance_ms(30 * MINUTE - 1);
    let right = || Password::new("super1-demo-pass");
    assert!(matches!(
        auth.login("DMV-RENEWAL", "super1", right(), "test", &CONSOLE)
            .await,
        Err(ApiError::Locked { .. })
    ));
    clock.advance_ms(1);
    // After the lockout, one more failure does not lock again at once.
    assert_eq!(
        auth.login("DMV-RENEWAL", "super1", wrong(), "test", &CONSOLE)
            .await
            .unwrap_err(),
        ApiError::BadCredentials
    );
    assert!(
        auth.login("DMV-RENEWAL", "super1", right(), "test", &CONSOLE)
            .await
            .is_ok()
    );
    let audit = store.audit_entries(50).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "lockout").count(), 1);
    assert!(audit.iter().all(|e| !e.object.contains("demo-pass")));
}

#[tokio::test]
async fn watching_the_feed_does_not_keep_a_session_alive() {
    let (_dir, clock, auth, _store) = setup().await;
    let session = demo_login(&auth, "super1").await;
    for _ in 0..2 {
        clock.advance_ms(6 * MINUTE);
        assert!(auth.watching(&session.token).await.is_ok());
    }
    // Eighteen minutes after the last keystroke, the watching console must sign in again.
    clock.advance_ms(6 * MINUTE);
    assert_eq!(
        auth.watching(&session.token).await.unwrap_err(),
        ApiError::SessionExpired
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_guesses_cannot_pass_the_lockout() {
    let (_dir, _clock, auth, store) = setup().await;
    let auth = Arc::new(auth);
    let guesses = (0..24).map(|i| {
        let auth = Arc::clone(&auth);
        tokio::spawn(async move {
            auth.login(
                "DMV-RENEWAL",
                "agent1",
                Password::new(format!("wrong-guess-{i:04}")),
                "test",
                &CONSOLE,
            )
            .await
            .unwrap_err()
        })
    });
    let answers = futures::future::join_all(guesses).await;
    assert!(answers.into_iter().all(|a| matches!(
        a.unwrap(),
        ApiError::BadCredentials | ApiError::Locked { .. }
    )));
    let audit = store.audit_entries(100).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "lockout").count(), 1);
    let right = auth
        .login(
            "DMV-RENEWAL",
            "agent1",
            Password::new("agent1-demo-pass"),
            "test",
            &CONSOLE,
        )
        .await;
    assert!(matches!(right, Err(ApiError::Locked { .. })), "{right:?}");
}

#[tokio::test]
async fn a_password_change_ends_open_sessions_within_a_minute() {
    let (_dir, clock, auth, store) = setup().await;
    let session = demo_login(&auth, "agent1").await;
    admin(&store)
        .set_password("agent1", &Password::new("a-new-password-77"))
        .await
        .unwrap();
    clock.advance_ms(MINUTE + 1);
    assert_eq!(
        auth.session(&session.token).await.unwrap_err(),
        ApiError::SessionExpired
    );
    assert!(
        auth.login(
            "DMV-RENEWAL",
            "agent1",
            Password::new("a-new-password-77"),
            "test",
            &CONSOLE
        )
        .await
        .is_ok()
    );
}
