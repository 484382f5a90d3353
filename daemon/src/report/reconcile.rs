//! Reconciliation: an application's payments created on one local day, counted and totalled by
//! status and method, with every one still unsettled, and the refunds decided that day, for
//! `cipd report reconcile` and the console's reports view.

use crate::store::{Store, StoreError};
use cip_common::calendar;
use cip_common::form::ApplicationSpec;
use cip_common::money::Money;
use cip_common::report::{Reconciliation, ReconciliationLine, RefundReconciliationLine};
use jiff::civil::Date;
use std::fmt::Write;

pub async fn reconcile(
    store: &Store,
    spec: &ApplicationSpec,
    day: Date,
) -> Result<Reconciliation, StoreError> {
    let (from_ms, to_ms) = calendar::day_bounds_ms(&spec.zone(), day);
    let lines = store.span_lines(&spec.id, from_ms, to_ms).await?;
    let unsettled = store.unsettled_in_span(&spec.id, from_ms, to_ms).await?;
    let refunds = store
        .refund_lines(std::slice::from_ref(&spec.id), from_ms, to_ms)
        .await?;
    Ok(Reconciliation {
        application: spec.id.clone(),
        day,
        time_zone: spec.time_zone.clone(),
        reported: lines.iter().map(|l| l.reported).sum(),
        unreported: lines.iter().map(|l| l.count - l.reported).sum(),
        lines: lines
            .into_iter()
            .map(|l| ReconciliationLine {
                status: l.status,
                method: l.method,
                count: l.count,
                total: Money::new(l.minor, spec.currency),
            })
            .collect(),
        unsettled,
        refunds: refunds
            .into_iter()
            .map(|l| RefundReconciliationLine {
                status: l.status,
                count: l.count,
                total: Money::new(-l.minor, l.currency),
            })
            .collect(),
    })
}

/// The reconciliation as a plain-text table.
pub fn render(r: &Reconciliation) -> String {
    let mut text = format!(
        "{} on {} ({})\n\n{:<10} {:<6} {:>8} {:>16}\n",
        r.application, r.day, r.time_zone, "status", "method", "payments", "total"
    );
    for line in &r.lines {
        let _ = writeln!(
            text,
            "{:<10} {:<6} {:>8} {:>16}",
            line.status.code(),
            line.method.code(),
            line.count,
            format!(
                "{} {}",
                line.total.plain_decimal(),
                line.total.currency.code()
            )
        );
    }
    let count: u64 = r.lines.iter().map(|l| l.count).sum();
    let _ = writeln!(text, "{:<17} {count:>8}", "all");
    for line in &r.refunds {
        let _ = writeln!(
            text,
            "{:<10} {:<6} {:>8} {:>16}",
            line.status.code(),
            "refund",
            line.count,
            format!(
                "{} {}",
                line.total.plain_decimal(),
                line.total.currency.code()
            )
        );
    }
    if let Some(net) = r.net() {
        let _ = writeln!(
            text,
            "net (approved less refunded): {} {}",
            net.plain_decimal(),
            net.currency.code()
        );
    }
    let _ = writeln!(
        text,
        "\nreported to the agency: {}; not yet: {}",
        r.reported, r.unreported
    );
    match r.unsettled.len() {
        0 => text.push_str("no payment of this day is in doubt\n"),
        n => {
            let _ = writeln!(text, "{n} not settled (resolve them from the queue):");
            for p in &r.unsettled {
                let _ = writeln!(
                    text,
                    "  {} {:<10} {:>12} {} {}",
                    p.id,
                    p.status.code(),
                    p.amount.plain_decimal(),
                    p.payer.name,
                    p.method.last_four()
                );
            }
        }
    }
    text
}
