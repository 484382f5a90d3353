//! Reading stored rows back into CIP's types, the same for every database: each backend lends
//! its rows through [`Columns`], and the columns come in the order the `*_COLUMNS` lists give.

use super::StoreError;
use super::events::DecisionEvent;
use super::handoffs::Handoff;
use super::notices::Notice;
use super::payments::{ReportLine, SpanLine};
use super::refunds::RefundLine;
use cip_common::ach::AccountType;
use cip_common::card::Brand;
use cip_common::event::{Event, EventDetail, EventKind};
use cip_common::form::MethodKind;
use cip_common::money::{Currency, Money};
use cip_common::payment::{BatchMark, MethodSummary, Mode, Payer, Payment, SearchSort};
use cip_common::refund::{Refund, RefundReason, RefundStatus, RefundTotals};
use cip_common::status::PaymentStatus;

/// A row's columns by position, whichever database it came from.
pub(super) trait Columns {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn number(&self, i: usize) -> Result<Option<i64>, StoreError>;
}

/// A stored value this code does not know: the database was written by something else.
pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

pub(super) fn status(code: &str) -> Result<PaymentStatus, StoreError> {
    PaymentStatus::from_code(code).ok_or_else(|| corrupt("status", code))
}

pub(super) fn currency(code: &str) -> Result<Currency, StoreError> {
    code.parse::<Currency>()
        .map_err(|_| corrupt("currency", code))
}

fn missing(i: usize) -> StoreError {
    StoreError::Corrupt(format!("column {i} is empty where a value belongs"))
}

/// What every row reader needs on top of [`Columns`]: a value that must be there, and the
/// domain's codes read back.
trait Read: Columns {
    fn some_text(&self, i: usize) -> Result<String, StoreError> {
        self.text(i)?.ok_or_else(|| missing(i))
    }

    fn some_number(&self, i: usize) -> Result<i64, StoreError> {
        self.number(i)?.ok_or_else(|| missing(i))
    }

    fn money(&self, minor: usize, code: usize) -> Result<Money, StoreError> {
        let code = currency(&self.some_text(code)?)?;
        Ok(Money::new(self.some_number(minor)?, code))
    }

    fn code<T>(
        &self,
        i: usize,
        what: &str,
        from: impl Fn(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        let code = self.some_text(i)?;
        from(&code).ok_or_else(|| corrupt(what, &code))
    }
}

impl<R: Columns + ?Sized> Read for R {}

fn json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(what, text))
}

fn narrow<T: TryFrom<i64>>(what: &str, value: i64) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| corrupt(what, &value.to_string()))
}

/// A payment with its confirmation and batch, from `p` (payments), `c` (confirmations) and `b`
/// (batches), in the order [`payment`] reads.
pub(super) const PAYMENT_COLUMNS: &str =
    "p.id, p.application_id, p.mode, p.status, p.amount_minor, p.currency,
    p.payer_name, p.payer_email, p.payer_postal_code, p.fields, p.method, p.brand, p.first_six,
    p.exp_month, p.exp_year, p.routing_number, p.account_type, p.last_four, c.code, p.code,
    p.message, p.idempotency_key, p.user_id, p.created_ms, p.decided_ms, p.batch_id, b.transmitted_ms,
    p.refunded_minor, p.refund_pending_minor";

/// Payments with their confirmation and batch, for [`PAYMENT_COLUMNS`].
pub(super) const PAYMENTS_JOINED: &str =
    "payments p LEFT JOIN confirmations c ON c.payment_id = p.id
    LEFT JOIN batches b ON b.id = p.batch_id";

