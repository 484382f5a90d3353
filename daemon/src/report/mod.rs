//! Payment data for agency staff: CSV exports of one application's payments and refunds, streamed
//! row by row (`batch` sends them to the agency's outbox, `schedule` runs that daily,
//! `reconcile` sums a day).
//!
//! Columns, in this order (one column per application field sits between `payer_name` and
//! `brand`, named `field:<name>`):
//! `type, payment_id, refund_id, confirmation_code, application, mode, status, code, amount, fee,
//! total, currency, payer_name, field:…, brand, last_four, created, decided, user, batch_id,
//! refunded, refundable, refund_state, refund_reason, refund_note`.
//!
//! A row's `type` is `payment` or `refund`. A payment's row gives what its refunds came to when
//! the file was written (`refunded`, what it may still give back, and `none`, `partial` or
//! `full`). A refund's row names its payment and carries the payer, fields and card of it, with
//! its own status (`pending`, `succeeded`, `failed`), processor code, times, who asked, batch,
//! reason and note; its `amount` and `total` are negative, what went back to the payer.
//! Amounts are decimal in the currency's units (`1234.50`, `-20.00`), plain numbers a
//! spreadsheet sums; CIP charges no fee yet, so `fee` is 0 and `total` equals `amount`; times
//! are UTC, RFC 3339; `batch_id` is empty until a batch report takes the row.

pub mod batch;
pub mod reconcile;
pub mod schedule;

use crate::clock::Clock;
use crate::store::accounts::AuditEntry;
use crate::store::payments::{ReportLine, Selection};
use crate::store::{Store, StoreError};
use cip_common::calendar;
use cip_common::confirmation;
use cip_common::form::ApplicationSpec;
use cip_common::money::Money;
use cip_common::payment::{MethodSummary, normalize_payment_id};
use cip_common::report::{ExportPart, Reconciliation, ReportFilter};
use std::io::Write;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Who runs a report (an export or a batch) and from where, for its audit entry and events.
#[derive(Clone, Debug)]
pub struct Runner {
    pub actor: String,
    pub origin: String,
}

/// Exports and reconciliation, for every adapter and the operator's commands; every export is
/// audited here, so no two callers write its audit entry differently.
#[derive(Clone)]
pub struct Reports {
    store: Store,
    clock: Arc<dyn Clock>,
}

const BEFORE_FIELDS: [&str; 13] = [
    "type",
    "payment_id",
    "refund_id",
    "confirmation_code",
    "application",
    "mode",
    "status",
    "code",
    "amount",
    "fee",
    "total",
    "currency",
    "payer_name",
];
const AFTER_FIELDS: [&str; 11] = [
    "brand",
    "last_four",
    "created",
    "decided",
    "user",
    "batch_id",
    "refunded",
    "refundable",
    "refund_state",
    "refund_reason",
    "refund_note",
];

/// A cell a spreadsheet would run as a formula is written with a leading `'`; a plain number
/// (`-20.00`) is no formula, and stays a number.
fn neutralized(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if !is_plain_number(cell) => {
            format!("'{cell}").into()
        }
        _ => cell.into(),
    }
}

/// Digits, perhaps after a minus sign, with perhaps a decimal point between digits.
fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    [whole, fraction]
        .iter()
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

