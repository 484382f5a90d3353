//! SQL for payments on PostgreSQL. The two writes every payment makes, `begin` and `decide`,
//! are one statement each (one round trip, one commit); the rest are transactions of their own.

use super::accounts::audit;
use super::events::{FIRST_SEQ, insert_payment_event};
use super::{Client, Postgres, read_all, read_one};
use crate::store::accounts::AuditEntry;
use crate::store::events::DecisionsRead;
use crate::store::payments::{Begun, Decided, DecidedRow, Decision, Selection, SpanLine};
use crate::store::rows::{self, MethodColumns, PAYMENT_COLUMNS, PAYMENTS_JOINED};
use crate::store::{Rows, StoreError};
use cip_common::event::EventKind;
use cip_common::money::Money;
use cip_common::payment::{Mode, Payment, SearchQuery, payment_id_bound};
use cip_common::status::PaymentStatus;
use futures::TryStreamExt;
use tokio_postgres::IsolationLevel;

/// The columns of a payment event, from a payment's values: what `begin` and `decide` insert
/// with the move, in the same statement.
const PAYMENT_EVENT: &str = "INSERT INTO events (seq, at_ms, kind, application_id, payment_id,
    status, amount_minor, currency, confirmation_code, code, last_four, payer_name)";

/// One statement, so one round trip and one commit: the key is inserted unless taken (a
/// second daemon's insert of the same key waits for the first to commit), and the payment and
/// its event only with it. The key's reference to the payment is checked at the statement's
/// end, when both rows are there.
pub(in crate::store) async fn begin(
    pg: &Postgres,
    payment: &Payment,
    fingerprint: &[u8; 32],
) -> Result<Begun, StoreError> {
    let client = pg.client().await?;
    let fields =
        serde_json::to_string(&payment.fields).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let method = MethodColumns::of(&payment.method);
    let statement = client
        .prepare_cached(&format!(
            "WITH keyed AS (
                INSERT INTO idempotency_keys (application_id, key, fingerprint, payment_id, created_ms)
                VALUES ($2, $19, $22, $1, $21) ON CONFLICT DO NOTHING RETURNING payment_id),
             paid AS (
                INSERT INTO payments (id, application_id, mode, status, amount_minor, currency,
                    payer_name, payer_email, payer_postal_code, fields, method, brand, first_six,
                    exp_month, exp_year, routing_number, account_type, last_four,
                    idempotency_key, user_id, created_ms)
                SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                       $17, $18, $19, $20, $21
                FROM keyed),
             told AS (
                {PAYMENT_EVENT}
                SELECT {FIRST_SEQ}, $21, $23, $2, $1, $4, $5, $6,
                       NULL, NULL, $18, $7
                FROM keyed RETURNING seq)
             SELECT seq FROM told"
        ))
        .await?;
    let last_four = payment.method.last_four();
    let created = client
        .query_opt(
            &statement,
            &[
                &payment.id,
                &payment.application,
                &payment.mode.code(),
                &payment.status.code(),
                &payment.amount.minor,
                &payment.amount.currency.code(),
                &payment.payer.name,
                &payment.payer.email,
                &payment.payer.postal_code,
                &fields,
                &method.method,
                &method.brand,
                &method.first_six,
                &method.exp_month,
                &method.exp_year,
                &method.routing_number,
                &method.account_type,
                &last_four,
                &payment.idempotency_key,
                &payment.user,
                &payment.created_ms,
                &fingerprint.as_slice(),
                &EventKind::PaymentReceived.code(),
            ],
        )
        .await?;
    if let Some(row) = created {
        pg.committed();
        let seq: i64 = row.try_get(0)?;
        return Ok(Begun::Created {
            seq: u64::try_from(seq).unwrap_or(0),
        });
    }
    // The key was used before: nothing of this payment was kept, and the first one answers.
    let row = client
        .query_one(
            &client
                .prepare_cached(
                    "SELECT fingerprint, payment_id FROM idempotency_keys
                     WHERE application_id = $1 AND key = $2",
                )
                .await?,
            &[&payment.application, &payment.idempotency_key],
        )
        .await?;
    let stored: Vec<u8> = row.try_get(0)?;
    Ok(Begun::Existing {
        payment_id: row.try_get(1)?,
        same_request: stored.as_slice() == fingerprint.as_slice(),
    })
}

