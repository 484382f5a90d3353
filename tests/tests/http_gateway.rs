//! Gateway mode over HTTP, as an agency's server sees it: every answer the API documents, every
//! idempotency case, and the sandbox contract with the same outcomes as over tarpc.

use cip_common::payment::{Payment, PaymentRequest};
use cip_daemon::processor::sandbox::contract_rows;
use cip_tests::http::{Agency, HTTP_CONFIG, answer, payment_body};
use cip_tests::{Daemon, card_request, ctx, demo_password, new_key, request_for};
use futures::future::join_all;
use serde_json::{Value, json};

/// The status code the API documents for an outcome seen for the first time.
fn expected_status(outcome: &str, code: &str) -> u16 {
    match (outcome, code) {
        ("approved", _) => 201,
        ("declined", _) => 402,
        ("failed", "processor_unavailable") => 503,
        ("failed", _) => 502,
        ("in_doubt", _) => 202,
        ("invalid", _) => 422,
        other => panic!("no documented status for {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_contract_row_gives_the_same_outcome_over_http_as_over_tarpc() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let rpc = daemon.client().await;
    let rows = contract_rows();
    let checks = rows.iter().map(|row| {
        let (daemon, rpc) = (&daemon, &rpc);
        async move {
            let (application, request) = request_for(row);
            daemon.sent(&request);
            let agency = Agency::new(daemon, application).await;
            let (status, over_http) = agency.pay(&new_key(), &payment_body(&request)).await;
            let over_tarpc = rpc
                .gateway_submit(
                    ctx(),
                    application.into(),
                    "api1".into(),
                    demo_password("api1"),
                    new_key(),
                    request.clone(),
                )
                .await
                .expect("rpc");
            assert_eq!(
                status,
                expected_status(&row.outcome, &row.code),
                "{} {}: {over_http}",
                row.kind,
                row.meaning
            );
            match over_tarpc {
                Ok(payment) => {
                    assert_eq!(
                        over_http["status"],
                        payment.status.code(),
                        "{}",
                        row.meaning
                    );
                    assert_eq!(over_http["code"], json!(payment.code), "{}", row.meaning);
                    assert_eq!(over_http["mode"], "gateway");
                    assert_eq!(
                        over_http["confirmation_code"].is_string(),
                        payment.confirmation_code.is_some()
                    );
                }
                Err(e) => {
                    assert_eq!(over_http["error"], "invalid_fields", "{}: {e}", row.meaning);
                    let field = over_http["errors"][0]["field"].as_str().unwrap_or_default();
                    assert!(
                        e.to_string().contains(field),
                        "{field} named over both: {e}"
                    );
                }
            }
        }
    });
    join_all(checks).await;
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_replays_the_same_payment_and_never_charges_twice() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let request = card_request("4242424242424242", 4_200);
    daemon.sent(&request);
    let body = payment_body(&request);
    let key = new_key();

    let (first, taken) = agency.pay(&key, &body).await;
    assert_eq!(first, 201, "{taken}");
    let (again, replayed) = agency.pay(&key, &body).await;
    assert_eq!(again, 200, "a replay answers 200: {replayed}");
    assert_eq!(replayed, taken, "a replay is the identical payment");

    let mut changed = body.clone();
    changed["amount_minor"] = json!(4_300);
    let (conflict, refused) = agency.pay(&key, &changed).await;
    assert_eq!(conflict, 409, "{refused}");
    assert_eq!(refused["error"], "idempotency_conflict");

    // Twenty at once with one new key: one payment, one processor call.
    let key = new_key();
    let answers = join_all((0..20).map(|_| agency.pay(&key, &body))).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(_, p)| p["id"].as_str().expect("a payment").to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one payment for one key: {ids:?}");
    let id = ids.into_iter().next().expect("one id");
    assert_eq!(daemon.processor_calls(&id), 1);
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "exactly one call took the payment; the rest replayed it"
    );

    for (key, why) in [(None, "missing"), (Some("not a key!"), "malformed")] {
        let mut call = agency.post("/v1/payments").json(&body);
        if let Some(key) = key {
            call = call.header("Idempotency-Key", key);
        }
        let (status, refused) = answer(call.send().await.expect("answers")).await;
        assert_eq!(status, 400, "{why} key: {refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap_or_default()
                .contains("idempotency key")
                || refused["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Idempotency-Key"),
            "{why} key: {refused}"
        );
    }
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_carry_their_status_and_name_what_to_fix() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let request = card_request("4242424242424242", 1_500);
    daemon.sent(&request);
    let body = payment_body(&request);

    // 422: every field error at once, with dotted paths.
    let (status, refused) = agency.pay(&new_key(), &json!({})).await;
    assert_eq!(status, 422, "{refused}");
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("a field"))
        .collect();
    for field in [
        "currency",
        "card",
        "payer.name",
        "payer.postal_code",
        "fields.plate_number",
    ] {
        assert!(fields.contains(&field), "{field} is named: {fields:?}");
    }
    // DMV-RENEWAL leaves the payer's email optional (its `payer_email` is not "required").
    assert!(!fields.contains(&"payer.email"), "{fields:?}");
    let mut no_currency = body.clone();
    no_currency
        .as_object_mut()
        .expect("an object")
        .remove("currency");
    no_currency["card"]["number"] = json!("4242424242424241");
    let (status, refused) = agency.pay(&new_key(), &no_currency).await;
    assert_eq!(status, 422, "{refused}");
    let named: Vec<&str> = refused["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("a field"))
        .collect();
    assert_eq!(
        named,
        ["currency", "card.number"],
        "every field to fix at once"
    );

    let mut bad_card = body.clone();
    bad_card["card"]["number"] = json!("4242424242424241");
    bad_card["card"]["exp_month"] = json!("twelve");
    let (status, refused) = agency.pay(&new_key(), &bad_card).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "card.exp_month");
    bad_card["card"]["exp_month"] = json!(12);
    let (status, refused) = agency.pay(&new_key(), &bad_card).await;
    assert_eq!(status, 422);
    assert_eq!(refused["errors"][0]["field"], "card.number", "{refused}");
    assert!(
        !refused.to_string().contains("4242424242424241"),
        "an error never repeats the card number"
    );

    // 400: not JSON.
    let (status, _) = answer(
        agency
            .post("/v1/payments")
            .header("Idempotency-Key", new_key())
            .body("{\"amount_minor\": 1")
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert_eq!(status, 400);

    // 413: a body over the limit.
    let mut huge = body.clone();
    huge["payer"]["name"] = json!("x".repeat(70 * 1024));
    let (status, refused) = agency.pay(&new_key(), &huge).await;
    assert_eq!(status, 413, "{refused}");

    // 401: wrong password, unknown user, unknown application: one answer, never which part.
    let mut wrong = Agency::new(&daemon, "DMV-RENEWAL").await;
    wrong.password = "not-the-password-1".into();
    let (wrong_password, first) = wrong.pay(&new_key(), &body).await;
    wrong.user = "nobody".into();
    let (unknown_user, second) = wrong.pay(&new_key(), &body).await;
    let mut elsewhere = Agency::new(&daemon, "NO-SUCH-APP").await;
    elsewhere.password = "api1-demo-pass".into();
    let (unknown_app, third) = elsewhere.pay(&new_key(), &body).await;
    assert_eq!((wrong_password, unknown_user, unknown_app), (401, 401, 401));
    assert_eq!(first, second);
    assert_eq!(second, third);

    // A right password clears the failures counted so far.
    assert_eq!(agency.read("/v1/payments").await.0, 200);

    // An agent's right password is not an agency's: answered like a wrong one.
    let mut agent = Agency::new(&daemon, "DMV-RENEWAL").await;
    agent.user = "agent1".into();
    agent.password = "agent1-demo-pass".into();
    let (status, refused) = agent.pay(&new_key(), &body).await;
    assert_eq!(
        (status, &refused),
        (401, &first),
        "never which part was wrong"
    );

    // 423: locked after the configured failures (three in the test settings).
    let mut guesser = Agency::new(&daemon, "DMV-RENEWAL").await;
    guesser.password = "guess-guess-123".into();
    for _ in 0..2 {
        assert_eq!(guesser.pay(&new_key(), &body).await.0, 401);
    }
    let (status, locked) = guesser.pay(&new_key(), &body).await;
    assert_eq!(status, 423, "{locked}");
    assert!(locked["locked_until_ms"].is_i64(), "{locked}");
    let (status, _) = agency.pay(&new_key(), &body).await;
    assert_eq!(
        status, 423,
        "the right password does not open a locked user"
    );
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agency_reads_back_only_its_own_payments() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let dmv = Agency::new(&daemon, "DMV-RENEWAL").await;
    let request: PaymentRequest = card_request("5555555555554444", 7_700);
    daemon.sent(&request);
    let (status, paid) = dmv.pay(&new_key(), &payment_body(&request)).await;
    assert_eq!(status, 201);
    let id = paid["id"].as_str().expect("an id");

    let (status, found) = dmv.read(&format!("/v1/payments/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(found, paid);
    let (status, page) = dmv.read("/v1/payments?status=approved&page_size=10").await;
    assert_eq!(status, 200);
    assert!(
        page["payments"]
            .as_array()
            .expect("payments")
            .iter()
            .any(|p| p["id"] == id)
    );
    let (status, _) = dmv.read("/v1/payments?colour=red").await;
    assert_eq!(status, 400, "an unknown filter is refused, not ignored");

    let parks = Agency::new(&daemon, "PARK-RESERVE").await;
    let (status, _) = parks.read(&format!("/v1/payments/{id}")).await;
    assert_eq!(
        status, 404,
        "another application's payment does not exist for it"
    );
    let (_, page) = parks.read("/v1/payments").await;
    assert_eq!(page["payments"], json!([]));

    // The same payment over tarpc.
    let rpc = daemon.client().await;
    let token = daemon.login(&rpc, "DMV-RENEWAL", "agent1").await;
    let over_tarpc: Payment = rpc
        .payment(
            ctx(),
            token,
            cip_common::payment::PaymentLookup::Id(id.to_owned()),
        )
        .await
        .expect("rpc")
        .expect("found");
    assert_eq!(
        paid["confirmation_code"],
        json!(over_tarpc.confirmation_code)
    );
    daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_application_over_its_rate_is_told_when_to_retry() {
    let config = format!("{HTTP_CONFIG}rate_per_second = 1\nrate_burst = 3\n");
    let daemon = Daemon::start_with(&config).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..10 {
        let response = agency.get("/v1/payments").send().await.expect("answers");
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "the burst passes");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry_after.is_some(), "a 429 says when to retry");
    let other = Agency::new(&daemon, "PARK-RESERVE").await;
    let (status, _) = other.read("/v1/payments").await;
    assert_eq!(status, 200, "another application has its own rate");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_the_served_api() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let response = reqwest::get(format!("{}/openapi.json", agency.base))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("frame-ancestors 'none'")
    );
    let served: Value = response.json().await.expect("JSON");
    let kept: Value =
        serde_json::from_str(include_str!("../../assets/openapi.json")).expect("the kept document");
    assert_eq!(
        served, kept,
        "the served document is the one in the repository"
    );
    assert!(
        served["openapi"]
            .as_str()
            .expect("a version")
            .starts_with("3.1")
    );
    let paths = served["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/v1/payments", "post"),
        ("/v1/payments", "get"),
        ("/v1/payments/{id}", "get"),
        ("/v1/handoffs", "post"),
        ("/v1/handoffs/{id}", "get"),
    ] {
        let operation = &paths[path][method];
        assert!(operation.is_object(), "{method} {path} is documented");
    }
    for code in [
        "200", "201", "202", "401", "402", "409", "413", "422", "423", "429", "503",
    ] {
        assert!(
            paths["/v1/payments"]["post"]["responses"][code].is_object(),
            "POST /v1/payments documents {code}"
        );
    }
    // Every documented operation is served (without credentials it is refused, not missing).
    let client = reqwest::Client::new();
    for (path, operations) in paths {
        for method in operations.as_object().expect("operations").keys() {
            let url = format!("{}{}", agency.base, path.replace("{id}", "pay_unknown"));
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
                .expect("an HTTP method");
            let status = client
                .request(method.clone(), url)
                .send()
                .await
                .expect("answers")
                .status()
                .as_u16();
            let expected: &[u16] = if path == "/openapi.json" {
                &[200]
            } else {
                &[400, 401]
            };
            assert!(expected.contains(&status), "{method} {path}: {status}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_certificate_the_api_and_the_staff_pages_are_https_only() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("a self-signed certificate");
    let dir = tempfile::tempdir().expect("a dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("written");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("written");
    let config = format!(
        "{HTTP_CONFIG}tls_cert = {:?}\ntls_key = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let daemon = Daemon::start_with(&config).await;
    let base = daemon.http_url().await;
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");

    let trusting = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).expect("a PEM"),
        )
        .build()
        .expect("a client");
    // The staff pages over TLS: browsers come back only over TLS, and cookies go only there.
    let staff = trusting
        .get(format!("{base}/staff/"))
        .send()
        .await
        .expect("the staff sign-in page");
    assert!(
        staff
            .headers()
            .get("strict-transport-security")
            .is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("max-age="))),
        "{:?}",
        staff.headers()
    );
    let cookie = staff.headers().get("set-cookie").expect("a form cookie");
    assert!(
        cookie.to_str().is_ok_and(|c| c.contains("; Secure")),
        "{cookie:?}"
    );
    let mut agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    agency.client = trusting;
    let request = card_request("4242424242424242", 990);
    daemon.sent(&request);
    let (status, paid) = agency.pay(&new_key(), &payment_body(&request)).await;
    assert_eq!(status, 201, "{paid}");

    let plain = base.replacen("https://", "http://", 1);
    let refused = reqwest::get(format!("{plain}/openapi.json")).await;
    assert!(
        refused.map_or(true, |r| !r.status().is_success()),
        "nothing is served without TLS"
    );
    let untrusted = reqwest::get(format!("{base}/openapi.json")).await;
    assert!(untrusted.is_err(), "an unknown certificate is not trusted");
    daemon.assert_no_card_data();
}

/// schemathesis (from PyPI; `.ci/run` installs it) generates requests from the OpenAPI document
/// and checks every answer against it: documented status codes, content types, headers and
/// schemas, and no server error.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_every_answer_as_documented() {
    let schemathesis = || {
        let mut command = std::process::Command::new("python3");
        command.args(["-m", "schemathesis.cli"]);
        command
    };
    let installed = schemathesis()
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !cip_tests::tool_present(installed, "schemathesis", "pip install schemathesis") {
        return;
    }
    let config = format!("{HTTP_CONFIG}rate_per_second = 100000\nrate_burst = 100000\n");
    let daemon = Daemon::start_with(&config).await;
    let base = daemon.http_url().await;
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/openapi.json");
    // schemathesis keeps a cache where it runs: in a dir of its own, not in the source tree.
    let cache = tempfile::tempdir().expect("a dir");
    // The daemon is a process of its own: waiting here blocks nothing it needs.
    let run = schemathesis()
        .current_dir(cache.path())
        .args(["run", spec, "--url", &base, "--auth", "api1:api1-demo-pass"])
        .args([
            "-H",
            "X-CIP-Application: DMV-RENEWAL",
            "--max-examples",
            "30",
        ])
        .args(["--seed", "20261129", "--checks"])
        .arg(
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance",
        )
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}
