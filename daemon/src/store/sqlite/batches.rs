//! SQL for batch reports: claiming an application's decided payments for one batch, and
//! recording that its file reached the outbox.

use super::{accounts, events};
use crate::store::StoreError;
use crate::store::batches::{Claimed, Transmitted};
use crate::store::events::BatchEvent;
use rusqlite::{Connection, OptionalExtension, params};

/// The oldest batch of `application` whose file is not complete yet, if any; otherwise a new
/// batch `id` claiming every decided payment and refund of `application` that no batch holds
/// (none twice: one transaction claims them, and their batch never changes).
pub fn claim(
    conn: &Connection,
    application: &str,
    id: &str,
    now_ms: i64,
) -> Result<Claimed, StoreError> {
    let unfinished = conn
        .prepare_cached(
            "SELECT id, created_ms, payment_count, refund_count FROM batches
             WHERE application_id = ?1 AND transmitted_ms IS NULL ORDER BY created_ms LIMIT 1",
        )?
        .query_row([application], |r| {
            Ok(Claimed {
                id: r.get(0)?,
                application: application.to_owned(),
                created_ms: r.get(1)?,
                payment_count: r.get::<_, i64>(2)?.try_into().unwrap_or(0),
                refund_count: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
                unfinished: true,
            })
        })
        .optional()?;
    if let Some(batch) = unfinished {
        return Ok(batch);
    }
    conn.prepare_cached(
        "INSERT INTO batches (id, application_id, created_ms, payment_count) VALUES (?1, ?2, ?3, 0)",
    )?
    .execute(params![id, application, now_ms])?;
    let count = conn
        .prepare_cached(
            "UPDATE payments SET batch_id = ?1
             WHERE application_id = ?2 AND batch_id IS NULL AND voiding_ms IS NULL
               AND status IN ('approved', 'declined', 'failed', 'voided')",
        )?
        .execute(params![id, application])?;
    let refund_count = conn
        .prepare_cached(
            "UPDATE refunds SET batch_id = ?1
             WHERE application_id = ?2 AND batch_id IS NULL AND status <> 'pending'",
        )?
        .execute(params![id, application])?;
    // The batch is new, so it holds exactly what this claim took: a payment or refund already
    // in it would be reported twice.
    let held: (i64, i64) = conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM payments WHERE batch_id = ?1),
                    (SELECT count(*) FROM refunds WHERE batch_id = ?1)",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if (usize::try_from(held.0).ok(), usize::try_from(held.1).ok())
        != (Some(count), Some(refund_count))
    {
        return Err(StoreError::Broken(format!(
            "batch {id} holds {} payments and {} refunds after a claim of {count} and \
             {refund_count}",
            held.0, held.1
        )));
    }
    conn.prepare_cached("UPDATE batches SET payment_count = ?1, refund_count = ?2 WHERE id = ?3")?
        .execute(params![held.0, held.1, id])?;
    Ok(Claimed {
        id: id.to_owned(),
        application: application.to_owned(),
        created_ms: now_ms,
        payment_count: count as u64,
        refund_count: refund_count as u64,
        unfinished: false,
    })
}

/// Records that the batch's file is complete in the outbox, with its `batch.transmitted` event
/// and audit entry, unless another run recorded it first.
pub fn transmitted(conn: &Connection, done: &Transmitted) -> Result<(), StoreError> {
    let first = conn
        .prepare_cached(
            "UPDATE batches SET sha256 = ?1, transmitted_ms = ?2
             WHERE id = ?3 AND transmitted_ms IS NULL",
        )?
        .execute(params![done.sha256, done.audit.at_ms, done.batch.id])?;
    if first == 0 {
        return Ok(());
    }
    events::insert_batch_event(
        conn,
        &BatchEvent {
            at_ms: done.audit.at_ms,
            application: &done.batch.application,
            batch_id: &done.batch.id,
            payment_count: done.batch.payment_count,
            approved: done.approved,
            by: &done.audit.actor,
        },
    )?;
    accounts::audit(conn, &done.audit)?;
    Ok(())
}

/// Since when `application`'s daily batch counts as done: the claim of its latest sent batch,
/// or the application's creation (a new application's first run is at its next daily time);
/// `None` while a batch is unfinished (it is due again at once).
pub fn done_since_ms(conn: &Connection, application: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM batches
                                      WHERE application_id = ?1 AND transmitted_ms IS NULL)
                    THEN NULL
                    ELSE max(a.created_ms, coalesce((SELECT max(created_ms) FROM batches
                                                     WHERE application_id = ?1), 0))
                    END
             FROM applications a WHERE a.id = ?1",
        )?
        .query_row([application], |r| r.get(0))?)
}
