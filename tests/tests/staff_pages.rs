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

/// The staff cookie the browser holds, as a `Cookie` header.
async fn session_cookie(browser: &Browser) -> String {
    let cookie = browser
        .client
        .get_named_cookie("cip_staff")
        .await
        .expect("the browser is signed in");
    format!("cip_staff={}", cookie.value())
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
    b.client
        .goto(&format!("{base}/staff/"))
        .await
        .expect("the sign-in page");
    b.assert_accessible("the sign-in page").await;
    // An agent has the console, not these pages.
    b.fill("application", "DMV-RENEWAL").await;
    b.fill("user", "agent1").await;
    b.fill("password", "agent1-demo-pass").await;
    b.click("button[type=submit]", "p.notice").await;
    assert!(
        b.page()
            .await
            .contains("may not sign in to the staff pages"),
        "{}",
        b.page().await
    );
    b.assert_accessible("a refused sign-in").await;
    b.fill("application", "DMV-RENEWAL").await;
    b.fill("user", "viewer1").await;
    b.fill("password", "viewer1-demo-pass").await;
    b.click("button[type=submit]", "#results").await;
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
    let csv_href = b
        .client
        .find(fantoccini::Locator::Css("a[download]"))
        .await
        .expect("a download link")
        .attr("href")
        .await
        .expect("an attribute")
        .expect("an href");
    let http = reqwest::Client::new();
    let cookie = session_cookie(b).await;
    let csv = http
        .get(format!("{base}{csv_href}"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("the CSV downloads");
    assert_eq!(csv.status(), 200);
    let csv = csv.bytes().await.expect("a body");
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

    // Found by the code as a customer reads it out: lower case, in spaces, O for 0.
    let code = grace.confirmation_code.clone().expect("approved");
    let typed = code.to_lowercase().replace('-', " ").replace('0', "o");
    b.client
        .goto(&format!("{base}/staff/payments"))
        .await
        .expect("the list");
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
        b.client
            .goto(&format!("{base}{page}"))
            .await
            .expect("the page");
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
    b.client
        .goto(&format!(
            "{base}/staff/payments?last_four=0000&payer=nobody"
        ))
        .await
        .expect("the list");
    let empty = b.page().await;
    assert!(empty.contains("No payments match"), "{empty}");
    assert!(
        empty.contains("Remove Card or account last four (0000)"),
        "{empty}"
    );
    b.assert_accessible("an empty list").await;

    // A filter that cannot be read: the summary links to its field.
    b.client
        .goto(&format!(
            "{base}/staff/payments?min_amount=ten&last_four=12"
        ))
        .await
        .expect("the list");
    let refused = b.page().await;
    assert!(refused.contains("href=\"#min_amount\""), "{refused}");
    assert!(refused.contains("href=\"#last_four\""), "{refused}");
    b.assert_accessible("a list with errors").await;

    // Another application's payment: not by its address, not by a filter, not in the CSV.
    let guessed = http
        .get(format!("{base}/staff/payments/{}", elsewhere.id))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("answers");
    assert_eq!(guessed.status(), 404);
    for query in [
        format!("payment={}", elsewhere.id),
        format!(
            "code={}",
            elsewhere.confirmation_code.clone().expect("approved")
        ),
    ] {
        let page = http
            .get(format!("{base}/staff/payments?{query}"))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("answers")
            .text()
            .await
            .expect("a page");
        assert!(page.contains("No payments match"), "{query}: {page}");
        let csv = http
            .get(format!("{base}/staff/payments.csv?{query}"))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("answers")
            .bytes()
            .await
            .expect("a body");
        assert!(cip_tests::csv_rows(&csv).is_empty(), "{query}");
    }

    // Signing out ends the session: the cookie opens nothing after.
    b.client
        .goto(&format!("{base}/staff/payments"))
        .await
        .expect("the list");
    b.click(".who button[type=submit]", "form[action='/staff/sign-in']")
        .await;
    assert!(b.page().await.contains("You have signed out"));
    let after = http
        .get(format!("{base}/staff/payments"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("answers");
    assert!(
        after.url().path() == "/staff/" || after.status() == 303,
        "{}",
        after.url()
    );
    let _ = browser.client.clone().close().await;
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_that_did_not_come_from_cip_is_refused() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let base = daemon.http_url().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let form = HashMap::from([
        ("application", "DMV-RENEWAL"),
        ("user", "viewer1"),
        ("password", "viewer1-demo-pass"),
        ("csrf", "made-up"),
    ]);
    let forged = http
        .post(format!("{base}/staff/sign-in"))
        .form(&form)
        .send()
        .await
        .expect("answers");
    assert_eq!(forged.status(), 403, "a sign-in without CIP's form");
    // Signed in properly, a sign-out without the session's token is refused too.
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
    let token = form_cookie
        .split_once('=')
        .expect("name=value")
        .1
        .to_owned();
    let mut signed = form.clone();
    signed.insert("csrf", &token);
    let signed_in = http
        .post(format!("{base}/staff/sign-in"))
        .header("Cookie", &form_cookie)
        .form(&signed)
        .send()
        .await
        .expect("answers");
    assert_eq!(signed_in.status(), 303);
    let session = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cip_staff="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    assert!(
        signed_in.headers().get_all("set-cookie").iter().all(|v| v
            .to_str()
            .is_ok_and(|v| v.contains("HttpOnly") && v.contains("SameSite=Strict"))),
        "cookies no script and no other site can use"
    );
    let forged = http
        .post(format!("{base}/staff/sign-out"))
        .header("Cookie", &session)
        .form(&HashMap::from([("csrf", "made-up")]))
        .send()
        .await
        .expect("answers");
    assert_eq!(forged.status(), 403);
    let list = http
        .get(format!("{base}/staff/payments"))
        .header("Cookie", &session)
        .send()
        .await
        .expect("answers");
    assert_eq!(list.status(), 200, "the session is still open");
}
