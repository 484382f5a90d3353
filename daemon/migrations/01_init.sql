-- CIP's schema. Card data never reaches these tables: only brand, first six, last four and expiry;
-- for ACH, the routing number and the account's last four.

CREATE TABLE applications (
    id          TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,              -- the form spec as JSON (cip_common::form::ApplicationSpec)
    created_ms  INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    role             TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin', 'api')),
    password_hash    TEXT NOT NULL,         -- argon2id PHC string
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_until_ms  INTEGER,
    created_ms       INTEGER NOT NULL
) STRICT;

CREATE TABLE user_applications (
    user_id         TEXT NOT NULL REFERENCES users(id),
    application_id  TEXT NOT NULL REFERENCES applications(id),
    PRIMARY KEY (user_id, application_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE sessions (
    token_hash      BLOB PRIMARY KEY,       -- blake3 of the token; the token itself is never stored
    user_id         TEXT NOT NULL REFERENCES users(id),
    application_id  TEXT NOT NULL REFERENCES applications(id),
    created_ms      INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    ended_ms        INTEGER
) STRICT;

CREATE TABLE payments (
    id                 TEXT PRIMARY KEY,    -- pay_…, also the processor's reference
    application_id     TEXT NOT NULL REFERENCES applications(id),
    mode               TEXT NOT NULL CHECK (mode IN ('gateway', 'partial', 'full')),
    status             TEXT NOT NULL CHECK (status IN ('processing', 'approved', 'declined', 'failed', 'in_doubt', 'voided')),
    amount_minor       INTEGER NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL,
    payer_name         TEXT NOT NULL,
    payer_email        TEXT NOT NULL,
    payer_postal_code  TEXT NOT NULL,
    fields             TEXT NOT NULL,       -- the application's fields as a JSON object
    method             TEXT NOT NULL CHECK (method IN ('card', 'ach')),
    brand              TEXT,
    first_six          TEXT,
    exp_month          INTEGER,
    exp_year           INTEGER,
    routing_number     TEXT,
    account_type       TEXT,
    last_four          TEXT NOT NULL,
    code               TEXT,                -- decline or failure code
    message            TEXT,
    idempotency_key    TEXT NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users(id),
    created_ms         INTEGER NOT NULL,
    decided_ms         INTEGER
) STRICT;
-- Payment ids sort by time (`payment_id`): the primary key orders payments by creation.
CREATE INDEX payments_by_decided ON payments(decided_ms) WHERE decided_ms IS NOT NULL;
CREATE INDEX payments_unsettled ON payments(status) WHERE status IN ('processing', 'in_doubt');
CREATE INDEX payments_by_last_four ON payments(last_four);

CREATE TABLE confirmations (
    code                   TEXT PRIMARY KEY,   -- Crockford base32 with a check symbol
    payment_id             TEXT NOT NULL UNIQUE REFERENCES payments(id),
    processor_authorization TEXT NOT NULL,
    created_ms             INTEGER NOT NULL
) STRICT;

CREATE TABLE idempotency_keys (
    application_id  TEXT NOT NULL REFERENCES applications(id),
    key             TEXT NOT NULL,
    fingerprint     BLOB NOT NULL,             -- keyed blake3 of the request, never the card number
    payment_id      TEXT NOT NULL REFERENCES payments(id),
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (application_id, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
    seq                INTEGER PRIMARY KEY,    -- commit order; no deletes, so no gaps
    at_ms              INTEGER NOT NULL,
    kind               TEXT NOT NULL,
    application_id     TEXT,                   -- NULL: a security event naming no application
    -- payment events
    payment_id         TEXT REFERENCES payments(id),
    status             TEXT,
    amount_minor       INTEGER,
    currency           TEXT,
    confirmation_code  TEXT,
    code               TEXT,
    last_four          TEXT,
    payer_name         TEXT,
    -- security events
    user_id            TEXT,
    actor              TEXT,
    origin             TEXT,
    CHECK ((payment_id IS NULL) = (user_id IS NOT NULL))
) STRICT;
CREATE INDEX events_by_payment ON events(payment_id, seq) WHERE payment_id IS NOT NULL;

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at_ms    INTEGER NOT NULL,
    actor    TEXT NOT NULL,                    -- who: a user id, or the operator at the command line
    action   TEXT NOT NULL,                    -- what: login, user.add, …
    outcome  TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    origin   TEXT NOT NULL,                    -- where from: a socket peer, the command line
    object   TEXT NOT NULL                     -- what it touched: user:agent1, application:DMV-RENEWAL
) STRICT;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
