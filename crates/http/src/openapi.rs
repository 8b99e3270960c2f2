//! The OpenAPI document, served at `/api-docs/openapi.json` and browsed at `/docs`.

use crate::dto::*;
use crate::error::{ErrorBody, ErrorEnvelope};
use crate::handlers::{admin, auth, meta, recovery, users};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis", description = "Identity and access: registration, login, rotating refresh tokens, sessions, audit."),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::me,
        users::update_me, users::change_password, users::activity,
        recovery::verify_email, recovery::resend_verification, recovery::forgot_password,
        recovery::reset_password, recovery::request_magic_link, recovery::verify_magic_link,
        admin::queues, admin::retry_dead,
        meta::live, meta::ready, meta::metrics, meta::jwks,
    ),
    components(schemas(
        RegisterRequest, LoginRequest, RefreshRequest, UpdateProfileRequest, ChangePasswordRequest,
        UserResponse, RegisterResponse, TokenResponse, ActivityItem, ActivityResponse, HealthResponse,
        ErrorEnvelope, ErrorBody, EmailRequest, TokenRequest, ResetPasswordRequest, AcceptedResponse,
        QueuesResponse, QueueReport, DeadJobItem,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Credentials and tokens"),
        (name = "users", description = "The caller's own account"),
        (name = "recovery", description = "Email verification, password reset, magic links"),
        (name = "admin", description = "Operations (ADMIN_EMAILS)"),
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
