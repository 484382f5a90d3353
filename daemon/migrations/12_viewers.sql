-- The viewer role (agency customer service: reads and exports payments, nothing more). SQLite
-- cannot change a CHECK in place, so `users` is rebuilt as its documentation says: the
-- migrations run with foreign keys off, and this one has them checked before it commits.
CREATE TABLE users_with_viewers (
    id               TEXT PRIMARY KEY,
    role             TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin', 'api', 'viewer')),
    password_hash    TEXT NOT NULL,         -- argon2id PHC string
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_until_ms  INTEGER,
    created_ms       INTEGER NOT NULL
) STRICT;
INSERT INTO users_with_viewers (id, role, password_hash, failed_attempts, locked_until_ms, created_ms)
    SELECT id, role, password_hash, failed_attempts, locked_until_ms, created_ms FROM users;
DROP TABLE users;
ALTER TABLE users_with_viewers RENAME TO users;
