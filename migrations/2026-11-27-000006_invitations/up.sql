-- Invitations (issue 11): a single-use token, kept only as its SHA-256, good
-- for seven days; the roles are names (a role deleted meanwhile is skipped).
CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    email        text NOT NULL,
    roles        text[] NOT NULL DEFAULT '{}',
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    invited_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    accepted_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   timestamptz
);
CREATE INDEX invitations_newest ON invitations (created_at DESC, id DESC);
