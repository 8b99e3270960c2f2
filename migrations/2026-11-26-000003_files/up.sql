-- Uploaded files (docs/files.md): one row per file, its status history, and
-- the per-owner digest index that makes dedupe a database guarantee.
CREATE TABLE files (
    id           uuid PRIMARY KEY,
    owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    display_name text NOT NULL,
    file_type    text,
    size         bigint NOT NULL CHECK (size >= 0),
    digest       bytea CHECK (digest IS NULL OR octet_length(digest) = 32),
    status       text NOT NULL,
    object_key   text NOT NULL UNIQUE,
    message      text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX files_owner_digest ON files (owner_id, digest) WHERE digest IS NOT NULL;
CREATE INDEX files_owner_newest ON files (owner_id, id DESC);

CREATE TABLE file_status_changes (
    id          bigserial PRIMARY KEY,
    file_id     uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    message     text,
    at          timestamptz NOT NULL
);
CREATE INDEX file_status_changes_file ON file_status_changes (file_id, id);
