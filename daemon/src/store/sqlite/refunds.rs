//! SQL for refunds on SQLite: the one writer runs each of these in its transaction.

use super::{read_all, read_one};
use crate::store::StoreError;
use crate::store::accounts::AuditEntry;
use crate::store::notices::Notice;
use crate::store::refunds::{NewRefund, RefundBegun, RefundLine};
use crate::store::rows::{self, PAYMENT_COLUMNS, PAYMENTS_JOINED, REFUND_COLUMNS};
use cip_common::event::EventKind;
use cip_common::refund::{Refund, RefundStatus};
use rusqlite::{Connection, OptionalExtension, params};

pub fn begin(conn: &Connection, new: &NewRefund) -> Result<RefundBegun, StoreError> {
    let refund = &new.refund;
    let existing = conn
        .prepare_cached(
            "SELECT fingerprint, id FROM refunds WHERE application_id = ?1 AND idempotency_key = ?2",
        )?
        .query_row(params![refund.application, refund.idempotency_key], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    if let Some((fingerprint, id)) = existing {
        let earlier = by_id(conn, &id)?
            .ok_or_else(|| StoreError::Corrupt(format!("refund {id} vanished")))?;
        return Ok(RefundBegun::Existing {
            refund: Box::new(earlier),
            same_request: fingerprint.as_slice() == new.fingerprint.as_slice(),
        });
    }
    let held = conn
        .prepare_cached(
            "UPDATE payments SET refund_pending_minor = refund_pending_minor + ?1
             WHERE id = ?2 AND status = 'approved' AND currency = ?3 AND voiding_ms IS NULL
               AND amount_minor - refunded_minor - refund_pending_minor >= ?1
               AND (?4 IS NULL OR amount_minor - refunded_minor - refund_pending_minor = ?4)",
        )?
        .execute(params![
            refund.amount.minor,
            refund.payment_id,
            refund.amount.currency.code(),
            new.expected_refundable_minor
        ])?;
    if held == 0 {
        let (status, refundable_minor, voiding) = conn
            .prepare_cached(
                "SELECT status, amount_minor - refunded_minor - refund_pending_minor,
                        voiding_ms IS NOT NULL
                 FROM payments WHERE id = ?1",
            )?
            .query_row([&refund.payment_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
            })?;
        return Ok(RefundBegun::Refused {
            status: rows::status(&status)?,
            refundable_minor,
            voiding,
        });
    }
    conn.prepare_cached(
        "INSERT INTO refunds (id, payment_id, application_id, amount_minor, currency, reason,
            note, status, idempotency_key, fingerprint, asked_by, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        refund.id,
        refund.payment_id,
        refund.application,
        refund.amount.minor,
        refund.amount.currency.code(),
        refund.reason.code(),
        refund.note,
        refund.idempotency_key,
        new.fingerprint.as_slice(),
        refund.asked_by,
        refund.created_ms,
    ])?;
    insert_event(conn, refund, refund.created_ms)?;
    super::accounts::audit(conn, &new.audit)?;
    Ok(RefundBegun::Created)
}

pub fn decide(conn: &Connection, refund: &Refund, audit: &AuditEntry) -> Result<bool, StoreError> {
    let moved = conn
        .prepare_cached(
            "UPDATE refunds SET status = ?1, code = ?2, decided_ms = ?3
             WHERE id = ?4 AND status = 'pending'",
        )?
        .execute(params![
            refund.status.code(),
            refund.code,
            refund.decided_ms,
            refund.id
        ])?;
    if moved == 0 {
        return Ok(false);
    }
    let succeeded = if refund.status == RefundStatus::Succeeded {
        refund.amount.minor
    } else {
        0
    };
    conn.prepare_cached(
        "UPDATE payments SET refund_pending_minor = refund_pending_minor - ?1,
            refunded_minor = refunded_minor + ?2
         WHERE id = ?3",
    )?
    .execute(params![refund.amount.minor, succeeded, refund.payment_id])?;
    insert_event(conn, refund, refund.decided_ms.unwrap_or(refund.created_ms))?;
    super::accounts::audit(conn, audit)?;
    Ok(true)
}

/// The refund's event as of its status, with its payment's last four and payer.
fn insert_event(conn: &Connection, refund: &Refund, at_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO events (at_ms, kind, application_id, payment_id, refund_id, status,
            amount_minor, currency, code, last_four, payer_name, actor)
         SELECT ?1, ?2, p.application_id, p.id, ?3, ?4, ?5, ?6, ?7, p.last_four, p.payer_name, ?8
         FROM payments p WHERE p.id = ?9",
    )?
    .execute(params![
        at_ms,
        EventKind::for_refund(refund.status).code(),
        refund.id,
        refund.status.code(),
        refund.amount.minor,
        refund.amount.currency.code(),
        refund.code,
        refund.asked_by,
        refund.payment_id,
    ])?;
    Ok(())
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Refund>, StoreError> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds r WHERE id = ?1");
    read_one(conn.prepare_cached(&sql)?.query([id])?, rows::refund)
}

pub fn of_payment(conn: &Connection, payment_id: &str) -> Result<Vec<Refund>, StoreError> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds r WHERE payment_id = ?1 ORDER BY id");
    read_all(
        conn.prepare_cached(&sql)?.query([payment_id])?,
        rows::refund,
    )
}

pub fn pending(conn: &Connection, max: u32) -> Result<Vec<Refund>, StoreError> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds r WHERE status = 'pending' ORDER BY created_ms LIMIT ?1"
    );
    read_all(conn.prepare_cached(&sql)?.query([max])?, rows::refund)
}

pub fn lines(
    conn: &Connection,
    applications: &[String],
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<RefundLine>, StoreError> {
    let apps =
        serde_json::to_string(applications).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut statement = conn.prepare_cached(
        "SELECT status, currency, count(*), sum(amount_minor) FROM refunds
         WHERE ((decided_ms >= ?2 AND decided_ms < ?3) OR (status = 'pending' AND created_ms < ?3))
           AND application_id IN (SELECT value FROM json_each(?1))
         GROUP BY status, currency ORDER BY status, currency",
    )?;
    read_all(
        statement.query(params![apps, from_ms, to_ms])?,
        rows::refund_line,
    )
}

/// Refunds that succeeded by the events after `after_seq` up to `upto_seq`, in commit order.
pub fn succeeded_between(
    conn: &Connection,
    after_seq: u64,
    upto_seq: u64,
) -> Result<Vec<Notice>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS}, {REFUND_COLUMNS} FROM {PAYMENTS_JOINED}
         JOIN refunds r ON r.payment_id = p.id JOIN events e ON e.refund_id = r.id
         WHERE e.seq > ?1 AND e.seq <= ?2 AND e.kind = 'refund.succeeded'
         ORDER BY e.seq"
    );
    let seq = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
    read_all(
        conn.prepare_cached(&sql)?
            .query(params![seq(after_seq), seq(upto_seq)])?,
        rows::refund_notice,
    )
}

/// Refunds that succeeded since `since_ms` and whose notice the callback has not taken.
pub fn to_notify(conn: &Connection, since_ms: i64) -> Result<Vec<Notice>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS}, {REFUND_COLUMNS} FROM {PAYMENTS_JOINED}
         JOIN refunds r ON r.payment_id = p.id
         WHERE r.status = 'succeeded' AND r.notified_ms IS NULL AND r.decided_ms >= ?1"
    );
    read_all(
        conn.prepare_cached(&sql)?.query([since_ms])?,
        rows::refund_notice,
    )
}
