//! SQL for hand-offs: what an agency registered for its customer, the one-time link that opens
//! CIP's payment pages, and the payment taken for it.

use super::{StoreError, corrupt};
use cip_common::money::Currency;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the agency knows of its customer; any part may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KnownPayer {
    pub name: String,
    pub email: String,
    pub postal_code: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handoff {
    pub id: String,
    pub application: String,
    pub user: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub fields: BTreeMap<String, String>,
    pub payer: KnownPayer,
    pub return_url: String,
    pub link_used_ms: Option<i64>,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub payment_id: Option<String>,
}

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

const COLUMNS: &str =
    "id, application_id, user_id, amount_minor, currency, fields, payer, return_url,
                       link_used_ms, created_ms, expires_ms, payment_id";

fn from_row(r: &Row) -> rusqlite::Result<Handoff> {
    let currency: String = r.get(4)?;
    let fields: String = r.get(5)?;
    let payer: String = r.get(6)?;
    Ok(Handoff {
        id: r.get(0)?,
        application: r.get(1)?,
        user: r.get(2)?,
        amount_minor: r.get(3)?,
        currency: currency
            .parse::<Currency>()
            .map_err(|_| corrupt("currency", &currency))?,
        fields: serde_json::from_str(&fields).map_err(|_| corrupt("hand-off fields", &fields))?,
        payer: serde_json::from_str(&payer).map_err(|_| corrupt("hand-off payer", &payer))?,
        return_url: r.get(7)?,
        link_used_ms: r.get(8)?,
        created_ms: r.get(9)?,
        expires_ms: r.get(10)?,
        payment_id: r.get(11)?,
    })
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Handoff>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM handoffs WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
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

/// Records the latest payment taken for the hand-off, unless the one it has is paid or still
/// being decided (a late answer for an older form never hides the payment that counts).
pub fn set_payment(conn: &Connection, id: &str, payment_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE handoffs SET payment_id = ?2
         WHERE id = ?1 AND (payment_id IS NULL OR payment_id NOT IN (
             SELECT id FROM payments
             WHERE status IN ('approved', 'voided', 'processing', 'in_doubt')))",
    )?
    .execute([id, payment_id])?;
    Ok(())
}

/// The agency's callback took the notification.
pub fn set_notified(conn: &Connection, id: &str, at_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE handoffs SET notified_ms = ?2 WHERE id = ?1")?
        .execute(params![id, at_ms])?;
    Ok(())
}

/// Hand-offs created since `since_ms` that are paid but not yet notified, with their payments.
pub fn to_notify(
    conn: &Connection,
    since_ms: i64,
) -> Result<Vec<(String, cip_common::payment::Payment)>, StoreError> {
    let ids: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT h.id, h.payment_id FROM handoffs h JOIN payments p ON p.id = h.payment_id
             WHERE h.notified_ms IS NULL AND h.payment_id IS NOT NULL AND h.created_ms >= ?1
               AND p.status = 'approved'",
        )?
        .query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut found = Vec::with_capacity(ids.len());
    for (handoff, payment_id) in ids {
        if let Some(payment) = super::payments::by_id(conn, &payment_id)? {
            found.push((handoff, payment));
        }
    }
    Ok(found)
}
