//! The two writes every payment makes, `begin` and `decide`, on PostgreSQL: each one statement
//! (one round trip, one commit) over arrays, for one payment or, gathered (see `gathered.rs`),
//! for many at once.

use super::Client;
use super::events::FIRST_SEQ;
use super::gathered::Gather;
use crate::store::StoreError;
use crate::store::payments::{Begun, Decided, Decision, confirmation_number};
use crate::store::rows::MethodColumns;
use cip_common::event::EventKind;
use cip_common::payment::Payment;
use std::collections::HashMap;
use std::sync::Arc;

/// The columns of a payment event: what `begin` and `decide` insert with the move, in the same
/// statement.
const PAYMENT_EVENT: &str = "INSERT INTO events (seq, at_ms, kind, application_id, payment_id,
    status, amount_minor, currency, confirmation_code, code, last_four, payer_name)";

/// A new payment to commit as `processing`, under its idempotency key.
pub(in crate::store) struct Begin {
    pub payment: Payment,
    pub fingerprint: [u8; 32],
}

/// A payment's move to the outcome `payment` holds.
pub(in crate::store) struct Decide {
    pub payment: Payment,
    pub decision: Arc<Decision>,
}

impl Begin {
    fn fields(&self) -> Result<String, StoreError> {
        serde_json::to_string(&self.payment.fields).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// What the key's first payment says, when this one's key was used before: nothing of this
    /// payment was kept.
    async fn existing(&self, client: &Client) -> Result<Begun, StoreError> {
        let row = client
            .query_one(
                &client
                    .prepare_cached(
                        "SELECT fingerprint, payment_id FROM idempotency_keys
                         WHERE application_id = $1 AND key = $2",
                    )
                    .await?,
                &[&self.payment.application, &self.payment.idempotency_key],
            )
            .await?;
        let stored: Vec<u8> = row.try_get(0)?;
        Ok(Begun::Existing {
            payment_id: row.try_get(1)?,
            same_request: stored.as_slice() == self.fingerprint.as_slice(),
        })
    }
}

impl Gather for Begin {
    type Answer = Begun;

