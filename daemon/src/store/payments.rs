//! Payments, their idempotency keys, confirmations and the events that report their moves.

use super::accounts::AuditEntry;
use super::events::DecisionsRead;
use super::{Backend, Rows, Store, StoreError, postgres, sqlite};
use crate::codes::CodeKey;
use cip_common::event::EventKind;
use cip_common::form::MethodKind;
use cip_common::money::Money;
use cip_common::payment::{Mode, Payment, SearchQuery, SearchSort, payment_id_bound};
use cip_common::refund::Refund;
use cip_common::status::PaymentStatus;
use std::sync::Arc;

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

/// A payment's move from `from` to the status `payment` now holds.
#[derive(Clone)]
pub struct Decision {
    pub from: PaymentStatus,
    /// The processor's authorization, kept with the confirmation code on approval.
    pub authorization: Option<String>,
    /// On approval, the number the payment's confirmation code was issued for (`codes`).
    pub confirmation_number: Option<u64>,
    pub kind: EventKind,
    pub at_ms: i64,
    /// Kept in the same transaction when a person asked for the move.
    pub audit: Option<AuditEntry>,
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

/// The store's setting that counts the confirmation numbers handed out (8 bytes, big-endian).
pub(super) const CODE_NUMBERS: &str = "confirmation_numbers_handed_out";

/// The number a code issued before codes had numbers takes under `key`, as both stores hold it
/// (`Store::number_confirmations`).
pub(super) fn number_issued_before(key: &CodeKey, code: &str) -> Result<i64, StoreError> {
    key.number(code)
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("confirmation code {code}")))
}

/// A confirmation number as both stores hold it (a signed 64-bit integer).
pub(super) fn confirmation_number(number: u64) -> Result<i64, StoreError> {
    i64::try_from(number).map_err(|_| StoreError::Broken(format!("code number {number}")))
}

/// Which payments an export takes: one application's, optionally by creation time
/// (`from_ms` inclusive, `to_ms` exclusive) and the filters below, or a batch's own; after the
/// payment `after`.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub application: String,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub status: Option<PaymentStatus>,
    pub mode: Option<Mode>,
    /// Only payments some of whose amount went back to the payer.
    pub refunded: bool,
    /// As stored (normalized).
    pub confirmation_code: Option<String>,
    pub payment_id: Option<String>,
    pub last_four: Option<String>,
    /// Part of the payer's name or email, any case.
    pub payer: Option<String>,
    pub min_amount_minor: Option<i64>,
    pub max_amount_minor: Option<i64>,
    /// Only the payments this batch reported.
    pub reported_in: Option<String>,
    /// A batch's own file: the payments it reported, then the refunds (no other filter).
    pub batch: Option<String>,
    pub after: Option<String>,
}

/// A [`Selection`]'s values in the order of `rows::selected_where`'s placeholders.
pub(super) struct Bound {
    pub application: String,
    pub low: String,
    pub high: String,
    pub status: Option<&'static str>,
    pub mode: Option<&'static str>,
    pub refunded: Option<i64>,
    pub confirmation_code: Option<String>,
    pub payment_id: Option<String>,
    pub last_four: Option<String>,
    /// A `LIKE` pattern, lower case, its own `%`, `_` and `\\` escaped.
    pub payer: Option<String>,
    pub min_amount_minor: Option<i64>,
    pub max_amount_minor: Option<i64>,
    pub reported_in: Option<String>,
}

/// A row of a report, in the order a selection walks them: each payment, then its refunds (a
/// batch's refunds come after its payments, as their payments were mostly reported before).
#[derive(Debug)]
pub enum ReportLine {
    Payment(Payment),
    /// A refund, with the payment it gave back from.
    Refund(Box<Refund>, Payment),
}

/// Above every payment id.
const PAST_EVERY_ID: &str = "pay_~";

impl Selection {
    /// The ids the selection lies strictly between: ids sort by creation time, so the times
    /// and the cursor become one range over the primary key.
    pub(super) fn id_range(&self) -> (String, String) {
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

    /// The values a store binds to `rows::selected_where`.
    pub(super) fn bound(&self) -> Bound {
        let (low, high) = self.id_range();
        Bound {
            application: self.application.clone(),
            low,
            high,
            status: self.status.map(PaymentStatus::code),
            mode: self.mode.map(Mode::code),
            refunded: self.refunded.then_some(1),
            confirmation_code: self.confirmation_code.clone(),
            payment_id: self.payment_id.clone(),
            last_four: self.last_four.clone(),
            payer: self.payer.as_ref().map(|part| {
                let mut pattern = String::from("%");
                for c in part.to_lowercase().chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        pattern.push('\\');
                    }
                    pattern.push(c);
                }
                pattern.push('%');
                pattern
            }),
            min_amount_minor: self.min_amount_minor,
            max_amount_minor: self.max_amount_minor,
            reported_in: self.reported_in.clone(),
        }
    }
}