/// The cells of a payment's row, or of a refund's, in the order of the header.
fn record(spec: &ApplicationSpec, line: &ReportLine) -> Vec<String> {
    let (p, refund) = match line {
        ReportLine::Payment(p) => (p, None),
        ReportLine::Refund(r, p) => (p, Some(r)),
    };
    let brand = match &p.method {
        MethodSummary::Card { brand, .. } => brand.code().to_owned(),
        MethodSummary::Ach { .. } => "ach".to_owned(),
    };
    let amount = refund
        .map_or(p.amount, |r| Money::new(-r.amount.minor, r.amount.currency))
        .plain_decimal();
    let mut record: Vec<String> = vec![
        refund.map_or("payment", |_| "refund").to_owned(),
        p.id.clone(),
        refund.map(|r| r.id.clone()).unwrap_or_default(),
        p.confirmation_code.clone().unwrap_or_default(),
        p.application.clone(),
        p.mode.code().to_owned(),
        refund
            .map_or(p.status.code(), |r| r.status.code())
            .to_owned(),
        refund
            .map_or(&p.code, |r| &r.code)
            .clone()
            .unwrap_or_default(),
        amount.clone(),
        Money::new(0, p.amount.currency).plain_decimal(),
        amount,
        p.amount.currency.code().to_owned(),
        p.payer.name.clone(),
    ];
    record.extend(
        spec.fields
            .iter()
            .map(|f| p.fields.get(&f.name).cloned().unwrap_or_default()),
    );
    record.extend([brand, p.method.last_four().to_owned()]);
    match refund {
        None => record.extend([
            rfc3339(p.created_ms),
            p.decided_ms.map(rfc3339).unwrap_or_default(),
            p.user.clone(),
            p.batch.as_ref().map(|b| b.id.clone()).unwrap_or_default(),
            p.refunded().plain_decimal(),
            p.refundable().plain_decimal(),
            p.refund_state().code().to_owned(),
            String::new(),
            String::new(),
        ]),
        Some(r) => record.extend([
            rfc3339(r.created_ms),
            r.decided_ms.map(rfc3339).unwrap_or_default(),
            r.asked_by.clone(),
            r.batch_id.clone().unwrap_or_default(),
            String::new(),
            String::new(),
            String::new(),
            r.reason.code().to_owned(),
            r.note.clone(),
        ]),
    }
    record
}

/// Writes `lines` of `spec`'s application as CSV to `out`, one row at a time, the header first
/// when `header`; returns how many rows. Each line is first shown to `take` with the most bytes
/// its row can come to (CSV quoted, then escaped in a JSON string); a break leaves it and the
/// rest out.
pub fn export_csv(
    spec: &ApplicationSpec,
    header: bool,
    lines: impl Iterator<Item = Result<ReportLine, StoreError>>,
    out: impl Write,
    mut take: impl FnMut(&ReportLine, usize) -> ControlFlow<()>,
) -> Result<u64, StoreError> {
    let io = |e: csv::Error| StoreError::Corrupt(format!("the export could not be written: {e}"));
    let mut csv = csv::Writer::from_writer(out);
    if header {
        let field_headers = spec.fields.iter().map(|f| format!("field:{}", f.name));
        csv.write_record(
            BEFORE_FIELDS
                .iter()
                .map(|s| s.to_string())
                .chain(field_headers)
                .chain(AFTER_FIELDS.iter().map(|s| s.to_string())),
        )
        .map_err(io)?;
    }
    let mut rows = 0;
    for line in lines {
        let line = line?;
        let record = record(spec, &line);
        let most_bytes = record.iter().map(|cell| 6 * cell.len() + 8).sum();
        if take(&line, most_bytes).is_break() {
            break;
        }
        csv.write_record(record.iter().map(|cell| neutralized(cell).into_owned()))
            .map_err(io)?;
        rows += 1;
    }
    csv.flush()
        .map_err(|e| StoreError::Corrupt(format!("the export could not be written: {e}")))?;
    Ok(rows)
}

impl Reports {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Reports {
        Reports { store, clock }
    }

    /// The audit entry of an export `runner` asked for; `object` says what it took.
    fn audited(&self, runner: &Runner, object: String) -> AuditEntry {
        AuditEntry {
            at_ms: self.clock.now_ms(),
            actor: runner.actor.clone(),
            action: "payments.export",
            success: true,
            origin: runner.origin.clone(),
            object,
        }
    }

    /// Writes the payments `filter` takes as CSV to `out` on a reader connection, then audits it
    /// as `runner`'s, with the selection and the row count.
    pub async fn export(
        &self,
        spec: ApplicationSpec,
        filter: &ReportFilter,
        out: Box<dyn Write + Send>,
        runner: &Runner,
    ) -> Result<u64, StoreError> {
        let selection = selection(&spec, filter);
        let chosen = format!("application:{} {selection:?}", spec.id);
        let rows = self
            .store
            .with_selected(selection, move |lines| {
                export_csv(&spec, true, lines, out, |_, _| ControlFlow::Continue(()))
            })
            .await??;
        let entry = self.audited(runner, format!("{chosen} rows:{rows}"));
        self.store.audit(&entry).await?;
        Ok(rows)
    }

