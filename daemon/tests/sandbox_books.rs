//! The sandbox's books on their own: a reversal that comes before the late row's authorization
//! makes the processor refuse it, and refunds never give back more than was charged. Both read
//! the ledger back as a restarted sandbox does.

use cip_common::money::{Currency, Money};
use cip_common::payment::{CardInput, PaymentMethod};
use cip_common::secret::{Cvv, Pan};
use cip_daemon::processor::sandbox::{LATE_BY, Sandbox};
use cip_daemon::processor::{Authorization, Inquiry, Outcome, Processor, Refund, RefundOutcome};
use std::time::Duration;

fn card(number: &str) -> PaymentMethod {
    PaymentMethod::Card(CardInput {
        number: Pan::new(number.to_owned()),
        exp_month: 12,
        exp_year: 2040,
        cvv: Cvv::new("123".to_owned()),
        name: "A B".to_owned(),
        postal_code: "94107".to_owned(),
    })
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::Usd)
}

async fn authorize(sandbox: &Sandbox, reference: &str, number: &str, minor: i64) -> Outcome {
    let method = card(number);
    sandbox
        .authorize(Authorization {
            reference,
            amount: usd(minor),
            method: &method,
            deadline: Duration::from_secs(1),
        })
        .await
        .expect("the sandbox in this process always answers")
}

async fn refund(sandbox: &Sandbox, reference: &str, payment: &str, minor: i64) -> RefundOutcome {
    sandbox
        .refund(Refund {
            reference,
            payment,
            amount: usd(minor),
        })
        .await
        .expect("the books answer")
}

/// The late row: an inquiry before it arrives finds nothing; reversed then, it is refused
/// when it comes, and the books, read again after a restart, still say nothing was charged.
#[tokio::test(start_paused = true)]
async fn a_reversal_before_a_late_authorization_makes_the_processor_refuse_it() {
    let dir = tempfile::tempdir().expect("a dir");
    let ledger = dir.path().join("ledger");
    let sandbox = Sandbox::open(&ledger, Duration::ZERO).expect("opens");
    let late = "4000000000000341";
    let answered = tokio::time::timeout(
        Duration::from_secs(1),
        authorize(&sandbox, "pay_late", late, 500),
    )
    .await;
    assert!(answered.is_err(), "the late row never answers");
    assert_eq!(
        sandbox.inquire("pay_late").await.expect("asked"),
        Inquiry::NotFound
    );
    sandbox.reverse("pay_late").await.expect("acknowledged");
    sandbox
        .reverse("pay_late")
        .await
        .expect("a repeat is acknowledged too");
    tokio::time::sleep(LATE_BY + Duration::from_secs(1)).await;
    let books = std::fs::read_to_string(&ledger).expect("the ledger");
    let lines: Vec<&str> = books.lines().collect();
    assert_eq!(
        lines,
        [
            "reverse\tpay_late\t-\t-\treversed\t-",
            "authorize\tpay_late\t500\tUSD\trefused\treversed"
        ]
    );
    let again = Sandbox::open(&ledger, Duration::ZERO).expect("opens again");
    assert_eq!(
        again.inquire("pay_late").await.expect("asked"),
        Inquiry::NotFound
    );
    assert!(again.void("pay_late").await.is_err(), "nothing to void");

    // Not reversed, the same row charges when it arrives.
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        authorize(&sandbox, "pay_kept", late, 700),
    )
    .await;
    tokio::time::sleep(LATE_BY + Duration::from_secs(1)).await;
    assert!(matches!(
        sandbox.inquire("pay_kept").await.expect("asked"),
        Inquiry::Decided(Outcome::Approved { .. })
    ));
}

/// Refunds give back at most what was charged, once per refund reference, and never for the
/// row whose refunds are declined, or for a payment voided or reversed; a payment with a
/// refund is not voided.
#[tokio::test]
async fn refunds_never_give_back_more_than_was_charged() {
    let dir = tempfile::tempdir().expect("a dir");
    let ledger = dir.path().join("ledger");
    let sandbox = Sandbox::open(&ledger, Duration::ZERO).expect("opens");
    authorize(&sandbox, "pay_a", "4242424242424242", 1_000).await;
    assert_eq!(
        refund(&sandbox, "ref_1", "pay_a", 600).await,
        RefundOutcome::Succeeded
    );
    assert_eq!(
        refund(&sandbox, "ref_1", "pay_a", 600).await,
        RefundOutcome::Succeeded
    );
    let too_much = RefundOutcome::Declined {
        code: "amount_too_large".to_owned(),
    };
    assert_eq!(refund(&sandbox, "ref_2", "pay_a", 401).await, too_much);
    assert_eq!(
        refund(&sandbox, "ref_3", "pay_a", 400).await,
        RefundOutcome::Succeeded
    );
    assert!(
        sandbox.void("pay_a").await.is_err(),
        "a refunded payment is not voided"
    );

    authorize(&sandbox, "pay_b", "4000000000005126", 1_000).await;
    let refused = RefundOutcome::Declined {
        code: "refund_failed".to_owned(),
    };
    assert_eq!(refund(&sandbox, "ref_4", "pay_b", 100).await, refused);

    authorize(&sandbox, "pay_c", "4242424242424242", 1_000).await;
    sandbox.void("pay_c").await.expect("voided");
    let not_refundable = RefundOutcome::Declined {
        code: "not_refundable".to_owned(),
    };
    assert_eq!(
        refund(&sandbox, "ref_5", "pay_c", 100).await,
        not_refundable
    );

    // The books read again agree: pay_a is fully refunded, and pay_b still refuses.
    let again = Sandbox::open(&ledger, Duration::ZERO).expect("opens again");
    let nothing_left = RefundOutcome::Declined {
        code: "amount_too_large".to_owned(),
    };
    assert_eq!(refund(&again, "ref_6", "pay_a", 1).await, nothing_left);
    assert_eq!(refund(&again, "ref_4", "pay_b", 100).await, refused);
}
