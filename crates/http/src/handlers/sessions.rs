//! `/api/v1/sessions`: the caller's own sessions.

use crate::dto::{RevokedResponse, SessionItem, SessionsResponse};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{AuthUser, Client};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use portcullis_domain::ids::SessionId;

/// Your live sessions, newest first; the one of this token is marked `current`.
#[utoipa::path(
    get, path = "/api/v1/sessions", tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = SessionsResponse), (status = 401, body = ErrorEnvelope))
)]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let views = state.sessions.list(&user.0).await?;
    Ok(HttpResponse::Ok()
        .json(SessionsResponse { sessions: views.iter().map(SessionItem::from_view).collect() }))
}

/// End one of your sessions: its tokens stop working at once on every
/// instance and its open status sockets close. Ending the current one is a logout.
#[utoipa::path(
    delete, path = "/api/v1/sessions/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: not one of your live sessions", body = ErrorEnvelope),
    )
)]
pub async fn revoke(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: SessionId = super::path_id(&path, "session")?;
    state.sessions.revoke(&user.0, id, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session but the current one.
#[utoipa::path(
    delete, path = "/api/v1/sessions", tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = RevokedResponse), (status = 401, body = ErrorEnvelope))
)]
pub async fn revoke_others(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let revoked = state.sessions.revoke_others(&user.0, &client.0).await?;
    Ok(HttpResponse::Ok().json(RevokedResponse { revoked }))
}
