//! The staff web view as agency customer service meets it, in a real browser (headless Chromium
//! through chromedriver): a viewer signs in, narrows the list, finds a payment by the code a
//! customer reads out, downloads the CSV (the CLI's export byte for byte), and never sees another
//! application's payments; every page passes axe-core's WCAG 2.2 A and AA rules.

use cip_common::payment::Payment;
use cip_tests::browser::Browser;
use cip_tests::http::HTTP_CONFIG;
use cip_tests::{Daemon, card_request, ctx, new_key};
use std::collections::HashMap;

/// Takes a card payment of `amount_minor` by `payer` for `application` at the console.
async fn paid(
    daemon: &Daemon,
    application: &str,
    payer: &str,
    number: &str,
    amount_minor: i64,
) -> Payment {
    let rpc = daemon.client().await;
    let agent = daemon.login(&rpc, application, "agent1").await;
    let mut request = card_request(number, amount_minor);
    request.payer.name = payer.to_owned();
    if application == "PARK-RESERVE" {
        request.fields = [("reservation_number".to_owned(), "R12345678".to_owned())].into();
    }
    daemon.sent(&request);
    rpc.submit(ctx(), agent, new_key(), request)
        .await
        .expect("rpc")
        .expect("decided")
}

/// `GET url` with the session cookie `cookie`, as the signed-in browser sends it: the answer.
async fn get(http: &reqwest::Client, url: &str, cookie: &str) -> reqwest::Response {
    http.get(url)
        .header("Cookie", cookie)
        .send()
        .await
        .expect("answers")
}

/// The staff cookie the browser holds, as a `Cookie` header.
async fn session_cookie(browser: &Browser) -> String {
    let cookie = browser
        .client
        .get_named_cookie("cip_staff")
        .await
        .expect("the browser is signed in");
    format!("cip_staff={}", cookie.value())
}

/// Fills the sign-in form on screen as the demo's `user` of DMV-RENEWAL, sends it, and waits
/// for `then` (CSS) on the page it leads to.
async fn sign_in_as(b: &Browser, user: &str, then: &str) {
    b.fill("application", "DMV-RENEWAL").await;
    b.fill("user", user).await;
    b.fill("password", &format!("{user}-demo-pass")).await;
    b.click("button[type=submit]", then).await;
}

