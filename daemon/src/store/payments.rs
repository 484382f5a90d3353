//! SQL for payments, their idempotency keys, confirmations and events.

use super::{StoreError, corrupt};
use cip_common::ach::AccountType;
use cip_common::card::Brand;
use cip_common::event::EventKind;
use cip_common::form::MethodKind;
use cip_common::money::{Currency, Money};
use cip_common::payment::{
    BatchMark, MethodSummary, Mode, Payer, Payment, SearchQuery, SearchSort, payment_id_bound,
};
use cip_common::status::PaymentStatus;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::ops::ControlFlow;

/// What committing a new payment found.
#[derive(Debug)]
pub enum Begun {
    /// The payment is committed as `processing` with its `payment.received` event.
    Created { seq: u64 },
    /// The idempotency key was used before.
    Existing {
        payment_id: String,
        same_request: bool,
    },
}

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
    let (method, brand, first_six, exp_month, exp_year, routing, account_type) =
        match &payment.method {
            MethodSummary::Card {
                brand,
                first_six,
                exp_month,
                exp_year,
                ..
            } => (
                "card",
                Some(brand.code()),
                Some(first_six.as_str()),
                Some(*exp_month),
                Some(*exp_year),
                None,
                None,
            ),
            MethodSummary::Ach {
                routing_number,
                account_type,
                ..
            } => (
                "ach",
                None,
                None,
                None,
                None,
                Some(routing_number.as_str()),
                Some(account_type.code()),
            ),
        };
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
        method,
        brand,
        first_six,
        exp_month,
        exp_year,
        routing,
        account_type,
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

/// A payment's move from `from` to the status `payment` now holds.
pub struct Decision {
    pub from: PaymentStatus,
    /// The processor's authorization, kept with the confirmation code on approval.
    pub authorization: Option<String>,
    pub kind: EventKind,
    pub at_ms: i64,
    /// Kept in the same transaction when a person asked for the move.
    pub audit: Option<super::accounts::AuditEntry>,
}

#[derive(Debug)]
pub enum Decided {
    Committed,
    /// The payment was not in `from` any more: someone else moved it first.
    Moved,
    /// The confirmation code is taken; try another (the whole move was rolled back).
    CodeTaken,
}

/// Why a decision cannot be right, whatever the input: a move off the transition table, or an
/// approval without both its authorization and its confirmation code (it would be approved with
/// no confirmation row), or an authorization on anything else. Such a write fails loudly rather
/// than store a payment half right.
fn broken_move(
    from: PaymentStatus,
    to: PaymentStatus,
    authorization: bool,
    confirmation_code: bool,
) -> Option<String> {
    if !from.can_become(to) {
        return Some(format!("may not move from {from} to {to}"));
    }
    let approving = to == PaymentStatus::Approved;
    (approving != authorization || (approving && !confirmation_code)).then(|| {
        let said = |present: bool| if present { "present" } else { "absent" };
        format!(
            "became {to} with authorization {} and confirmation code {}: an approval has both, \
             nothing else an authorization",
            said(authorization),
            said(confirmation_code)
        )
    })
}

