-- The revocation cache is rebuilt from sessions revoked within the access-token
-- lifetime (ADR 0007): find them without a table scan.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
