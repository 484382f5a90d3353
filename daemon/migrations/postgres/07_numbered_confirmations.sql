-- Confirmations are found by number: each code is issued as a keyed permutation of a number the
-- store hands out in order (`codes`), so the index of numbers only ever appends, where the index
-- of random codes took a page of its own for nearly every payment. Codes issued before are
-- numbered at a daemon's first start after this (`number_confirmations`): the number their value
-- has under the key; until then `number` is NULL.
ALTER TABLE confirmations DROP CONSTRAINT confirmations_pkey;
ALTER TABLE confirmations ADD COLUMN number BIGINT CONSTRAINT confirmations_number UNIQUE;
