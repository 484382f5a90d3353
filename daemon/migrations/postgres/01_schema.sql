-- CIP's schema on PostgreSQL: the same tables and columns as on SQLite (so `cipd store copy`
-- moves rows as they are), with PostgreSQL's types; text compares byte by byte, as on SQLite,
-- whatever the database's own collation, so ids and keys sort the same on both. Card data never reaches these tables: only
-- brand, first six, last four and expiry; for ACH, the routing number and the account's last four.

CREATE TABLE applications (
    id          TEXT COLLATE "C" PRIMARY KEY,
    spec        TEXT COLLATE "C" NOT NULL,              -- the form spec as JSON (cip_common::form::ApplicationSpec)
    created_ms  BIGINT NOT NULL
);

CREATE TABLE users (
    id               TEXT COLLATE "C" PRIMARY KEY,
    role             TEXT COLLATE "C" NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin', 'api')),
    password_hash    TEXT COLLATE "C" NOT NULL,         -- argon2id PHC string
    failed_attempts  BIGINT NOT NULL DEFAULT 0,
    locked_until_ms  BIGINT,
    created_ms       BIGINT NOT NULL
);

CREATE TABLE user_applications (
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    application_id  TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    PRIMARY KEY (user_id, application_id)
);

CREATE TABLE sessions (
    token_hash      BYTEA PRIMARY KEY,      -- blake3 of the token; the token itself is never stored
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    application_id  TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    created_ms      BIGINT NOT NULL,
    last_seen_ms    BIGINT NOT NULL,
    ended_ms        BIGINT
);

CREATE TABLE password_history (
    user_id        TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    password_hash  TEXT COLLATE "C" NOT NULL,
    replaced_ms    BIGINT NOT NULL
);
CREATE INDEX password_history_by_user ON password_history(user_id, replaced_ms);

CREATE TABLE batches (
    id              TEXT COLLATE "C" PRIMARY KEY,       -- bat_…, also the batch file's name
    application_id  TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    created_ms      BIGINT NOT NULL,        -- when its payments were claimed
    payment_count   BIGINT NOT NULL,
    sha256          TEXT COLLATE "C",                   -- of the batch file, once written
    transmitted_ms  BIGINT                  -- NULL: claimed, its file not yet complete
);
CREATE INDEX batches_by_application ON batches(application_id, created_ms);
CREATE INDEX batches_untransmitted ON batches(application_id) WHERE transmitted_ms IS NULL;

CREATE TABLE payments (
    id                 TEXT COLLATE "C" PRIMARY KEY,  -- pay_…, also the processor's reference
    application_id     TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    mode               TEXT COLLATE "C" NOT NULL CHECK (mode IN ('gateway', 'partial', 'full')),
    status             TEXT COLLATE "C" NOT NULL CHECK (status IN ('processing', 'approved', 'declined', 'failed', 'in_doubt', 'voided')),
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    currency           TEXT COLLATE "C" NOT NULL,
    payer_name         TEXT COLLATE "C" NOT NULL,
    payer_email        TEXT COLLATE "C" NOT NULL,
    payer_postal_code  TEXT COLLATE "C" NOT NULL,
    fields             TEXT COLLATE "C" NOT NULL,       -- the application's fields as a JSON object
    method             TEXT COLLATE "C" NOT NULL CHECK (method IN ('card', 'ach')),
    brand              TEXT COLLATE "C",
    first_six          TEXT COLLATE "C",
    exp_month          BIGINT,
    exp_year           BIGINT,
    routing_number     TEXT COLLATE "C",
    account_type       TEXT COLLATE "C",
    last_four          TEXT COLLATE "C" NOT NULL,
    code               TEXT COLLATE "C",                -- decline or failure code
    message            TEXT COLLATE "C",
    idempotency_key    TEXT COLLATE "C" NOT NULL,
    user_id            TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_ms         BIGINT NOT NULL,
    decided_ms         BIGINT,
    batch_id           TEXT COLLATE "C" REFERENCES batches(id)
);
CREATE INDEX payments_by_decided
    ON payments(decided_ms, application_id, status, currency, amount_minor, created_ms)
    WHERE decided_ms IS NOT NULL;
CREATE INDEX payments_unsettled ON payments(status) WHERE status IN ('processing', 'in_doubt');
CREATE INDEX payments_by_last_four ON payments(last_four);
CREATE INDEX payments_unreported ON payments(application_id) WHERE batch_id IS NULL;
CREATE INDEX payments_by_batch ON payments(batch_id, id) WHERE batch_id IS NOT NULL;
CREATE INDEX payments_not_charged ON payments(decided_ms)
    WHERE code IN ('not_charged', 'late_approval');

