-- Email verification, password reset and magic links.

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Single-use tokens for links sent by mail. Only SHA-256 hashes are stored.
-- Issuing a new token of a purpose marks the user's older unused ones as used.
CREATE TABLE one_time_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    purpose    text NOT NULL CHECK (purpose IN ('email_verification', 'password_reset', 'magic_link')),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX one_time_tokens_unused_by_user ON one_time_tokens (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX one_time_tokens_by_expiry ON one_time_tokens (expires_at);