/// One statement, so one round trip and one commit: the move, only from `decision.from`; the
/// confirmation with it (a code another payment holds fails the whole statement, which is then
/// `CodeTaken`); its event; and the audit entry when a person asked for it.
pub(in crate::store) async fn decide(
    pg: &Postgres,
    payment: &Payment,
    decision: &Decision,
) -> Result<Decided, StoreError> {
    let client = pg.client().await?;
    let statement = client
        .prepare_cached(&format!(
            "WITH moved AS (
                UPDATE payments SET status = $1, code = $2, message = $3, decided_ms = $4
                WHERE id = $5 AND status = $6
                RETURNING application_id, amount_minor, currency, last_four, payer_name),
             confirmed AS (
                INSERT INTO confirmations (code, payment_id, processor_authorization, created_ms)
                SELECT $7, $5, $8, $4 FROM moved WHERE $7::text IS NOT NULL AND $8::text IS NOT NULL),
             told AS (
                {PAYMENT_EVENT}
                SELECT {FIRST_SEQ}, $9, $10, application_id, $5,
                       $1, amount_minor, currency, $7, $2, last_four, payer_name
                FROM moved),
             audited AS (
                INSERT INTO audit_log (at_ms, actor, action, outcome, origin, object)
                SELECT $11, $12, $13, $14, $15, $16 FROM moved WHERE $12::text IS NOT NULL)
             SELECT count(*) FROM moved"
        ))
        .await?;
    let audit = decision.audit.as_ref();
    let moved = client
        .query_one(
            &statement,
            &[
                &payment.status.code(),
                &payment.code,
                &payment.message,
                &payment.decided_ms,
                &payment.id,
                &decision.from.code(),
                &payment.confirmation_code,
                &decision.authorization,
                &decision.at_ms,
                &decision.kind.code(),
                &audit.map(|a| a.at_ms),
                &audit.map(|a| a.actor.as_str()),
                &audit.map(|a| a.action),
                &audit.map(|a| if a.success { "success" } else { "failure" }),
                &audit.map(|a| a.origin.as_str()),
                &audit.map(|a| a.object.as_str()),
            ],
        )
        .await;
    match moved {
        Ok(row) if row.try_get::<_, i64>(0)? == 0 => Ok(Decided::Moved),
        Ok(_) => {
            pg.committed();
            Ok(Decided::Committed)
        }
        Err(e)
            if e.as_db_error()
                .and_then(|db| db.constraint())
                .is_some_and(|c| c == "confirmations_pkey") =>
        {
            Ok(Decided::CodeTaken)
        }
        Err(e) => Err(e.into()),
    }
}

pub(in crate::store) async fn note_failed(
    pg: &Postgres,
    payment: &Payment,
    from: Option<&str>,
    kind: EventKind,
    at_ms: i64,
    audit_entry: Option<&AuditEntry>,
) -> Result<(), StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let changed = tx
        .execute(
            &tx.prepare_cached(
                "UPDATE payments SET code = $1, message = $2
                 WHERE id = $3 AND status = 'failed' AND code IS NOT DISTINCT FROM $4",
            )
            .await?,
            &[&payment.code, &payment.message, &payment.id, &from],
        )
        .await?;
    if changed == 1 {
        insert_payment_event(&tx, 0, payment, kind, at_ms).await?;
        if let Some(entry) = audit_entry {
            audit(&tx, entry).await?;
        }
    }
    tx.commit().await?;
    if changed == 1 {
        pg.committed();
    }
    Ok(())
}