    /// The part of the export `filter` takes after the payment `after` (from the start, header
    /// first, when `None`), at most `max_bytes` once in a JSON string (and at least one row); the
    /// first part is audited as `runner`'s.
    pub async fn export_part(
        &self,
        spec: ApplicationSpec,
        filter: &ReportFilter,
        after: Option<String>,
        max_bytes: usize,
        runner: &Runner,
    ) -> Result<ExportPart, StoreError> {
        let first = after.is_none();
        let selection = Selection {
            after,
            ..selection(&spec, filter)
        };
        let (csv, rows, last, more) = self
            .store
            .with_selected(selection, move |lines| {
                let (mut csv, mut last, mut left, mut more) = (Vec::new(), None, max_bytes, false);
                let rows = export_csv(&spec, first, lines, &mut csv, |line, bytes| {
                    // A part ends before a payment, never between it and its refunds.
                    if let ReportLine::Payment(p) = line {
                        if bytes > left && last.is_some() {
                            more = true;
                            return ControlFlow::Break(());
                        }
                        last = Some(p.id.clone());
                    }
                    left = left.saturating_sub(bytes);
                    ControlFlow::Continue(())
                })?;
                Ok::<_, StoreError>((csv, rows, last, more))
            })
            .await??;
        if first {
            let entry = self.audited(
                runner,
                format!("application:{} {filter:?} in parts", filter.application),
            );
            self.store.audit(&entry).await?;
        }
        Ok(ExportPart {
            csv: String::from_utf8(csv).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            rows: u32::try_from(rows).unwrap_or(u32::MAX),
            next_after: last.filter(|_| more),
        })
    }

    /// The application's counts and totals of its local `day` (see [`reconcile`]).
    pub async fn reconcile(
        &self,
        spec: &ApplicationSpec,
        day: jiff::civil::Date,
    ) -> Result<Reconciliation, StoreError> {
        reconcile::reconcile(&self.store, spec, day).await
    }
}

/// The payments `filter` takes, its days in the application's time zone.
/// What `filter` takes, in the store's terms: local times become instants in the application's
/// zone, and a confirmation code or payment id as typed becomes the one stored.
pub fn selection(spec: &ApplicationSpec, filter: &ReportFilter) -> Selection {
    let zone = spec.zone();
    let from_ms = filter.from.map(|day| match filter.from_at {
        Some(at) => calendar::minute_start_ms(&zone, day, at),
        None => calendar::day_start_ms(&zone, day),
    });
    // Up to and including the minute `to_at`, or the whole day.
    let to_ms = filter.to.map(|day| match filter.to_at {
        Some(at) => calendar::minute_start_ms(&zone, day, at) + 60_000,
        None => calendar::day_bounds_ms(&zone, day).1,
    });
    let typed = |text: &Option<String>, normal: fn(&str) -> Option<String>| {
        text.as_deref()
            .map(|t| normal(t).unwrap_or_else(|| t.trim().to_owned()))
    };
    Selection {
        application: filter.application.clone(),
        from_ms,
        to_ms,
        status: filter.status,
        mode: filter.mode,
        refunded: filter.refunded,
        confirmation_code: typed(&filter.confirmation_code, confirmation::normalize),
        payment_id: typed(&filter.payment_id, normalize_payment_id),
        last_four: filter.last_four.as_ref().map(|l| l.trim().to_owned()),
        payer: filter.payer.as_ref().map(|p| p.trim().to_owned()),
        min_amount_minor: filter.min_amount_minor,
        max_amount_minor: filter.max_amount_minor,
        reported_in: filter.batch.as_ref().map(|b| b.trim().to_owned()),
        ..Selection::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_a_spreadsheet_would_run_is_defused() {
        for cell in ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"] {
            assert!(neutralized(cell).starts_with('\''), "{cell:?}");
        }
        assert_eq!(
            neutralized("Ada, \"the\" Countess"),
            "Ada, \"the\" Countess"
        );
    }

    #[test]
    fn a_negative_amount_stays_a_number_a_spreadsheet_sums() {
        for cell in ["-20.00", "-0.50", "-7", "12.34"] {
            assert_eq!(neutralized(cell), cell);
        }
        for cell in ["-", "-.5", "-5.", "-1-1", "-2+3", "-1.2.3", "-1e5"] {
            assert!(neutralized(cell).starts_with('\''), "{cell:?}");
        }
    }
}
