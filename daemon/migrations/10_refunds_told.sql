-- Telling the agency of refunds. In batch reports: each decided refund goes into exactly one
-- batch, the first run after it was decided, whichever batch reported its payment; a batch
-- counts the refunds it holds. By notice: a refund that succeeded is posted to the application's
-- callback URL, each attempt in the delivery log, until the callback takes it.
ALTER TABLE refunds ADD COLUMN batch_id TEXT REFERENCES batches(id);
ALTER TABLE refunds ADD COLUMN notified_ms INTEGER;
ALTER TABLE batches ADD COLUMN refund_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX refunds_by_batch ON refunds(batch_id, id) WHERE batch_id IS NOT NULL;
CREATE INDEX refunds_unbatched ON refunds(application_id) WHERE batch_id IS NULL AND status <> 'pending';
CREATE INDEX refunds_to_notify ON refunds(decided_ms) WHERE status = 'succeeded' AND notified_ms IS NULL;

CREATE TABLE refund_deliveries (
    refund_id   TEXT NOT NULL REFERENCES refunds(id),
    attempt     INTEGER NOT NULL CHECK (attempt > 0),
    at_ms       INTEGER NOT NULL,
    payment_id  TEXT NOT NULL REFERENCES payments(id),
    outcome     TEXT NOT NULL,                 -- "HTTP 200", "no answer in time", …
    taken       INTEGER NOT NULL CHECK (taken IN (0, 1)),
    PRIMARY KEY (refund_id, at_ms, attempt)
) STRICT, WITHOUT ROWID;
