//! SQL for payments, their idempotency keys, confirmations and events.

use super::{read_all, read_one};
use crate::codes::CodeKey;
use crate::store::StoreError;
use crate::store::accounts::AuditEntry;
use crate::store::events::DecisionsRead;
use crate::store::payments::{
    Begun, Bound, CODE_NUMBERS, Decided, DecidedRow, Decision, ReportLine, Selection, SpanLine,
    confirmation_number, number_issued_before,
};
use crate::store::rows::{self, PAYMENT_COLUMNS, PAYMENTS_JOINED, REFUND_COLUMNS, ReportLines};
use cip_common::event::EventKind;
use cip_common::money::Money;
use cip_common::payment::{Payment, SearchQuery, SearchSort, payment_id_bound};
use cip_common::status::PaymentStatus;
use rusqlite::{Connection, OptionalExtension, params};
use std::ops::ControlFlow;

/// Commits `payment` (status `processing`) with its idempotency key and received event, unless
/// the key was used before.
pub fn begin(
    conn: &Connection,
    payment: &Payment,
    fingerprint: &[u8; 32],
) -> Result<Begun, StoreError> {
    let existing = conn
        .prepare_cached(
            "SELECT fingerprint, payment_id FROM idempotency_keys WHERE application_id = ?1 AND key = ?2",
        )?
        .query_row(params![payment.application, payment.idempotency_key], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    if let Some((stored, payment_id)) = existing {
        return Ok(Begun::Existing {
            payment_id,
            same_request: stored.as_slice() == fingerprint.as_slice(),
        });
    }
    let fields =
        serde_json::to_string(&payment.fields).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let method = rows::MethodColumns::of(&payment.method);
    conn.prepare_cached(
        "INSERT INTO payments (id, application_id, mode, status, amount_minor, currency, payer_name,
            payer_email, payer_postal_code, fields, method, brand, first_six, exp_month, exp_year,
            routing_number, account_type, last_four, idempotency_key, user_id, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
    )?
    .execute(params![
        payment.id,
        payment.application,
        payment.mode.code(),
        payment.status.code(),
        payment.amount.minor,
        payment.amount.currency.code(),
        payment.payer.name,
        payment.payer.email,
        payment.payer.postal_code,
        fields,
        method.method,
        method.brand,
        method.first_six,
        method.exp_month,
        method.exp_year,
        method.routing_number,
        method.account_type,
        payment.method.last_four(),
        payment.idempotency_key,
        payment.user,
        payment.created_ms,
    ])?;
    conn.prepare_cached(
        "INSERT INTO idempotency_keys (application_id, key, fingerprint, payment_id, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        payment.application,
        payment.idempotency_key,
        fingerprint.as_slice(),
        payment.id,
        payment.created_ms
    ])?;
    let seq = super::events::insert_payment_event(
        conn,
        payment,
        EventKind::PaymentReceived,
        payment.created_ms,
    )?;
    Ok(Begun::Created { seq })
}

/// Commits the outcome held in `payment`, its confirmation and its event, in one transaction.
/// A payment with refunds, given or pending, moves no more (a void would give back twice).
/// Nothing is written unless everything is: the code is checked free and the row's status
/// checked before the first write.
pub fn decide(
    conn: &Connection,
    payment: &Payment,
    decision: &Decision,
) -> Result<Decided, StoreError> {
    let confirmation = payment
        .confirmation_code
        .as_ref()
        .zip(decision.authorization.as_ref())
        .zip(
            decision
                .confirmation_number
                .map(confirmation_number)
                .transpose()?,
        );
    if let Some((_, number)) = confirmation {
        let taken = conn
            .prepare_cached("SELECT 1 FROM confirmations WHERE number = ?1")?
            .exists([number])?;
        if taken {
            return Ok(Decided::CodeTaken);
        }
    }
    let moved = conn
        .prepare_cached(
            "UPDATE payments SET status = ?1, code = ?2, message = ?3, decided_ms = ?4,
                voiding_ms = NULL
             WHERE id = ?5 AND status = ?6 AND refunded_minor = 0 AND refund_pending_minor = 0",
        )?
        .execute(params![
            payment.status.code(),
            payment.code,
            payment.message,
            payment.decided_ms,
            payment.id,
            decision.from.code()
        ])?;
    if moved == 0 {
        return Ok(Decided::Moved);
    }
    if let Some(((code, authorization), number)) = confirmation {
        // The one writer checked the number free above, in this same transaction.
        conn.prepare_cached(
            "INSERT INTO confirmations
                (code, payment_id, processor_authorization, created_ms, number)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            code,
            payment.id,
            authorization,
            payment.decided_ms,
            number
        ])?;
    }
    super::events::insert_payment_event(conn, payment, decision.kind, decision.at_ms)?;
    if let Some(entry) = &decision.audit {
        super::accounts::audit(conn, entry)?;
    }
    Ok(Decided::Committed)
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Payment>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED} WHERE p.id = ?1");
    read_one(conn.prepare_cached(&sql)?.query([id])?, rows::payment)
}

