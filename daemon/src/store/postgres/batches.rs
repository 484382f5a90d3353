//! SQL for batch reports on PostgreSQL. A claim holds the application's advisory lock for its
//! transaction, so claims from several daemons take turns and no payment is claimed twice.

use super::accounts::audit;
use super::events::insert_batch_event;
use super::{Client, Postgres};
use crate::store::StoreError;
use crate::store::batches::{Claimed, Transmitted};
use crate::store::events::BatchEvent;

pub(in crate::store) async fn claim(
    pg: &Postgres,
    application: &str,
    id: &str,
    now_ms: i64,
) -> Result<Claimed, StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('cip batch ' || $1, 0))",
        &[&application],
    )
    .await?;
    let unfinished = tx
        .query_opt(
            "SELECT id, created_ms, payment_count, refund_count FROM batches
             WHERE application_id = $1 AND transmitted_ms IS NULL ORDER BY created_ms LIMIT 1",
            &[&application],
        )
        .await?;
    if let Some(row) = unfinished {
        return Ok(Claimed {
            id: row.try_get(0)?,
            application: application.to_owned(),
            created_ms: row.try_get(1)?,
            payment_count: u64::try_from(row.try_get::<_, i64>(2)?).unwrap_or(0),
            refund_count: u64::try_from(row.try_get::<_, i64>(3)?).unwrap_or(0),
            unfinished: true,
        });
    }
    tx.execute(
        "INSERT INTO batches (id, application_id, created_ms, payment_count) VALUES ($1, $2, $3, 0)",
        &[&id, &application, &now_ms],
    )
    .await?;
    let count = tx
        .execute(
            "UPDATE payments SET batch_id = $1
             WHERE application_id = $2 AND batch_id IS NULL AND voiding_ms IS NULL
               AND status IN ('approved', 'declined', 'failed', 'voided')",
            &[&id, &application],
        )
        .await?;
    let refund_count = tx
        .execute(
            "UPDATE refunds SET batch_id = $1
             WHERE application_id = $2 AND batch_id IS NULL AND status <> 'pending'",
            &[&id, &application],
        )
        .await?;
    // The batch is new, so it holds exactly what this claim took: a payment or refund already
    // in it would be reported twice.
    let held = tx
        .query_one(
            "SELECT (SELECT count(*) FROM payments WHERE batch_id = $1),
                    (SELECT count(*) FROM refunds WHERE batch_id = $1)",
            &[&id],
        )
        .await?;
    let held: (i64, i64) = (held.try_get(0)?, held.try_get(1)?);
    if (u64::try_from(held.0).ok(), u64::try_from(held.1).ok()) != (Some(count), Some(refund_count))
    {
        return Err(StoreError::Broken(format!(
            "batch {id} holds {} payments and {} refunds after a claim of {count} and \
             {refund_count}",
            held.0, held.1
        )));
    }
    tx.execute(
        "UPDATE batches SET payment_count = $1, refund_count = $2 WHERE id = $3",
        &[&held.0, &held.1, &id],
    )
    .await?;
    tx.commit().await?;
    Ok(Claimed {
        id: id.to_owned(),
        application: application.to_owned(),
        created_ms: now_ms,
        payment_count: count,
        refund_count,
        unfinished: false,
    })
}

pub(in crate::store) async fn transmitted(
    pg: &Postgres,
    done: &Transmitted,
) -> Result<(), StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let first = tx
        .execute(
            "UPDATE batches SET sha256 = $1, transmitted_ms = $2
             WHERE id = $3 AND transmitted_ms IS NULL",
            &[&done.sha256, &done.audit.at_ms, &done.batch.id],
        )
        .await?;
    if first == 0 {
        return Ok(());
    }
    insert_batch_event(
        &tx,
        0,
        &BatchEvent {
            at_ms: done.audit.at_ms,
            application: &done.batch.application,
            batch_id: &done.batch.id,
            payment_count: done.batch.payment_count,
            approved: done.approved,
            by: &done.audit.actor,
        },
    )
    .await?;
    audit(&tx, &done.audit).await?;
    tx.commit().await?;
    pg.committed();
    Ok(())
}

pub(in crate::store) async fn done_since_ms(
    client: &Client,
    application: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM batches
                                      WHERE application_id = $1 AND transmitted_ms IS NULL)
                    THEN NULL
                    ELSE greatest(a.created_ms, coalesce((SELECT max(created_ms) FROM batches
                                                          WHERE application_id = $1), 0))
                    END
             FROM applications a WHERE a.id = $1",
            &[&application],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .flatten())
}
