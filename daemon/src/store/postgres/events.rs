//! SQL for the events table on PostgreSQL, and the feed's reads over it.
//!
//! Several daemons commit at once, so a sequence number handed out at insert would let a
//! reader pass a number whose transaction commits later, and skip it. An event's seq is its
//! transaction's id shifted left 20 bits, plus its number within the transaction; the feed reads
//! only below [`HORIZON`], the place of the oldest transaction still running. Everything below
//! it has ended, so a reader that has passed a seq never finds a new event behind it: every
//! console on every daemon reads every event once, in the same order, and a transaction that
//! began after another committed comes after it.

use super::{Client, HORIZON, Tx, read_all};
use crate::store::StoreError;
use crate::store::events::{
    BatchEvent, DECISION_KINDS, DecisionEvent, DecisionsRead, SecurityEvent, Visibility,
};
use crate::store::rows::{self, DECISION_COLUMNS, EVENT_COLUMNS};
use cip_common::event::{Event, EventKind};
use cip_common::payment::Payment;

/// The seq of the transaction's first event.
macro_rules! first_seq {
    () => {
        "(pg_current_xact_id()::text::bigint << 20)"
    };
}
pub(in crate::store) const FIRST_SEQ: &str = first_seq!();
/// The seq of the `n`th event of the transaction.
pub(in crate::store) const SEQ: &str = concat!("(", first_seq!(), " | $1)");

fn seq_of(row: &tokio_postgres::Row) -> Result<u64, StoreError> {
    u64::try_from(row.try_get::<_, i64>(0)?)
        .map_err(|_| StoreError::Corrupt("a negative event seq".to_owned()))
}

pub(in crate::store) async fn insert_payment_event(
    tx: &Tx<'_>,
    n: i64,
    payment: &Payment,
    kind: EventKind,
    at_ms: i64,
) -> Result<u64, StoreError> {
    let statement = tx
        .prepare_cached(&format!(
            "INSERT INTO events (seq, at_ms, kind, application_id, payment_id, status,
                amount_minor, currency, confirmation_code, code, last_four, payer_name)
             VALUES ({SEQ}, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq"
        ))
        .await?;
    let row = tx
        .query_one(
            &statement,
            &[
                &n,
                &at_ms,
                &kind.code(),
                &payment.application,
                &payment.id,
                &payment.status.code(),
                &payment.amount.minor,
                &payment.amount.currency.code(),
                &payment.confirmation_code,
                &payment.code,
                &payment.method.last_four(),
                &payment.payer.name,
            ],
        )
        .await?;
    seq_of(&row)
}

/// An event about a payment that does not move it: the payment's own columns from its row,
/// `code` the event's own outcome.
pub(in crate::store) async fn insert_event_of_payment(
    tx: &Tx<'_>,
    n: i64,
    payment_id: &str,
    kind: EventKind,
    code: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(&format!(
            "INSERT INTO events (seq, at_ms, kind, application_id, payment_id, status,
                amount_minor, currency, confirmation_code, code, last_four, payer_name)
             SELECT {SEQ}, $2, $3, p.application_id, p.id, p.status, p.amount_minor, p.currency,
                (SELECT c.code FROM confirmations c WHERE c.payment_id = p.id), $5, p.last_four,
                p.payer_name
             FROM payments p WHERE p.id = $4"
        ))
        .await?;
    let inserted = tx
        .execute(&statement, &[&n, &at_ms, &kind.code(), &payment_id, &code])
        .await?;
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "an event of payment {payment_id}, which is not in the store"
        )))
    }
}

pub(in crate::store) async fn insert_security_event(
    tx: &Tx<'_>,
    n: i64,
    event: &SecurityEvent<'_>,
) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(&format!(
            "INSERT INTO events (seq, at_ms, kind, application_id, user_id, actor, origin)
             VALUES ({SEQ}, $2, $3, $4, $5, $6, $7)"
        ))
        .await?;
    tx.execute(
        &statement,
        &[
            &n,
            &event.at_ms,
            &event.kind.code(),
            &event.application,
            &event.user,
            &event.actor,
            &event.origin,
        ],
    )
    .await?;
    Ok(())
}