pub(super) fn payment(row: &dyn Columns) -> Result<Payment, StoreError> {
    let method = match row.some_text(10)?.as_str() {
        "card" => MethodSummary::Card {
            brand: row.code(11, "brand", Brand::from_code)?,
            first_six: row.some_text(12)?,
            last_four: row.some_text(17)?,
            exp_month: narrow("expiry month", row.some_number(13)?)?,
            exp_year: narrow("expiry year", row.some_number(14)?)?,
        },
        _ => MethodSummary::Ach {
            routing_number: row.some_text(15)?,
            last_four: row.some_text(17)?,
            account_type: row.code(16, "account type", AccountType::from_code)?,
        },
    };
    Ok(Payment {
        id: row.some_text(0)?,
        application: row.some_text(1)?,
        mode: row.code(2, "mode", Mode::from_code)?,
        status: status(&row.some_text(3)?)?,
        amount: row.money(4, 5)?,
        payer: Payer {
            name: row.some_text(6)?,
            email: row.some_text(7)?,
            postal_code: row.some_text(8)?,
        },
        fields: json("fields", &row.some_text(9)?)?,
        method,
        confirmation_code: row.text(18)?,
        code: row.text(19)?,
        message: row.text(20)?,
        idempotency_key: row.some_text(21)?,
        user: row.some_text(22)?,
        created_ms: row.some_number(23)?,
        decided_ms: row.number(24)?,
        batch: match row.text(25)? {
            Some(id) => Some(BatchMark {
                id,
                transmitted_ms: row.number(26)?,
            }),
            None => None,
        },
        refunds: RefundTotals {
            refunded_minor: row.some_number(27)?,
            pending_minor: row.some_number(28)?,
        },
    })
}

/// How a payment's method is stored: the columns that are not its last four.
pub(super) struct MethodColumns<'a> {
    pub method: &'static str,
    pub brand: Option<&'static str>,
    pub first_six: Option<&'a str>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub routing_number: Option<&'a str>,
    pub account_type: Option<&'static str>,
}

impl MethodColumns<'_> {
    pub(super) fn of(method: &MethodSummary) -> MethodColumns<'_> {
        match method {
            MethodSummary::Card {
                brand,
                first_six,
                exp_month,
                exp_year,
                ..
            } => MethodColumns {
                method: "card",
                brand: Some(brand.code()),
                first_six: Some(first_six),
                exp_month: Some(i64::from(*exp_month)),
                exp_year: Some(i64::from(*exp_year)),
                routing_number: None,
                account_type: None,
            },
            MethodSummary::Ach {
                routing_number,
                account_type,
                ..
            } => MethodColumns {
                method: "ach",
                brand: None,
                first_six: None,
                exp_month: None,
                exp_year: None,
                routing_number: Some(routing_number),
                account_type: Some(account_type.code()),
            },
        }
    }
}

/// Who keyed a payment and its mode are read from the payment itself, where they never change:
/// every payment event, old or new, has them without a copy.
pub(super) const EVENT_COLUMNS: &str =
    "seq, at_ms, kind, application_id, payment_id, status, amount_minor,
    currency, confirmation_code, code, last_four, payer_name, user_id, actor, origin, batch_id,
    payment_count,
    (SELECT p.user_id FROM payments p WHERE p.id = events.payment_id) AS keyed_by,
    (SELECT p.mode FROM payments p WHERE p.id = events.payment_id) AS mode, refund_id";

pub(super) fn event(row: &dyn Columns) -> Result<Event, StoreError> {
    let detail = match (row.text(4)?, row.text(15)?, row.text(19)?) {
        (Some(payment_id), _, Some(refund_id)) => EventDetail::Refund {
            refund_id,
            payment_id,
            status: row.code(5, "refund status", RefundStatus::from_code)?,
            amount: row.money(6, 7)?,
            code: row.text(9)?,
            last_four: row.some_text(10)?,
            payer_name: row.some_text(11)?,
            asked_by: row.some_text(13)?,
        },
        (None, Some(batch_id), _) => EventDetail::Batch {
            batch_id,
            payment_count: narrow("payment count", row.some_number(16)?)?,
            approved: row.money(6, 7)?,
            actor: row.some_text(12)?,
        },
        (Some(payment_id), _, None) => EventDetail::Payment {
            payment_id,
            status: status(&row.some_text(5)?)?,
            amount: row.money(6, 7)?,
            confirmation_code: row.text(8)?,
            code: row.text(9)?,
            last_four: row.some_text(10)?,
            payer_name: row.some_text(11)?,
            keyed_by: row.some_text(17)?,
            mode: row.code(18, "mode", Mode::from_code)?,
        },
        (None, None, _) => EventDetail::Security {
            user: row.some_text(12)?,
            actor: row.text(13)?,
            origin: row.some_text(14)?,
        },
    };
    Ok(Event {
        seq: narrow("seq", row.some_number(0)?)?,
        at_ms: row.some_number(1)?,
        kind: row.code(2, "event kind", EventKind::from_code)?,
        application: row.text(3)?,
        detail,
    })
}

