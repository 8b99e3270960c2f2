-- An admin's lock on an account (issue 11): no sign-in until unlocked.
ALTER TABLE users ADD COLUMN locked_at timestamptz;
-- The admin list: newest first, its filters.
CREATE INDEX users_locked ON users (id) WHERE locked_at IS NOT NULL;
