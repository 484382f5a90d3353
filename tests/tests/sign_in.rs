//! Sign-in as users meet it: wrong credentials never say which part was wrong, a lockout says
//! until when and `cipd user unlock` lifts it, and roles and applications are checked on every call.

use cip_common::error::ApiError;
use cip_common::payment::{PaymentLookup, SearchQuery};
use cip_common::secret::{Password, SessionToken};
use cip_tests::{Daemon, card_request, ctx, demo_password, new_key};

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_never_say_which_part_was_wrong() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    for (application, user, password) in [
        ("DMV-RENEWAL", "agent1", Password::new("wrong-password-1")),
        ("DMV-RENEWAL", "nobody", demo_password("agent1")),
        ("NO-SUCH-APP", "agent1", demo_password("agent1")),
    ] {
        let answer = client
            .login(ctx(), application.into(), user.into(), password)
            .await
            .expect("rpc");
        assert_eq!(
            answer,
            Err(ApiError::BadCredentials),
            "{application} {user}"
        );
    }
    let message = ApiError::BadCredentials.to_string();
    assert!(
        message.contains("application id, user id or password"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_user_is_told_until_when_and_unlock_lifts_it() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let wrong = || Password::new("not-the-password-9");
    // TEST_CONFIG locks after 3 failures.
    for _ in 0..2 {
        let answer = client
            .login(ctx(), "DMV-RENEWAL".into(), "agent1".into(), wrong())
            .await
            .expect("rpc");
        assert_eq!(answer, Err(ApiError::BadCredentials));
    }
    let third = client
        .login(ctx(), "DMV-RENEWAL".into(), "agent1".into(), wrong())
        .await
        .expect("rpc");
    let Err(locked @ ApiError::Locked { .. }) = third else {
        panic!("expected a lockout, got {third:?}");
    };
    assert!(
        locked.to_string().contains("locked") && locked.to_string().contains("until"),
        "{locked}"
    );
    // Even the right password is refused while locked.
    let right = client
        .login(
            ctx(),
            "DMV-RENEWAL".into(),
            "agent1".into(),
            demo_password("agent1"),
        )
        .await
        .expect("rpc");
    assert!(matches!(right, Err(ApiError::Locked { .. })), "{right:?}");
    let listed = daemon.cipd(&["user", "list"], None);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("locked until"));

    let unlock = daemon.cipd(&["user", "unlock", "agent1"], None);
    assert!(
        unlock.status.success(),
        "{}",
        String::from_utf8_lossy(&unlock.stderr)
    );
    let after = client
        .login(
            ctx(),
            "DMV-RENEWAL".into(),
            "agent1".into(),
            demo_password("agent1"),
        )
        .await
        .expect("rpc");
    assert!(after.is_ok(), "{after:?}");
    let unknown = daemon.cipd(&["user", "unlock", "nobody"], None);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user nobody"));
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_and_applications_are_checked_on_every_call() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let request = card_request("4242424242424242", 1_000);
    daemon.sent(&request);
    let payment = client
        .submit(ctx(), agent.clone(), new_key(), request.clone())
        .await
        .expect("rpc")
        .expect("approved");

    // An API user keys nothing in at the console; an agent sends nothing as the gateway.
    let api = daemon.login(&client, "DMV-RENEWAL", "api1").await;
    let refused = client
        .submit(ctx(), api, new_key(), request.clone())
        .await
        .expect("rpc");
    assert!(
        matches!(refused, Err(ApiError::Forbidden { .. })),
        "{refused:?}"
    );
    let refused = client
        .gateway_submit(
            ctx(),
            "DMV-RENEWAL".into(),
            "agent1".into(),
            demo_password("agent1"),
            new_key(),
            request.clone(),
        )
        .await
        .expect("rpc");
    assert!(
        matches!(refused, Err(ApiError::Forbidden { .. })),
        "{refused:?}"
    );
    let gateway = client
        .gateway_submit(
            ctx(),
            "DMV-RENEWAL".into(),
            "api1".into(),
            demo_password("api1"),
            new_key(),
            request,
        )
        .await
        .expect("rpc")
        .expect("gateway mode approves");
    assert_eq!(gateway.mode, cip_common::payment::Mode::Gateway);

    // An agent signed in to another application does not see the payment; a supervisor does.
    let park_agent = daemon.login(&client, "PARK-RESERVE", "agent1").await;
    let hidden = client
        .payment(
            ctx(),
            park_agent.clone(),
            PaymentLookup::Id(payment.id.clone()),
        )
        .await
        .expect("rpc");
    assert!(
        matches!(hidden, Err(ApiError::NotFound { .. })),
        "{hidden:?}"
    );
    let page = client
        .search(
            ctx(),
            park_agent,
            SearchQuery {
                page_size: 50,
                ..Default::default()
            },
        )
        .await
        .expect("rpc")
        .expect("search");
    assert!(page.payments.is_empty());
    let supervisor = daemon.login(&client, "PARK-RESERVE", "super1").await;
    let seen = client
        .payment(ctx(), supervisor, PaymentLookup::Id(payment.id.clone()))
        .await
        .expect("rpc")
        .expect("a supervisor sees every granted application");
    assert_eq!(seen.id, payment.id);

    // A made-up or signed-out token is an ended session.
    let made_up = client
        .search(
            ctx(),
            SessionToken::new("0".repeat(64)),
            SearchQuery::default(),
        )
        .await
        .expect("rpc");
    assert_eq!(made_up, Err(ApiError::SessionExpired));
    client
        .logout(ctx(), agent.clone())
        .await
        .expect("rpc")
        .expect("signed out");
    let after_logout = client
        .payment(ctx(), agent, PaymentLookup::Id(payment.id))
        .await
        .expect("rpc");
    assert_eq!(after_logout, Err(ApiError::SessionExpired));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_password_may_not_be_one_of_the_last_four() {
    let daemon = Daemon::start().await;
    let passwd = |password: &str| {
        let out = daemon.cipd(
            &["user", "passwd", "agent1"],
            Some(&format!("{password}\n")),
        );
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let changes = [
        "first-change-2026",
        "second-change-2026",
        "third-change-2026",
    ];
    for password in changes {
        assert_eq!(passwd(password), (true, String::new()));
    }
    // The current one and the three before it are refused, the demo's first among them.
    for password in ["agent1-demo-pass", "first-change-2026", "third-change-2026"] {
        let (changed, said) = passwd(password);
        assert!(
            !changed && said.contains("one of the last 4 passwords"),
            "{said}"
        );
    }
    assert_eq!(passwd("fourth-change-2026"), (true, String::new()));
    // Five back is allowed again.
    assert_eq!(passwd("agent1-demo-pass"), (true, String::new()));
    let client = daemon.client().await;
    daemon.login(&client, "DMV-RENEWAL", "agent1").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_is_sent_from_the_console_to_the_staff_pages() {
    let daemon = Daemon::start().await;
    daemon.add_user("desk7", "viewer", "DMV-RENEWAL");
    let client = daemon.client().await;
    let refused = client
        .login(
            ctx(),
            "DMV-RENEWAL".into(),
            "desk7".into(),
            Password::new("desk7-pass-2026"),
        )
        .await
        .expect("rpc");
    let Err(error @ ApiError::Forbidden { .. }) = refused else {
        panic!("a viewer signed in to the console: {refused:?}");
    };
    assert!(error.to_string().contains("/staff/"), "{error}");
    // The demo's viewer is refused the same way.
    let demo = client
        .login(
            ctx(),
            "DMV-RENEWAL".into(),
            "viewer1".into(),
            demo_password("viewer1"),
        )
        .await
        .expect("rpc");
    assert!(matches!(demo, Err(ApiError::Forbidden { .. })), "{demo:?}");
}
