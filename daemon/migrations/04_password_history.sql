-- The passwords a user had before (argon2id PHC strings), so a change cannot bring one of the
-- last few back (PCI DSS 8.3.7).
CREATE TABLE password_history (
    user_id        TEXT NOT NULL REFERENCES users(id),
    password_hash  TEXT NOT NULL,
    replaced_ms    INTEGER NOT NULL
) STRICT;
CREATE INDEX password_history_by_user ON password_history(user_id, replaced_ms);
