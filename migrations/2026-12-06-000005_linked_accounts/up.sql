-- Accounts at OAuth/OIDC providers linked to users (issue 12). The provider's
-- tokens are sealed with AES-256-GCM (ENCRYPTION_KEYS), never in the clear.
CREATE TABLE linked_accounts (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      text NOT NULL CHECK (length(provider) BETWEEN 1 AND 64),
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    email         text,
    sealed_tokens bytea,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    UNIQUE (provider, subject)
);
CREATE INDEX linked_accounts_user ON linked_accounts (user_id, created_at);
