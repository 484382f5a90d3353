-- The viewer role (agency customer service: reads and exports payments, nothing more).
ALTER TABLE users DROP CONSTRAINT users_role_check,
    ADD CONSTRAINT users_role_check CHECK (role IN ('agent', 'supervisor', 'admin', 'api', 'viewer'));
