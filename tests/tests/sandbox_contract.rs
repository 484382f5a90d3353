//! Every row of the sandbox contract gives its outcome through a real cipd; every invalid row is
//! a field error that never reaches the processor.

use cip_common::error::ApiError;
use cip_common::status::PaymentStatus;
use cip_daemon::processor::sandbox::contract_rows;
use cip_tests::{Daemon, ctx, new_key, request_for};

#[tokio::test(flavor = "multi_thread")]
async fn every_contract_row_gives_its_outcome() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let rows = contract_rows();
    let mut in_doubt = Vec::new();
    let calls = rows.iter().map(|row| {
        let (application, request) = request_for(row);
        daemon.sent(&request);
        let client = client.clone();
        let daemon = &daemon;
        async move {
            let token = daemon.login(&client, application, "agent1").await;
            let answer = client
                .submit(ctx(), token, new_key(), request)
                .await
                .expect("rpc");
            (row, answer)
        }
    });
    for (row, answer) in futures::future::join_all(calls).await {
        let what = format!("{} {} ({})", row.kind, row.number, row.meaning);
        match row.outcome.as_str() {
            "invalid" => {
                let Err(ApiError::Fields(errors)) = &answer else {
                    panic!("{what}: expected a field error, got {answer:?}");
                };
                let field = if row.kind == "ach" {
                    "ach.routing_number"
                } else {
                    "card.number"
                };
                let message = errors
                    .get(field)
                    .unwrap_or_else(|| panic!("{what}: {errors:?}"));
                assert!(
                    message.contains(if row.code == "luhn" {
                        "check digit"
                    } else {
                        "checksum"
                    }),
                    "{what}: {message}"
                );
            }
            outcome => {
                let payment = answer.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(payment.status.code(), outcome, "{what}");
                // The late row's call reaches the books only after CIP's deadline.
                let calls = daemon.processor_calls(&payment.id);
                assert!(
                    calls == 1 || (calls == 0 && payment.status == PaymentStatus::InDoubt),
                    "{what}: {calls} calls"
                );
                match payment.status {
                    PaymentStatus::Approved => {
                        let code = payment
                            .confirmation_code
                            .as_deref()
                            .unwrap_or_else(|| panic!("{what}: no code"));
                        assert_eq!(
                            cip_common::confirmation::normalize(code).as_deref(),
                            Some(code)
                        );
                        assert_eq!(payment.code, None);
                    }
                    PaymentStatus::InDoubt => {
                        assert_eq!(payment.confirmation_code, None, "{what}");
                        assert_eq!(payment.code.as_deref(), Some("processor_timeout"), "{what}");
                        in_doubt.push((row, payment));
                    }
                    _ => {
                        assert_eq!(payment.code.as_deref(), Some(row.code.as_str()), "{what}");
                        assert_eq!(payment.confirmation_code, None, "{what}");
                        assert!(
                            payment.message.as_deref().is_some_and(|m| !m.is_empty()),
                            "{what}"
                        );
                    }
                }
            }
        }
    }
    // Field errors never reached the processor: the books hold one call per accepted row, but
    // for the one still on its way.
    let accepted = rows.iter().filter(|r| r.outcome != "invalid").count();
    let on_the_way = in_doubt
        .iter()
        .filter(|(_, p)| daemon.processor_calls(&p.id) == 0)
        .count();
    assert_eq!(on_the_way, 1, "{in_doubt:?}");
    assert_eq!(daemon.ledger().lines().count(), accepted - on_the_way);
    assert_eq!(in_doubt.len(), 3);
    daemon.assert_no_card_data();
}
