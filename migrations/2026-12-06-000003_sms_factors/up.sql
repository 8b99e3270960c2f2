-- Texted codes (issue 12): the phone a user proved is theirs, in E.164.
-- The codes themselves live 5 minutes in the ephemeral store, salted and
-- hashed; nothing here is secret.
CREATE TABLE sms_factors (
    user_id      uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phone        text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    created_at   timestamptz NOT NULL,
    confirmed_at timestamptz
);