/// The payment confirmed by `code`, found by its `number` (or, for the few codes issued before
/// that have none, by its text).
pub fn by_confirmation_code(
    conn: &Connection,
    number: i64,
    code: &str,
) -> Result<Option<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM confirmations c JOIN payments p ON p.id = c.payment_id
         LEFT JOIN batches b ON b.id = p.batch_id
         WHERE (c.number = ?1 OR c.number IS NULL) AND c.code = ?2"
    );
    read_one(
        conn.prepare_cached(&sql)?.query(params![number, code])?,
        rows::payment,
    )
}

/// The first of `count` numbers handed out by the count the store keeps.
pub fn reserve_code_numbers(conn: &Connection, count: i64) -> Result<i64, StoreError> {
    let stored = super::setting_or(conn, CODE_NUMBERS, &0i64.to_be_bytes())?;
    let first = i64::from_be_bytes(
        stored
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("{CODE_NUMBERS} is not 8 bytes")))?,
    );
    super::set_setting(conn, CODE_NUMBERS, &(first + count).to_be_bytes())?;
    Ok(first)
}

/// Numbers the confirmations that have none yet (`Store::number_confirmations`).
pub fn number_confirmations(conn: &Connection, key: &CodeKey) -> Result<u64, StoreError> {
    let unnumbered: Vec<(i64, String)> = conn
        .prepare("SELECT rowid, code FROM confirmations WHERE number IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut numbered = 0;
    let mut give = conn.prepare(
        "UPDATE confirmations SET number = ?1 WHERE rowid = ?2
           AND NOT EXISTS (SELECT 1 FROM confirmations WHERE number = ?1)",
    )?;
    for (rowid, code) in unnumbered {
        let number = number_issued_before(key, &code)?;
        numbered += u64::try_from(give.execute(params![number, rowid])?).unwrap_or(0);
    }
    Ok(numbered)
}

/// At most `max` payments `processing` or `in_doubt` in `applications`, oldest first.
pub fn unsettled_in(
    conn: &Connection,
    applications: &[String],
    max: u32,
) -> Result<Vec<Payment>, StoreError> {
    let apps =
        serde_json::to_string(applications).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.status IN ('processing', 'in_doubt')
           AND p.application_id IN (SELECT value FROM json_each(?1))
         ORDER BY p.created_ms LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    read_all(stmt.query(params![apps, max])?, rows::payment)
}

/// How many payments are in doubt (through the index of unsettled payments).
pub fn in_doubt_count(conn: &Connection) -> Result<u64, StoreError> {
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM payments WHERE status = 'in_doubt'")?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Payments left `processing` or `in_doubt`, oldest first.
pub fn unsettled(conn: &Connection) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.status IN ('processing', 'in_doubt') ORDER BY p.created_ms"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    read_all(stmt.query([])?, rows::payment)
}

/// Failed payments reported not charged since `since_ms`, and any whose late approval is still
/// being voided, at most `limit`.
pub fn not_charged_since(
    conn: &Connection,
    since_ms: i64,
    limit: u32,
) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.code IN ('not_charged', 'late_approval')
           AND (p.code = 'late_approval' OR p.decided_ms >= ?1)
         ORDER BY p.decided_ms LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    read_all(stmt.query(params![since_ms, limit])?, rows::payment)
}

/// Gives a failed payment whose code is still `from` the code and message of `payment`, with an
/// event of `kind` and the audit entry, if any; a payment no longer so is left as it is.
pub fn note_failed(
    conn: &Connection,
    payment: &Payment,
    from: Option<&str>,
    kind: EventKind,
    at_ms: i64,
    audit: Option<&AuditEntry>,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE payments SET code = ?1, message = ?2
             WHERE id = ?3 AND status = 'failed' AND code IS ?4",
        )?
        .execute(params![payment.code, payment.message, payment.id, from])?;
    if changed == 1 {
        super::events::insert_payment_event(conn, payment, kind, at_ms)?;
        if let Some(entry) = audit {
            super::accounts::audit(conn, entry)?;
        }
    }
    Ok(())
}