    /// For each row of the arrays, the key is inserted unless taken (a second daemon's insert of
    /// the same key waits for the first to commit), and the payment and its event only with it;
    /// a key's reference to its payment is checked at the statement's end, when both rows are
    /// there. The keys are inserted in their order, so two daemons' statements wanting the same
    /// keys wait for each other in one order, never in a circle. A payment's event takes its
    /// row's number in the transaction.
    async fn all(client: &Client, all: &[Begin]) -> Result<Vec<Begun>, StoreError> {
        let statement = client
            .prepare_cached(&format!(
                "WITH input AS (
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                        $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                        $11::text[], $12::text[], $13::text[], $14::bigint[], $15::bigint[],
                        $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
                        $21::bigint[], $22::bytea[])
                    WITH ORDINALITY AS i(id, application_id, mode, status, amount_minor, currency,
                        payer_name, payer_email, payer_postal_code, fields, method, brand,
                        first_six, exp_month, exp_year, routing_number, account_type, last_four,
                        idempotency_key, user_id, created_ms, fingerprint, n)),
                 keyed AS (
                    INSERT INTO idempotency_keys (application_id, key, fingerprint, payment_id, created_ms)
                    SELECT application_id, idempotency_key, fingerprint, id, created_ms
                    FROM input ORDER BY application_id, idempotency_key
                    ON CONFLICT DO NOTHING RETURNING payment_id),
                 kept AS (SELECT input.* FROM input JOIN keyed ON keyed.payment_id = input.id),
                 paid AS (
                    INSERT INTO payments (id, application_id, mode, status, amount_minor, currency,
                        payer_name, payer_email, payer_postal_code, fields, method, brand, first_six,
                        exp_month, exp_year, routing_number, account_type, last_four,
                        idempotency_key, user_id, created_ms)
                    SELECT id, application_id, mode, status, amount_minor, currency, payer_name,
                        payer_email, payer_postal_code, fields, method, brand, first_six,
                        exp_month, exp_year, routing_number, account_type, last_four,
                        idempotency_key, user_id, created_ms
                    FROM kept),
                 told AS (
                    {PAYMENT_EVENT}
                    SELECT {FIRST_SEQ} | (n - 1), created_ms, $23, application_id, id, status,
                           amount_minor, currency, NULL, NULL, last_four, payer_name
                    FROM kept RETURNING payment_id, seq)
                 SELECT payment_id, seq FROM told"
            ))
            .await?;
        let payments = || all.iter().map(|b| &b.payment);
        let methods: Vec<MethodColumns> =
            payments().map(|p| MethodColumns::of(&p.method)).collect();
        let fields = all
            .iter()
            .map(Begin::fields)
            .collect::<Result<Vec<_>, _>>()?;
        let rows = client
            .query(
                &statement,
                &[
                    &payments().map(|p| p.id.as_str()).collect::<Vec<_>>(),
                    &payments()
                        .map(|p| p.application.as_str())
                        .collect::<Vec<_>>(),
                    &payments().map(|p| p.mode.code()).collect::<Vec<_>>(),
                    &payments().map(|p| p.status.code()).collect::<Vec<_>>(),
                    &payments().map(|p| p.amount.minor).collect::<Vec<_>>(),
                    &payments()
                        .map(|p| p.amount.currency.code())
                        .collect::<Vec<_>>(),
                    &payments()
                        .map(|p| p.payer.name.as_str())
                        .collect::<Vec<_>>(),
                    &payments()
                        .map(|p| p.payer.email.as_str())
                        .collect::<Vec<_>>(),
                    &payments()
                        .map(|p| p.payer.postal_code.as_str())
                        .collect::<Vec<_>>(),
                    &fields,
                    &methods.iter().map(|m| m.method).collect::<Vec<_>>(),
                    &methods.iter().map(|m| m.brand).collect::<Vec<_>>(),
                    &methods.iter().map(|m| m.first_six).collect::<Vec<_>>(),
                    &methods.iter().map(|m| m.exp_month).collect::<Vec<_>>(),
                    &methods.iter().map(|m| m.exp_year).collect::<Vec<_>>(),
                    &methods.iter().map(|m| m.routing_number).collect::<Vec<_>>(),
                    &methods.iter().map(|m| m.account_type).collect::<Vec<_>>(),
                    &payments().map(|p| p.method.last_four()).collect::<Vec<_>>(),
                    &payments()
                        .map(|p| p.idempotency_key.as_str())
                        .collect::<Vec<_>>(),
                    &payments().map(|p| p.user.as_str()).collect::<Vec<_>>(),
                    &payments().map(|p| p.created_ms).collect::<Vec<_>>(),
                    &all.iter()
                        .map(|b| b.fingerprint.as_slice())
                        .collect::<Vec<_>>(),
                    &EventKind::PaymentReceived.code(),
                ],
            )
            .await?;
        let mut seqs = HashMap::with_capacity(rows.len());
        for row in &rows {
            seqs.insert(row.try_get::<_, &str>(0)?, row.try_get::<_, i64>(1)?);
        }
        let mut begun = Vec::with_capacity(all.len());
        for write in all {
            begun.push(match seqs.get(write.payment.id.as_str()) {
                Some(&seq) => Begun::Created {
                    seq: u64::try_from(seq).unwrap_or(0),
                },
                None => write.existing(client).await?,
            });
        }
        Ok(begun)
    }
}

impl Gather for Decide {
    type Answer = Decided;

    /// A number another confirmation holds: the move was rolled back, and another code is to be
    /// drawn.
    fn refused(e: StoreError) -> Result<Decided, StoreError> {
        let taken = matches!(&e, StoreError::Postgres(e) if e
            .as_db_error()
            .and_then(|db| db.constraint())
            .is_some_and(|c| c == "confirmations_number"));
        if taken {
            Ok(Decided::CodeTaken)
        } else {
            Err(e)
        }
    }

