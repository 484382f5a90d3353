-- Confirmations are found by number: each code is issued as a keyed permutation of a number the
-- store hands out in order (`codes`), so the index of numbers only ever appends, where the index
-- of random codes took a page of its own for nearly every payment. Codes issued before are
-- numbered at the daemon's first start after this (`number_confirmations`): the number their
-- value has under the key. SQLite cannot drop the index of a primary key, so the table is rebuilt
-- as its documentation says (foreign keys off, checked before this commits).
CREATE TABLE confirmations_numbered (
    code                    TEXT NOT NULL,      -- Crockford base32 with a check symbol
    payment_id              TEXT NOT NULL UNIQUE REFERENCES payments(id),
    processor_authorization TEXT NOT NULL,
    created_ms              INTEGER NOT NULL,
    number                  INTEGER UNIQUE      -- NULL only for a code issued before, not yet numbered
) STRICT;
INSERT INTO confirmations_numbered (code, payment_id, processor_authorization, created_ms)
    SELECT code, payment_id, processor_authorization, created_ms FROM confirmations;
DROP TABLE confirmations;
ALTER TABLE confirmations_numbered RENAME TO confirmations;
