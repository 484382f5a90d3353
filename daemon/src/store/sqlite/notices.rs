//! SQL for notices to an agency's callback URL: the delivery log of each kind.

use super::events::insert_event_of_payment;
use crate::store::StoreError;
use crate::store::notices::{Delivery, NoticeKind};
use cip_common::event::EventKind;
use rusqlite::{Connection, OptionalExtension, params};

pub fn record_delivery(conn: &Connection, delivery: &Delivery) -> Result<(), StoreError> {
    let (log, subject, of) = delivery.kind.tables();
    conn.prepare_cached(&format!(
        "INSERT INTO {log} ({subject}, attempt, at_ms, payment_id, outcome, taken)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?
    .execute(params![
        delivery.subject,
        delivery.attempt,
        delivery.at_ms,
        delivery.payment_id,
        delivery.outcome,
        delivery.taken,
    ])?;
    let kind = match delivery.taken {
        true => EventKind::AgencyNotified,
        false => EventKind::AgencyNotifyFailed,
    };
    insert_event_of_payment(
        conn,
        &delivery.payment_id,
        kind,
        &delivery.told(),
        delivery.at_ms,
    )?;
    if delivery.taken {
        conn.prepare_cached(&format!("UPDATE {of} SET notified_ms = ?2 WHERE id = ?1"))?
            .execute(params![delivery.subject, delivery.at_ms])?;
    }
    Ok(())
}

pub fn notified(conn: &Connection, kind: NoticeKind, subject: &str) -> Result<bool, StoreError> {
    let (_, _, of) = kind.tables();
    Ok(conn
        .prepare_cached(&format!(
            "SELECT notified_ms IS NOT NULL FROM {of} WHERE id = ?1"
        ))?
        .query_row([subject], |r| r.get(0))
        .optional()?
        .unwrap_or(false))
}
