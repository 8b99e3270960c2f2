//! The OpenAPI document, served at `/api-docs/openapi.json` and browsed at `/docs`.

use crate::dto::*;
use crate::error::{ErrorBody, ErrorEnvelope};
use crate::handlers::{
    admin, audit, auth, devices, files, invitations, live, mailed_links, mfa, oauth, operations, roles,
    sessions, user_admin, users, webauthn,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis", description = "Identity and access (registration, login, rotating refresh tokens, sessions, audit) and secure file intake."),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::me,
        users::update_me, users::change_password, users::activity,
        sessions::list, sessions::revoke, sessions::revoke_others,
        devices::list, devices::trust, devices::remove,
        mailed_links::verify_email, mailed_links::resend_verification, mailed_links::forgot_password,
        mailed_links::reset_password, mailed_links::request_magic_link, mailed_links::verify_magic_link,
        files::upload, files::list, files::get, files::delete, files::upload_url, files::confirm, files::download_url, live::socket,
        admin::queues, admin::retry_dead, audit::list,
        user_admin::list, user_admin::detail, user_admin::lock, user_admin::unlock, user_admin::end_sessions,
        roles::list, roles::create, roles::update, roles::delete, roles::set_user_roles,
        invitations::create, invitations::list, invitations::revoke, invitations::accept,
        mfa::status, mfa::totp_setup, mfa::totp_verify, mfa::regenerate_backup_codes, mfa::disable,
        mfa::challenge, mfa::reauthenticate, mfa::sms_setup, mfa::sms_verify, mfa::sms_send, mfa::challenge_sms,
        webauthn::register_start, webauthn::register_finish, webauthn::list, webauthn::rename, webauthn::remove,
        webauthn::sign_in_start, webauthn::sign_in_finish, webauthn::challenge_start, webauthn::challenge_finish,
        oauth::authorize, oauth::link, oauth::callback, oauth::confirm_link, oauth::accounts, oauth::unlink,
        operations::health, operations::live, operations::ready, operations::metrics, operations::jwks,
    ),
    components(schemas(
        RegisterRequest, LoginRequest, RefreshRequest, UpdateProfileRequest, ChangePasswordRequest,
        UserResponse, RegisterResponse, TokenResponse, ActivityItem, ActivityResponse, HealthResponse,
        ErrorEnvelope, ErrorBody, crate::error::ErrorCode, EmailRequest, TokenRequest, ResetPasswordRequest, AcceptedResponse,
        QueuesResponse, QueueReport, DeadJobItem,
        SessionItem, SessionsResponse, RevokedResponse, DeviceItem, DevicesResponse, DeviceTrustRequest,
        AuditItem, AuditLogResponse, AdminUserItem, AdminUsersResponse, AdminUserDetail,
        RoleRequest, RoleResponse, RolesResponse, UserRolesRequest, UserRolesResponse,
        InvitationRequest, InvitationResponse, InvitationsResponse, AcceptInvitationRequest, AcceptInvitationResponse,
        FileResponse, UploadResponse, FileListResponse, UploadForm, FileStatusName, UploadUrlRequest, UploadUrlResponse, PresignedResponse,
        SignInResponse, MfaChallengeResponse, MfaChallengeRequest, FactorName, CodeRequest, FactorCodeRequest,
        SmsSetupRequest, SmsSentResponse, ChallengeIdRequest,
        CredentialKindName, WebauthnRegisterStartRequest, CeremonyResponse, WebauthnRegisterFinishRequest,
        WebauthnCredentialItem, WebauthnRegisteredResponse, WebauthnCredentialsResponse, RenameCredentialRequest,
        PasskeySignInFinishRequest, SecurityKeyAnswerRequest,
        AuthorizeUrlResponse, LinkedAccountItem, LinkedAccountsResponse, LinkRequiredResponse, OAuthCallbackResponse,
        ConfirmLinkRequest,
        TotpSetupResponse, BackupCodesResponse, MfaStatusResponse, ReauthenticateRequest, PasswordProof, CodeProof, AccessTokenResponse,
    )),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "auth", description = "Credentials and tokens"),
        (name = "users", description = "The caller's own account"),
        (name = "recovery", description = "Email verification, password reset, magic links"),
        (name = "mfa", description = "Second factors (authenticator app, texted codes, backup codes), sign-in challenges, step-up"),
        (name = "files", description = "File intake: upload, scan, process, download"),
        (name = "admin", description = "Administration: roles, queues (each route names the permission it needs)"),
        (name = "meta", description = "Health, metrics, keys"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
        components.add_security_scheme(
            "metrics_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("METRICS_BEARER_TOKEN, when the operator set one"))
                    .build(),
            ),
        );
    }
}

/// Answers every route can give, documented once instead of on each handler:
/// 400/408/413/415 for JSON bodies (and 400 for query strings), 401 for routes
/// that take a bearer token, 429 for the rate-limited API.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with("/api/v1/");
            let operations =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in operations.into_iter().flatten() {
                let json_body = op.request_body.is_some();
                let query = op
                    .parameters
                    .as_ref()
                    .is_some_and(|ps| ps.iter().any(|p| matches!(p.parameter_in, ParameterIn::Query)));
                let bearer = op
                    .security
                    .as_ref()
                    .is_some_and(|reqs| serde_json::to_string(reqs).is_ok_and(|s| s.contains("\"bearer\"")));
                let mut add = |code: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                if json_body || query {
                    add(
                        "400",
                        "BAD_REQUEST (malformed JSON or query) or VALIDATION_ERROR (details: one entry per field)",
                    );
                }
                if json_body {
                    add("408", "REQUEST_TIMEOUT: the body did not arrive within REQUEST_BODY_TIMEOUT");
                    add("413", "PAYLOAD_TOO_LARGE (details.limit_bytes)");
                    add("415", "UNSUPPORTED_MEDIA_TYPE: the body must be application/json");
                }
                if bearer {
                    add("401", "UNAUTHORIZED / INVALID_TOKEN / TOKEN_EXPIRED");
                }
                if api {
                    add("429", "RATE_LIMITED (Retry-After; details.retry_after_seconds)");
                }
            }
        }
    }
}
