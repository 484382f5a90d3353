-- Facts about the store itself. `fingerprint_key_check` is a check value of the key every
-- daemon on the store fingerprints requests with: a daemon with another key is refused at start,
-- before it could answer a resend under a key as a different request.
CREATE TABLE store_settings (
    name   TEXT COLLATE "C" PRIMARY KEY,
    value  BYTEA NOT NULL
);