pub(in crate::store) async fn by_id(
    client: &Client,
    id: &str,
) -> Result<Option<Payment>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED} WHERE p.id = $1");
    read_one(client, &sql, &[&id], rows::payment).await
}

pub(in crate::store) async fn by_confirmation_code(
    client: &Client,
    code: &str,
) -> Result<Option<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM confirmations c JOIN payments p ON p.id = c.payment_id
         LEFT JOIN batches b ON b.id = p.batch_id WHERE c.code = $1"
    );
    read_one(client, &sql, &[&code], rows::payment).await
}

pub(in crate::store) async fn unsettled_in(
    client: &Client,
    applications: &[String],
    max: u32,
) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.status IN ('processing', 'in_doubt') AND p.application_id = ANY($1)
         ORDER BY p.created_ms LIMIT $2"
    );
    read_all(
        client,
        &sql,
        &[&applications, &i64::from(max)],
        rows::payment,
    )
    .await
}

pub(in crate::store) async fn unsettled(client: &Client) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.status IN ('processing', 'in_doubt') ORDER BY p.created_ms"
    );
    read_all(client, &sql, &[], rows::payment).await
}

pub(in crate::store) async fn not_charged_since(
    client: &Client,
    since_ms: i64,
    limit: u32,
) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.code IN ('not_charged', 'late_approval')
           AND (p.code = 'late_approval' OR p.decided_ms >= $1)
         ORDER BY p.decided_ms LIMIT $2"
    );
    read_all(client, &sql, &[&since_ms, &i64::from(limit)], rows::payment).await
}

pub(in crate::store) async fn search(
    client: &Client,
    query: &SearchQuery,
    applications: &[String],
    page_size: u32,
) -> Result<(Vec<Payment>, bool), StoreError> {
    let order = rows::search_order(query.sort);
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.application_id = ANY($1)
           AND ($2::text IS NULL OR p.application_id = $2)
           AND ($3::text IS NULL OR p.status = $3)
           AND ($4::bigint IS NULL OR p.created_ms >= $4)
           AND ($5::bigint IS NULL OR p.created_ms < $5)
           AND ($6::text IS NULL OR c.code = $6)
           AND ($7::text IS NULL OR p.last_four = $7)
           AND ($8::text IS NULL OR strpos(lower(p.payer_name), lower($8)) > 0)
           AND ($11::text IS NULL OR p.id = $11)
         ORDER BY {order}
         LIMIT $9 OFFSET $10"
    );
    let payments = read_all(
        client,
        &sql,
        &[
            &applications,
            &query.application,
            &query.status.map(PaymentStatus::code),
            &query.from_ms,
            &query.to_ms,
            &query.confirmation_code,
            &query.last_four,
            &query.payer_name,
            &(i64::from(page_size) + 1),
            &(i64::from(query.page) * i64::from(page_size)),
            &query.payment_id,
        ],
        rows::payment,
    )
    .await?;
    Ok(rows::page(payments, page_size))
}

pub(in crate::store) async fn recent_failures(
    client: &Client,
    since_ms: i64,
    applications: &[String],
    max: u32,
) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.decided_ms >= $1 AND p.status IN ('declined', 'failed')
           AND p.application_id = ANY($2)
         ORDER BY p.decided_ms DESC LIMIT $3"
    );
    read_all(
        client,
        &sql,
        &[&since_ms, &applications, &i64::from(max)],
        rows::payment,
    )
    .await
}

/// Rows a selection walks are fetched this many at a time from a server-side cursor.
const FETCH_ROWS: i32 = 500;

