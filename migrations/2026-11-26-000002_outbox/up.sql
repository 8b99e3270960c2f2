-- The transactional outbox (ADR 0008): jobs a request promised (mail), kept
-- until the relay has put them on the job queue.
CREATE TABLE outbox (
    id           uuid PRIMARY KEY,
    queue        text NOT NULL,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    available_at timestamptz NOT NULL
);
CREATE INDEX outbox_available ON outbox (available_at, id);
