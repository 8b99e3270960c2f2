-- Devices a user signed in from (issue 11). `key` is how the device is
-- recognised: `id:<sha256 of X-Device-Id>` or `agent:<family on platform>`.
CREATE TABLE devices (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key           text NOT NULL,
    name          text NOT NULL,
    trusted       boolean NOT NULL DEFAULT false,
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    last_ip       text,
    UNIQUE (user_id, key)
);
-- The retention purge.
CREATE INDEX devices_by_last_seen ON devices (last_seen_at);

ALTER TABLE sessions ADD COLUMN device_id uuid REFERENCES devices (id) ON DELETE SET NULL;
CREATE INDEX sessions_by_device ON sessions (device_id) WHERE device_id IS NOT NULL;
