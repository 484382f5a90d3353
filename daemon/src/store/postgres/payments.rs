//! SQL for payments on PostgreSQL, but for the two writes every payment makes (in
//! `payment_writes.rs`): each a transaction of its own.

use super::accounts::audit;
use super::events::insert_payment_event;
use super::{Client, Postgres, read_all, read_one};
use crate::codes::CodeKey;
use crate::store::accounts::AuditEntry;
use crate::store::events::DecisionsRead;
use crate::store::payments::{
    Bound, CODE_NUMBERS, DecidedRow, ReportLine, Selection, SpanLine, number_issued_before,
};
use crate::store::rows::{self, PAYMENT_COLUMNS, PAYMENTS_JOINED, REFUND_COLUMNS, ReportLines};
use crate::store::{Rows, StoreError};
use cip_common::event::EventKind;
use cip_common::money::Money;
use cip_common::payment::{Payment, SearchQuery, SearchSort, payment_id_bound};
use cip_common::status::PaymentStatus;
use futures::TryStreamExt;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

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

/// The payment confirmed by `code`, found by its `number` (or, for the few codes issued before
/// that have none, by its text).
pub(in crate::store) async fn by_confirmation_code(
    client: &Client,
    number: i64,
    code: &str,
) -> Result<Option<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM confirmations c JOIN payments p ON p.id = c.payment_id
         LEFT JOIN batches b ON b.id = p.batch_id
         WHERE (c.number = $1 OR c.number IS NULL) AND c.code = $2"
    );
    read_one(client, &sql, &[&number, &code], rows::payment).await
}

/// The first of `count` numbers handed out by the count the store keeps, in one statement: the
/// row's lock orders daemons asking at once.
pub(in crate::store) async fn reserve_code_numbers(
    client: &Client,
    count: i64,
) -> Result<i64, StoreError> {
    let row = client
        .query_one(
            "INSERT INTO store_settings AS s (name, value) VALUES ($1, int8send($2::bigint))
             ON CONFLICT (name) DO UPDATE
                SET value = int8send(('x' || encode(s.value, 'hex'))::bit(64)::bigint + $2)
             RETURNING ('x' || encode(value, 'hex'))::bit(64)::bigint - $2",
            &[&CODE_NUMBERS, &count],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Numbers the confirmations that have none yet (`Store::number_confirmations`).
pub(in crate::store) async fn number_confirmations(
    client: &Client,
    key: &CodeKey,
) -> Result<u64, StoreError> {
    let rows = client
        .query(
            "SELECT payment_id, code FROM confirmations WHERE number IS NULL",
            &[],
        )
        .await?;
    let (mut payments, mut numbers) = (Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        let code: &str = row.try_get(1)?;
        let number = number_issued_before(key, code)?;
        if seen.insert(number) {
            payments.push(row.try_get::<_, &str>(0)?);
            numbers.push(number);
        }
    }
    let numbered = client
        .execute(
            "UPDATE confirmations c SET number = u.number
             FROM unnest($1::text[], $2::bigint[]) AS u(payment_id, number)
             WHERE c.payment_id = u.payment_id AND c.number IS NULL
               AND NOT EXISTS (SELECT 1 FROM confirmations o WHERE o.number = u.number)",
            &[&payments, &numbers],
        )
        .await?;
    Ok(numbered)
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

/// How many payments are in doubt (through the index of unsettled payments).
pub(in crate::store) async fn in_doubt_count(client: &Client) -> Result<u64, StoreError> {
    let count: i64 = client
        .query_one(
            "SELECT count(*) FROM payments WHERE status = 'in_doubt'",
            &[],
        )
        .await?
        .try_get(0)?;
    Ok(u64::try_from(count).unwrap_or(0))
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

/// Streams the selected payments and their refunds, oldest first, from cursors in a transaction
/// of its own, so a million rows are never in memory at once.
pub(in crate::store) fn selected(pg: &Postgres, selection: Selection) -> Rows<ReportLine> {
    let (tx, rows) = Rows::channel();
    let pg = pg.clone();
    tokio::spawn(async move {
        if let Err(e) = walk_selected(&pg, &selection, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rows
}

type Lines = tokio::sync::mpsc::Sender<Result<ReportLine, StoreError>>;

async fn walk_selected(
    pg: &Postgres,
    selection: &Selection,
    out: &Lines,
) -> Result<(), StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    if let Some(batch) = &selection.batch {
        // A batch's payments, then its refunds, each from its own index.
        let params: [&(dyn ToSql + Sync); 2] = [batch, &selection.application];
        let payments = format!(
            "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
             WHERE p.batch_id = $1 AND p.application_id = $2 ORDER BY p.id"
        );
        if walk(&tx, &payments, &params, out, |row| {
            Ok([Some(ReportLine::Payment(rows::payment(row)?)), None])
        })
        .await?
        {
            let refunds = format!(
                "SELECT {PAYMENT_COLUMNS}, {REFUND_COLUMNS} FROM {PAYMENTS_JOINED}
                 JOIN refunds r ON r.payment_id = p.id
                 WHERE r.batch_id = $1 AND r.application_id = $2 ORDER BY r.id"
            );
            walk(&tx, &refunds, &params, out, |row| {
                Ok([Some(rows::refund_with_payment(row)?), None])
            })
            .await?;
        }
        return Ok(());
    }
    // The primary key's range, each payment's refunds from their own index, in order.
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS}, {REFUND_COLUMNS} FROM {PAYMENTS_JOINED}
         LEFT JOIN refunds r ON r.payment_id = p.id
         WHERE {}
         ORDER BY p.id, r.id",
        rows::selected_where(placeholder)
    );
    let mut lines = ReportLines::default();
    let bound = selection.bound();
    walk(&tx, &sql, &selected_params(&bound), out, |row| {
        lines.read(row)
    })
    .await?;
    Ok(())
}

pub(in crate::store) async fn listed(
    client: &Client,
    bound: &Bound,
    sort: SearchSort,
    skip: u64,
    page_size: u32,
) -> Result<(Vec<Payment>, bool), StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED} WHERE {} ORDER BY {} LIMIT $14 OFFSET $15",
        rows::selected_where(placeholder),
        rows::search_order(sort)
    );
    let (limit, skip) = (
        i64::from(page_size) + 1,
        i64::try_from(skip).unwrap_or(i64::MAX),
    );
    let page: [&(dyn ToSql + Sync); 2] = [&limit, &skip];
    let values: Vec<_> = selected_params(bound).into_iter().chain(page).collect();
    let payments = read_all(client, &sql, &values, rows::payment).await?;
    Ok(rows::page(payments, page_size))
}

pub(in crate::store) async fn counted(
    client: &Client,
    bound: &Bound,
    cap: u64,
) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {PAYMENTS_JOINED} WHERE {} LIMIT $14) AS taken",
        rows::selected_where(placeholder)
    );
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let values: Vec<&(dyn ToSql + Sync)> = selected_params(bound)
        .into_iter()
        .chain([&cap as &(dyn ToSql + Sync)])
        .collect();
    let statement = client.prepare_cached(&sql).await?;
    let count: i64 = client.query_one(&statement, &values).await?.try_get(0)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// PostgreSQL's placeholder `n`, typed so a NULL needs no context.