/// Commits the outcome held in `payment`, its confirmation and its event, in one transaction.
/// Nothing is written unless everything is: the code is checked free and the row's status
/// checked before the first write.
pub fn decide(
    conn: &Connection,
    payment: &Payment,
    decision: &Decision,
) -> Result<Decided, StoreError> {
    if let Some(broken) = broken_move(
        decision.from,
        payment.status,
        decision.authorization.is_some(),
        payment.confirmation_code.is_some(),
    ) {
        return Err(StoreError::Broken(format!("{}: {broken}", payment.id)));
    }
    let confirmation = payment
        .confirmation_code
        .as_ref()
        .zip(decision.authorization.as_ref());
    if let Some((code, _)) = confirmation {
        let taken = conn
            .prepare_cached("SELECT 1 FROM confirmations WHERE code = ?1")?
            .exists([code])?;
        if taken {
            return Ok(Decided::CodeTaken);
        }
    }
    let moved = conn
        .prepare_cached(
            "UPDATE payments SET status = ?1, code = ?2, message = ?3, decided_ms = ?4
             WHERE id = ?5 AND status = ?6",
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
    if let Some((code, authorization)) = confirmation {
        // The one writer checked the code free above, in this same transaction.
        conn.prepare_cached(
            "INSERT INTO confirmations (code, payment_id, processor_authorization, created_ms)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![code, payment.id, authorization, payment.decided_ms])?;
    }
    super::events::insert_payment_event(conn, payment, decision.kind, decision.at_ms)?;
    if let Some(entry) = &decision.audit {
        super::accounts::audit(conn, entry)?;
    }
    Ok(Decided::Committed)
}

const PAYMENT_COLUMNS: &str =
    "p.id, p.application_id, p.mode, p.status, p.amount_minor, p.currency,
    p.payer_name, p.payer_email, p.payer_postal_code, p.fields, p.method, p.brand, p.first_six,
    p.exp_month, p.exp_year, p.routing_number, p.account_type, p.last_four, c.code, p.code,
    p.message, p.idempotency_key, p.user_id, p.created_ms, p.decided_ms, p.batch_id, b.transmitted_ms";

/// Payments with their confirmation and batch, for `PAYMENT_COLUMNS`.
const PAYMENTS_JOINED: &str = "payments p LEFT JOIN confirmations c ON c.payment_id = p.id
    LEFT JOIN batches b ON b.id = p.batch_id";

fn payment_from_row(row: &Row<'_>) -> rusqlite::Result<Payment> {
    let text = |i: usize| row.get::<_, String>(i);
    let mode = text(2)?;
    let status = text(3)?;
    let currency = text(5)?;
    let fields = text(9)?;
    let method = match text(10)?.as_str() {
        "card" => {
            let brand = text(11)?;
            MethodSummary::Card {
                brand: Brand::from_code(&brand).ok_or_else(|| corrupt("brand", &brand))?,
                first_six: text(12)?,
                last_four: text(17)?,
                exp_month: row.get(13)?,
                exp_year: row.get(14)?,
            }
        }
        _ => {
            let account_type = text(16)?;
            MethodSummary::Ach {
                routing_number: text(15)?,
                last_four: text(17)?,
                account_type: AccountType::from_code(&account_type)
                    .ok_or_else(|| corrupt("account type", &account_type))?,
            }
        }
    };
    Ok(Payment {
        id: text(0)?,
        application: text(1)?,
        mode: Mode::from_code(&mode).ok_or_else(|| corrupt("mode", &mode))?,
        status: PaymentStatus::from_code(&status).ok_or_else(|| corrupt("status", &status))?,
        amount: Money::new(
            row.get(4)?,
            currency
                .parse::<Currency>()
                .map_err(|_| corrupt("currency", &currency))?,
        ),
        payer: Payer {
            name: text(6)?,
            email: text(7)?,
            postal_code: text(8)?,
        },
        fields: serde_json::from_str(&fields).map_err(|_| corrupt("fields", &fields))?,
        method,
        confirmation_code: row.get(18)?,
        code: row.get(19)?,
        message: row.get(20)?,
        idempotency_key: text(21)?,
        user: text(22)?,
        created_ms: row.get(23)?,
        decided_ms: row.get(24)?,
        batch: row
            .get::<_, Option<String>>(25)?
            .map(|id| -> rusqlite::Result<BatchMark> {
                Ok(BatchMark {
                    id,
                    transmitted_ms: row.get(26)?,
                })
            })
            .transpose()?,
    })
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Payment>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED} WHERE p.id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], payment_from_row)
        .optional()?)
}