/// Opens payment `id`'s page and follows its link to `action`, waiting for `then` (CSS).
async fn take_action(b: &Browser, base: &str, id: &str, action: &str, then: &str) {
    b.open(&format!("{base}/staff/payments/{id}")).await;
    b.click(&format!("a[href='/staff/payments/{id}/{action}']"), then)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_finds_a_payment_and_downloads_the_list_as_the_cli_exports_it() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let base = daemon.http_url().await;
    paid(
        &daemon,
        "DMV-RENEWAL",
        "Ada Lovelace",
        "4242424242424242",
        4_200,
    )
    .await;
    let grace = paid(
        &daemon,
        "DMV-RENEWAL",
        "Grace Hopper",
        "5555555555554444",
        1_500,
    )
    .await;
    paid(
        &daemon,
        "DMV-RENEWAL",
        "Alan Turing",
        "4000000000000002",
        9_900,
    )
    .await;
    let elsewhere = paid(
        &daemon,
        "PARK-RESERVE",
        "Grace Hopper",
        "5555555555554444",
        2_500,
    )
    .await;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();

    let b = &browser;
    b.open(&format!("{base}/staff/")).await;
    b.assert_accessible("the sign-in page").await;
    // An agent has the console, not these pages.
    sign_in_as(b, "agent1", "p.notice").await;
    assert!(
        b.page()
            .await
            .contains("may not sign in to the staff pages"),
        "{}",
        b.page().await
    );
    b.assert_accessible("a refused sign-in").await;
    sign_in_as(b, "viewer1", "#results").await;
    let list = b.page().await;
    assert!(list.contains("3 payments match"), "{list}");
    assert!(
        !list.contains(&elsewhere.id),
        "another application's payment"
    );
    b.screenshot("staff-list").await;
    b.assert_accessible("the payments list").await;

    // Narrowed by last four and date: Grace Hopper's payment only.
    b.fill("last_four", "4444").await;
    b.fill("from", &today).await;
    b.click("form.filters button[type=submit]", "#results")
        .await;
    let narrowed = b.page().await;
    assert!(narrowed.contains("1 payment matches"), "{narrowed}");
    assert!(narrowed.contains(&grace.id), "{narrowed}");
    let url = b.client.current_url().await.expect("a url");
    assert!(
        url.query()
            .is_some_and(|q| q.contains("last_four=4444") && q.contains(&today)),
        "the filter lives in the URL: {url}"
    );

    // The CSV link takes exactly this list, as `cipd report export` writes it.
    b.client
        .find(fantoccini::Locator::Css("a[download]"))
        .await
        .expect("a download link")
        .click()
        .await
        .expect("downloading");
    let csv = b.downloaded("payments-DMV-RENEWAL.csv").await;
    let http = reqwest::Client::new();
    let cookie = session_cookie(b).await;
    let cli = daemon.cipd(
        &[
            "report",
            "export",
            "--app",
            "DMV-RENEWAL",
            "--last-four",
            "4444",
            "--from",
            &today,
        ],
        None,
    );
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&csv),
        String::from_utf8_lossy(&cli.stdout)
    );
    assert_eq!(cip_tests::csv_rows(&csv).len(), 1);
    // The download is audited as the viewer's, from the web; the sign-in too.
    let audited =
        daemon.sql("SELECT action, origin FROM audit_log WHERE actor = 'viewer1' ORDER BY id");
    let actions: Vec<&str> = audited.iter().map(|row| row[0].as_str()).collect();
    assert!(
        actions.contains(&"login") && actions.contains(&"payments.export"),
        "{audited:?}"
    );
    assert!(
        audited.iter().all(|row| row[1].starts_with("web ")),
        "{audited:?}"
    );

    // Found by the code as a customer reads it out: lower case, in spaces, O for 0.
    let code = grace.confirmation_code.clone().expect("approved");
    let typed = code.to_lowercase().replace('-', " ").replace('0', "o");
    b.open(&format!("{base}/staff/payments")).await;
    b.fill("code", &typed).await;
    b.click("form.filters button[type=submit]", "#results")
        .await;
    b.click(
        &format!("a[href='/staff/payments/{}']", grace.id),
        "dl.summary",
    )
    .await;
    let detail = b.page().await;
    assert!(detail.contains(&code), "{detail}");
    assert!(
        detail.contains("not yet reported to the agency"),
        "{detail}"
    );
    assert!(
        detail.contains("555555…4444"),
        "masked as everywhere: {detail}"
    );
    b.screenshot("staff-detail").await;
    b.assert_accessible("a payment's page").await;
    // At 320 CSS px (a phone, or 1280 px zoomed to 400%) only tables scroll sideways, in their
    // own region; the page itself fits.
    b.client
        .set_window_size(320, 900)
        .await
        .expect("a narrow window");
    for page in [
        "/staff/payments".to_owned(),
        format!("/staff/payments/{}", grace.id),
    ] {
        b.open(&format!("{base}{page}")).await;
        let width = b
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .expect("widths");
        assert!(
            width[1].as_u64().is_some_and(|w| w <= 320),
            "{page}: {width}"
        );
        assert!(
            width[0].as_u64() <= width[1].as_u64(),
            "{page} scrolls sideways: {width}"
        );
    }
    b.client
        .set_window_size(1280, 1600)
        .await
        .expect("a wide window");

    // Nothing matches: the page says which filter to loosen.
    let empty = b
        .open(&format!(
            "{base}/staff/payments?last_four=0000&payer=nobody"
        ))
        .await;
    assert!(empty.contains("No payments match"), "{empty}");
    assert!(
        empty.contains("Remove Card or account last four (0000)"),
        "{empty}"
    );
    b.assert_accessible("an empty list").await;

    // A filter that cannot be read: the summary links to its field.
    let refused = b
        .open(&format!(
            "{base}/staff/payments?min_amount=ten&last_four=12"
        ))
        .await;
    assert!(refused.contains("href=\"#min_amount\""), "{refused}");
    assert!(refused.contains("href=\"#last_four\""), "{refused}");
    b.assert_accessible("a list with errors").await;

    // Another application's payment: not by its address, not by a filter, not in the CSV.
    let guessed = get(
        &http,
        &format!("{base}/staff/payments/{}", elsewhere.id),
        &cookie,
    )
    .await;
    assert_eq!(guessed.status(), 404);
    for query in [
        format!("payment={}", elsewhere.id),
        format!(
            "code={}",
            elsewhere.confirmation_code.clone().expect("approved")
        ),
    ] {
        let page = get(&http, &format!("{base}/staff/payments?{query}"), &cookie)
            .await
            .text()
            .await
            .expect("a page");
        assert!(page.contains("No payments match"), "{query}: {page}");
        let csv = get(
            &http,
            &format!("{base}/staff/payments.csv?{query}"),
            &cookie,
        )
        .await
        .bytes()
        .await
        .expect("a body");
        assert!(cip_tests::csv_rows(&csv).is_empty(), "{query}");
    }

    // Signing out ends the session: the cookie opens nothing after.
    b.open(&format!("{base}/staff/payments")).await;
    b.click(".who button[type=submit]", "form[action='/staff/sign-in']")
        .await;
    assert!(b.page().await.contains("You have signed out"));
    let after = get(&http, &format!("{base}/staff/payments"), &cookie).await;
    assert_eq!(after.url().path(), "/staff/", "back to the sign-in page");
    let said = after.text().await.expect("a page");
    assert!(said.contains("Your session ended"), "{said}");
    let _ = browser.client.clone().close().await;
    daemon.assert_no_card_data();
}

