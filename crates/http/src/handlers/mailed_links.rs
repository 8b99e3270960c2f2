//! Mailed links: email verification, password reset, magic links. The
//! endpoints that send mail answer 202 whether or not the address has an
//! account.

use crate::dto::{
    AcceptedResponse, EmailRequest, ResetPasswordRequest, SignInResponse, TokenRequest, UserResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Client, ValidJson};
use crate::handlers::no_store;
use crate::rate_limit::enforce_email;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use portcullis_application::links::LinkPurpose;
use portcullis_domain::secret::Secret;

/// The one shape of the three mail-sending routes: the account's budget, the
/// request recorded (the same work whether or not the address has an
/// account), 202.
async fn mail_link(
    purpose: LinkPurpose,
    state: &AppState,
    req: &HttpRequest,
    client: &Client,
    body: &EmailRequest,
) -> Result<HttpResponse, ApiError> {
    enforce_email(req, state, &body.email).await?;
    state.links.request_mailed_link(purpose, &body.email, &client.0).await?;
    Ok(HttpResponse::Accepted().json(AcceptedResponse::MAIL))
}

/// Confirm an email address with the token from the mailed link.
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email", tag = "recovery",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Verified", body = UserResponse),
        (status = 401, description = "INVALID_TOKEN (unknown, used, superseded) or TOKEN_EXPIRED", body = ErrorEnvelope),
    )
)]
pub async fn verify_email(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state.links.verify_email(&Secret::new(body.0.token), &client.0).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(&user)))
}

/// Send a new verification link (the previous one stops working).
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email/resend", tag = "recovery",
    request_body = EmailRequest,
    responses(
        (status = 202, body = AcceptedResponse),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
    )
)]
pub async fn resend_verification(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    body: ValidJson<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    mail_link(LinkPurpose::Verification, &state, &req, &client, &body.0).await
}

/// Mail a 30-minute password-reset link.
#[utoipa::path(
    post, path = "/api/v1/auth/password/forgot", tag = "recovery",
    request_body = EmailRequest,
    responses(
        (status = 202, body = AcceptedResponse),
        (status = 400, description = "VALIDATION_ERROR (malformed email)", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED (per IP and per email)", body = ErrorEnvelope),
    )
)]
pub async fn forgot_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    body: ValidJson<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    mail_link(LinkPurpose::PasswordReset, &state, &req, &client, &body.0).await
}

/// Set a new password with a reset token; every session is signed out.
#[utoipa::path(
    post, path = "/api/v1/auth/password/reset", tag = "recovery",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "VALIDATION_ERROR (policy)", body = ErrorEnvelope),
        (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED", body = ErrorEnvelope),
    )
)]
pub async fn reset_password(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    state.links.reset_password(&Secret::new(body.token), &Secret::new(body.new_password), &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mail a sign-in link (MAGIC_LINK_TTL, 10 minutes by default).
#[utoipa::path(
    post, path = "/api/v1/auth/magic-link", tag = "recovery",
    request_body = EmailRequest,
    responses(
        (status = 202, body = AcceptedResponse),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
    )
)]
pub async fn request_magic_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    body: ValidJson<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    mail_link(LinkPurpose::MagicLink, &state, &req, &client, &body.0).await
}

/// Sign in with a magic-link token; same answer as a password login.
#[utoipa::path(
    post, path = "/api/v1/auth/magic-link/verify", tag = "recovery",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Tokens, or a second-factor challenge (as for a password login)", body = SignInResponse),
        (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED", body = ErrorEnvelope),
    )
)]
pub async fn verify_magic_link(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let signed_in = state.links.verify_magic_link(&Secret::new(body.0.token), &client.0).await?;
    state.metrics.logins.with_label_values(&["success"]).inc();
    Ok(no_store(HttpResponse::Ok().json(SignInResponse::from(&signed_in))))
}
