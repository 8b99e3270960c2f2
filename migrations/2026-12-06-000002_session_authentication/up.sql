-- What a session's sign-in proved (issue 12): the second factor used, if any,
-- and when the user last authenticated (sign-in or step-up), which access
-- tokens carry as `amr` and `auth_time`.
ALTER TABLE sessions ADD COLUMN second_factor text;
ALTER TABLE sessions ADD COLUMN auth_time timestamptz;
UPDATE sessions SET auth_time = created_at;
ALTER TABLE sessions ALTER COLUMN auth_time SET NOT NULL;