pub(in crate::store) async fn insert_batch_event(
    tx: &Tx<'_>,
    n: i64,
    event: &BatchEvent<'_>,
) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(&format!(
            "INSERT INTO events (seq, at_ms, kind, application_id, batch_id, payment_count,
                amount_minor, currency, user_id)
             VALUES ({SEQ}, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .await?;
    tx.execute(
        &statement,
        &[
            &n,
            &event.at_ms,
            &EventKind::BatchTransmitted.code(),
            &event.application,
            &event.batch_id,
            &i64::try_from(event.payment_count).unwrap_or(i64::MAX),
            &event.approved.minor,
            &event.approved.currency.code(),
            &event.by,
        ],
    )
    .await?;
    Ok(())
}

/// The visibility filter over `events`, with the applications in `$2` and the security flag in
/// `$3`.
const VISIBLE: &str = "((payment_id IS NOT NULL AND application_id = ANY($2))
    OR ($3 AND user_id IS NOT NULL AND (application_id IS NULL OR application_id = ANY($2))))";

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(in crate::store) async fn events_after(
    client: &Client,
    after_seq: u64,
    visibility: &Visibility,
    max: u32,
) -> Result<(Vec<Event>, u64), StoreError> {
    // Every event at or below `newest` has ended its transaction before this read began, so the
    // next statement sees each of them, whatever commits meanwhile.
    let newest: i64 = client
        .query_one(
            &client
                .prepare_cached(&format!(
                    "SELECT coalesce(max(seq), 0) FROM events WHERE seq < {HORIZON}"
                ))
                .await?,
            &[],
        )
        .await?
        .try_get(0)?;
    let events = read_all(
        client,
        &format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE seq > $1 AND seq <= $5 AND {VISIBLE} ORDER BY seq LIMIT $4"
        ),
        &[
            &seq_param(after_seq),
            &visibility.applications,
            &visibility.security,
            &i64::from(max),
            &newest,
        ],
        rows::event,
    )
    .await?;
    let next = if events.len() == max as usize {
        events.last().map_or(after_seq, |e| e.seq)
    } else {
        u64::try_from(newest).unwrap_or(0).max(after_seq)
    };
    Ok((events, next))
}

pub(in crate::store) async fn events_before(
    client: &Client,
    before_seq: u64,
    visibility: &Visibility,
    max: u32,
) -> Result<Vec<Event>, StoreError> {
    read_all(
        client,
        &format!(
            "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events
                            WHERE seq < $1 AND seq < {HORIZON} AND {VISIBLE}
                            ORDER BY seq DESC LIMIT $4) older
             ORDER BY seq"
        ),
        &[
            &seq_param(before_seq),
            &visibility.applications,
            &visibility.security,
            &i64::from(max),
        ],
        rows::event,
    )
    .await
}

pub(in crate::store) async fn timeline(
    client: &Client,
    payment_id: &str,
    visibility: &Visibility,
) -> Result<Vec<Event>, StoreError> {
    read_all(
        client,
        &format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE payment_id = $1 AND {VISIBLE} ORDER BY seq"
        ),
        &[&payment_id, &visibility.applications, &visibility.security],
        rows::event,
    )
    .await
}

/// The decisions of the events after `read` up to `upto_seq`, in commit order, leaving out
/// those of transactions the figures' load already saw.
pub(in crate::store) async fn decisions_between(
    client: &Client,
    read: &DecisionsRead,
    upto_seq: u64,
) -> Result<Vec<DecisionEvent>, StoreError> {
    let (snapshot, newer_from) = match &read.loaded {
        Some((snapshot, newer_from)) => (Some(snapshot.as_str()), seq_param(*newer_from)),
        None => (None, 0),
    };
    read_all(
        client,
        &format!(
            "SELECT {DECISION_COLUMNS} FROM events e JOIN payments p ON p.id = e.payment_id
             WHERE e.seq > $1 AND e.seq <= $2 AND e.kind IN {DECISION_KINDS}
               AND ($3::text IS NULL OR e.seq >= $4
                    OR NOT pg_visible_in_snapshot((e.seq >> 20)::text::xid8, $3::text::pg_snapshot))
             ORDER BY e.seq"
        ),
        &[
            &seq_param(read.after_seq),
            &seq_param(upto_seq),
            &snapshot,
            &newer_from,
        ],
        rows::decision,
    )
    .await
}
