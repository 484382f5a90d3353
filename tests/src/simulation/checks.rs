//! What must hold at the end of every simulated run, whatever its seed did: every answer CIP gave
//! an agent (heard, or lost on the way) is still true of the stored payment; a key has one payment; every payment reached an
//! outcome through allowed moves, each with its event; CIP sent each payment to the processor at
//! most once, and the processor's books and CIP's agree on every charge, decline, void and
//! reversal, so nothing is charged that CIP calls failed; every refund is decided, as its answers
//! said, once in the processor's books as in CIP's, and a payment's refunds never pass what was
//! paid; SQLite finds the database whole; and no card data was written.

use super::{Answer, World};
use cip_common::error::ApiError;
use cip_common::refund::RefundStatus;
use cip_common::status::PaymentStatus;
use cip_daemon::engine::LATE_APPROVAL_VOIDED_CODE;
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;

/// A payment as CIP stored it.
struct Stored {
    key: String,
    status: PaymentStatus,
    amount_minor: i64,
    code: Option<String>,
    confirmation_code: Option<String>,
    authorization: Option<String>,
}

/// What the processor's books say of one reference.
#[derive(Default)]
struct Booked {
    amount_minor: Option<i64>,
    approved: Vec<String>,
    declined: Vec<String>,
    voided: bool,
    reversed: bool,
}

impl Booked {
    /// Whether the processor holds a charge for the reference.
    fn charged(&self) -> bool {
        !self.approved.is_empty() && !self.voided && !self.reversed
    }
}

