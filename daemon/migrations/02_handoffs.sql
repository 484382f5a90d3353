-- Partial mode: an agency hands its customer over to CIP's payment pages.
CREATE TABLE handoffs (
    id              TEXT PRIMARY KEY,       -- hof_…, what the agency and the return URL carry
    application_id  TEXT NOT NULL REFERENCES applications(id),
    user_id         TEXT NOT NULL REFERENCES users(id),   -- the api user that registered it
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL,
    fields          TEXT NOT NULL,          -- the application's fields as a JSON object
    payer           TEXT NOT NULL,          -- what the agency knows of the payer, JSON
    return_url      TEXT NOT NULL,
    link_hash       BLOB NOT NULL UNIQUE,   -- blake3 of the one-time pay link's secret
    link_used_ms    INTEGER,
    created_ms      INTEGER NOT NULL,
    expires_ms      INTEGER NOT NULL,
    notified_ms     INTEGER                 -- when the agency's callback took the notification
) STRICT;
-- A hand-off's payments are those whose idempotency key starts with `hof-<its hex>-` (see
-- `store::handoffs::key_prefix`): the link is committed with each payment, by construction.
-- Hand-offs whose agency has not taken a notification yet.
CREATE INDEX handoffs_to_notify ON handoffs(created_ms) WHERE notified_ms IS NULL;