fn placeholder(n: usize, kind: &str) -> String {
    format!("${n}::{kind}")
}

/// A selection's values, for [`rows::selected_where`].
fn selected_params(b: &Bound) -> [&(dyn ToSql + Sync); 13] {
    [
        &b.application,
        &b.low,
        &b.high,
        &b.status,
        &b.mode,
        &b.refunded,
        &b.confirmation_code,
        &b.payment_id,
        &b.last_four,
        &b.payer,
        &b.min_amount_minor,
        &b.max_amount_minor,
        &b.reported_in,
    ]
}

/// Sends the lines `read` makes of each row `sql` gives, fetched a few hundred at a time from a
/// cursor; `false`: the reader went away.
async fn walk(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    out: &Lines,
    mut read: impl FnMut(&tokio_postgres::Row) -> Result<[Option<ReportLine>; 2], StoreError>,
) -> Result<bool, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    let portal = tx.bind(&statement, params).await?;
    loop {
        let rows = tx.query_portal(&portal, FETCH_ROWS).await?;
        if rows.is_empty() {
            return Ok(true);
        }
        for row in &rows {
            for line in read(row)?.into_iter().flatten() {
                if out.send(Ok(line)).await.is_err() {
                    return Ok(false);
                }
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

pub(in crate::store) async fn hold_for_void(
    client: &Client,
    id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE payments SET voiding_ms = $2
             WHERE id = $1 AND status = 'approved' AND batch_id IS NULL AND voiding_ms IS NULL
               AND refunded_minor = 0 AND refund_pending_minor = 0",
        )
        .await?;
    Ok(client.execute(&statement, &[&id, &now_ms]).await? == 1)
}

pub(in crate::store) async fn release_void(client: &Client, id: &str) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE payments SET voiding_ms = NULL WHERE id = $1 AND status = 'approved'",
        )
        .await?;
    client.execute(&statement, &[&id]).await?;
    Ok(())
}

pub(in crate::store) async fn void_holds(
    client: &Client,
    before_ms: i64,
) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.voiding_ms < $1 AND p.status = 'approved' ORDER BY p.voiding_ms"
    );
    read_all(client, &sql, &[&before_ms], rows::payment).await
}