    /// For each row of the arrays: the move, only from its `from`; the confirmation with it; its
    /// event (taking its row's number in the transaction); and the audit entry when a person
    /// asked for the move. A confirmation number another payment holds fails the whole statement.
    async fn all(client: &Client, all: &[Decide]) -> Result<Vec<Decided>, StoreError> {
        let statement = client
            .prepare_cached(&format!(
                "WITH input AS (
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],
                        $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[],
                        $11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[],
                        $16::text[], $17::bigint[])
                    WITH ORDINALITY AS i(status, code, message, decided_ms, id, from_status,
                        confirmation_code, processor_authorization, at_ms, kind, audit_at_ms,
                        audit_actor, audit_action, audit_outcome, audit_origin, audit_object,
                        confirmation_number, n)),
                 moved AS (
                    UPDATE payments p SET status = i.status, code = i.code, message = i.message,
                        decided_ms = i.decided_ms, voiding_ms = NULL
                    FROM input i WHERE p.id = i.id AND p.status = i.from_status
                        AND p.refunded_minor = 0 AND p.refund_pending_minor = 0
                    RETURNING i.n, p.application_id, p.amount_minor, p.currency, p.last_four,
                        p.payer_name),
                 decided AS (SELECT * FROM moved JOIN input i USING (n)),
                 confirmed AS (
                    INSERT INTO confirmations
                        (code, payment_id, processor_authorization, created_ms, number)
                    SELECT confirmation_code, id, processor_authorization, decided_ms,
                        confirmation_number
                    FROM decided WHERE confirmation_code IS NOT NULL
                        AND processor_authorization IS NOT NULL),
                 told AS (
                    {PAYMENT_EVENT}
                    SELECT {FIRST_SEQ} | (n - 1), at_ms, kind, application_id, id, status,
                           amount_minor, currency, confirmation_code, code, last_four, payer_name
                    FROM decided),
                 audited AS (
                    INSERT INTO audit_log (at_ms, actor, action, outcome, origin, object)
                    SELECT audit_at_ms, audit_actor, audit_action, audit_outcome, audit_origin,
                        audit_object
                    FROM decided WHERE audit_actor IS NOT NULL)
                 SELECT n FROM moved"
            ))
            .await?;
        let payments = || all.iter().map(|d| &d.payment);
        let decisions = || all.iter().map(|d| &*d.decision);
        let audits = || decisions().map(|d| d.audit.as_ref());
        let numbers = decisions()
            .map(|d| d.confirmation_number.map(confirmation_number).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let rows = client
            .query(
                &statement,
                &[
                    &payments().map(|p| p.status.code()).collect::<Vec<_>>(),
                    &payments().map(|p| p.code.as_deref()).collect::<Vec<_>>(),
                    &payments().map(|p| p.message.as_deref()).collect::<Vec<_>>(),
                    &payments().map(|p| p.decided_ms).collect::<Vec<_>>(),
                    &payments().map(|p| p.id.as_str()).collect::<Vec<_>>(),
                    &decisions().map(|d| d.from.code()).collect::<Vec<_>>(),
                    &payments()
                        .map(|p| p.confirmation_code.as_deref())
                        .collect::<Vec<_>>(),
                    &decisions()
                        .map(|d| d.authorization.as_deref())
                        .collect::<Vec<_>>(),
                    &decisions().map(|d| d.at_ms).collect::<Vec<_>>(),
                    &decisions().map(|d| d.kind.code()).collect::<Vec<_>>(),
                    &audits().map(|a| a.map(|a| a.at_ms)).collect::<Vec<_>>(),
                    &audits()
                        .map(|a| a.map(|a| a.actor.as_str()))
                        .collect::<Vec<_>>(),
                    &audits().map(|a| a.map(|a| a.action)).collect::<Vec<_>>(),
                    &audits().map(|a| a.map(|a| a.outcome())).collect::<Vec<_>>(),
                    &audits()
                        .map(|a| a.map(|a| a.origin.as_str()))
                        .collect::<Vec<_>>(),
                    &audits()
                        .map(|a| a.map(|a| a.object.as_str()))
                        .collect::<Vec<_>>(),
                    &numbers,
                ],
            )
            .await?;
        let mut decided: Vec<Decided> = all.iter().map(|_| Decided::Moved).collect();
        for row in &rows {
            let n = usize::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0);
            if let Some(slot) = n.checked_sub(1).and_then(|i| decided.get_mut(i)) {
                *slot = Decided::Committed;
            }
        }
        Ok(decided)
    }
}
