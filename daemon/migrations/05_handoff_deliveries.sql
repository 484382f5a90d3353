-- The delivery log of hand-off notifications: one row per attempt to tell the agency's callback
-- URL that its hand-off was paid. Each attempt is also a payment event (`agency.notified` or
-- `agency.notify_failed`, its `code` the outcome), so supervisors read it in the timeline.
CREATE TABLE handoff_deliveries (
    handoff_id  TEXT NOT NULL REFERENCES handoffs(id),
    attempt     INTEGER NOT NULL CHECK (attempt > 0),
    at_ms       INTEGER NOT NULL,
    payment_id  TEXT NOT NULL REFERENCES payments(id),
    outcome     TEXT NOT NULL,                 -- "HTTP 200", "no answer in time", …
    taken       INTEGER NOT NULL CHECK (taken IN (0, 1)),
    PRIMARY KEY (handoff_id, at_ms, attempt)
) STRICT, WITHOUT ROWID;
