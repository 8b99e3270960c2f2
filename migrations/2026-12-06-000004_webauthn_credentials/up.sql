-- WebAuthn credentials (issue 12): passkeys (a first factor) and security
-- keys (a second factor). Public keys and counters only: nothing secret.
CREATE TABLE webauthn_credentials (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('passkey', 'security_key')),
    credential_id bytea NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    data          jsonb NOT NULL,
    sign_count    bigint NOT NULL CHECK (sign_count >= 0),
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id, created_at);
