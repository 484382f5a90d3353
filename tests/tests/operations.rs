//! What an operations team relies on: metrics Prometheus can read that count exactly what
//! happened and carry no card or payer data, logs a collector can read, and health checks that
//! follow the store and the processor, on the HTTP listener, the metrics one and `cipd status`.

use cip_daemon::processor::sandbox::contract_rows;
use cip_tests::http::{Agency, METRICS_CONFIG, payment_body};
use cip_tests::operations::{parse_metrics, prometheus_parser_present, total};
use cip_tests::sandbox::SandboxServer;
use cip_tests::{Daemon, new_key, payer, request_for};
use futures::future::join_all;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_every_payment_and_sign_in_failure_and_name_no_card_or_payer() {
    if !prometheus_parser_present() {
        return;
    }
    let daemon = Daemon::start_with_env(METRICS_CONFIG, &[("CIP_LOG_FORMAT", "json")]).await;
    let rows = contract_rows();
    let mut expected: BTreeMap<(String, &str, String), f64> = BTreeMap::new();
    let keys: Vec<String> = rows.iter().map(|_| new_key()).collect();
    let paid = rows.iter().zip(&keys).map(|(row, key)| {
        let daemon = &daemon;
        async move {
            let (application, request) = request_for(row);
            daemon.sent(&request);
            let agency = Agency::new(daemon, application).await;
            let (_, answer) = agency.pay(key, &payment_body(&request)).await;
            (application, answer)
        }
    });
    for (row, (application, answer)) in rows.iter().zip(join_all(paid).await) {
        if row.outcome == "invalid" {
            assert_eq!(answer["error"], "invalid_fields", "{answer}");
            continue;
        }
        assert_eq!(answer["status"], row.outcome.as_str(), "{}", row.meaning);
        *expected
            .entry((application.to_owned(), "gateway", row.outcome.clone()))
            .or_default() += 1.0;
    }
    // A replay is the same payment, not another one.
    let (application, request) = request_for(&rows[0]);
    let agency = Agency::new(&daemon, application).await;
    agency.pay(&keys[0], &payment_body(&request)).await;
    // A payment keyed in at the service desk.
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    daemon
        .take(&client, &agent, "5555555555554444", 4_200)
        .await;
    *expected
        .entry(("DMV-RENEWAL".to_owned(), "full", "approved".to_owned()))
        .or_default() += 1.0;
    // Three wrong passwords lock a user out; an unknown user is one failure more.
    daemon.lock_out(&client, "DMV-RENEWAL", "super1").await;
    let unknown = client
        .login(
            cip_tests::ctx(),
            "DMV-RENEWAL".into(),
            "nobody-here".into(),
            cip_tests::demo_password("nobody-here"),
        )
        .await
        .expect("rpc");
    assert!(unknown.is_err());

    let text = reqwest::get(daemon.metrics_url().await)
        .await
        .expect("the metrics listener answers")
        .text()
        .await
        .expect("a scrape");
    let samples = parse_metrics(&text);
    let counted: BTreeMap<(String, &str, String), f64> = samples
        .iter()
        .filter(|s| s.name == "cip_payments_total")
        .map(|s| {
            let mode = match s.labels["mode"].as_str() {
                "gateway" => "gateway",
                "full" => "full",
                other => panic!("no payment was made in mode {other}"),
            };
            (
                (
                    s.labels["application"].clone(),
                    mode,
                    s.labels["outcome"].clone(),
                ),
                s.value,
            )
        })
        .collect();
    assert_eq!(
        counted, expected,
        "payments by application, mode and outcome"
    );
    let made: f64 = expected.values().sum();
    for histogram in [
        "cip_payment_duration_seconds_count",
        "cip_processor_duration_seconds_count",
    ] {
        assert_eq!(total(&samples, histogram, &[]), made, "{histogram}");
    }
    assert_eq!(
        total(
            &samples,
            "cip_sign_in_failures_total",
            &[("reason", "wrong_password")]
        ),
        3.0
    );
    assert_eq!(
        total(
            &samples,
            "cip_sign_in_failures_total",
            &[("reason", "unknown_user")]
        ),
        1.0
    );
    assert_eq!(total(&samples, "cip_lockouts_total", &[]), 1.0);
    assert_eq!(total(&samples, "cip_payments_in_flight", &[]), 0.0);
    assert!(total(&samples, "cip_console_connections", &[]) >= 1.0);
    assert!(total(&samples, "cip_store_group_commit_size", &[]) >= 1.0);

    // No label or value carries what a customer gave or a key an agency chose.
    let payer = payer();
    let mut secret: Vec<String> = rows
        .iter()
        .flat_map(|row| row.number.split('/').map(str::to_owned))
        .collect();
    secret.extend([payer.name, payer.email]);
    secret.extend(keys);
    for value in &secret {
        assert!(!text.contains(value.as_str()), "the scrape holds {value}");
    }

    // The log is one JSON object a line, with no card data either (the scan below).
    let log = daemon.log();
    let objects: Vec<Value> = log
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"))
        })
        .collect();
    assert!(
        objects
            .iter()
            .all(|o| o["level"].is_string() && o["message"].is_string()),
        "{log}"
    );
    assert!(
        objects.iter().any(|o| o["level"] == "INFO"
            && o["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("cipd listening on "))),
        "{log}"
    );
    daemon.assert_no_card_data();
}

/// Asks `url` until it answers `status`, and gives its JSON answer.
async fn until_answers(url: &str, status: u16) -> Value {
    let client = reqwest::Client::new();
    let mut last = String::new();
    for _ in 0..300 {
        if let Ok(response) = client.get(url).send().await {
            let code = response.status().as_u16();
            let body: Value = response.json().await.expect("JSON");
            if code == status {
                return body;
            }
            last = format!("{code} {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered {status}; last: {last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_the_store_and_the_processor_and_status_says_so() {
    let mut sandbox = SandboxServer::start();
    let config = sandbox
        .daemon_config(
            4_000,
            600_000,
            "[http]\nlisten = \"127.0.0.1:0\"\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        )
        .replace("[processor]\n", "[processor]\nprobe_every_ms = 200\n");
    let daemon = Daemon::start_with(&config).await;
    let http = daemon.http_url().await;
    let metrics = daemon.metrics_url().await;
    let on_metrics = metrics.trim_end_matches("/metrics");
    for base in [http.as_str(), on_metrics] {
        until_answers(&format!("{base}/readyz"), 200).await;
    }
    let status = daemon.cipd(&["status"], None);
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{said}");
    assert!(said.contains("ready: takes payments"), "{said}");
    assert!(
        said.contains(&format!("sandbox service at {} (ok)", sandbox.url)),
        "{said}"
    );

    sandbox.kill();
    let answer = until_answers(&format!("{http}/readyz"), 503).await;
    let reason = answer["reason"].as_str().expect("a reason");
    assert!(reason.starts_with("processor: "), "{answer}");
    assert!(!reason.contains("store"), "{answer}");
    let status = daemon.cipd(&["status"], None);
    let said = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{said}");
    assert!(said.contains("NOT READY"), "{said}");
    assert!(
        said.contains("(FAILING: the processor cannot be reached"),
        "{said}"
    );
    // Alive all the same: a load balancer takes it out, a supervisor does not restart it.
    until_answers(&format!("{http}/healthz"), 200).await;
    sandbox.restart();
    until_answers(&format!("{http}/readyz"), 200).await;

    let unwritable = daemon.make_store_unwritable();
    let answer = until_answers(&format!("{on_metrics}/readyz"), 503).await;
    assert!(
        answer["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("store: ")),
        "{answer}"
    );
    let status = daemon.cipd(&["status", "--json"], None);
    assert_eq!(status.status.code(), Some(1));
    let said: Value = serde_json::from_slice(&status.stdout).expect("one JSON object");
    assert!(said["readiness"]["store"].is_string(), "{said}");
    assert!(said["readiness"]["processor"].is_null(), "{said}");
    drop(unwritable);
    until_answers(&format!("{on_metrics}/readyz"), 200).await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    let (_, request) = request_for(&contract_rows()[0]);
    daemon.sent(&request);
    let (code, answer) = agency.pay(&new_key(), &payment_body(&request)).await;
    assert_eq!(code, 201, "takes payments again: {answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_says_plainly_that_no_daemon_answers() {
    let mut daemon = Daemon::start().await;
    daemon.kill();
    let status = daemon.cipd(&["status"], None);
    let said = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(3), "{said}");
    assert!(said.contains("cipd is not answering on"), "{said}");
}
