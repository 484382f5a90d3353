//! SQL for notices to an agency's callback URL on PostgreSQL: the delivery log of each kind.

use super::events::insert_event_of_payment;
use super::{Client, Postgres};
use crate::store::StoreError;
use crate::store::notices::{Delivery, NoticeKind};
use cip_common::event::EventKind;

pub(in crate::store) async fn record_delivery(
    pg: &Postgres,
    delivery: &Delivery,
) -> Result<(), StoreError> {
    let (log, subject, of) = delivery.kind.tables();
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.execute(
        &format!(
            "INSERT INTO {log} ({subject}, attempt, at_ms, payment_id, outcome, taken)
             VALUES ($1, $2, $3, $4, $5, $6)"
        ),
        &[
            &delivery.subject,
            &i64::from(delivery.attempt),
            &delivery.at_ms,
            &delivery.payment_id,
            &delivery.outcome,
            &delivery.taken,
        ],
    )
    .await?;
    let kind = match delivery.taken {
        true => EventKind::AgencyNotified,
        false => EventKind::AgencyNotifyFailed,
    };
    let told = delivery.told();
    insert_event_of_payment(&tx, 0, &delivery.payment_id, kind, &told, delivery.at_ms).await?;
    if delivery.taken {
        tx.execute(
            &format!("UPDATE {of} SET notified_ms = $2 WHERE id = $1"),
            &[&delivery.subject, &delivery.at_ms],
        )
        .await?;
    }
    tx.commit().await?;
    pg.committed();
    Ok(())
}

pub(in crate::store) async fn notified(
    client: &Client,
    kind: NoticeKind,
    subject: &str,
) -> Result<bool, StoreError> {
    let (_, _, of) = kind.tables();
    Ok(client
        .query_opt(
            &format!("SELECT notified_ms IS NOT NULL FROM {of} WHERE id = $1"),
            &[&subject],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .unwrap_or(false))
}