/// What the queue figures need of a decided payment, borrowed from its row.
pub struct DecidedRow<'a> {
    pub application: &'a str,
    pub status: PaymentStatus,
    pub amount: Money,
    pub received_ms: i64,
    pub decided_ms: i64,
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

impl Store {
    /// Commits `payment` (status `processing`) with its idempotency key and received event,
    /// unless the key was used before.
    pub async fn begin(
        &self,
        payment: &Payment,
        fingerprint: &[u8; 32],
    ) -> Result<Begun, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (payment, fingerprint) = (payment.clone(), *fingerprint);
                db.write(move |c| sqlite::payments::begin(c, &payment, &fingerprint))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(db.begin(postgres::Begin {
                    payment: payment.clone(),
                    fingerprint: *fingerprint,
                }))
                .await
            }
        }
    }

    /// Commits the outcome held in `payment`, its confirmation, its event and the decision's
    /// audit entry, all or nothing. Refused (`StoreError::Broken`, nothing kept) when the move
    /// is off the transition table or an approval lacks its authorization or code.
    pub async fn decide(
        &self,
        payment: &Payment,
        decision: &Arc<Decision>,
    ) -> Result<Decided, StoreError> {
        if let Some(broken) = broken_move(
            decision.from,
            payment.status,
            decision.authorization.is_some(),
            payment.confirmation_code.is_some() && decision.confirmation_number.is_some(),
        ) {
            return Err(StoreError::Broken(format!("{}: {broken}", payment.id)));
        }
        match &self.backend {
            Backend::Sqlite(db) => {
                let (payment, decision) = (payment.clone(), Arc::clone(decision));
                db.write(move |c| sqlite::payments::decide(c, &payment, &decision))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(db.decide(postgres::Decide {
                    payment: payment.clone(),
                    decision: Arc::clone(decision),
                }))
                .await
            }
        }
    }

    /// Gives a failed payment whose code is still `from` the code and message of `payment`,
    /// with an event of `kind` and the audit entry, if any; a payment no longer so is left as
    /// it is.
    pub async fn note_failed(
        &self,
        payment: &Payment,
        from: Option<&str>,
        kind: EventKind,
        at_ms: i64,
        audit: Option<AuditEntry>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (payment, from) = (payment.clone(), from.map(str::to_owned));
                db.write(move |c| {
                    sqlite::payments::note_failed(
                        c,
                        &payment,
                        from.as_deref(),
                        kind,
                        at_ms,
                        audit.as_ref(),
                    )
                })
                .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::payments::note_failed(
                    db,
                    payment,
                    from,
                    kind,
                    at_ms,
                    audit.as_ref(),
                ))
                .await
            }
        }
    }

    pub async fn payment(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.read(move |c| sqlite::payments::by_id(c, &id)).await
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::payments::by_id(&db.client().await?, id).await })
                    .await
            }
        }
    }

    /// The payment a confirmation code (normalized) confirms, found by the code's `number`.
    pub async fn payment_confirmed_by(
        &self,
        number: u64,
        code: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let number = confirmation_number(number)?;
        match &self.backend {
            Backend::Sqlite(db) => {
                let code = code.to_owned();
                db.read(move |c| sqlite::payments::by_confirmation_code(c, number, &code))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::by_confirmation_code(&db.client().await?, number, code)
                        .await
                })
                .await
            }
        }
    }

    /// The first of `count` confirmation numbers no one was handed before.
    pub async fn reserve_code_numbers(&self, count: u64) -> Result<u64, StoreError> {
        let count = confirmation_number(count)?;
        let first = match &self.backend {
            Backend::Sqlite(db) => {
                db.write(move |c| sqlite::payments::reserve_code_numbers(c, count))
                    .await?
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::reserve_code_numbers(&db.client().await?, count).await
                })
                .await?
            }
        };
        u64::try_from(first).map_err(|_| StoreError::Corrupt(format!("code number {first}")))
    }

    /// Gives each confirmation code issued before codes came from numbers the number it has
    /// under `key`, so it is found as a new code is; a code whose number an older one already
    /// has keeps none, and is found by its text alone. Returns how many were numbered.
    pub async fn number_confirmations(&self, key: &CodeKey) -> Result<u64, StoreError> {
        let key = key.clone();
        match &self.backend {
            Backend::Sqlite(db) => {
                db.write(move |c| sqlite::payments::number_confirmations(c, &key))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::number_confirmations(&db.client().await?, &key).await
                })
                .await
            }
        }
    }

    /// Payments left `processing` or `in_doubt`, oldest first.
    pub async fn unsettled(&self) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(sqlite::payments::unsettled).await,
            Backend::Postgres(db) => {
                db.run(async { postgres::payments::unsettled(&db.client().await?).await })
                    .await
            }
        }
    }

    /// At most `max` payments `processing` or `in_doubt` in `applications`, oldest first.
    pub async fn unsettled_in(
        &self,
        applications: &[String],
        max: u32,
    ) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let applications = applications.to_vec();
                db.read(move |c| sqlite::payments::unsettled_in(c, &applications, max))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::unsettled_in(&db.client().await?, applications, max).await
                })
                .await
            }
        }
    }

    /// Failed payments reported not charged since `since_ms`, and any whose late approval is
    /// still being voided, at most `limit`.
    pub async fn not_charged_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| sqlite::payments::not_charged_since(c, since_ms, limit))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::not_charged_since(&db.client().await?, since_ms, limit)
                        .await
                })
                .await
            }
        }
    }

    /// Declines and failures decided since `since_ms` in `applications`, newest first.
    pub async fn recent_failures(
        &self,
        since_ms: i64,
        applications: &[String],
        max: u32,
    ) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let applications = applications.to_vec();
                db.read(move |c| sqlite::payments::recent_failures(c, since_ms, &applications, max))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::recent_failures(
                        &db.client().await?,
                        since_ms,
                        applications,
                        max,
                    )
                    .await
                })
                .await
            }
        }
    }

    /// One page of payments within `applications`, in the query's order, and whether more
    /// follow.
    pub async fn search(
        &self,
        query: &SearchQuery,
        applications: &[String],
        page_size: u32,
    ) -> Result<(Vec<Payment>, bool), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (query, applications) = (query.clone(), applications.to_vec());
                db.read(move |c| sqlite::payments::search(c, &query, &applications, page_size))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::search(&db.client().await?, query, applications, page_size)
                        .await
                })
                .await
            }
        }
    }

    /// The payments `selection` takes (payments only), in `sort`'s order, from the `skip`-th on,
    /// at most `page_size`, and whether more follow.
    pub async fn listed(
        &self,
        selection: &Selection,
        sort: SearchSort,
        skip: u64,
        page_size: u32,
    ) -> Result<(Vec<Payment>, bool), StoreError> {
        let bound = selection.bound();
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| sqlite::payments::listed(c, &bound, sort, skip, page_size))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::listed(&db.client().await?, &bound, sort, skip, page_size)
                        .await
                })
                .await
            }
        }
    }

    /// How many payments `selection` takes, counted up to `cap` and no further.
    pub async fn counted(&self, selection: &Selection, cap: u64) -> Result<u64, StoreError> {
        let bound = selection.bound();
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| sqlite::payments::counted(c, &bound, cap))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::counted(&db.client().await?, &bound, cap).await
                })
                .await
            }
        }
    }

    /// Holds an approved payment for its void, unless a batch reported it, a refund holds or
    /// gave back any of it, or another void holds it: then `false`, and nothing was written.
    /// While held, no refund begins and no batch claims it; deciding it lets go.
    pub async fn hold_for_void(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.write(move |c| sqlite::payments::hold_for_void(c, &id, now_ms))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::hold_for_void(&db.client().await?, id, now_ms).await
                })
                .await
            }
        }
    }

    /// Lets go of a void's hold on a payment still approved: the processor refused the void.
    pub async fn release_void(&self, id: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.write(move |c| sqlite::payments::release_void(c, &id))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::payments::release_void(&db.client().await?, id).await })
                    .await
            }
        }
    }

    /// Approved payments a void has held since before `before_ms`: voids a stopped daemon left.
    pub async fn void_holds(&self, before_ms: i64) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| sqlite::payments::void_holds(c, before_ms))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::void_holds(&db.client().await?, before_ms).await
                })
                .await
            }
        }
    }

    /// Runs `read` on a thread that may block, with the selected payments, oldest first, and
    /// their refunds, handed over one line at a time as it takes them (a million rows take no
    /// more memory than a few).
    pub async fn with_selected<T: Send + 'static>(
        &self,
        selection: Selection,
        read: impl FnOnce(Rows<ReportLine>) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(db) => {
                db.walk(move |c, each| sqlite::payments::for_each_selected(c, &selection, each))
            }
            Backend::Postgres(db) => postgres::payments::selected(db, selection),
        };
        tokio::task::spawn_blocking(move || read(rows))
            .await
            .map_err(|_| StoreError::Closed)
    }

    /// Hands every payment decided since `since_ms` to `each`, in order of decision, without a
    /// copy of any row (a start reads back an hour's payments, perhaps millions); all as of one
    /// moment, and where [`Store::decisions_until`] reads on from it.
    pub async fn for_each_decided_since(
        &self,
        since_ms: i64,
        each: impl FnMut(&DecidedRow<'_>) + Send + 'static,
    ) -> Result<DecisionsRead, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| sqlite::payments::for_each_decided_since(c, since_ms, each))
                    .await
            }
            Backend::Postgres(db) => {
                postgres::payments::for_each_decided_since(&mut db.client().await?, since_ms, each)
                    .await
            }
        }
    }

    /// `application`'s payments created from `from_ms` to before `to_ms`, counted and summed
    /// by status and method.
    pub async fn span_lines(
        &self,
        application: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<SpanLine>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let application = application.to_owned();
                db.read(move |c| sqlite::payments::span_lines(c, &application, from_ms, to_ms))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::span_lines(&db.client().await?, application, from_ms, to_ms)
                        .await
                })
                .await
            }
        }
    }

    /// `application`'s payments created from `from_ms` to before `to_ms` that are still
    /// `processing` or `in_doubt`, oldest first.
    pub async fn unsettled_in_span(
        &self,
        application: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let application = application.to_owned();
                db.read(move |c| {
                    sqlite::payments::unsettled_in_span(c, &application, from_ms, to_ms)
                })
                .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::payments::unsettled_in_span(
                        &db.client().await?,
                        application,
                        from_ms,
                        to_ms,
                    )
                    .await
                })
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Decided, Decision, broken_move};
    use crate::admin::{Admin, Operator};
    use crate::clock::Entropy;
    use crate::codes::CodeKey;
    use crate::store::events::Visibility;
    use crate::store::{Backend, Store, StoreError, StoreLimits};
    use cip_common::confirmation::confirmation_code;
    use cip_common::event::EventKind;
    use cip_common::payment::Payment;
    use cip_common::status::PaymentStatus::{Approved, Declined, InDoubt, Processing, Voided};
    use std::sync::Arc;

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
    /// A SQLite store in `dir` with the demo's applications and users.
    async fn demo_store(dir: &std::path::Path) -> Store {
        let store = Store::open(
            &dir.join("cip.db"),
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
        store
    }

    /// The demo payment `n`, committed as `processing`.
    async fn begun(store: &Store, n: u64) -> Payment {
        let payment = crate::bench::demo_payment(
            cip_common::payment::payment_id(1_796_338_800_000, n),
            format!("key-{n}"),
            1_796_338_800_000,
        );
        store
            .begin(&payment, &[0; 32])
            .await
            .expect("committed as processing");
        payment
    }

    /// Its approval with the confirmation `number`, and the code `key` issues for it.
    fn approval(payment: &mut Payment, key: &CodeKey, number: u64) -> Arc<Decision> {
        payment.status = Approved;
        payment.decided_ms = Some(1_796_338_800_500);
        payment.confirmation_code = Some(key.code(number));
        Arc::new(Decision {
            from: Processing,
            authorization: Some("A1B2C3".into()),
            confirmation_number: Some(number),
            kind: EventKind::PaymentApproved,
            at_ms: 1_796_338_800_500,
            audit: None,
        })
    }

    /// Codes issued before codes came from numbers are numbered at start and found as new ones
    /// are; one whose number an older code already has keeps none and is found by its text; a
    /// new code whose number such a code has is refused, and the next goes through.
    #[tokio::test(flavor = "multi_thread")]
    async fn codes_issued_before_numbers_are_numbered_and_still_found() {
        let dir = tempfile::tempdir().expect("a temporary dir");
        let store = demo_store(dir.path()).await;
        let key = CodeKey::from_fingerprint_key(&[7; 32]);
        let (mut first, mut second) = (begun(&store, 1).await, begun(&store, 2).await);
        // Issued before: random values, the second with the first's value and the older
        // mod-37 check symbol.
        let mod_37_check =
            |v: u64| char::from(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"[(v % 37) as usize]);
        let value = (1..)
            .map(|i: u64| 0x51_7CC1_B727_u64.wrapping_mul(i) & ((1 << 40) - 1))
            .find(|v| !confirmation_code(*v).ends_with(mod_37_check(*v)))
            .expect("a value whose two checks differ");
        let older = confirmation_code(value);
        let oldest = format!("{}{}", &older[..10], mod_37_check(value));
        for (payment, code, number) in [
            (&mut first, &older, 1 << 30),
            (&mut second, &oldest, 2 << 30),
        ] {
            let decision = approval(payment, &key, number);
            assert!(matches!(
                store.decide(payment, &decision).await,
                Ok(Decided::Committed)
            ));
            let (id, code) = (payment.id.clone(), code.clone());
            let Backend::Sqlite(db) = &store.backend else {
                unreachable!("a SQLite store")
            };
            db.write(move |c| {
                c.execute(
                    "UPDATE confirmations SET code = ?1, number = NULL WHERE payment_id = ?2",
                    rusqlite::params![code, id],
                )?;
                Ok(())
            })
            .await
            .expect("issued before");
        }

        assert_eq!(store.number_confirmations(&key).await.expect("numbered"), 1);
        assert_eq!(
            store.number_confirmations(&key).await.expect("numbered"),
            0,
            "once only"
        );
        let number = key.number(&older).expect("a code");
        assert_eq!(key.number(&oldest), Some(number));
        for (code, payment) in [(&older, &first), (&oldest, &second)] {
            let found = store
                .payment_confirmed_by(number, code)
                .await
                .expect("read");
            assert_eq!(found.map(|p| p.id), Some(payment.id.clone()), "{code}");
        }

        let mut third = begun(&store, 3).await;
        let taken = approval(&mut third, &key, number);
        assert!(matches!(
            store.decide(&third, &taken).await,
            Ok(Decided::CodeTaken)
        ));
        let next = approval(&mut third, &key, number + 1);
        assert!(matches!(
            store.decide(&third, &next).await,
            Ok(Decided::Committed)
        ));
        let code = third.confirmation_code.clone().expect("a code");
        let found = store
            .payment_confirmed_by(number + 1, &code)
            .await
            .expect("read");
        assert_eq!(found.map(|p| p.id), Some(third.id));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_refused_decision_writes_nothing_and_the_right_one_goes_through() {
        let dir = tempfile::tempdir().expect("a temporary dir");
        let store = demo_store(dir.path()).await;
        let mut payment = begun(&store, 7).await;
        let right = approval(&mut payment, &CodeKey::from_fingerprint_key(&[7; 32]), 42);
        let decision = |authorization: Option<&str>| {
            Arc::new(Decision {
                authorization: authorization.map(str::to_owned),
                ..(*right).clone()
            })
        };
        let answer = store.decide(&payment, &decision(None)).await;
        assert!(
            matches!(&answer, Err(StoreError::Broken(why)) if why.contains("authorization absent")),
            "{answer:?}"
        );
        let everything = Visibility {
            applications: vec![payment.application.clone()],
            security: true,
        };
        let stored = store.payment(&payment.id).await.expect("read back");
        let stored = stored.expect("the payment");
        assert_eq!(stored.status, Processing);
        assert_eq!(stored.confirmation_code, None);
        let events = store
            .timeline(&payment.id, &everything)
            .await
            .expect("read back");
        assert_eq!(events.len(), 1, "only payment.received");

        let answer = store
            .decide(&payment, &decision(Some("A1B2C3")))
            .await
            .expect("the approval is written");
        assert!(matches!(answer, Decided::Committed));
        let stored = store
            .payment(&payment.id)
            .await
            .expect("read back")
            .expect("the payment");
        assert_eq!(stored.status, Approved);
        assert_eq!(stored.confirmation_code, payment.confirmation_code);
    }
}
