//! SQL for the events table: payment and security events, each numbered in the transaction that
//! makes the change it reports, and the feed's reads over them.

use super::read_all;
use crate::store::StoreError;
use crate::store::events::{BatchEvent, DECISION_KINDS, DecisionEvent, SecurityEvent, Visibility};
use crate::store::rows::{self, DECISION_COLUMNS, EVENT_COLUMNS};
use cip_common::event::{Event, EventKind};
use cip_common::payment::Payment;
use rusqlite::{Connection, params};

pub fn insert_payment_event(
    conn: &Connection,
    payment: &Payment,
    kind: EventKind,
    at_ms: i64,
) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO events (at_ms, kind, application_id, payment_id, status, amount_minor, currency,
            confirmation_code, code, last_four, payer_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        at_ms,
        kind.code(),
        payment.application,
        payment.id,
        payment.status.code(),
        payment.amount.minor,
        payment.amount.currency.code(),
        payment.confirmation_code,
        payment.code,
        payment.method.last_four(),
        payment.payer.name,
    ])?;
    Ok(u64::try_from(conn.last_insert_rowid()).unwrap_or(0))
}

/// An event about a payment that does not move it (a notification of its hand-off, say): the
/// payment's own columns from its row, `code` the event's own outcome.
pub fn insert_event_of_payment(
    conn: &Connection,
    payment_id: &str,
    kind: EventKind,
    code: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO events (at_ms, kind, application_id, payment_id, status, amount_minor,
                currency, confirmation_code, code, last_four, payer_name)
             SELECT ?1, ?2, p.application_id, p.id, p.status, p.amount_minor, p.currency,
                (SELECT c.code FROM confirmations c WHERE c.payment_id = p.id), ?4, p.last_four,
                p.payer_name
             FROM payments p WHERE p.id = ?3",
        )?
        .execute(params![at_ms, kind.code(), payment_id, code])?;
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "an event of payment {payment_id}, which is not in the store"
        )))
    }
}

pub fn insert_security_event(
    conn: &Connection,
    event: &SecurityEvent<'_>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO events (at_ms, kind, application_id, user_id, actor, origin)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        event.at_ms,
        event.kind.code(),
        event.application,
        event.user,
        event.actor,
        event.origin
    ])?;
    Ok(())
}

pub fn insert_batch_event(conn: &Connection, event: &BatchEvent<'_>) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO events (at_ms, kind, application_id, batch_id, payment_count, amount_minor,
            currency, user_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        event.at_ms,
        EventKind::BatchTransmitted.code(),
        event.application,
        event.batch_id,
        i64::try_from(event.payment_count).unwrap_or(i64::MAX),
        event.approved.minor,
        event.approved.currency.code(),
        event.by,
    ])?;
    Ok(u64::try_from(conn.last_insert_rowid()).unwrap_or(0))
}

/// The visibility filter over `events`, with the applications as JSON in `?2` and the security
/// flag in `?3`.
const VISIBLE: &str =
    "((payment_id IS NOT NULL AND application_id IN (SELECT value FROM json_each(?2)))
    OR (?3 AND user_id IS NOT NULL
        AND (application_id IS NULL OR application_id IN (SELECT value FROM json_each(?2)))))";

fn apps_json(visibility: &Visibility) -> Result<String, StoreError> {
    serde_json::to_string(&visibility.applications).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Visible events after `after_seq`, at most `max`, and the highest seq examined.
pub fn events_after(
    conn: &Connection,
    after_seq: u64,
    visibility: &Visibility,
    max: u32,
) -> Result<(Vec<Event>, u64), StoreError> {
    let apps = apps_json(visibility)?;
    let tx = conn.unchecked_transaction()?;
    let newest: i64 = tx
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?
        .query_row([], |r| r.get(0))?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 AND {VISIBLE} ORDER BY seq LIMIT ?4"
    );
    let events = read_all(
        tx.prepare_cached(&sql)?.query(params![
            seq_param(after_seq),
            apps,
            visibility.security,
            max
        ])?,
        rows::event,
    )?;
    tx.finish()?;
    // A full page stops at its last event; otherwise every event up to `newest` was examined.
    let next = if events.len() == max as usize {
        events.last().map_or(after_seq, |e| e.seq)
    } else {
        u64::try_from(newest).unwrap_or(0).max(after_seq)
    };
    Ok((events, next))
}

/// Up to `max` visible events before `before_seq`, oldest first.
pub fn events_before(
    conn: &Connection,
    before_seq: u64,
    visibility: &Visibility,
    max: u32,
) -> Result<Vec<Event>, StoreError> {
    let apps = apps_json(visibility)?;
    let sql = format!(
        "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events WHERE seq < ?1 AND {VISIBLE} ORDER BY seq DESC LIMIT ?4)
         ORDER BY seq"
    );
    read_all(
        conn.prepare_cached(&sql)?.query(params![
            seq_param(before_seq),
            apps,
            visibility.security,
            max
        ])?,
        rows::event,
    )
}

/// Every event of one payment that `visibility` allows, oldest first: none for a payment of
/// an application the caller does not see.
pub fn timeline(
    conn: &Connection,
    payment_id: &str,
    visibility: &Visibility,
) -> Result<Vec<Event>, StoreError> {
    let apps = apps_json(visibility)?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE payment_id = ?1 AND {VISIBLE} ORDER BY seq"
    );
    read_all(
        conn.prepare_cached(&sql)?
            .query(params![payment_id, apps, visibility.security])?,
        rows::event,
    )
}

/// The decisions of the events after `after_seq` up to `upto_seq`, in commit order.
pub fn decisions_between(
    conn: &Connection,
    after_seq: u64,
    upto_seq: u64,
) -> Result<Vec<DecisionEvent>, StoreError> {
    let sql = format!(
        "SELECT {DECISION_COLUMNS} FROM events e JOIN payments p ON p.id = e.payment_id
         WHERE e.seq > ?1 AND e.seq <= ?2 AND e.kind IN {DECISION_KINDS} ORDER BY e.seq"
    );
    read_all(
        conn.prepare_cached(&sql)?
            .query(params![seq_param(after_seq), seq_param(upto_seq)])?,
        rows::decision,
    )
}
