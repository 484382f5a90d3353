//! SQL for refunds on PostgreSQL. A refund's hold on its payment is one conditional update of
//! the payment's row: concurrent refunds of one payment, from any daemon, wait on that row and
//! each sees what the ones before it held.

use super::accounts::audit;
use super::events::SEQ;
use super::{Client, HORIZON, Postgres, Tx, read_all, read_one};
use crate::store::StoreError;
use crate::store::accounts::AuditEntry;
use crate::store::notices::Notice;
use crate::store::refunds::{NewRefund, RefundBegun, RefundLine};
use crate::store::rows::{self, PAYMENT_COLUMNS, PAYMENTS_JOINED, REFUND_COLUMNS};
use cip_common::event::EventKind;
use cip_common::refund::{Refund, RefundStatus};

pub(in crate::store) async fn begin(
    pg: &Postgres,
    new: &NewRefund,
) -> Result<RefundBegun, StoreError> {
    let mut client = pg.client().await?;
    // A second try only when another daemon committed the same key between this one's look and
    // its insert: then the look finds it.
    for _ in 0..2 {
        let tx = client.transaction().await?;
        if let Some(begun) = begin_in(&tx, new).await? {
            if matches!(begun, RefundBegun::Created) {
                tx.commit().await?;
                pg.committed();
            }
            return Ok(begun);
        }
    }
    Err(StoreError::Broken(format!(
        "idempotency key {} of refund {} neither found nor free",
        new.refund.idempotency_key, new.refund.id
    )))
}

/// `None`: the key was taken while this transaction ran (it is rolled back when dropped).
async fn begin_in(tx: &Tx<'_>, new: &NewRefund) -> Result<Option<RefundBegun>, StoreError> {
    let refund = &new.refund;
    let existing = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT fingerprint, id FROM refunds
                 WHERE application_id = $1 AND idempotency_key = $2",
            )
            .await?,
            &[&refund.application, &refund.idempotency_key],
        )
        .await?;
    if let Some(row) = existing {
        let fingerprint: Vec<u8> = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds r WHERE id = $1");
        let earlier = tx
            .query_one(&tx.prepare_cached(&sql).await?, &[&id])
            .await?;
        return Ok(Some(RefundBegun::Existing {
            refund: Box::new(rows::refund(&earlier)?),
            same_request: fingerprint.as_slice() == new.fingerprint.as_slice(),
        }));
    }
    let held = tx
        .execute(
            &tx.prepare_cached(
                "UPDATE payments SET refund_pending_minor = refund_pending_minor + $1
                 WHERE id = $2 AND status = 'approved' AND currency = $3 AND voiding_ms IS NULL
                   AND amount_minor - refunded_minor - refund_pending_minor >= $1
                   AND ($4::BIGINT IS NULL
                        OR amount_minor - refunded_minor - refund_pending_minor = $4)",
            )
            .await?,
            &[
                &refund.amount.minor,
                &refund.payment_id,
                &refund.amount.currency.code(),
                &new.expected_refundable_minor,
            ],
        )
        .await?;
    if held == 0 {
        let row = tx
            .query_one(
                &tx.prepare_cached(
                    "SELECT status, amount_minor - refunded_minor - refund_pending_minor,
                            voiding_ms IS NOT NULL
                     FROM payments WHERE id = $1",
                )
                .await?,
                &[&refund.payment_id],
            )
            .await?;
        return Ok(Some(RefundBegun::Refused {
            status: rows::status(row.try_get(0)?)?,
            refundable_minor: row.try_get(1)?,
            voiding: row.try_get(2)?,
        }));
    }
    let inserted = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO refunds (id, payment_id, application_id, amount_minor, currency,
                    reason, note, status, idempotency_key, fingerprint, asked_by, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11)
                 ON CONFLICT (application_id, idempotency_key) DO NOTHING",
            )
            .await?,
            &[
                &refund.id,
                &refund.payment_id,
                &refund.application,
                &refund.amount.minor,
                &refund.amount.currency.code(),
                &refund.reason.code(),
                &refund.note,
                &refund.idempotency_key,
                &new.fingerprint.as_slice(),
                &refund.asked_by,
                &refund.created_ms,
            ],
        )
        .await?;
    if inserted == 0 {
        return Ok(None);
    }
    insert_event(tx, refund, refund.created_ms).await?;
    audit(tx, &new.audit).await?;
    Ok(Some(RefundBegun::Created))
}