/// A decision's event and its payment's times, as the queue figures read it (`decision`).
pub(super) const DECISION_COLUMNS: &str =
    "e.kind, e.application_id, e.status, e.amount_minor, e.currency, e.at_ms, p.created_ms,
     p.decided_ms";

pub(super) fn decision(row: &dyn Columns) -> Result<DecisionEvent, StoreError> {
    Ok(DecisionEvent {
        kind: row.code(0, "event kind", EventKind::from_code)?,
        application: row.some_text(1)?,
        status: status(&row.some_text(2)?)?,
        amount: row.money(3, 4)?,
        at_ms: row.some_number(5)?,
        received_ms: row.some_number(6)?,
        decided_ms: row.some_number(7)?,
    })
}

pub(super) const HANDOFF_COLUMNS: &str =
    "id, application_id, user_id, amount_minor, currency, fields, payer, return_url,
     link_used_ms, created_ms, expires_ms";

pub(super) fn handoff(row: &dyn Columns) -> Result<Handoff, StoreError> {
    Ok(Handoff {
        id: row.some_text(0)?,
        application: row.some_text(1)?,
        user: row.some_text(2)?,
        amount_minor: row.some_number(3)?,
        currency: currency(&row.some_text(4)?)?,
        fields: json("hand-off fields", &row.some_text(5)?)?,
        payer: json("hand-off payer", &row.some_text(6)?)?,
        return_url: row.some_text(7)?,
        link_used_ms: row.number(8)?,
        created_ms: row.some_number(9)?,
        expires_ms: row.some_number(10)?,
    })
}

/// `status, method, count, sum of amounts, count reported`, grouped by status and method.
pub(super) fn span_line(row: &dyn Columns) -> Result<SpanLine, StoreError> {
    Ok(SpanLine {
        status: status(&row.some_text(0)?)?,
        method: match row.some_text(1)?.as_str() {
            "card" => MethodKind::Card,
            "ach" => MethodKind::Ach,
            other => return Err(corrupt("method", other)),
        },
        count: narrow("count", row.some_number(2)?)?,
        minor: row.some_number(3)?,
        reported: narrow("count", row.some_number(4)?)?,
    })
}

/// What a [`Selection`](super::payments::Selection) asks of [`PAYMENTS_JOINED`], its values
/// ([`Bound`](super::payments::Bound)) at placeholders 1 to 13; `at(n, type)` writes a store's
/// placeholder `n` of SQL type `type`.
pub(super) fn selected_where(at: fn(usize, &str) -> String) -> String {
    let [
        application,
        low,
        high,
        status,
        mode,
        refunded,
        code,
        id,
        last_four,
        payer,
        min,
        max,
        batch,
    ] = [
        (1, "text"),
        (2, "text"),
        (3, "text"),
        (4, "text"),
        (5, "text"),
        (6, "bigint"),
        (7, "text"),
        (8, "text"),
        (9, "text"),
        (10, "text"),
        (11, "bigint"),
        (12, "bigint"),
        (13, "text"),
    ]
    .map(|(n, kind)| at(n, kind));
    format!(
        "p.application_id = {application} AND p.id > {low} AND p.id < {high}
         AND ({status} IS NULL OR p.status = {status})
         AND ({mode} IS NULL OR p.mode = {mode})
         AND ({refunded} IS NULL OR p.refunded_minor > 0)
         AND ({code} IS NULL OR c.code = {code})
         AND ({id} IS NULL OR p.id = {id})
         AND ({last_four} IS NULL OR p.last_four = {last_four})
         AND ({payer} IS NULL OR lower(p.payer_name) LIKE {payer} ESCAPE '\\'
              OR lower(p.payer_email) LIKE {payer} ESCAPE '\\')
         AND ({min} IS NULL OR p.amount_minor >= {min})
         AND ({max} IS NULL OR p.amount_minor <= {max})
         AND ({batch} IS NULL OR p.batch_id = {batch})"
    )
}

/// A search's `ORDER BY` over [`PAYMENTS_JOINED`]; the id breaks ties, so pages never overlap.
pub(super) fn search_order(sort: SearchSort) -> &'static str {
    match sort {
        SearchSort::Newest => "p.id DESC",
        SearchSort::Oldest => "p.id",
        SearchSort::AmountHighest => "p.amount_minor DESC, p.id DESC",
        SearchSort::AmountLowest => "p.amount_minor, p.id DESC",
    }
}

