-- What processing found (kept once a file is ready), and when an infected
-- file's bytes were removed from the store after QUARANTINE_RETENTION.
ALTER TABLE files ADD COLUMN summary jsonb;
ALTER TABLE files ADD COLUMN purged_at timestamptz;
CREATE INDEX files_quarantine ON files (updated_at) WHERE status = 'infected' AND purged_at IS NULL;
