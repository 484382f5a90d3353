//! Notices to an agency's callback URL: which are due (a hand-off paid, a payment refunded),
//! read from the committed events and swept for, and the delivery log of every attempt.

use super::{Backend, Store, StoreError, postgres, sqlite};
use cip_common::payment::Payment;
use cip_common::refund::Refund;

/// What an agency is told, with the payment it is about.
#[derive(Debug)]
pub enum Notice {
    /// A hand-off's payment was approved.
    Paid {
        handoff_id: String,
        payment: Payment,
    },
    /// A refund of a payment succeeded.
    Refunded {
        refund: Box<Refund>,
        payment: Payment,
    },
}

/// Which kind a notice is, for its delivery log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    Paid,
    Refunded,
}

impl Notice {
    pub fn kind(&self) -> NoticeKind {
        match self {
            Notice::Paid { .. } => NoticeKind::Paid,
            Notice::Refunded { .. } => NoticeKind::Refunded,
        }
    }

    /// What it is about: the hand-off's id, or the refund's; once per subject.
    pub fn subject(&self) -> &str {
        match self {
            Notice::Paid { handoff_id, .. } => handoff_id,
            Notice::Refunded { refund, .. } => &refund.id,
        }
    }

    pub fn payment(&self) -> &Payment {
        match self {
            Notice::Paid { payment, .. } | Notice::Refunded { payment, .. } => payment,
        }
    }
}

impl NoticeKind {
    /// Its delivery log, the log's column naming the subject, and the subject's table.
    pub(super) fn tables(self) -> (&'static str, &'static str, &'static str) {
        match self {
            NoticeKind::Paid => ("handoff_deliveries", "handoff_id", "handoffs"),
            NoticeKind::Refunded => ("refund_deliveries", "refund_id", "refunds"),
        }
    }
}

impl Delivery {
    /// The attempt as its event on the payment tells it.
    pub(super) fn told(&self) -> String {
        match self.kind {
            NoticeKind::Paid => format!("{}, attempt {}", self.outcome, self.attempt),
            NoticeKind::Refunded => format!(
                "refund {}: {}, attempt {}",
                self.subject, self.outcome, self.attempt
            ),
        }
    }
}

/// One attempt to deliver a notice.
pub struct Delivery {
    pub kind: NoticeKind,
    pub subject: String,
    pub payment_id: String,
    pub attempt: u32,
    pub at_ms: i64,
    /// What the callback answered, in words: `HTTP 200`, `no answer in time`.
    pub outcome: String,
    pub taken: bool,
}

impl Store {
    /// Writes a delivery attempt to the notice's delivery log, with its event on the payment,
    /// and marks the subject notified when the callback took it.
    pub async fn record_delivery(&self, delivery: Delivery) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.write(move |c| sqlite::notices::record_delivery(c, &delivery))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::notices::record_delivery(db, &delivery))
                    .await
            }
        }
    }

    /// Whether the agency's callback has taken the notice of `subject`.
    pub async fn notified(&self, kind: NoticeKind, subject: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let subject = subject.to_owned();
                db.read(move |c| sqlite::notices::notified(c, kind, &subject))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::notices::notified(&db.client().await?, kind, subject).await
                })
                .await
            }
        }
    }

    /// The notices the events after `after_seq` up to `upto_seq` make due: hand-off payments
    /// approved, then refunds that succeeded, each in commit order.
    pub async fn notices_between(
        &self,
        after_seq: u64,
        upto_seq: u64,
    ) -> Result<Vec<Notice>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| {
                    let mut due = sqlite::handoffs::approved_between(c, after_seq, upto_seq)?;
                    due.extend(sqlite::refunds::succeeded_between(c, after_seq, upto_seq)?);
                    Ok(due)
                })
                .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    let client = db.client().await?;
                    let mut due =
                        postgres::handoffs::approved_between(&client, after_seq, upto_seq).await?;
                    due.extend(
                        postgres::refunds::succeeded_between(&client, after_seq, upto_seq).await?,
                    );
                    Ok(due)
                })
                .await
            }
        }
    }

    /// Notices since `since_ms` the callback has not taken: hand-offs created then and paid,
    /// and refunds that succeeded then.
    pub async fn notices_due(&self, since_ms: i64) -> Result<Vec<Notice>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| {
                    let mut due = sqlite::handoffs::to_notify(c, since_ms)?;
                    due.extend(sqlite::refunds::to_notify(c, since_ms)?);
                    Ok(due)
                })
                .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    let client = db.client().await?;
                    let mut due = postgres::handoffs::to_notify(&client, since_ms).await?;
                    due.extend(postgres::refunds::to_notify(&client, since_ms).await?);
                    Ok(due)
                })
                .await
            }
        }
    }
}