/// Streams the selected payments, oldest first, from a cursor in a transaction of its own, so
/// a million rows are never in memory at once.
pub(in crate::store) fn selected(pg: &Postgres, selection: Selection) -> Rows<Payment> {
    let (tx, rows) = Rows::channel();
    let pg = pg.clone();
    tokio::spawn(async move {
        if let Err(e) = walk_selected(&pg, &selection, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rows
}

async fn walk_selected(
    pg: &Postgres,
    selection: &Selection,
    out: &tokio::sync::mpsc::Sender<Result<Payment, StoreError>>,
) -> Result<(), StoreError> {
    let which = match selection.batch {
        Some(_) => "p.batch_id = $6 AND p.application_id = $1",
        None => "p.application_id = $1 AND $6::text IS NULL",
    };
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE {which} AND p.id > $2 AND p.id < $3
           AND ($4::text IS NULL OR p.status = $4)
           AND ($5::text IS NULL OR p.mode = $5)
         ORDER BY p.id LIMIT $7"
    );
    let (low, high) = selection.id_range();
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let statement = tx.prepare_cached(&sql).await?;
    let portal = tx
        .bind(
            &statement,
            &[
                &selection.application,
                &low,
                &high,
                &selection.status.map(PaymentStatus::code),
                &selection.mode.map(Mode::code),
                &selection.batch,
                &selection.limit.map(i64::from),
            ],
        )
        .await?;
    loop {
        let rows = tx.query_portal(&portal, FETCH_ROWS).await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            if out.send(Ok(rows::payment(row)?)).await.is_err() {
                return Ok(());
            }
        }
    }
}

pub(in crate::store) async fn for_each_decided_since(
    client: &mut Client,
    since_ms: i64,
    mut each: impl FnMut(&DecidedRow<'_>),
) -> Result<DecisionsRead, StoreError> {
    // One snapshot for the payments and the place their events had reached.
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let place = tx
        .query_one(
            "SELECT pg_current_snapshot()::text,
                    pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20,
                    pg_snapshot_xmax(pg_current_snapshot())::text::bigint << 20",
            &[],
        )
        .await?;
    let (snapshot, running_from, newer_from): (String, i64, i64) =
        (place.try_get(0)?, place.try_get(1)?, place.try_get(2)?);
    let statement = tx
        .prepare_cached(
            "SELECT application_id, status, amount_minor, currency, created_ms, decided_ms
             FROM payments WHERE decided_ms >= $1 ORDER BY decided_ms",
        )
        .await?;
    let rows = tx.query_raw(&statement, [&since_ms]).await?;
    futures::pin_mut!(rows);
    while let Some(r) = rows.try_next().await? {
        let (status, currency): (&str, &str) = (r.try_get(1)?, r.try_get(3)?);
        each(&DecidedRow {
            application: r.try_get(0)?,
            status: rows::status(status)?,
            amount: Money::new(r.try_get(2)?, rows::currency(currency)?),
            received_ms: r.try_get(4)?,
            decided_ms: r.try_get(5)?,
        });
    }
    tx.commit().await?;
    // Below `running_from` every transaction had ended; from it, those the snapshot saw are
    // counted, and from `newer_from` none was.
    Ok(DecisionsRead {
        after_seq: u64::try_from(running_from - 1).unwrap_or(0),
        loaded: Some((snapshot, u64::try_from(newer_from).unwrap_or(0))),
    })
}

pub(in crate::store) async fn span_lines(
    client: &Client,
    application: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<SpanLine>, StoreError> {
    read_all(
        client,
        "SELECT p.status, p.method, count(*), sum(p.amount_minor)::bigint, count(b.transmitted_ms)
         FROM payments p LEFT JOIN batches b ON b.id = p.batch_id
         WHERE p.id > $2 AND p.id < $3 AND p.application_id = $1
         GROUP BY p.status, p.method ORDER BY p.status, p.method",
        &[
            &application,
            &payment_id_bound(from_ms),
            &payment_id_bound(to_ms),
        ],
        rows::span_line,
    )
    .await
}

pub(in crate::store) async fn unsettled_in_span(
    client: &Client,
    application: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.status IN ('processing', 'in_doubt') AND p.application_id = $1
           AND p.id > $2 AND p.id < $3
         ORDER BY p.id"
    );
    read_all(
        client,
        &sql,
        &[
            &application,
            &payment_id_bound(from_ms),
            &payment_id_bound(to_ms),
        ],
        rows::payment,
    )
    .await
}