pub fn hold_for_void(conn: &Connection, id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let held = conn
        .prepare_cached(
            "UPDATE payments SET voiding_ms = ?2
             WHERE id = ?1 AND status = 'approved' AND batch_id IS NULL AND voiding_ms IS NULL
               AND refunded_minor = 0 AND refund_pending_minor = 0",
        )?
        .execute(params![id, now_ms])?;
    Ok(held == 1)
}

pub fn release_void(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE payments SET voiding_ms = NULL WHERE id = ?1 AND status = 'approved'",
    )?
    .execute([id])?;
    Ok(())
}

pub fn void_holds(conn: &Connection, before_ms: i64) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.voiding_ms < ?1 AND p.status = 'approved' ORDER BY p.voiding_ms"
    );
    read_all(
        conn.prepare_cached(&sql)?.query([before_ms])?,
        rows::payment,
    )
}

/// Hands the selected payments and their refunds to `each`, oldest first, one line at a time,
/// until it breaks.
pub fn for_each_selected(
    conn: &Connection,
    selection: &Selection,
    each: &mut dyn FnMut(ReportLine) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    if let Some(batch) = &selection.batch {
        return for_each_in_batch(conn, &selection.application, batch, each);
    }
    // The primary key's range, each payment's refunds from their own index, in order.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PAYMENT_COLUMNS}, {REFUND_COLUMNS} FROM {PAYMENTS_JOINED}
         LEFT JOIN refunds r ON r.payment_id = p.id
         WHERE {}
         ORDER BY p.id, r.id",
        rows::selected_where(placeholder)
    ))?;
    let mut rows = stmt.query(selected_params(&selection.bound()))?;
    let mut lines = ReportLines::default();
    while let Some(row) = rows.next()? {
        for line in lines.read(row)?.into_iter().flatten() {
            if each(line).is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

pub fn listed(
    conn: &Connection,
    bound: &Bound,
    sort: SearchSort,
    skip: u64,
    page_size: u32,
) -> Result<(Vec<Payment>, bool), StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED} WHERE {} ORDER BY {} LIMIT ?14 OFFSET ?15",
        rows::selected_where(placeholder),
        rows::search_order(sort)
    );
    let (limit, skip) = (page_size + 1, i64::try_from(skip).unwrap_or(i64::MAX));
    let page: [&dyn rusqlite::ToSql; 2] = [&limit, &skip];
    let values = selected_params(bound).into_iter().chain(page);
    let mut stmt = conn.prepare_cached(&sql)?;
    let payments = read_all(
        stmt.query(rusqlite::params_from_iter(values))?,
        rows::payment,
    )?;
    Ok(rows::page(payments, page_size))
}

pub fn counted(conn: &Connection, bound: &Bound, cap: u64) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {PAYMENTS_JOINED} WHERE {} LIMIT ?14)",
        rows::selected_where(placeholder)
    );
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let values = selected_params(bound)
        .into_iter()
        .chain([&cap as &dyn rusqlite::ToSql]);
    let count: i64 = conn
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(values), |r| r.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// SQLite's placeholder `n`.
fn placeholder(n: usize, _type: &str) -> String {
    format!("?{n}")
}

/// A selection's values, for [`rows::selected_where`].
fn selected_params(b: &Bound) -> [&dyn rusqlite::ToSql; 13] {
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

/// A batch's payments, then its refunds, each from its own index.
fn for_each_in_batch(
    conn: &Connection,
    application: &str,
    batch: &str,
    each: &mut dyn FnMut(ReportLine) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    let mut payments = conn.prepare_cached(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.batch_id = ?1 AND p.application_id = ?2 ORDER BY p.id"
    ))?;
    let mut rows = payments.query(params![batch, application])?;
    while let Some(row) = rows.next()? {
        if each(ReportLine::Payment(rows::payment(row)?)).is_break() {
            return Ok(());
        }
    }
    let mut refunds = conn.prepare_cached(&format!(
        "SELECT {PAYMENT_COLUMNS}, {REFUND_COLUMNS} FROM {PAYMENTS_JOINED}
         JOIN refunds r ON r.payment_id = p.id
         WHERE r.batch_id = ?1 AND r.application_id = ?2 ORDER BY r.id"
    ))?;
    let mut rows = refunds.query(params![batch, application])?;
    while let Some(row) = rows.next()? {
        if each(rows::refund_with_payment(row)?).is_break() {
            return Ok(());
        }
    }
    Ok(())
}

