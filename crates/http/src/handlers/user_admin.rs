//! `/api/v1/admin/users`: accounts for admins (`users:read`, `users:lock`).

use crate::dto::{
    AdminUserDetail, AdminUserItem, AdminUsersResponse, DeviceItem, RevokedResponse, SessionItem,
    UserListQuery,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Caller, Client, report_to_errors};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use garde::Validate;
use portcullis_application::ports::UserFilter;
use portcullis_domain::ids::UserId;
use time::format_description::well_known::Rfc3339;

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    super::path_id(raw, "user")
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Accounts, newest first: search by email, filter by role, status and
/// verification; pages follow `next_cursor`.
#[utoipa::path(
    get, path = "/api/v1/admin/users", tag = "admin",
    security(("bearer" = [])),
    params(UserListQuery),
    responses(
        (status = 200, body = AdminUsersResponse),
        (status = 400, description = "VALIDATION_ERROR: a bad filter or an unknown role", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: needs users:read", body = ErrorEnvelope),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    query: web::Query<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    q.validate().map_err(|r| ApiError::from(report_to_errors(&r)))?;
    let filter = UserFilter {
        email_contains: q.email.clone(),
        role: None,
        locked: q.status.as_deref().map(|s| s == "locked"),
        verified: q.verified,
    };
    let page = state
        .user_admin
        .list(&caller.0, filter, q.role.as_deref(), q.cursor.map(UserId), q.limit.unwrap_or(50), &client.0)
        .await?;
    Ok(HttpResponse::Ok().json(AdminUsersResponse {
        users: page.users.iter().map(AdminUserItem::from).collect(),
        next_cursor: page.next.map(|u| u.as_uuid()),
    }))
}

/// One account: roles, live sessions, devices, last sign-in.
#[utoipa::path(
    get, path = "/api/v1/admin/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = AdminUserDetail),
        (status = 403, description = "FORBIDDEN: needs users:read", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such user", body = ErrorEnvelope),
    )
)]
pub async fn detail(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let d = state.user_admin.detail(&caller.0, user_id(&path)?, &client.0).await?;
    Ok(HttpResponse::Ok().json(AdminUserDetail {
        user: AdminUserItem::from(&d.user),
        locked_at: d.user.locked_at.map(rfc3339),
        roles: d.roles.iter().map(|r| r.name.as_str().to_owned()).collect(),
        sessions: d.sessions.iter().map(SessionItem::from_view).collect(),
        devices: d.devices.iter().map(DeviceItem::from_device).collect(),
        last_sign_in_at: d.last_sign_in_at.map(rfc3339),
    }))
}

/// Lock an account: no sign-in until unlocked; every session ends at once.
#[utoipa::path(
    post, path = "/api/v1/admin/users/{id}/lock", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = AdminUserItem),
        (status = 400, description = "VALIDATION_ERROR: your own account", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: needs users:lock", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such user", body = ErrorEnvelope),
    )
)]
pub async fn lock(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = state.user_admin.lock(&caller.0, user_id(&path)?, &client.0).await?;
    Ok(HttpResponse::Ok().json(AdminUserItem::from(&user)))
}

/// Unlock an account.
#[utoipa::path(
    post, path = "/api/v1/admin/users/{id}/unlock", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = AdminUserItem),
        (status = 403, description = "FORBIDDEN: needs users:lock", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such user", body = ErrorEnvelope),
    )
)]
pub async fn unlock(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = state.user_admin.unlock(&caller.0, user_id(&path)?, &client.0).await?;
    Ok(HttpResponse::Ok().json(AdminUserItem::from(&user)))
}

/// End every session of an account.
#[utoipa::path(
    delete, path = "/api/v1/admin/users/{id}/sessions", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = RevokedResponse),
        (status = 403, description = "FORBIDDEN: needs users:lock", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such user", body = ErrorEnvelope),
    )
)]
pub async fn end_sessions(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let revoked = state.user_admin.end_sessions(&caller.0, user_id(&path)?, &client.0).await?;
    Ok(HttpResponse::Ok().json(RevokedResponse { revoked }))
}
