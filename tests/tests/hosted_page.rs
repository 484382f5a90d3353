//! Partial mode: an agency registers a hand-off, its customer pays on CIP's own pages in a real
//! browser (headless Chromium through chromedriver), returns to the agency, and the agency reads
//! the confirmation from CIP.

use cip_tests::Daemon;
use cip_tests::browser::Browser;
use cip_tests::handoffs::{
    Customer, RETURN_URL, Received, add_notifying_application, agency_callback, arrived,
    assert_signed, callback_key, handoff_body, hidden, notify_agency, notify_supervisor,
    pay_notify_handoff,
};
use cip_tests::http::{Agency, HTTP_CONFIG, answer};
use fantoccini::Locator;
use serde_json::{Value, json};

async fn handoff(agency: &Agency) -> (String, String) {
    let (status, created) = answer(
        agency
            .post("/v1/handoffs")
            .json(&handoff_body())
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().expect("an id").to_owned(),
        created["pay_url"].as_str().expect("a pay URL").to_owned(),
    )
}

async fn handoff_status(agency: &Agency, id: &str) -> Value {
    let (status, found) = agency.read(&format!("/v1/handoffs/{id}")).await;
    assert_eq!(status, 200, "{found}");
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_is_refused_with_every_field_to_fix() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let mut body = handoff_body();
    body["return_url"] = json!("https://evil.example/steal");
    body["amount_minor"] = json!(1);
    body["fields"]["plate_number"] = json!("no spaces allowed");
    let (status, refused) = agency.send("/v1/handoffs", &body).await;
    assert_eq!(status, 422, "{refused}");
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("a field"))
        .collect();
    assert_eq!(fields, ["amount", "fields.plate_number", "return_url"]);
    for elsewhere in [
        "https://agency.example.evil.com/steal",
        "https://agency.example@evil.com/steal",
        "https://agency.example/\\evil.com",
    ] {
        let mut body = handoff_body();
        body["return_url"] = json!(elsewhere);
        let (status, refused) = agency.send("/v1/handoffs", &body).await;
        assert_eq!(status, 422, "{elsewhere}: {refused}");
        assert_eq!(refused["errors"][0]["field"], "return_url");
    }

    let (id, _) = handoff(&agency).await;
    assert_eq!(handoff_status(&agency, &id).await["status"], "open");
    let parks = Agency::new(&daemon, "PARK-RESERVE").await;
    let (status, _) = parks.read(&format!("/v1/handoffs/{id}")).await;
    assert_eq!(
        status, 404,
        "another application's hand-off does not exist for it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pay_link_opens_once_and_forms_need_their_token() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let (_, pay_url) = handoff(&agency).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    // Fetching the link (a mail scanner, a preview) spends nothing; its button does.
    for _ in 0..2 {
        let first = browser.get(&pay_url).send().await.expect("answers");
        assert_eq!(first.status(), 200);
        assert!(
            first
                .text()
                .await
                .expect("a page")
                .contains("Continue to payment")
        );
    }
    let opened = browser.post(&pay_url).send().await.expect("answers");
    assert_eq!(opened.status(), 303);
    assert_eq!(opened.headers()["location"], "/pay");
    let cookie = opened.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().expect("name=value").to_owned();

    let again = browser.post(&pay_url).send().await.expect("answers");
    assert_eq!(again.status(), 404, "a pay link opens the pages once");
    let shown = browser.get(&pay_url).send().await.expect("answers");
    assert_eq!(shown.status(), 404, "a spent link says so");

    let page = browser
        .get(format!("{}/pay", agency.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), 200);
    for (header, wanted) in [("cache-control", "no-store"), ("x-frame-options", "DENY")] {
        assert_eq!(page.headers()[header], wanted);
    }
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = page.text().await.expect("a page");
    assert!(
        html.contains("Sign in to pay") && !html.contains("<script"),
        "{html}"
    );

    let forged = browser
        .post(format!("{}/pay/sign-in", agency.base))
        .header("cookie", &cookie)
        .form(&[
            ("user", "agent1"),
            ("password", "agent1-demo-pass"),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(
        forged.status(),
        403,
        "a form without the page's token is refused"
    );

    let stranger = browser
        .get(format!("{}/pay", agency.base))
        .send()
        .await
        .expect("answers");
    assert_eq!(stranger.status(), 403, "no visit, no payment page");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_pays_in_a_browser_and_the_agency_reads_the_confirmation() {
    let Some(session) = Browser::start().await else {
        return;
    };
    let browser = session.client.clone();
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let (id, pay_url) = handoff(&agency).await;

    browser.goto(&pay_url).await.expect("the pay link opens");
    browser
        .find(Locator::Id("continue"))
        .await
        .expect("a way on")
        .click()
        .await
        .expect("continued");
    browser
        .wait()
        .for_element(Locator::Css("[name='user']"))
        .await
        .expect("the sign-in page");
    assert!(browser.current_url().await.expect("a url").path() == "/pay");
    let fill = |name: &'static str, text: String| {
        let browser = browser.clone();
        async move {
            // Waits for the page a click led to.
            let field = browser
                .wait()
                .for_element(Locator::Css(&format!("[name='{name}']")))
                .await
                .unwrap_or_else(|e| panic!("{name} is on the page: {e}"));
            field.clear().await.expect("cleared");
            field.send_keys(&text).await.expect("typed");
        }
    };
    fill("user", "agent1".into()).await;
    fill("password", "agent1-demo-pass".into()).await;
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("signed in");

    let year = cip_tests::exp_year().to_string();
    // Pays with `number` and waits for the page that answers: `answer` is on it.
    let pay_with = |number: &'static str, answer: &'static str| {
        let (fill, year) = (&fill, year.clone());
        let browser = browser.clone();
        async move {
            fill("card.number", number.into()).await;
            fill("card.exp_month", "12".into()).await;
            fill("card.exp_year", year).await;
            fill("card.cvv", "123".into()).await;
            fill("payer.postal_code", "94107".into()).await;
            fill("card.postal_code", "94107".into()).await;
            browser
                .find(Locator::Id("pay"))
                .await
                .expect("the pay button")
                .click()
                .await
                .expect("paid");
            browser
                .wait()
                .for_element(Locator::Css(answer))
                .await
                .unwrap_or_else(|e| panic!("{answer} answers the payment: {e}"));
            browser.source().await.expect("a page")
        }
    };
    let declined = pay_with("4000000000009995", "p.notice").await;
    assert!(declined.contains("insufficient funds"), "{declined}");
    assert_eq!(handoff_status(&agency, &id).await["status"], "open");

    let approved = pay_with("4242424242424242", "#confirmation-code").await;
    assert!(approved.contains("Payment approved"), "{approved}");
    let code = browser
        .find(Locator::Id("confirmation-code"))
        .await
        .expect("a confirmation code")
        .text()
        .await
        .expect("its text");
    browser
        .find(Locator::Id("return"))
        .await
        .expect("the way back")
        .click()
        .await
        .expect("returned");
    // The agency's site is not reachable from here: the address is what counts.
    let mut back = browser.current_url().await.expect("a url");
    for _ in 0..100 {
        if back.as_str().starts_with(RETURN_URL) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        back = browser.current_url().await.expect("a url");
    }
    assert_eq!(
        back.as_str(),
        format!("{RETURN_URL}?handoff={id}"),
        "only the hand-off id"
    );
    let _ = browser.close().await;

    let found = handoff_status(&agency, &id).await;
    assert_eq!(found["status"], "paid", "{found}");
    assert_eq!(found["payment"]["confirmation_code"], json!(code));
    assert_eq!(found["payment"]["mode"], "partial");
    for number in ["4000000000009995", "4242424242424242"] {
        daemon.sent(&cip_tests::card_request(number, 4_200));
    }
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_who_goes_away_mid_payment_still_pays_once_and_the_agency_knows() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let (id, pay_url) = handoff(&agency).await;
    let customer = Customer::sign_in(&agency.base, &pay_url, "agent1", "agent1-demo-pass").await;
    // The contract's slow approval takes 3 s; the browser is gone after a fraction of that.
    let gone = customer
        .pay("4000000000000325")
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(gone.is_err(), "the customer left before the answer");
    let mut found = handoff_status(&agency, &id).await;
    for _ in 0..200 {
        if found["status"] == "paid" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        found = handoff_status(&agency, &id).await;
    }
    assert_eq!(found["status"], "paid", "{found}");
    let payment_id = found["payment"]["id"]
        .as_str()
        .expect("a payment")
        .to_owned();
    assert_eq!(daemon.processor_calls(&payment_id), 1);

    // Back on the page, the customer sees the confirmation; sending the old form again takes
    // nothing more.
    assert!(customer.page().await.contains("Payment approved"));
    let again = customer
        .pay("4000000000000325")
        .send()
        .await
        .expect("answers");
    assert_eq!(again.status(), 303);
    let (_, page) = agency.read("/v1/payments?page_size=50").await;
    assert_eq!(page["payments"].as_array().expect("payments").len(), 1);
    daemon.sent(&cip_tests::card_request("4000000000000325", 4_200));
    daemon.assert_no_card_data();
}

/// A hand-off whose payment was left in doubt is notified as soon as a supervisor settles it,
/// though its page never saw the approval: the notifier follows what is committed.
/// A daemon with the application DMV-NOTIFY, whose callback URL is an [`agency_callback`], and
/// its api, agent and supervisor users; with what the callback received, and the agency.
async fn notifying_daemon() -> (Daemon, Received, Agency) {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let (port, received) = agency_callback().await;
    add_notifying_application(&daemon, port);
    let agency = notify_agency(&daemon).await;
    (daemon, received, agency)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_settled_after_its_page_is_gone_is_notified_at_once() {
    let (daemon, received, agency) = notifying_daemon().await;
    // The contract's timeout: in doubt, and an inquiry finds it approved.
    let id = pay_notify_handoff(&agency, "4000000000000309").await;
    let found = handoff_status(&agency, &id).await;
    assert_eq!(found["status"], "pending", "{found}");
    let payment_id = found["payment"]["id"].as_str().expect("a payment");
    assert!(received.lock().expect("not poisoned").is_empty());

    let (rpc, token) = notify_supervisor(&daemon).await;
    let resolved = rpc
        .resolve(cip_tests::ctx(), token, payment_id.to_owned())
        .await
        .expect("rpc")
        .expect("resolved");
    assert_eq!(resolved.status.code(), "approved");
    // Well before the sweep for missed notifications, every 30 s, would find it.
    arrived(&received, 1).await;
    let received = received.lock().expect("not poisoned").clone();
    let (_, first) = received.first().expect("the agency was told");
    let notification: Value = serde_json::from_str(first).expect("JSON");
    assert_eq!(notification["handoff_id"], json!(id));
    assert_eq!(notification["status"], "paid");
    assert_eq!(notification["payment_id"], json!(payment_id));
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paid_handoff_is_notified_signed_and_retried_across_a_restart() {
    let (mut daemon, received, agency) = notifying_daemon().await;
    let key = callback_key(&daemon, "DMV-NOTIFY");

    let id = pay_notify_handoff(&agency, "5555 5555 5555 4444").await;
    daemon.sent(&cip_tests::card_request("5555555555554444", 4_200));

    // Refused; the daemon is killed before its retry a second later; started again, it finds the
    // paid hand-off nobody was told of, is refused once more, and delivers it on the retry.
    arrived(&received, 1).await;
    daemon.restart_after_kill().await;
    arrived(&received, 3).await;
    let received = received.lock().expect("not poisoned").clone();
    assert_eq!(received.len(), 3, "two refusals, then taken: {received:?}");
    for (signature, body) in &received {
        assert_signed(&key, signature, body);
        let notification: Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(notification["handoff_id"], json!(id));
        assert_eq!(notification["status"], "paid");
    }

    let agency = notify_agency(&daemon).await;
    let (rpc, token) = notify_supervisor(&daemon).await;
    let found = handoff_status(&agency, &id).await;
    let payment_id = found["payment"]["id"]
        .as_str()
        .expect("a payment")
        .to_owned();
    let timeline = rpc
        .timeline(cip_tests::ctx(), token, payment_id)
        .await
        .expect("rpc")
        .expect("a timeline");
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.code()).collect();
    // The attempt refused before the kill is on the record unless the kill came between the
    // agency's answer and its writing down; the one after the restart, and the delivery, are.
    assert_eq!(
        kinds[..2],
        ["payment.received", "payment.approved"],
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"agency.notified"), "{kinds:?}");
    let failed = &kinds[2..kinds.len() - 1];
    assert!(
        (1..=2).contains(&failed.len()) && failed.iter().all(|k| *k == "agency.notify_failed"),
        "supervisors read each delivery attempt: {kinds:?}"
    );
    daemon.assert_no_card_data();
}

/// On the hosted page the email says it is optional and may be left out, the expiry boxes take
/// `1` and a two-digit year as the customer means them, and a plate the agency sent in lower
/// case is kept in capitals.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_reads_the_expiry_and_plate_as_meant_and_the_email_may_be_left_out() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let mut body = handoff_body();
    body["fields"]["plate_number"] = json!("abc123");
    body["payer"] = json!({"name": "Ada Lovelace"});
    let (status, created) = agency.send("/v1/handoffs", &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let pay_url = created["pay_url"].as_str().expect("a pay URL");
    let customer = Customer::sign_in(&agency.base, pay_url, "agent1", "agent1-demo-pass").await;
    assert!(
        customer.form.contains("Email (optional)"),
        "{}",
        customer.form
    );
    let year = cip_tests::exp_year();
    let paid = customer
        .browser
        .post(format!("{}/pay", customer.base))
        .header("cookie", &customer.cookie)
        .form(&[
            ("csrf", hidden(&customer.form, "csrf")),
            ("key", hidden(&customer.form, "key")),
            ("method", "card".to_owned()),
            ("payer.name", "Ada Lovelace".to_owned()),
            ("payer.email", String::new()),
            ("payer.postal_code", "94107".to_owned()),
            ("card.number", "4242424242424242".to_owned()),
            ("card.exp_month", "1".to_owned()),
            ("card.exp_year", format!("{:02}", year % 100)),
            ("card.cvv", "123".to_owned()),
            ("card.name", "Ada Lovelace".to_owned()),
            ("card.postal_code", "94107".to_owned()),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(
        paid.status(),
        303,
        "{}",
        paid.text().await.unwrap_or_default()
    );
    let found = handoff_status(&agency, &id).await;
    assert_eq!(found["status"], "paid", "{found}");
    let payment = &found["payment"];
    assert_eq!(payment["fields"]["plate_number"], "ABC123", "{payment}");
    assert_eq!(payment["method"]["exp_month"], 1, "{payment}");
    assert_eq!(payment["method"]["exp_year"], year, "{payment}");
    daemon.sent(&cip_tests::card_request("4242424242424242", 4_200));
    daemon.assert_no_card_data();
}

/// A card number in the hand-off's data or typed into the page's free text is refused naming
/// the field (on the page, next to it, and not shown again); nothing of it is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_card_number_outside_the_card_is_refused_at_the_handoff_and_on_the_page() {
    use cip_common::free_text::CARD_NUMBER_IN_TEXT;
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let mut body = handoff_body();
    body["payer"]["name"] = json!("Ada 4242 4242 4242 4242");
    body["payer"]["email"] = json!("4242-4242-4242-4242@example.com");
    body["fields"]["plate_number"] = json!("4242424242424242");
    body["return_url"] = json!(format!("{RETURN_URL}?card=4242.4242.4242.4242"));
    let (status, refused) = agency.send("/v1/handoffs", &body).await;
    assert_eq!(status, 422, "{refused}");
    for field in [
        "payer.name",
        "payer.email",
        "fields.plate_number",
        "return_url",
    ] {
        let message = refused["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .find(|e| e["field"] == field)
            .map(|e| e["message"].clone());
        assert_eq!(
            message,
            Some(json!(CARD_NUMBER_IN_TEXT)),
            "{field}: {refused}"
        );
    }
    assert!(!refused.to_string().contains("4242 4242"), "{refused}");

    let (id, pay_url) = handoff(&agency).await;
    let customer = Customer::sign_in(&agency.base, &pay_url, "agent1", "agent1-demo-pass").await;
    let mut form = vec![
        ("csrf", hidden(&customer.form, "csrf")),
        ("key", hidden(&customer.form, "key")),
        ("method", "card".to_owned()),
        ("payer.name", "4242 4242 4242 4242".to_owned()),
        ("payer.email", "ada@example.com".to_owned()),
        ("payer.postal_code", "94107".to_owned()),
        ("card.number", "4242424242424242".to_owned()),
        ("card.exp_month", "12".to_owned()),
        ("card.exp_year", cip_tests::exp_year().to_string()),
        ("card.cvv", "123".to_owned()),
        ("card.name", "Ada Lovelace".to_owned()),
        ("card.postal_code", "94107".to_owned()),
    ];
    let post = |form: &[(&str, String)]| {
        customer
            .browser
            .post(format!("{}/pay", customer.base))
            .header("cookie", &customer.cookie)
            .form(form)
            .send()
    };
    let refused = post(&form).await.expect("answers");
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.expect("a page");
    assert!(
        page.contains(&format!(
            "<p class=\"error\" id=\"payer-name-error\">{CARD_NUMBER_IN_TEXT}</p>"
        )),
        "the message stands beside the name: {page}"
    );
    assert!(!page.contains("4242 4242"), "never shown again: {page}");
    assert_eq!(handoff_status(&agency, &id).await["status"], "open");

    form[3].1 = "Ada Lovelace".to_owned();
    form[0].1 = hidden(&page, "csrf");
    form[1].1 = hidden(&page, "key");
    let paid = post(&form).await.expect("answers");
    assert_eq!(paid.status(), 303);
    assert_eq!(handoff_status(&agency, &id).await["status"], "paid");
    daemon.sent(&cip_tests::card_request("4242424242424242", 4_200));
    daemon.assert_no_card_data();
}
