//! SQL for hand-offs on PostgreSQL: the agency's order, its one-time link, its payments and the
//! log of telling the agency.

use super::{Client, HORIZON, read_all, read_one};
use crate::store::StoreError;
use crate::store::handoffs::{Handoff, handoff_of_key, key_prefix};
use crate::store::notices::Notice;
use crate::store::rows::{self, HANDOFF_COLUMNS, PAYMENT_COLUMNS};
use cip_common::payment::Payment;
use cip_common::status::PaymentStatus;

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(in crate::store) async fn insert(
    client: &Client,
    handoff: &Handoff,
    link_hash: &[u8; 32],
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO handoffs (id, application_id, user_id, amount_minor, currency, fields,
                                   payer, return_url, link_hash, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await?;
    client
        .execute(
            &statement,
            &[
                &handoff.id,
                &handoff.application,
                &handoff.user,
                &handoff.amount_minor,
                &handoff.currency.code(),
                &json(&handoff.fields)?,
                &json(&handoff.payer)?,
                &handoff.return_url,
                &link_hash.as_slice(),
                &handoff.created_ms,
                &handoff.expires_ms,
            ],
        )
        .await?;
    Ok(())
}

async fn by_id(client: &Client, id: &str) -> Result<Option<Handoff>, StoreError> {
    read_one(
        client,
        &format!("SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE id = $1"),
        &[&id],
        rows::handoff,
    )
    .await
}

/// The hand-off's payments, oldest first: those whose idempotency key has its prefix.
async fn payments_of(client: &Client, handoff: &Handoff) -> Result<Vec<Payment>, StoreError> {
    let prefix = key_prefix(&handoff.id);
    // Keys with the prefix sort between it and the prefix with its `-` raised to `.`.
    let end = format!("{}.", &prefix[..prefix.len() - 1]);
    read_all(
        client,
        &format!(
            "SELECT {PAYMENT_COLUMNS} FROM idempotency_keys k JOIN payments p ON p.id = k.payment_id
             LEFT JOIN confirmations c ON c.payment_id = p.id
             LEFT JOIN batches b ON b.id = p.batch_id
             WHERE k.application_id = $1 AND k.key > $2 AND k.key < $3 ORDER BY k.created_ms"
        ),
        &[&handoff.application, &prefix, &end],
        rows::payment,
    )
    .await
}

pub(in crate::store) async fn with_payments(
    client: &Client,
    id: &str,
) -> Result<Option<(Handoff, Vec<Payment>)>, StoreError> {
    let Some(handoff) = by_id(client, id).await? else {
        return Ok(None);
    };
    let payments = payments_of(client, &handoff).await?;
    Ok(Some((handoff, payments)))
}

pub(in crate::store) async fn unused_link(
    client: &Client,
    link_hash: &[u8; 32],
    now_ms: i64,
) -> Result<Option<Handoff>, StoreError> {
    read_one(
        client,
        &format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs
             WHERE link_hash = $1 AND link_used_ms IS NULL AND expires_ms > $2"
        ),
        &[&link_hash.as_slice(), &now_ms],
        rows::handoff,
    )
    .await
}

/// One UPDATE spends the link, so of two daemons opening it at once only one gets the hand-off.
pub(in crate::store) async fn use_link(
    client: &Client,
    link_hash: &[u8; 32],
    now_ms: i64,
) -> Result<Option<Handoff>, StoreError> {
    read_one(
        client,
        &format!(
            "UPDATE handoffs SET link_used_ms = $2
             WHERE link_hash = $1 AND link_used_ms IS NULL AND expires_ms > $2
             RETURNING {HANDOFF_COLUMNS}"
        ),
        &[&link_hash.as_slice(), &now_ms],
        rows::handoff,
    )
    .await
}

pub(in crate::store) async fn approved_between(
    client: &Client,
    after_seq: u64,
    upto_seq: u64,
) -> Result<Vec<Notice>, StoreError> {
    let payments = read_all(
        client,
        &format!(
            "SELECT {PAYMENT_COLUMNS} FROM events e JOIN payments p ON p.id = e.payment_id
             LEFT JOIN confirmations c ON c.payment_id = p.id
             LEFT JOIN batches b ON b.id = p.batch_id
             WHERE e.seq > $1 AND e.seq <= $2 AND e.seq < {HORIZON} AND e.status = 'approved'
               AND e.kind IN ('payment.approved', 'payment.resolved')
               AND p.idempotency_key >= 'hof-' AND p.idempotency_key < 'hof.'
             ORDER BY e.seq"
        ),
        &[
            &i64::try_from(after_seq).unwrap_or(i64::MAX),
            &i64::try_from(upto_seq).unwrap_or(i64::MAX),
        ],
        rows::payment,
    )
    .await?;
    Ok(payments
        .into_iter()
        .filter_map(|payment| {
            Some(Notice::Paid {
                handoff_id: handoff_of_key(&payment.idempotency_key)?,
                payment,
            })
        })
        .collect())
}

pub(in crate::store) async fn to_notify(
    client: &Client,
    since_ms: i64,
) -> Result<Vec<Notice>, StoreError> {
    let candidates = read_all(
        client,
        &format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE notified_ms IS NULL AND created_ms >= $1"
        ),
        &[&since_ms],
        rows::handoff,
    )
    .await?;
    let mut found = Vec::new();
    for handoff in candidates {
        if let Some(paid) = payments_of(client, &handoff)
            .await?
            .into_iter()
            .find(|p| p.status == PaymentStatus::Approved)
        {
            found.push(Notice::Paid {
                handoff_id: handoff.id,
                payment: paid,
            });
        }
    }
    Ok(found)
}