pub(in crate::store) async fn decide(
    pg: &Postgres,
    refund: &Refund,
    entry: &AuditEntry,
) -> Result<bool, StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let moved = tx
        .execute(
            &tx.prepare_cached(
                "UPDATE refunds SET status = $1, code = $2, decided_ms = $3
                 WHERE id = $4 AND status = 'pending'",
            )
            .await?,
            &[
                &refund.status.code(),
                &refund.code,
                &refund.decided_ms,
                &refund.id,
            ],
        )
        .await?;
    if moved == 0 {
        return Ok(false);
    }
    let succeeded = if refund.status == RefundStatus::Succeeded {
        refund.amount.minor
    } else {
        0
    };
    tx.execute(
        &tx.prepare_cached(
            "UPDATE payments SET refund_pending_minor = refund_pending_minor - $1,
                refunded_minor = refunded_minor + $2
             WHERE id = $3",
        )
        .await?,
        &[&refund.amount.minor, &succeeded, &refund.payment_id],
    )
    .await?;
    insert_event(&tx, refund, refund.decided_ms.unwrap_or(refund.created_ms)).await?;
    audit(&tx, entry).await?;
    tx.commit().await?;
    pg.committed();
    Ok(true)
}

/// The refund's event as of its status, with its payment's last four and payer.
async fn insert_event(tx: &Tx<'_>, refund: &Refund, at_ms: i64) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(&format!(
            "INSERT INTO events (seq, at_ms, kind, application_id, payment_id, refund_id, status,
                amount_minor, currency, code, last_four, payer_name, actor)
             SELECT {SEQ}, $2, $3, p.application_id, p.id, $4, $5, $6, $7, $8, p.last_four,
                p.payer_name, $9
             FROM payments p WHERE p.id = $10"
        ))
        .await?;
    tx.execute(
        &statement,
        &[
            &0_i64,
            &at_ms,
            &EventKind::for_refund(refund.status).code(),
            &refund.id,
            &refund.status.code(),
            &refund.amount.minor,
            &refund.amount.currency.code(),
            &refund.code,
            &refund.asked_by,
            &refund.payment_id,
        ],
    )
    .await?;
    Ok(())
}

pub(in crate::store) async fn by_id(
    client: &Client,
    id: &str,
) -> Result<Option<Refund>, StoreError> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds r WHERE id = $1");
    read_one(client, &sql, &[&id], rows::refund).await
}

pub(in crate::store) async fn of_payment(
    client: &Client,
    payment_id: &str,
) -> Result<Vec<Refund>, StoreError> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds r WHERE payment_id = $1 ORDER BY id");
    read_all(client, &sql, &[&payment_id], rows::refund).await
}

pub(in crate::store) async fn pending(
    client: &Client,
    max: u32,
) -> Result<Vec<Refund>, StoreError> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds r WHERE status = 'pending'
         ORDER BY created_ms LIMIT $1"
    );
    read_all(client, &sql, &[&i64::from(max)], rows::refund).await
}

pub(in crate::store) async fn lines(
    client: &Client,
    applications: &[String],
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<RefundLine>, StoreError> {
    let sql = "SELECT status, currency, count(*), sum(amount_minor)::BIGINT FROM refunds
               WHERE ((decided_ms >= $2 AND decided_ms < $3)
                      OR (status = 'pending' AND created_ms < $3))
                 AND application_id = ANY($1)
               GROUP BY status, currency ORDER BY status, currency";
    read_all(
        client,
        sql,
        &[&applications, &from_ms, &to_ms],
        rows::refund_line,
    )
    .await
}

/// Refunds that succeeded by the events after `after_seq` up to `upto_seq`, in commit order.
pub(in crate::store) async fn succeeded_between(
    client: &Client,
    after_seq: u64,
    upto_seq: u64,
) -> Result<Vec<Notice>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS}, {REFUND_COLUMNS} FROM {PAYMENTS_JOINED}
         JOIN refunds r ON r.payment_id = p.id JOIN events e ON e.refund_id = r.id
         WHERE e.seq > $1 AND e.seq <= $2 AND e.seq < {HORIZON} AND e.kind = 'refund.succeeded'
         ORDER BY e.seq"
    );
    let seq = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
    read_all(
        client,
        &sql,
        &[&seq(after_seq), &seq(upto_seq)],
        rows::refund_notice,
    )
    .await
}

/// Refunds that succeeded since `since_ms` and whose notice the callback has not taken.
pub(in crate::store) async fn to_notify(
    client: &Client,
    since_ms: i64,
) -> Result<Vec<Notice>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS}, {REFUND_COLUMNS} FROM {PAYMENTS_JOINED}
         JOIN refunds r ON r.payment_id = p.id
         WHERE r.status = 'succeeded' AND r.notified_ms IS NULL AND r.decided_ms >= $1"
    );
    read_all(client, &sql, &[&since_ms], rows::refund_notice).await
}
