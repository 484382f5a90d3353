-- Refunds in batch reports: each decided refund goes into exactly one batch, the first run after
-- it was decided, whichever batch reported its payment. A batch counts the refunds it holds.
ALTER TABLE refunds ADD COLUMN batch_id TEXT REFERENCES batches(id);
ALTER TABLE batches ADD COLUMN refund_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX refunds_by_batch ON refunds(batch_id, id) WHERE batch_id IS NOT NULL;
CREATE INDEX refunds_unbatched ON refunds(application_id) WHERE batch_id IS NULL AND status <> 'pending';