/// One page of payments within `applications`, in the query's order, and whether more follow.
pub fn search(
    conn: &Connection,
    query: &SearchQuery,
    applications: &[String],
    page_size: u32,
) -> Result<(Vec<Payment>, bool), StoreError> {
    let apps =
        serde_json::to_string(applications).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let order = rows::search_order(query.sort);
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.application_id IN (SELECT value FROM json_each(?1))
           AND (?2 IS NULL OR p.application_id = ?2)
           AND (?3 IS NULL OR p.status = ?3)
           AND (?4 IS NULL OR p.created_ms >= ?4)
           AND (?5 IS NULL OR p.created_ms < ?5)
           AND (?6 IS NULL OR c.code = ?6)
           AND (?7 IS NULL OR p.last_four = ?7)
           AND (?8 IS NULL OR instr(lower(p.payer_name), lower(?8)) > 0)
           AND (?11 IS NULL OR p.id = ?11)
         ORDER BY {order}
         LIMIT ?9 OFFSET ?10"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let payments = read_all(
        stmt.query(params![
            apps,
            query.application,
            query.status.map(PaymentStatus::code),
            query.from_ms,
            query.to_ms,
            query.confirmation_code,
            query.last_four,
            query.payer_name,
            page_size + 1,
            i64::from(query.page) * i64::from(page_size),
            query.payment_id,
        ])?,
        rows::payment,
    )?;
    Ok(rows::page(payments, page_size))
}

/// Declines and failures decided since `since_ms` in `applications`, newest first.
pub fn recent_failures(
    conn: &Connection,
    since_ms: i64,
    applications: &[String],
    max: u32,
) -> Result<Vec<Payment>, StoreError> {
    let apps =
        serde_json::to_string(applications).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.decided_ms >= ?1 AND p.status IN ('declined', 'failed')
           AND p.application_id IN (SELECT value FROM json_each(?2))
         ORDER BY p.decided_ms DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    read_all(stmt.query(params![since_ms, apps, max])?, rows::payment)
}

/// Hands every payment decided since `since_ms` to `each`, in order of decision, without a copy
/// of any row (a start reads back an hour's payments, perhaps millions).
pub fn for_each_decided_since(
    conn: &Connection,
    since_ms: i64,
    mut each: impl FnMut(&DecidedRow<'_>),
) -> Result<DecisionsRead, StoreError> {
    // One read transaction: the payments as of the last event it sees.
    let tx = conn.unchecked_transaction()?;
    let last_seq: i64 = tx
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?
        .query_row([], |r| r.get(0))?;
    let mut stmt = tx.prepare_cached(
        "SELECT application_id, status, amount_minor, currency, created_ms, decided_ms FROM payments
         WHERE decided_ms >= ?1 ORDER BY decided_ms",
    )?;
    let mut rows = stmt.query([since_ms])?;
    while let Some(r) = rows.next()? {
        let text = |i| r.get_ref(i)?.as_str().map_err(rusqlite::Error::from);
        let (status, currency) = (text(1)?, text(3)?);
        each(&DecidedRow {
            application: text(0)?,
            status: rows::status(status)?,
            amount: Money::new(r.get(2)?, rows::currency(currency)?),
            received_ms: r.get(4)?,
            decided_ms: r.get(5)?,
        });
    }
    drop(rows);
    drop(stmt);
    tx.finish()?;
    Ok(DecisionsRead {
        after_seq: u64::try_from(last_seq).unwrap_or(0),
        loaded: None,
    })
}

/// `application`'s payments created from `from_ms` to before `to_ms`, counted and summed by
/// status and method. Ids begin with the creation time, so the id range finds them.
pub fn span_lines(
    conn: &Connection,
    application: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<SpanLine>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.status, p.method, count(*), sum(p.amount_minor), count(b.transmitted_ms)
         FROM payments p LEFT JOIN batches b ON b.id = p.batch_id
         WHERE p.id > ?2 AND p.id < ?3 AND p.application_id = ?1
         GROUP BY p.status, p.method ORDER BY p.status, p.method",
    )?;
    read_all(
        stmt.query(params![
            application,
            payment_id_bound(from_ms),
            payment_id_bound(to_ms),
        ])?,
        rows::span_line,
    )
}

/// `application`'s payments created from `from_ms` to before `to_ms` that are still
/// `processing` or `in_doubt`, oldest first.
pub fn unsettled_in_span(
    conn: &Connection,
    application: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.status IN ('processing', 'in_doubt') AND p.application_id = ?1
           AND p.id > ?2 AND p.id < ?3
         ORDER BY p.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    read_all(
        stmt.query(params![
            application,
            payment_id_bound(from_ms),
            payment_id_bound(to_ms)
        ])?,
        rows::payment,
    )
}
