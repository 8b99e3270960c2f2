//! `/api/v1/auth/*`: register, login, refresh, logout, me.

use crate::dto::{
    LoginRequest, RefreshRequest, RegisterRequest, RegisterResponse, SignInResponse, TokenResponse,
    UserResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{AuthUser, Client, ValidJson};
use crate::handlers::{no_store, to_the_end};
use crate::rate_limit::enforce_email;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use portcullis_application::AppError;
use portcullis_application::auth::RegisterInput;
use portcullis_domain::secret::Secret;

/// Create an account.
#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = RegisterResponse),
        (status = 400, description = "VALIDATION_ERROR: every failed rule in details", body = ErrorEnvelope),
        (status = 409, description = "EMAIL_TAKEN", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 503, description = "OVERLOADED: hashing pool full", body = ErrorEnvelope),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    body: ValidJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    enforce_email(&req, &state, &body.email).await?;
    let input = RegisterInput {
        email: body.email,
        password: Secret::new(body.password),
        display_name: body.display_name,
    };
    let user = state.accounts.register(input, &client.0).await?;
    state.metrics.registrations.inc();
    Ok(HttpResponse::Created().json(RegisterResponse { user: UserResponse::from(&user) }))
}

/// Log in with email and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens issued; or, when the account has a second factor, `mfa_required` with a challenge to answer at /api/v1/auth/mfa/challenge (no tokens)", body = SignInResponse),
        (status = 401, description = "INVALID_CREDENTIALS", body = ErrorEnvelope),
        (status = 423, description = "ACCOUNT_LOCKED (Retry-After)", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 503, description = "OVERLOADED", body = ErrorEnvelope),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    body: ValidJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    enforce_email(&req, &state, &body.email).await?;
    let sign_in = state.sign_in.clone();
    let result = to_the_end("login task failed", async move {
        sign_in.login(&body.email, &Secret::new(body.password), &client.0).await
    })
    .await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(AppError::AccountLocked { .. }) => "locked",
        Err(AppError::InvalidCredentials) => "failure",
        Err(_) => "error",
    };
    state.metrics.logins.with_label_values(&[outcome]).inc();
    let signed_in = result?;
    Ok(no_store(HttpResponse::Ok().json(SignInResponse::from(&signed_in))))
}

/// Exchange a refresh token for a new pair (the token rotates).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New pair; `X-Refresh-Reuse: grace` when the current pair is handed back within the grace window", body = TokenResponse),
        (status = 401, description = "REFRESH_TOKEN_REUSED (session revoked), INVALID_TOKEN or TOKEN_EXPIRED", body = ErrorEnvelope),
    )
)]
pub async fn refresh(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let refreshed = state.sign_in.refresh(&Secret::new(body.0.refresh_token), &client.0).await?;
    let mut response = HttpResponse::Ok();
    if refreshed.grace {
        response.insert_header(("X-Refresh-Reuse", "grace"));
    }
    Ok(no_store(response.json(TokenResponse::from(&refreshed.authenticated))))
}

/// End this session: its access and refresh tokens stop working.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "UNAUTHORIZED / INVALID_TOKEN / TOKEN_EXPIRED", body = ErrorEnvelope),
    )
)]
pub async fn logout(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    state.sign_in.logout(&user.0, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The authenticated user.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserResponse),
        (status = 401, description = "UNAUTHORIZED / INVALID_TOKEN / TOKEN_EXPIRED", body = ErrorEnvelope),
    )
)]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let user = state.accounts.me(user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(&user)))
}
