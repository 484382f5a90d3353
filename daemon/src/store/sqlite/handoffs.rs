//! SQL for hand-offs: what an agency registered for its customer, the one-time link that opens
//! CIP's payment pages, and the payment taken for it.

use super::{payments, read_one};
use crate::store::StoreError;
use crate::store::handoffs::{Handoff, handoff_of_key, key_prefix};
use crate::store::notices::Notice;
use crate::store::rows::{self, HANDOFF_COLUMNS};
use cip_common::payment::Payment;
use cip_common::status::PaymentStatus;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn insert(
    conn: &Connection,
    handoff: &Handoff,
    link_hash: &[u8; 32],
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO handoffs (id, application_id, user_id, amount_minor, currency, fields, payer,
                               return_url, link_hash, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        handoff.id,
        handoff.application,
        handoff.user,
        handoff.amount_minor,
        handoff.currency.code(),
        json(&handoff.fields)?,
        json(&handoff.payer)?,
        handoff.return_url,
        link_hash.as_slice(),
        handoff.created_ms,
        handoff.expires_ms,
    ])?;
    Ok(())
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Handoff>, StoreError> {
    read_one(
        conn.prepare_cached(&format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE id = ?1"
        ))?
        .query([id])?,
        rows::handoff,
    )
}

/// The hand-off behind an unused, unexpired link, leaving the link as it is.
pub fn unused_link(
    conn: &Connection,
    link_hash: &[u8; 32],
    now_ms: i64,
) -> Result<Option<Handoff>, StoreError> {
    read_one(
        conn.prepare_cached(&format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs
             WHERE link_hash = ?1 AND link_used_ms IS NULL AND expires_ms > ?2"
        ))?
        .query(params![link_hash.as_slice(), now_ms])?,
        rows::handoff,
    )
}

/// Marks the link behind `link_hash` used and returns its hand-off, if it was unused and
/// unexpired at `now_ms`: a link opens the pages once.
pub fn use_link(
    conn: &Connection,
    link_hash: &[u8; 32],
    now_ms: i64,
) -> Result<Option<Handoff>, StoreError> {
    let id: Option<String> = conn
        .prepare_cached(
            "UPDATE handoffs SET link_used_ms = ?2
             WHERE link_hash = ?1 AND link_used_ms IS NULL AND expires_ms > ?2 RETURNING id",
        )?
        .query_row(params![link_hash.as_slice(), now_ms], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => by_id(conn, &id),
        None => Ok(None),
    }
}

/// The hand-off's payments, oldest first: those whose idempotency key has its prefix.
pub fn payments_of(conn: &Connection, handoff: &Handoff) -> Result<Vec<Payment>, StoreError> {
    let prefix = key_prefix(&handoff.id);
    // Keys with the prefix sort between it and the prefix with its `-` raised to `.`.
    let end = format!("{}.", &prefix[..prefix.len() - 1]);
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT payment_id FROM idempotency_keys
             WHERE application_id = ?1 AND key > ?2 AND key < ?3 ORDER BY created_ms",
        )?
        .query_map(params![handoff.application, prefix, end], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(payment) = payments::by_id(conn, &id)? {
            found.push(payment);
        }
    }
    Ok(found)
}

/// Hand-off payments approved by the events after `after_seq` up to `upto_seq`, with their
/// hand-offs' ids, in commit order.
pub fn approved_between(
    conn: &Connection,
    after_seq: u64,
    upto_seq: u64,
) -> Result<Vec<Notice>, StoreError> {
    let ids: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT p.idempotency_key, p.id FROM events e JOIN payments p ON p.id = e.payment_id
             WHERE e.seq > ?1 AND e.seq <= ?2 AND e.status = 'approved'
               AND e.kind IN ('payment.approved', 'payment.resolved')
               AND p.idempotency_key >= 'hof-' AND p.idempotency_key < 'hof.'
             ORDER BY e.seq",
        )?
        .query_map(
            params![
                i64::try_from(after_seq).unwrap_or(i64::MAX),
                i64::try_from(upto_seq).unwrap_or(i64::MAX)
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let mut found = Vec::with_capacity(ids.len());
    for (key, id) in ids {
        if let (Some(handoff), Some(payment)) = (handoff_of_key(&key), payments::by_id(conn, &id)?)
        {
            found.push(Notice::Paid {
                handoff_id: handoff,
                payment,
            });
        }
    }
    Ok(found)
}

/// Hand-offs created since `since_ms`, not yet notified, that have an approved payment.
pub fn to_notify(conn: &Connection, since_ms: i64) -> Result<Vec<Notice>, StoreError> {
    let candidates: Vec<String> = conn
        .prepare_cached("SELECT id FROM handoffs WHERE notified_ms IS NULL AND created_ms >= ?1")?
        .query_map([since_ms], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut found = Vec::new();
    for id in candidates {
        let Some(handoff) = by_id(conn, &id)? else {
            continue;
        };
        if let Some(paid) = payments_of(conn, &handoff)?
            .into_iter()
            .find(|p| p.status == PaymentStatus::Approved)
        {
            found.push(Notice::Paid {
                handoff_id: id,
                payment: paid,
            });
        }
    }
    Ok(found)
}

/// A hand-off and its payments, oldest first.
pub fn with_payments(
    conn: &Connection,
    id: &str,
) -> Result<Option<(Handoff, Vec<Payment>)>, StoreError> {
    let Some(handoff) = by_id(conn, id)? else {
        return Ok(None);
    };
    let payments = payments_of(conn, &handoff)?;
    Ok(Some((handoff, payments)))
}