pub(super) fn check(world: &World) -> Result<(), String> {
    let db = Connection::open_with_flags(world.db(), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if integrity != "ok" {
        return Err(format!("SQLite finds the database damaged: {integrity}"));
    }
    let stored = stored(&db).map_err(|e| e.to_string())?;
    answers_hold(world, &stored)?;
    moves_allowed(&db, &stored)?;
    late_approvals_said(&db, &stored)?;
    books_agree(world, &stored)?;
    refunds_agree(world, &db, &stored)?;
    let sent: Vec<String> = world
        .agents
        .iter()
        .flat_map(|a| &a.work)
        .flat_map(|w| crate::secrets_of(&w.request))
        .collect();
    crate::card_data_in(&world.dir, &sent).map(|_| ())
}

fn stored(db: &Connection) -> rusqlite::Result<BTreeMap<String, Stored>> {
    let mut statement = db.prepare(
        "SELECT p.id, p.idempotency_key, p.status, p.amount_minor, p.code, c.code,
                c.processor_authorization
         FROM payments p LEFT JOIN confirmations c ON c.payment_id = p.id",
    )?;
    let rows = statement.query_map([], |r| {
        let status: String = r.get(2)?;
        Ok((
            r.get(0)?,
            Stored {
                key: r.get(1)?,
                status: PaymentStatus::from_code(&status).expect("a known status"),
                amount_minor: r.get(3)?,
                code: r.get(4)?,
                confirmation_code: r.get(5)?,
                authorization: r.get(6)?,
            },
        ))
    })?;
    rows.collect()
}

/// Whether a payment told `from` may since have become `to`.
fn may_become(from: PaymentStatus, to: PaymentStatus) -> bool {
    from == to
        || PaymentStatus::ALL
            .iter()
            .any(|&next| from.can_become(next) && may_become(next, to))
}

/// Every answer CIP gave is still true, every payment reached its outcome, and a key has exactly
/// one payment (none for a request refused for its fields).
fn answers_hold(world: &World, stored: &BTreeMap<String, Stored>) -> Result<(), String> {
    for work in world.agents.iter().flat_map(|a| &a.work) {
        let key = &work.key;
        let mine: Vec<(&String, &Stored)> = stored.iter().filter(|(_, p)| p.key == *key).collect();
        if !work.finished() {
            return Err(format!("{key} never got an outcome: {:?}", work.answers));
        }
        let refused_fields = work
            .answers
            .iter()
            .any(|a| matches!(a, Answer::Refused(ApiError::Fields(_))));
        match (mine.as_slice(), refused_fields) {
            ([], true) => continue,
            ([_], false) => {}
            (found, _) => {
                return Err(format!(
                    "{key} has {} payments after answers {:?}",
                    found.len(),
                    work.answers
                ));
            }
        }
        let (id, payment) = mine[0];
        if !payment.status.is_decided() {
            return Err(format!("{id} ({key}) is left {}", payment.status));
        }
        for answer in work.answers.iter().chain(&work.unheard) {
            match answer {
                Answer::Payment {
                    id: told,
                    status,
                    confirmation_code,
                } => {
                    if *status == PaymentStatus::Processing {
                        return Err(format!(
                            "{key} was answered while {id} was still processing"
                        ));
                    }
                    if told != id {
                        return Err(format!(
                            "{key} was answered with {told}, but its payment is {id}"
                        ));
                    }
                    if !may_become(*status, payment.status) {
                        return Err(format!(
                            "{id} was told {status} and is stored {}",
                            payment.status
                        ));
                    }
                    if confirmation_code.is_some()
                        && *confirmation_code != payment.confirmation_code
                    {
                        return Err(format!(
                            "{id} was told confirmation {confirmation_code:?}, stored {:?}",
                            payment.confirmation_code
                        ));
                    }
                }
                Answer::Refused(ApiError::Unavailable { .. }) => {}
                Answer::Refused(e) => {
                    return Err(format!(
                        "{key} was refused although its payment was taken: {e}"
                    ));
                }
            }
        }
    }
    for (id, payment) in stored {
        // A void the engine answered is done; one cut short (a crash, a processor that did not
        // answer) is carried to its end by a sweep; none happens unasked.
        let is_voided = payment.status == PaymentStatus::Voided;
        if world.voided.contains(id) && !is_voided {
            return Err(format!(
                "{id} is {} but the supervisor's void succeeded",
                payment.status
            ));
        }
        if is_voided && !world.void_asked.contains(id) {
            return Err(format!("{id} is voided but no supervisor asked"));
        }
    }
    Ok(())
}

/// Each payment's events, in commit order, start at `processing` and follow allowed moves to
/// where it is.
fn moves_allowed(db: &Connection, stored: &BTreeMap<String, Stored>) -> Result<(), String> {
    let mut moves: BTreeMap<String, Vec<PaymentStatus>> = BTreeMap::new();
    let mut statement = db
        .prepare(
            "SELECT payment_id, status FROM events
             WHERE payment_id IS NOT NULL AND refund_id IS NULL
               AND kind NOT LIKE 'payment.late_approval%'
             ORDER BY seq",
        )
        .map_err(|e| e.to_string())?;
    let rows = statement
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(|e| e.to_string())?;
    for row in rows {
        let (id, status) = row.map_err(|e| e.to_string())?;
        let status = PaymentStatus::from_code(&status).ok_or("an event of unknown status")?;
        moves.entry(id).or_default().push(status);
    }
    for (id, payment) in stored {
        let path = moves.get(id).map(Vec::as_slice).unwrap_or_default();
        let allowed = path.first() == Some(&PaymentStatus::Processing)
            && path.windows(2).all(|w| w[0].can_become(w[1]))
            && path.last() == Some(&payment.status);
        if !allowed {
            return Err(format!("{id} is {} after events {path:?}", payment.status));
        }
    }
    Ok(())
}

/// A late approval CIP voided is in the feed (found, then voided) and in the audit log.
fn late_approvals_said(db: &Connection, stored: &BTreeMap<String, Stored>) -> Result<(), String> {
    for (id, payment) in stored {
        if payment.code.as_deref() != Some(LATE_APPROVAL_VOIDED_CODE) {
            continue;
        }
        let kinds: Vec<String> = db
            .prepare("SELECT kind FROM events WHERE payment_id = ?1 AND kind LIKE 'payment.late_approval%' ORDER BY seq")
            .and_then(|mut s| s.query_map([id], |r| r.get(0))?.collect())
            .map_err(|e| e.to_string())?;
        if kinds != ["payment.late_approval", "payment.late_approval_voided"] {
            return Err(format!("{id}'s late approval is in the feed as {kinds:?}"));
        }
        let audited: i64 = db
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'payment.late_approval_voided' AND object = ?1",
                [format!("payment:{id}")],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        if audited != 1 {
            return Err(format!(
                "{id}'s late approval was voided {audited} times in the audit log"
            ));
        }
    }
    Ok(())
}

/// CIP sent each payment at most once, and the processor's books agree with CIP's on every
/// reference: charged once if approved, declined if declined, nothing for a failure, voided if
/// voided, and nothing CIP does not know.
fn books_agree(world: &World, stored: &BTreeMap<String, Stored>) -> Result<(), String> {
    for (reference, times) in &world.network().sent {
        if *times > 1 {
            return Err(format!(
                "CIP sent {reference} to the processor {times} times"
            ));
        }
        if !stored.contains_key(reference) {
            return Err(format!("CIP sent {reference}, which it has no payment for"));
        }
    }
    let ledger = std::fs::read_to_string(world.ledger()).unwrap_or_default();
    let mut books: BTreeMap<&str, Booked> = BTreeMap::new();
    for line in ledger.lines() {
        match line.split('\t').collect::<Vec<_>>().as_slice() {
            ["authorize", reference, amount, _, result, detail, ..] => {
                let booked = books.entry(reference).or_default();
                booked.amount_minor = amount.parse().ok();
                match *result {
                    "approved" => booked.approved.push((*detail).to_owned()),
                    "declined" => booked.declined.push((*detail).to_owned()),
                    _ => {}
                }
            }
            ["void", reference, ..] => books.entry(reference).or_default().voided = true,
            ["reverse", reference, ..] => books.entry(reference).or_default().reversed = true,
            // Refunds are `refunds_agree`'s.
            ["refund", ..] => {}
            _ => {
                return Err(format!(
                    "the processor's ledger has a line it cannot read: {line}"
                ));
            }
        }
    }
    for (reference, booked) in &books {
        let Some(payment) = stored.get(*reference) else {
            return Err(format!(
                "the processor booked {reference}, which CIP has no payment for"
            ));
        };
        if booked.approved.len() + booked.declined.len() > 1 {
            return Err(format!("the processor decided {reference} more than once"));
        }
        if booked
            .amount_minor
            .is_some_and(|a| a != payment.amount_minor)
        {
            return Err(format!(
                "the processor booked {reference} for another amount"
            ));
        }
    }
    let none = Booked::default();
    let breaks_reversals = world.network().breaks_reversals;
    for (id, payment) in stored {
        let booked = books.get(id.as_str()).unwrap_or(&none);
        let agrees = match payment.status {
            PaymentStatus::Approved | PaymentStatus::Voided => {
                payment.authorization.is_some()
                    && booked.approved.first() == payment.authorization.as_ref()
                    && booked.voided == (payment.status == PaymentStatus::Voided)
                    && !booked.reversed
            }
            PaymentStatus::Declined => {
                payment.code.is_some() && booked.declined.first() == payment.code.as_ref()
            }
            // Nothing charged: never approved, or reversed; an approval that turned up after
            // the reversal (a processor breaking its word) is voided and said so, and only such
            // a processor decides anything after a reversal.
            _ => {
                (booked.declined.is_empty() || breaks_reversals)
                    && !booked.charged()
                    && (booked.approved.is_empty()
                        || booked.reversed
                        || payment.code.as_deref() == Some(LATE_APPROVAL_VOIDED_CODE))
            }
        };
        if !agrees {
            return Err(format!(
                "{id} is {} ({:?}) in CIP; the processor booked approvals {:?}, declines {:?}, voided {}, reversed {}",
                payment.status,
                payment.code,
                booked.approved,
                booked.declined,
                booked.voided,
                booked.reversed
            ));
        }
    }
    Ok(())
}

/// A refund as CIP stored it.
#[derive(Debug)]
struct StoredRefund {
    key: String,
    payment_id: String,
    status: RefundStatus,
    amount_minor: i64,
    code: Option<String>,
}

/// Every refund is decided; every answer a supervisor got is still true of it; each is in the
/// processor's books once, as CIP has it; and what a payment says was refunded is the sum of
/// its refunds that succeeded, never more than it was paid, nothing still held.
fn refunds_agree(
    world: &World,
    db: &Connection,
    stored: &BTreeMap<String, Stored>,
) -> Result<(), String> {
    let refunds: BTreeMap<String, StoredRefund> = db
        .prepare("SELECT id, idempotency_key, payment_id, status, amount_minor, code FROM refunds")
        .and_then(|mut s| {
            s.query_map([], |r| {
                let status: String = r.get(3)?;
                Ok((
                    r.get(0)?,
                    StoredRefund {
                        key: r.get(1)?,
                        payment_id: r.get(2)?,
                        status: RefundStatus::from_code(&status).expect("a known status"),
                        amount_minor: r.get(4)?,
                        code: r.get(5)?,
                    },
                ))
            })?
            .collect()
        })
        .map_err(|e| e.to_string())?;
    for ask in &world.refunds {
        let mine: Vec<_> = refunds.iter().filter(|(_, r)| r.key == ask.key).collect();
        if mine.len() > 1 {
            return Err(format!("{} has {} refunds", ask.key, mine.len()));
        }
        for answer in &ask.answers {
            let Ok(told) = answer else { continue };
            let Some((id, refund)) = mine.first() else {
                return Err(format!(
                    "{} was answered {told:?} but has no refund",
                    ask.key
                ));
            };
            let still_true = told.id == **id
                && told.payment_id == ask.payment_id
                && told.amount.minor == refund.amount_minor
                && (told.status == RefundStatus::Pending || told.status == refund.status);
            if !still_true {
                return Err(format!(
                    "{} was told {told:?}; CIP has {id} {refund:?}",
                    ask.key
                ));
            }
        }
    }
    let ledger = std::fs::read_to_string(world.ledger()).unwrap_or_default();
    let mut booked: BTreeMap<&str, (i64, &str, &str)> = BTreeMap::new();
    for line in ledger.lines() {
        if let ["refund", reference, amount, _, result, _, code] =
            line.split('\t').collect::<Vec<_>>().as_slice()
        {
            let amount = amount
                .parse()
                .map_err(|_| format!("a refund line: {line}"))?;
            if booked.insert(reference, (amount, result, code)).is_some() {
                return Err(format!("the processor made refund {reference} twice"));
            }
        }
    }
    let mut refunded: BTreeMap<&str, i64> = BTreeMap::new();
    for (id, refund) in &refunds {
        let in_books = booked.remove(id.as_str());
        let agrees = match (refund.status, in_books) {
            (RefundStatus::Succeeded, Some((amount, "succeeded", _))) => {
                *refunded.entry(&refund.payment_id).or_default() += amount;
                amount == refund.amount_minor
            }
            (RefundStatus::Failed, Some((_, "declined", code))) => {
                refund.code.as_deref() == Some(code)
            }
            _ => false,
        };
        if !agrees {
            return Err(format!(
                "refund {id} is {refund:?} in CIP and {in_books:?} in the processor's books"
            ));
        }
    }
    if let Some(reference) = booked.keys().next() {
        return Err(format!(
            "the processor made refund {reference}, which CIP has no refund for"
        ));
    }
    let totals: Vec<(String, i64, i64)> = db
        .prepare("SELECT id, refunded_minor, refund_pending_minor FROM payments")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(|e| e.to_string())?;
    for (id, refunded_minor, pending_minor) in totals {
        let given = refunded.get(id.as_str()).copied().unwrap_or(0);
        let paid = stored.get(&id).map_or(0, |p| p.amount_minor);
        if refunded_minor != given || pending_minor != 0 || given > paid {
            return Err(format!(
                "{id} paid {paid} says {refunded_minor} refunded and {pending_minor} held; its refunds gave {given}"
            ));
        }
        if given > 0 && stored.get(&id).map(|p| p.status) != Some(PaymentStatus::Approved) {
            return Err(format!("{id} has refunds but is not approved"));
        }
    }
    Ok(())
}