pub fn by_confirmation_code(conn: &Connection, code: &str) -> Result<Option<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM confirmations c JOIN payments p ON p.id = c.payment_id
         LEFT JOIN batches b ON b.id = p.batch_id WHERE c.code = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([code], payment_from_row)
        .optional()?)
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
    let rows = stmt.query_map(params![apps, max], payment_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Payments left `processing` or `in_doubt`, oldest first.
pub fn unsettled(conn: &Connection) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE p.status IN ('processing', 'in_doubt') ORDER BY p.created_ms"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], payment_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
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
    let rows = stmt.query_map(params![since_ms, limit], payment_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Gives a failed payment whose code is still `from` the code and message of `payment`, with an
/// event of `kind` and the audit entry, if any; a payment no longer so is left as it is.
pub fn note_failed(
    conn: &Connection,
    payment: &Payment,
    from: Option<&str>,
    kind: EventKind,
    at_ms: i64,
    audit: Option<&super::accounts::AuditEntry>,
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

/// Which payments an export takes: one application's, optionally by creation time
/// (`from_ms` inclusive, `to_ms` exclusive), status, mode and batch, after the payment `after`,
/// at most `limit`.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub application: String,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub status: Option<PaymentStatus>,
    pub mode: Option<Mode>,
    pub batch: Option<String>,
    pub after: Option<String>,
    pub limit: Option<u32>,
}

/// Above every payment id.
const PAST_EVERY_ID: &str = "pay_~";

impl Selection {
    /// The ids the selection lies strictly between: ids sort by creation time, so the times
    /// and the cursor become one range over the primary key.
    fn id_range(&self) -> (String, String) {
        let from = self.from_ms.map(payment_id_bound).unwrap_or_default();
        let low = match &self.after {
            Some(after) if *after > from => after.clone(),
            _ => from,
        };
        let high = self
            .to_ms
            .map_or_else(|| PAST_EVERY_ID.to_owned(), payment_id_bound);
        (low, high)
    }
}

/// Hands the selected payments to `each`, oldest first, one row at a time (so a million rows
/// take no more memory than one), until it breaks; returns how many it took.
pub fn for_each_selected(
    conn: &Connection,
    selection: &Selection,
    mut each: impl FnMut(Payment) -> Result<ControlFlow<()>, StoreError>,
) -> Result<u64, StoreError> {
    // A batch's payments come from their own index; the rest walk the primary key's range.
    let which = match selection.batch {
        Some(_) => "p.batch_id = ?6 AND p.application_id = ?1",
        None => "p.application_id = ?1",
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM {PAYMENTS_JOINED}
         WHERE {which} AND p.id > ?2 AND p.id < ?3
           AND (?4 IS NULL OR p.status = ?4)
           AND (?5 IS NULL OR p.mode = ?5)
         ORDER BY p.id LIMIT ?7"
    ))?;
    let (low, high) = selection.id_range();
    let rows = stmt.query_map(
        params![
            selection.application,
            low,
            high,
            selection.status.map(PaymentStatus::code),
            selection.mode.map(Mode::code),
            selection.batch,
            selection.limit.map_or(-1, i64::from),
        ],
        payment_from_row,
    )?;
    let mut count = 0;
    for row in rows {
        if each(row?)?.is_break() {
            break;
        }
        count += 1;
    }
    Ok(count)
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
    let order = match query.sort {
        SearchSort::Newest => "p.id DESC",
        SearchSort::Oldest => "p.id",
        SearchSort::AmountHighest => "p.amount_minor DESC, p.id DESC",
        SearchSort::AmountLowest => "p.amount_minor, p.id DESC",
    };
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
    let rows = stmt.query_map(
        params![
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
        ],
        payment_from_row,
    )?;
    let mut payments: Vec<Payment> = rows.collect::<Result<_, _>>()?;
    let more = payments.len() > page_size as usize;
    payments.truncate(page_size as usize);
    Ok((payments, more))
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
    let rows = stmt.query_map(params![since_ms, apps, max], payment_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What the queue figures need of a decided payment, borrowed from its row.
pub struct DecidedRow<'a> {
    pub application: &'a str,
    pub status: PaymentStatus,
    pub amount: Money,
    pub received_ms: i64,
    pub decided_ms: i64,
}

/// Hands every payment decided since `since_ms` to `each`, in order of decision, without a copy
/// of any row (a start reads back an hour's payments, perhaps millions).
pub fn for_each_decided_since(
    conn: &Connection,
    since_ms: i64,
    mut each: impl FnMut(&DecidedRow<'_>),
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT application_id, status, amount_minor, currency, created_ms, decided_ms FROM payments
         WHERE decided_ms >= ?1 ORDER BY decided_ms",
    )?;
    let mut rows = stmt.query([since_ms])?;
    while let Some(r) = rows.next()? {
        let text = |i| r.get_ref(i)?.as_str().map_err(rusqlite::Error::from);
        let (status, currency) = (text(1)?, text(3)?);
        each(&DecidedRow {
            application: text(0)?,
            status: PaymentStatus::from_code(status).ok_or_else(|| corrupt("status", status))?,
            amount: Money::new(
                r.get(2)?,
                currency
                    .parse::<Currency>()
                    .map_err(|_| corrupt("currency", currency))?,
            ),
            received_ms: r.get(4)?,
            decided_ms: r.get(5)?,
        });
    }
    Ok(())
}

/// The payments of one status and method created in a span of time.
pub struct SpanLine {
    pub status: PaymentStatus,
    pub method: MethodKind,
    pub count: u64,
    pub minor: i64,
    /// How many a transmitted batch report holds.
    pub reported: u64,
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
    let rows = stmt.query_map(
        params![
            application,
            payment_id_bound(from_ms),
            payment_id_bound(to_ms),
        ],
        |r| {
            let status: String = r.get(0)?;
            let method: String = r.get(1)?;
            Ok(SpanLine {
                status: PaymentStatus::from_code(&status)
                    .ok_or_else(|| corrupt("status", &status))?,
                method: match method.as_str() {
                    "card" => MethodKind::Card,
                    "ach" => MethodKind::Ach,
                    _ => return Err(corrupt("method", &method)),
                },
                count: r.get::<_, i64>(2)?.try_into().unwrap_or(0),
                minor: r.get(3)?,
                reported: r.get::<_, i64>(4)?.try_into().unwrap_or(0),
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
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
    let rows = stmt.query_map(
        params![
            application,
            payment_id_bound(from_ms),
            payment_id_bound(to_ms)
        ],
        payment_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::broken_move;
    use cip_common::status::PaymentStatus::{Approved, Declined, InDoubt, Processing, Voided};

    #[test]
    fn only_a_move_on_the_table_with_what_it_needs_is_written() {
        for (from, to, authorization, code) in [
            (Processing, Approved, true, true),
            (InDoubt, Approved, true, true),
            (Processing, Declined, false, false),
            (Processing, InDoubt, false, false),
            (Approved, Voided, false, true),
        ] {
            assert_eq!(
                broken_move(from, to, authorization, code),
                None,
                "{from} → {to}"
            );
        }
        for (from, to, authorization, code, why) in [
            (Processing, Approved, false, true, "authorization absent"),
            (
                Processing,
                Approved,
                true,
                false,
                "confirmation code absent",
            ),
            (Processing, Declined, true, false, "authorization present"),
            (Processing, Voided, false, false, "may not move"),
            (Declined, Approved, true, true, "may not move"),
        ] {
            let broken = broken_move(from, to, authorization, code).expect("refused");
            assert!(broken.contains(why), "{from} → {to}: {broken}");
        }
    }

    /// Through a real database: an approval without its authorization is refused before anything
    /// is written, so the payment stays `processing` with no confirmation and no second event,
    /// and the whole approval then goes through.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_refused_decision_writes_nothing_and_the_right_one_goes_through() {
        use super::{Decided, Decision, begin, by_id, decide};
        use crate::admin::{Admin, Operator};
        use crate::clock::Entropy;
        use crate::store::{Store, StoreError, StoreLimits};
        use cip_common::event::EventKind;
        use cip_common::payment::Payment;

        let dir = tempfile::tempdir().expect("a temporary dir");
        let store = Store::open(
            &dir.path().join("cip.db"),
            StoreLimits {
                write_queue: 16,
                max_batch: 4,
                readers: 1,
            },
        )
        .expect("a store");
        Admin {
            store: store.clone(),
            operator: Operator::from_env(),
            entropy: Entropy::seeded(1),
        }
        .load_demo()
        .await
        .expect("the demo's applications and users");
        let mut payment = crate::bench::demo_payment(
            cip_common::payment::payment_id(1_796_338_800_000, 7),
            "refused-then-right".into(),
            1_796_338_800_000,
        );
        let first = payment.clone();
        store
            .write(move |c| begin(c, &first, &[0; 32]).map(|_| ()))
            .await
            .expect("committed as processing");
        payment.status = Approved;
        payment.decided_ms = Some(1_796_338_800_500);
        payment.confirmation_code = Some(cip_common::confirmation::confirmation_code(42));
        let decision = |authorization: Option<&str>| Decision {
            from: Processing,
            authorization: authorization.map(str::to_owned),
            kind: EventKind::PaymentApproved,
            at_ms: 1_796_338_800_500,
            audit: None,
        };
        let (refused, without) = (payment.clone(), decision(None));
        let answer = store.write(move |c| decide(c, &refused, &without)).await;
        assert!(
            matches!(&answer, Err(StoreError::Broken(why)) if why.contains("authorization absent")),
            "{answer:?}"
        );
        let id = payment.id.clone();
        let (stored, events): (Payment, i64) = store
            .read(move |c| {
                let stored = by_id(c, &id)?.expect("the payment");
                let events = c.query_row(
                    "SELECT count(*) FROM events WHERE payment_id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                Ok((stored, events))
            })
            .await
            .expect("read back");
        assert_eq!(stored.status, Processing);
        assert_eq!(stored.confirmation_code, None);
        assert_eq!(events, 1, "only payment.received");

        let (right, with) = (payment.clone(), decision(Some("A1B2C3")));
        let answer = store
            .write(move |c| decide(c, &right, &with))
            .await
            .expect("the approval is written");
        assert!(matches!(answer, Decided::Committed));
        let id = payment.id.clone();
        let stored = store
            .read(move |c| by_id(c, &id))
            .await
            .expect("read back")
            .expect("the payment");
        assert_eq!(stored.status, Approved);
        assert_eq!(stored.confirmation_code, payment.confirmation_code);
    }
}
