-- Second factors (issue 12). The TOTP secret is sealed with AES-256-GCM
-- (ENCRYPTION_KEYS; the ciphertext names its key). last_used_step makes each
-- code single use. Backup codes are kept only as SHA-256 of 80 random bits.
CREATE TABLE totp_factors (
    user_id        uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret  bytea NOT NULL,
    created_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,
    last_used_step bigint CHECK (last_used_step >= 0)
);

CREATE TABLE backup_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
