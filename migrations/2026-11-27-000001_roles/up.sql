-- Roles and permissions (issue 11). Permissions are `resource:action`
-- patterns (`files:*`, `*`) kept as text; the application parses them.

CREATE TABLE roles (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    permissions text[] NOT NULL DEFAULT '{}',
    -- admin, moderator, user: not deletable, their defining patterns kept
    -- (enforced by the application, domain::role).
    system      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE user_roles (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
-- "Users holding role X" (the admin list's role filter).
CREATE INDEX user_roles_by_role ON user_roles (role_id, user_id);

-- The system roles, with fixed ids (domain::role::SystemRole::id).
INSERT INTO roles (id, name, description, permissions, system, created_at, updated_at) VALUES
    ('00000000-0000-7000-8000-000000000001', 'admin', 'Every permission', '{*}', true, now(), now()),
    ('00000000-0000-7000-8000-000000000002', 'moderator',
        'Reads users and the audit trail; locks and unlocks accounts',
        '{users:read,users:lock,audit:read}', true, now(), now()),
    ('00000000-0000-7000-8000-000000000003', 'user', 'Uploads and manages its own files',
        '{files:read,files:write}', true, now(), now());

-- Accounts that exist already get what new accounts get.
INSERT INTO user_roles (user_id, role_id)
    SELECT id, '00000000-0000-7000-8000-000000000003' FROM users;
