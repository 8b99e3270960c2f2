//! Diesel table definitions, matching `migrations/`.

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        email_verified_at -> Nullable<Timestamptz>,
        locked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        sign_in_method -> Text,
        trust_score -> Int2,
        device_id -> Nullable<Uuid>,
        second_factor -> Nullable<Text>,
        auth_time -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        rotated_at -> Nullable<Timestamptz>,
        child_hash -> Nullable<Bytea>,
        sealed_child -> Nullable<Bytea>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        occurred_at -> Timestamptz,
        action -> Text,
        severity -> Text,
        user_id -> Nullable<Uuid>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        request_id -> Nullable<Text>,
        details -> Jsonb,
    }
}

diesel::table! {
    one_time_tokens (token_hash) {
        token_hash -> Bytea,
        purpose -> Text,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(one_time_tokens -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::table! {
    outbox (id) {
        id -> Uuid,
        queue -> Text,
        kind -> Text,
        payload -> Jsonb,
        created_at -> Timestamptz,
        available_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    refresh_tokens,
    audit_events,
    one_time_tokens,
    outbox
);

diesel::table! {
    files (id) {
        id -> Uuid,
        owner_id -> Uuid,
        display_name -> Text,
        file_type -> Nullable<Text>,
        size -> Int8,
        digest -> Nullable<Bytea>,
        status -> Text,
        object_key -> Text,
        message -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        summary -> Nullable<Jsonb>,
        purged_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    file_status_changes (id) {
        id -> Int8,
        file_id -> Uuid,
        from_status -> Nullable<Text>,
        to_status -> Text,
        message -> Nullable<Text>,
        at -> Timestamptz,
    }
}

diesel::joinable!(file_status_changes -> files (file_id));

diesel::table! {
    roles (id) {
        id -> Uuid,
        name -> Text,
        description -> Text,
        permissions -> Array<Text>,
        system -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    user_roles (user_id, role_id) {
        user_id -> Uuid,
        role_id -> Uuid,
    }
}

diesel::joinable!(user_roles -> roles (role_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(roles, user_roles, users);

diesel::table! {
    devices (id) {
        id -> Uuid,
        user_id -> Uuid,
        key -> Text,
        name -> Text,
        trusted -> Bool,
        first_seen_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        last_ip -> Nullable<Text>,
    }
}

diesel::joinable!(devices -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(devices, users);

diesel::table! {
    invitations (id) {
        id -> Uuid,
        email -> Text,
        roles -> Array<Text>,
        token_hash -> Bytea,
        invited_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        accepted_by -> Nullable<Uuid>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(invitations, outbox);

diesel::table! {
    totp_factors (user_id) {
        user_id -> Uuid,
        sealed_secret -> Bytea,
        created_at -> Timestamptz,
        confirmed_at -> Nullable<Timestamptz>,
        last_used_step -> Nullable<Int8>,
    }
}

diesel::table! {
    backup_codes (user_id, code_hash) {
        user_id -> Uuid,
        code_hash -> Bytea,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sms_factors (user_id) {
        user_id -> Uuid,
        phone -> Text,
        created_at -> Timestamptz,
        confirmed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webauthn_credentials (id) {
        id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        credential_id -> Bytea,
        name -> Text,
        data -> Jsonb,
        sign_count -> Int8,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    linked_accounts (id) {
        id -> Uuid,
        user_id -> Uuid,
        provider -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        sealed_tokens -> Nullable<Bytea>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(totp_factors, backup_codes, sms_factors, webauthn_credentials);
