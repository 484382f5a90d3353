//! The two writes every payment makes, `begin` and `decide`, on PostgreSQL: each one statement
//! (one round trip, one commit), for one payment or, gathered (see `gathered.rs`), for many at
//! once over arrays. The statement for many does for each payment what the one for one does.

use super::Client;
use super::events::FIRST_SEQ;
use super::gathered::Gather;
use crate::store::StoreError;
use crate::store::payments::{Begun, Decided, Decision};
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

fn created(seq: i64) -> Begun {
    Begun::Created {
        seq: u64::try_from(seq).unwrap_or(0),
    }
}

impl Gather for Begin {
    type Answer = Begun;

    /// The key is inserted unless taken (a second daemon's insert of the same key waits for the
    /// first to commit), and the payment and its event only with it. The key's reference to the
    /// payment is checked at the statement's end, when both rows are there.
    async fn one(&self, client: &Client) -> Result<Begun, StoreError> {
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
        let payment = &self.payment;
        let method = MethodColumns::of(&payment.method);
        let created_row = client
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
                    &self.fields()?,
                    &method.method,
                    &method.brand,
                    &method.first_six,
                    &method.exp_month,
                    &method.exp_year,
                    &method.routing_number,
                    &method.account_type,
                    &payment.method.last_four(),
                    &payment.idempotency_key,
                    &payment.user,
                    &payment.created_ms,
                    &self.fingerprint.as_slice(),
                    &EventKind::PaymentReceived.code(),
                ],
            )
            .await?;
        match created_row {
            Some(row) => Ok(created(row.try_get(0)?)),
            None => self.existing(client).await,
        }
    }

    /// As `one`, for each row of the arrays; the keys are inserted in their order, so two
    /// daemons' statements wanting the same keys wait for each other in one order, never in a
    /// circle. A payment's event takes its row's number in the transaction.
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
                Some(&seq) => created(seq),
                None => write.existing(client).await?,
            });
        }
        Ok(begun)
    }
}

/// What a failed `decide` statement came to: a confirmation code another payment holds is
/// `CodeTaken`, anything else the error it is.
fn refused(e: tokio_postgres::Error) -> Result<Decided, StoreError> {
    if e.as_db_error()
        .and_then(|db| db.constraint())
        .is_some_and(|c| c == "confirmations_pkey")
    {
        Ok(Decided::CodeTaken)
    } else {
        Err(e.into())
    }
}

impl Gather for Decide {
    type Answer = Decided;

    /// The move, only from `decision.from`; the confirmation with it (a code another payment
    /// holds fails the whole statement, which is then `CodeTaken`); its event; and the audit
    /// entry when a person asked for it.
    async fn one(&self, client: &Client) -> Result<Decided, StoreError> {
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
        let (payment, decision) = (&self.payment, &self.decision);
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
                    &audit.map(|a| a.outcome()),
                    &audit.map(|a| a.origin.as_str()),
                    &audit.map(|a| a.object.as_str()),
                ],
            )
            .await;
        match moved {
            Ok(row) if row.try_get::<_, i64>(0)? == 0 => Ok(Decided::Moved),
            Ok(_) => Ok(Decided::Committed),
            Err(e) => refused(e),
        }
    }

    /// As `one`, for each row of the arrays; a payment's event takes its row's number in the
    /// transaction. A code another payment holds fails them all (and each is then sent alone).
    async fn all(client: &Client, all: &[Decide]) -> Result<Vec<Decided>, StoreError> {
        let statement = client
            .prepare_cached(&format!(
                "WITH input AS (
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],
                        $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[],
                        $11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[],
                        $16::text[])
                    WITH ORDINALITY AS i(status, code, message, decided_ms, id, from_status,
                        confirmation_code, processor_authorization, at_ms, kind, audit_at_ms,
                        audit_actor, audit_action, audit_outcome, audit_origin, audit_object, n)),
                 moved AS (
                    UPDATE payments p SET status = i.status, code = i.code, message = i.message,
                        decided_ms = i.decided_ms
                    FROM input i WHERE p.id = i.id AND p.status = i.from_status
                    RETURNING i.n, p.application_id, p.amount_minor, p.currency, p.last_four,
                        p.payer_name),
                 decided AS (SELECT * FROM moved JOIN input i USING (n)),
                 confirmed AS (
                    INSERT INTO confirmations (code, payment_id, processor_authorization, created_ms)
                    SELECT confirmation_code, id, processor_authorization, decided_ms FROM decided
                    WHERE confirmation_code IS NOT NULL AND processor_authorization IS NOT NULL),
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
