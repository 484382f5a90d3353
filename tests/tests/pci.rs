//! PCI DSS v4.0.1 requirements that CIP meets, each shown on a real daemon (the README maps every
//! requirement to its test; the rest live beside the code they check).

use cip_common::payment::PaymentLookup;
use cip_daemon::processor::sandbox::contract_rows;
use cip_tests::http::{Agency, HTTP_CONFIG};
use cip_tests::{Daemon, ctx, new_key, request_for};

/// 3.3.1 (no CVV kept after authorization), 3.4.1 (a PAN shown as at most its first six and
/// last four) and 3.5.1 (no PAN readable at rest), for every card and account of the contract.
#[tokio::test(flavor = "multi_thread")]
async fn no_card_number_or_cvv_is_kept_or_shown_after_authorization() {
    let daemon = Daemon::start_with(HTTP_CONFIG).await;
    let client = daemon.client().await;
    let agency = Agency::new(&daemon, "DMV-RENEWAL").await;
    for row in contract_rows()
        .into_iter()
        .filter(|r| r.outcome != "invalid")
    {
        // The slow and hanging rows add nothing here but time.
        if row.code == "processor_timeout" || row.meaning.contains("slow") {
            continue;
        }
        let (application, request) = request_for(&row);
        daemon.sent(&request);
        let token = daemon.login(&client, application, "agent1").await;
        let payment = client
            .submit(ctx(), token.clone(), new_key(), request)
            .await
            .expect("rpc")
            .expect("decided");
        // What is shown: the record over tarpc and over HTTP.
        let shown = client
            .payment(ctx(), token, PaymentLookup::Id(payment.id.clone()))
            .await
            .expect("rpc")
            .expect("found");
        let digits: String = row.number.chars().filter(char::is_ascii_digit).collect();
        let full = digits.rsplit('/').next().unwrap_or(&digits).to_owned();
        let account = row.number.rsplit('/').next().expect("a number").to_owned();
        for text in [
            format!("{shown:?}"),
            format!("{}", shown.method),
            if application == "DMV-RENEWAL" {
                agency
                    .read(&format!("/v1/payments/{}", payment.id))
                    .await
                    .1
                    .to_string()
            } else {
                String::new()
            },
        ] {
            assert!(
                !text.contains(&full) && !text.contains(&account),
                "{} shown in full: {text}",
                row.meaning
            );
        }
        match &shown.method {
            cip_common::payment::MethodSummary::Card {
                first_six,
                last_four,
                ..
            } => {
                assert_eq!((first_six.len(), last_four.len()), (6, 4));
                assert!(row.number.starts_with(first_six.as_str()));
                assert!(row.number.ends_with(last_four.as_str()));
            }
            cip_common::payment::MethodSummary::Ach { last_four, .. } => {
                assert!(account.ends_with(last_four.as_str()));
            }
        }
    }
    // At rest: no database, WAL, log or ledger byte holds a number or a CVV sent.
    daemon.assert_no_card_data();
}

/// 10.2.1 and 10.2.2: sign-ins, failures, lockouts, unlocks, administration, exports, batches,
/// voids and backups are audited, each entry naming who, what, when, where from, the outcome
/// and what it touched.
#[tokio::test(flavor = "multi_thread")]
async fn every_audit_entry_names_who_what_when_where_from_the_outcome_and_the_object() {
    let daemon = Daemon::start().await;
    daemon.add_user("agent2", "agent", "DMV-RENEWAL");
    let client = daemon.client().await;
    daemon.lock_out(&client, "DMV-RENEWAL", "agent2").await;
    let supervisor = daemon.login(&client, "DMV-RENEWAL", "super1").await;
    client
        .unlock(ctx(), supervisor, "agent2".into())
        .await
        .expect("rpc")
        .expect("unlocked");
    let backup = daemon.dir.path().join("audit.backup");
    let mut commands = vec![
        vec!["report", "export", "--app", "DMV-RENEWAL"],
        vec!["report", "run", "--app", "DMV-RENEWAL"],
    ];
    let mut expected = vec![
        "login",
        "lockout",
        "user.add",
        "user.unlock",
        "payments.export",
        "batch.transmitted",
    ];
    // `cipd backup` copies the SQLite file; PostgreSQL is backed up with its own tools.
    if daemon.store_url.is_none() {
        commands.push(vec!["backup", backup.to_str().expect("utf-8")]);
        expected.push("database.backup");
    }
    for args in commands {
        assert!(daemon.cipd(&args, None).status.success(), "{args:?}");
    }
    let entries: Vec<(i64, String, String, String, String, String)> = daemon
        .sql("SELECT at_ms, actor, action, outcome, origin, object FROM audit_log")
        .into_iter()
        .map(|row| {
            let [at_ms, actor, action, outcome, origin, object] =
                <[String; 6]>::try_from(row).expect("six columns");
            (
                at_ms.parse().expect("a time"),
                actor,
                action,
                outcome,
                origin,
                object,
            )
        })
        .collect();
    let actions: std::collections::BTreeSet<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    for action in expected {
        assert!(
            actions.contains(action),
            "{action} not audited: {actions:?}"
        );
    }
    assert!(
        entries.iter().any(|e| e.3 == "failure"),
        "failed sign-ins are audited"
    );
    for (at_ms, actor, action, outcome, origin, object) in &entries {
        assert!(*at_ms > 1_700_000_000_000, "{action}: when");
        for (what, value) in [("who", actor), ("where from", origin), ("object", object)] {
            assert!(!value.is_empty(), "{action}: {what} missing");
        }
        assert!(["success", "failure"].contains(&outcome.as_str()));
    }
    // The log cannot be rewritten.
    assert!(daemon.try_sql("UPDATE audit_log SET actor = 'x'").is_err());
    assert!(daemon.try_sql("DELETE FROM audit_log").is_err());
}
