//! `/api/v1/users/me*`: profile, password, activity.

use crate::dto::{
    ActivityQuery, ActivityResponse, ChangePasswordRequest, UpdateProfileRequest, UserResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{AuthUser, Client, ValidJson, report_to_errors};
use crate::handlers::to_the_end;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use garde::Validate;
use portcullis_domain::ids::AuditEventId;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::{DisplayName, ProfileChanges};

/// Update the caller's profile (audited with previous and new values).
#[utoipa::path(
    patch, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    )
)]
pub async fn update_me(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    body: ValidJson<UpdateProfileRequest>,
) -> Result<HttpResponse, ApiError> {
    let display_name = match body.0.display_name {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(DisplayName::parse(&raw)?)),
    };
    let updated =
        state.accounts.update_profile(user.0.user_id, ProfileChanges { display_name }, &client.0).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(&updated)))
}

/// Change the password; every other session of the user is revoked.
#[utoipa::path(
    post, path = "/api/v1/users/me/password", tag = "users",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 423, description = "ACCOUNT_LOCKED: too many wrong current passwords (counted like logins)", body = ErrorEnvelope),
        (status = 204, description = "Changed"),
        (status = 400, description = "VALIDATION_ERROR (wrong current password, policy)", body = ErrorEnvelope),
        (status = 401, description = "REAUTHENTICATION_REQUIRED: the sign-in is older than REAUTH_WINDOW (step up first), or not signed in", body = ErrorEnvelope),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    body: ValidJson<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let accounts = state.accounts.clone();
    to_the_end("password change task failed", async move {
        let (current, new) = (Secret::new(body.current_password), Secret::new(body.new_password));
        accounts.change_password(&user.0, &current, &new, &client.0).await
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own security events, newest first.
#[utoipa::path(
    get, path = "/api/v1/users/me/activity", tag = "users",
    security(("bearer" = [])),
    params(ActivityQuery),
    responses(
        (status = 200, body = ActivityResponse),
        (status = 400, description = "VALIDATION_ERROR (limit out of range)", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    )
)]
pub async fn activity(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    query.validate().map_err(|r| ApiError::from(report_to_errors(&r)))?;
    let page = state
        .accounts
        .activity(user.0.user_id, query.cursor.map(AuditEventId), query.limit.unwrap_or(20))
        .await?;
    Ok(HttpResponse::Ok().json(ActivityResponse::from(&page)))
}
