-- Batch reports: what CIP has transmitted to each agency's outbox. A batch claims its payments
-- (sets their batch_id) in one transaction; its file is written from that claim, so a run cut
-- short is finished by the next one and no payment is ever claimed twice.
CREATE TABLE batches (
    id              TEXT PRIMARY KEY,       -- bat_…, also the batch file's name
    application_id  TEXT NOT NULL REFERENCES applications(id),
    created_ms      INTEGER NOT NULL,       -- when its payments were claimed
    payment_count   INTEGER NOT NULL,
    sha256          TEXT,                   -- of the batch file, once written
    transmitted_ms  INTEGER                 -- NULL: claimed, its file not yet complete
) STRICT;
CREATE INDEX batches_by_application ON batches(application_id, created_ms);
CREATE INDEX batches_untransmitted ON batches(application_id) WHERE transmitted_ms IS NULL;

ALTER TABLE payments ADD COLUMN batch_id TEXT REFERENCES batches(id);
-- Payments no batch has claimed yet (few: a day's worth), and each batch's payments.
CREATE INDEX payments_unreported ON payments(application_id) WHERE batch_id IS NULL;
CREATE INDEX payments_by_batch ON payments(batch_id, id) WHERE batch_id IS NOT NULL;

-- A batch.transmitted event names its batch, its payment count and who ran it (user_id: the
-- operator or the daemon's schedule); amount_minor and currency hold its approved total.
ALTER TABLE events ADD COLUMN batch_id TEXT;
ALTER TABLE events ADD COLUMN payment_count INTEGER;