/// Opens the sign-in page and sends it filled in, with its form's token and cookie as a browser
/// would: the answer.
async fn send_sign_in(
    http: &reqwest::Client,
    base: &str,
    application: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let page = http
        .get(format!("{base}/staff/"))
        .send()
        .await
        .expect("answers");
    let form_cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a form cookie")
        .to_owned();
    let token = form_cookie.split_once('=').expect("name=value").1;
    http.post(format!("{base}/staff/sign-in"))
        .header("Cookie", &form_cookie)
        .form(&HashMap::from([
            ("application", application),
            ("user", user),
            ("password", password),
            ("csrf", token),
        ]))
        .send()
        .await
        .expect("answers")
}

/// A client that leaves redirects to the test.
fn unredirected() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// Signs in to the staff pages over plain HTTP as the demo's `user`, for `application`: the
/// client (redirects not followed) and the session cookie.
async fn signed_in(base: &str, application: &str, user: &str) -> (reqwest::Client, String) {
    let http = unredirected();
    let password = format!("{user}-demo-pass");
    let signed_in = send_sign_in(&http, base, application, user, &password).await;
    assert_eq!(signed_in.status(), 303, "{user} signs in");
    let cookies: Vec<&str> = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies
            .iter()
            .all(|v| v.contains("HttpOnly") && v.contains("SameSite=Strict")),
        "cookies no script and no other site can use: {cookies:?}"
    );
    let session = cookies
        .iter()
        .find(|v| v.starts_with("cip_staff="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    (http, session)
}

/// The session's form token, from the sign-out form of any signed-in page.
async fn form_token(http: &reqwest::Client, base: &str, session: &str) -> String {
    let page = get(http, &format!("{base}/staff/payments"), session)
        .await
        .text()
        .await
        .expect("a page");
    let (_, after) = page
        .split_once("name=\"csrf\" value=\"")
        .expect("a form token");
    after.split('"').next().expect("its end").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_that_did_not_come_from_cip_is_refused() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let base = daemon.http_url().await;
    let http = reqwest::Client::new();
    let forged = http
        .post(format!("{base}/staff/sign-in"))
        .form(&HashMap::from([
            ("application", "DMV-RENEWAL"),
            ("user", "viewer1"),
            ("password", "viewer1-demo-pass"),
            ("csrf", "made-up"),
        ]))
        .send()
        .await
        .expect("answers");
    assert_eq!(forged.status(), 403, "a sign-in without CIP's form");
    // Signed in, a sign-out without the session's token is refused, and the session stays.
    let (http, session) = signed_in(&base, "DMV-RENEWAL", "viewer1").await;
    let forged = http
        .post(format!("{base}/staff/sign-out"))
        .header("Cookie", &session)
        .form(&HashMap::from([("csrf", "made-up")]))
        .send()
        .await
        .expect("answers");
    assert_eq!(forged.status(), 403);
    let list = get(&http, &format!("{base}/staff/payments"), &session).await;
    assert_eq!(list.status(), 200, "the session is still open");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_voids_resolves_and_refunds_on_the_payment_page_and_a_viewer_cannot() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let base = daemon.http_url().await;
    let to_void = paid(
        &daemon,
        "DMV-RENEWAL",
        "Ada Lovelace",
        "4242424242424242",
        3_000,
    )
    .await;
    let to_refund = paid(
        &daemon,
        "DMV-RENEWAL",
        "Grace Hopper",
        "5555555555554444",
        5_000,
    )
    .await;
    // The processor's answer times out; asked again, it says approved.
    let in_doubt = paid(
        &daemon,
        "DMV-RENEWAL",
        "Alan Turing",
        "4000000000000309",
        2_500,
    )
    .await;
    assert_eq!(in_doubt.status, cip_common::status::PaymentStatus::InDoubt);
    let rpc = daemon.client().await;
    let supervisor = daemon.login(&rpc, "DMV-RENEWAL", "super1").await;
    let now = |id: String| {
        let (rpc, supervisor) = (rpc.clone(), supervisor.clone());
        async move {
            rpc.payment(
                ctx(),
                supervisor,
                cip_common::payment::PaymentLookup::Id(id),
            )
            .await
            .expect("rpc")
            .expect("found")
        }
    };

    // A viewer sees no action, and a forged one is refused: nothing happens to the payment.
    let (http, viewer) = signed_in(&base, "DMV-RENEWAL", "viewer1").await;
    let page = get(
        &http,
        &format!("{base}/staff/payments/{}", to_void.id),
        &viewer,
    )
    .await
    .text()
    .await
    .expect("a page");
    assert!(page.contains(&to_void.id), "{page}");
    assert!(!page.contains("Void this payment"), "{page}");
    let token = form_token(&http, &base, &viewer).await;
    for action in ["void", "refund"] {
        let forged = http
            .post(format!("{base}/staff/payments/{}/{action}", to_void.id))
            .header("Cookie", &viewer)
            .form(&HashMap::from([
                ("csrf", token.as_str()),
                ("step", "send"),
                ("key", "forged-1"),
                ("amount", "30.00"),
                ("reason", "other"),
            ]))
            .send()
            .await
            .expect("answers");
        assert_eq!(forged.status(), 403, "a viewer's forged {action}");
    }
    let untouched = now(to_void.id.clone()).await;
    assert_eq!(
        untouched.status,
        cip_common::status::PaymentStatus::Approved
    );
    assert_eq!(untouched.refunded().minor, 0);

    // A supervisor voids one: it asks first, and the payment and the processor agree after.
    let b = &browser;
    b.open(&format!("{base}/staff/")).await;
    sign_in_as(b, "super1", "#results").await;
    take_action(b, &base, &to_void.id, "void", "button.warning").await;
    b.assert_accessible("the void's confirmation").await;
    b.click("button.warning", "p.notice").await;
    assert!(
        b.page().await.contains("The payment is voided"),
        "{}",
        b.page().await
    );
    assert_eq!(
        now(to_void.id.clone()).await.status,
        cip_common::status::PaymentStatus::Voided
    );
    assert!(
        daemon
            .ledger()
            .lines()
            .any(|l| l.starts_with(&format!("void\t{}\t", to_void.id))),
        "the processor voided it"
    );

    // Asks the processor about the one in doubt.
    take_action(b, &base, &in_doubt.id, "resolve", "button.warning").await;
    b.click("button.warning", "p.notice").await;
    assert_eq!(
        now(in_doubt.id.clone()).await.status,
        cip_common::status::PaymentStatus::Approved
    );

    // And refunds part of the other: a form, a summary, one refund however often it is sent.
    take_action(b, &base, &to_refund.id, "refund", "[name='amount']").await;
    b.assert_accessible("the refund's form").await;
    b.fill("amount", "20.00").await;
    b.fill("note", "charged twice at the desk").await;
    b.click("main form button[type=submit]", ".error-summary")
        .await;
    assert!(b.page().await.contains("Choose why the money goes back"));
    b.assert_accessible("the refund's form with an error").await;
    b.client
        .find(fantoccini::Locator::Css("select[name='reason']"))
        .await
        .expect("the reasons")
        .select_by_value("duplicate")
        .await
        .expect("chosen");
    b.click("main form button[type=submit]", "button.warning")
        .await;
    let confirm = b.page().await;
    assert!(confirm.contains("20.00 USD goes back"), "{confirm}");
    b.assert_accessible("the refund's confirmation").await;
    let mut sent = Vec::new();
    for input in b
        .client
        .find_all(fantoccini::Locator::Css("main form input[type=hidden]"))
        .await
        .expect("the confirmation's fields")
    {
        let attr = |name: &'static str| {
            let input = input.clone();
            async move {
                input
                    .attr(name)
                    .await
                    .expect("an attribute")
                    .unwrap_or_default()
            }
        };
        sent.push((attr("name").await, attr("value").await));
    }
    b.click("button.warning", "p.notice").await;
    // The same confirmation sent again (a second press, a resend) refunds nothing more.
    let again = reqwest::Client::new()
        .post(format!("{base}/staff/payments/{}/refund", to_refund.id))
        .header("Cookie", session_cookie(b).await)
        .form(&sent)
        .send()
        .await
        .expect("answers");
    assert!(again.status().is_success(), "{}", again.status());
    let refunded = now(to_refund.id.clone()).await;
    assert_eq!(refunded.refunded().minor, 2_000);
    let detail = b.page().await;
    assert!(detail.contains("charged twice at the desk"), "{detail}");
    b.screenshot("staff-refund").await;
    let _ = browser.client.clone().close().await;
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_at_the_staff_pages_lock_the_user_at_the_console_too() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let base = daemon.http_url().await;
    let http = unredirected();
    // Each try from a fresh sign-in page, as a browser would.
    let attempt = |password: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let answer = send_sign_in(&http, &base, "DMV-RENEWAL", "super1", password).await;
            (
                answer.status().as_u16(),
                answer.text().await.expect("a page"),
            )
        }
    };
    // The tests' daemons lock a user after 3 failures in a row.
    for _ in 0..2 {
        let (status, page) = attempt("not-the-password-1").await;
        assert_eq!(status, 401, "{page}");
        assert!(page.contains("is not right"), "{page}");
    }
    // The third wrong one locks the user, and says so.
    let (status, page) = attempt("not-the-password-1").await;
    assert_eq!(status, 423, "{page}");
    let (status, page) = attempt("super1-demo-pass").await;
    assert_eq!(status, 423, "{page}");
    assert!(
        page.contains("locked after too many failed sign-ins"),
        "{page}"
    );
    let rpc = daemon.client().await;
    let at_console = rpc
        .login(
            ctx(),
            "DMV-RENEWAL".into(),
            "super1".into(),
            cip_tests::demo_password("super1"),
        )
        .await
        .expect("rpc");
    assert!(
        matches!(at_console, Err(cip_common::error::ApiError::Locked { .. })),
        "{at_console:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_list_comes_fifty_to_a_page_newest_first() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let base = daemon.http_url().await;
    let rpc = daemon.client().await;
    let agent = daemon.login(&rpc, "DMV-RENEWAL", "agent1").await;
    let mut ids = Vec::new();
    for n in 0..55 {
        let request = card_request("4242424242424242", 1_000 + n);
        daemon.sent(&request);
        let payment = rpc
            .submit(ctx(), agent.clone(), new_key(), request)
            .await
            .expect("rpc")
            .expect("approved");
        ids.push(payment.id);
    }
    let (http, session) = signed_in(&base, "DMV-RENEWAL", "viewer1").await;
    let read = |path: String| {
        let (http, session) = (http.clone(), session.clone());
        async move {
            get(&http, &path, &session)
                .await
                .text()
                .await
                .expect("a page")
        }
    };
    let first = read(format!("{base}/staff/payments")).await;
    assert!(first.contains("55 payments match"), "{first}");
    assert!(first.contains("Page 1 of 2"), "{first}");
    let shown = |page: &str| ids.iter().filter(|id| page.contains(id.as_str())).count();
    assert_eq!(shown(&first), 50);
    assert!(
        first.contains(&ids[54]) && !first.contains(&ids[4]),
        "newest first"
    );
    let next = first
        .split("<a href=\"")
        .filter_map(|a| a.split_once("\" rel=\"next\""))
        .map(|(href, _)| href.replace("&amp;", "&"))
        .next()
        .expect("a next page link");
    let second = read(format!("{base}{next}")).await;
    assert!(second.contains("Page 2 of 2"), "{second}");
    assert_eq!(shown(&second), 5);
    assert!(
        second.contains(&ids[0]) && !second.contains("rel=\"next\""),
        "{second}"
    );
    // A page past the end (a bookmark of a list that shrank) says so and leads back.
    let past = read(format!("{base}/staff/payments?page=9")).await;
    assert!(past.contains("No payments on page 9"), "{past}");
    assert!(past.contains("href=\"/staff/payments\""), "{past}");
    // Oldest first, by the sort in the URL.
    let oldest = read(format!("{base}/staff/payments?sort=oldest")).await;
    let at = |id: &str| oldest.find(id).expect("shown");
    assert!(at(&ids[0]) < at(&ids[1]), "oldest first");
    daemon.assert_no_card_data();
}