CREATE TABLE confirmations (
    code                    TEXT COLLATE "C" PRIMARY KEY,   -- Crockford base32 with a check symbol
    payment_id              TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES payments(id),
    processor_authorization TEXT COLLATE "C" NOT NULL,
    created_ms              BIGINT NOT NULL
);

CREATE TABLE idempotency_keys (
    application_id  TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    key             TEXT COLLATE "C" NOT NULL,
    fingerprint     BYTEA NOT NULL,            -- keyed blake3 of the request, never the card number
    payment_id      TEXT COLLATE "C" NOT NULL REFERENCES payments(id),
    created_ms      BIGINT NOT NULL,
    PRIMARY KEY (application_id, key)
);

-- An event's seq is its place in the feed: its transaction's id (xid8) shifted left 20 bits,
-- plus its number within the transaction. Transactions' ids are handed out in order, and the
-- feed reads only events of transactions older than every one still running, so a place, once
-- read, is never filled in behind a reader (see `store/postgres/events.rs`).
CREATE TABLE events (
    seq                BIGINT PRIMARY KEY,
    at_ms              BIGINT NOT NULL,
    kind               TEXT COLLATE "C" NOT NULL,
    application_id     TEXT COLLATE "C",                   -- NULL: a security event naming no application
    -- payment events
    payment_id         TEXT COLLATE "C" REFERENCES payments(id),
    status             TEXT COLLATE "C",
    amount_minor       BIGINT,
    currency           TEXT COLLATE "C",
    confirmation_code  TEXT COLLATE "C",
    code               TEXT COLLATE "C",
    last_four          TEXT COLLATE "C",
    payer_name         TEXT COLLATE "C",
    -- security events
    user_id            TEXT COLLATE "C",
    actor              TEXT COLLATE "C",
    origin             TEXT COLLATE "C",
    -- batch events
    batch_id           TEXT COLLATE "C",
    payment_count      BIGINT,
    CHECK ((payment_id IS NULL) = (user_id IS NOT NULL))
);
CREATE INDEX events_by_payment ON events(payment_id, seq) WHERE payment_id IS NOT NULL;

CREATE TABLE audit_log (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms    BIGINT NOT NULL,
    actor    TEXT COLLATE "C" NOT NULL,                    -- who: a user id, or the operator at the command line
    action   TEXT COLLATE "C" NOT NULL,                    -- what: login, user.add, …
    outcome  TEXT COLLATE "C" NOT NULL CHECK (outcome IN ('success', 'failure')),
    origin   TEXT COLLATE "C" NOT NULL,                    -- where from: a socket peer, the command line
    object   TEXT COLLATE "C" NOT NULL                     -- what it touched: user:agent1, application:DMV-RENEWAL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE handoffs (
    id              TEXT COLLATE "C" PRIMARY KEY,       -- hof_…, what the agency and the return URL carry
    application_id  TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users(id),   -- the api user that registered it
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    currency        TEXT COLLATE "C" NOT NULL,
    fields          TEXT COLLATE "C" NOT NULL,          -- the application's fields as a JSON object
    payer           TEXT COLLATE "C" NOT NULL,          -- what the agency knows of the payer, JSON
    return_url      TEXT COLLATE "C" NOT NULL,
    link_hash       BYTEA NOT NULL UNIQUE,  -- blake3 of the one-time pay link's secret
    link_used_ms    BIGINT,
    created_ms      BIGINT NOT NULL,
    expires_ms      BIGINT NOT NULL,
    notified_ms     BIGINT                  -- when the agency's callback took the notification
);
CREATE INDEX handoffs_to_notify ON handoffs(created_ms) WHERE notified_ms IS NULL;

CREATE TABLE handoff_deliveries (
    handoff_id  TEXT COLLATE "C" NOT NULL REFERENCES handoffs(id),
    attempt     BIGINT NOT NULL CHECK (attempt > 0),
    at_ms       BIGINT NOT NULL,
    payment_id  TEXT COLLATE "C" NOT NULL REFERENCES payments(id),
    outcome     TEXT COLLATE "C" NOT NULL,                 -- "HTTP 200", "no answer in time", …
    taken       BOOLEAN NOT NULL,
    PRIMARY KEY (handoff_id, at_ms, attempt)
);
