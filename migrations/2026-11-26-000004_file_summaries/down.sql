DROP INDEX files_quarantine;
ALTER TABLE files DROP COLUMN purged_at;
ALTER TABLE files DROP COLUMN summary;
