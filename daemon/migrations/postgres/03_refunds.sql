-- Refunds: records of their own, each given back from one approved payment. A payment keeps
-- what its refunds came to (succeeded, and still pending) beside its amount, moved in the same
-- transaction as the refund, so one conditional update of the payment's row holds the rule that
-- they never come to more than it was paid, however many refunds arrive at once.
ALTER TABLE payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0);
ALTER TABLE payments ADD COLUMN refund_pending_minor BIGINT NOT NULL DEFAULT 0 CHECK (refund_pending_minor >= 0);

CREATE TABLE refunds (
    id               TEXT COLLATE "C" PRIMARY KEY,        -- ref_…, also the processor's reference
    payment_id       TEXT COLLATE "C" NOT NULL REFERENCES payments(id),
    application_id   TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    amount_minor     BIGINT NOT NULL CHECK (amount_minor > 0),
    currency         TEXT COLLATE "C" NOT NULL,
    reason           TEXT COLLATE "C" NOT NULL CHECK (reason IN ('duplicate', 'requested_by_customer', 'fraudulent', 'other')),
    note             TEXT COLLATE "C" NOT NULL,
    status           TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    code             TEXT COLLATE "C",                    -- the processor's code when it declined
    idempotency_key  TEXT COLLATE "C" NOT NULL,
    fingerprint      BYTEA NOT NULL,           -- keyed blake3 of the request
    asked_by         TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_ms       BIGINT NOT NULL,
    decided_ms       BIGINT,
    UNIQUE (application_id, idempotency_key)
);
CREATE INDEX refunds_by_payment ON refunds(payment_id, id);
CREATE INDEX refunds_pending ON refunds(created_ms) WHERE status = 'pending';
CREATE INDEX refunds_by_decided ON refunds(decided_ms) WHERE decided_ms IS NOT NULL;

-- A refund's events name it beside its payment.
ALTER TABLE events ADD COLUMN refund_id TEXT COLLATE "C";