/// A page read with one payment more than it holds, and whether more follow.
pub(super) fn page(mut payments: Vec<Payment>, page_size: u32) -> (Vec<Payment>, bool) {
    let more = payments.len() > page_size as usize;
    payments.truncate(page_size as usize);
    (payments, more)
}

/// A refund from `r` (refunds), in the order [`refund`] reads.
pub(super) const REFUND_COLUMNS: &str = "r.id, r.payment_id, r.application_id, r.amount_minor,
    r.currency, r.reason, r.note, r.status, r.code, r.idempotency_key, r.asked_by, r.created_ms,
    r.decided_ms, r.batch_id";

/// How many columns [`PAYMENT_COLUMNS`] reads: a joined row's next columns start here.
pub(super) const PAYMENT_COLUMN_COUNT: usize = 29;

/// A row's columns from `start` on, for a reader of a table joined after another.
pub(super) struct After<'a>(pub &'a dyn Columns, pub usize);

impl Columns for After<'_> {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.0.text(self.1 + i)
    }

    fn number(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.0.number(self.1 + i)
    }
}

pub(super) fn refund(row: &dyn Columns) -> Result<Refund, StoreError> {
    Ok(Refund {
        id: row.some_text(0)?,
        payment_id: row.some_text(1)?,
        application: row.some_text(2)?,
        amount: row.money(3, 4)?,
        reason: row.code(5, "refund reason", RefundReason::from_code)?,
        note: row.some_text(6)?,
        status: row.code(7, "refund status", RefundStatus::from_code)?,
        code: row.text(8)?,
        idempotency_key: row.some_text(9)?,
        asked_by: row.some_text(10)?,
        created_ms: row.some_number(11)?,
        decided_ms: row.number(12)?,
        batch_id: row.text(13)?,
    })
}

/// A refund joined after its payment ([`PAYMENT_COLUMNS`], then [`REFUND_COLUMNS`]), and it.
pub(super) fn refund_and_payment(row: &dyn Columns) -> Result<(Refund, Payment), StoreError> {
    Ok((refund(&After(row, PAYMENT_COLUMN_COUNT))?, payment(row)?))
}

pub(super) fn refund_notice(row: &dyn Columns) -> Result<Notice, StoreError> {
    let (refund, payment) = refund_and_payment(row)?;
    Ok(Notice::Refunded {
        refund: Box::new(refund),
        payment,
    })
}

pub(super) fn refund_with_payment(row: &dyn Columns) -> Result<ReportLine, StoreError> {
    let (refund, payment) = refund_and_payment(row)?;
    Ok(ReportLine::Refund(Box::new(refund), payment))
}

/// Report lines from payments each left-joined with one of its refunds, in the order of the
/// payment's id: a payment's line once, before the lines of its refunds.
#[derive(Default)]
pub(super) struct ReportLines {
    last: String,
}

impl ReportLines {
    pub(super) fn read(
        &mut self,
        row: &dyn Columns,
    ) -> Result<[Option<ReportLine>; 2], StoreError> {
        if row.text(PAYMENT_COLUMN_COUNT)?.is_none() {
            return Ok([Some(ReportLine::Payment(payment(row)?)), None]);
        }
        let (refund, payment) = refund_and_payment(row)?;
        let first = (payment.id != self.last).then(|| {
            self.last.clone_from(&payment.id);
            ReportLine::Payment(payment.clone())
        });
        Ok([first, Some(ReportLine::Refund(Box::new(refund), payment))])
    }
}

/// `status, currency, count, sum` of refunds, as [`refund_line`] reads.
pub(super) fn refund_line(row: &dyn Columns) -> Result<RefundLine, StoreError> {
    Ok(RefundLine {
        status: row.code(0, "refund status", RefundStatus::from_code)?,
        currency: currency(&row.some_text(1)?)?,
        count: narrow("count", row.some_number(2)?)?,
        minor: row.some_number(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joined_row_s_next_columns_start_after_every_payment_column() {
        assert_eq!(PAYMENT_COLUMNS.split(',').count(), PAYMENT_COLUMN_COUNT);
    }
}
