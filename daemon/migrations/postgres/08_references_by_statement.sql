-- The rows written beside a payment (its key, its events, its confirmation) name it without a
-- foreign key. Each is written by the same statement or transaction that writes or reads the
-- payment's row (`payment_writes.rs`, `events.rs`, `refunds.rs`), and no payment is ever
-- deleted, so each reference holds as it is written. On PostgreSQL a foreign key checks every
-- row it guards with a query of its own that locks the payment's row (`FOR KEY SHARE`): four for
-- each payment, about a quarter of the server's work for it. A key's application is its
-- payment's, which `payments` checks. The rows other rows share (applications, users) keep
-- their foreign keys.
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_payment_id_fkey,
    DROP CONSTRAINT idempotency_keys_application_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_payment_id_fkey;
ALTER TABLE confirmations DROP CONSTRAINT confirmations_payment_id_fkey;
