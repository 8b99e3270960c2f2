//! `/api/v1/admin/roles` and `/api/v1/admin/users/{id}/roles`. Each route
//! declares its permission where it is registered; the use cases check it
//! again. These handlers parse, call and map.

use crate::dto::{RoleRequest, RoleResponse, RolesResponse, UserRolesRequest, UserRolesResponse};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Caller, Client, ValidJson};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use portcullis_application::roles::RoleInput;
use portcullis_domain::ids::{RoleId, UserId};

fn role_id(raw: &str) -> Result<RoleId, ApiError> {
    super::path_id(raw, "role")
}

fn input(body: RoleRequest) -> RoleInput {
    RoleInput {
        name: body.name,
        description: body.description.unwrap_or_default(),
        permissions: body.permissions,
    }
}

/// Every role, by name.
#[utoipa::path(
    get, path = "/api/v1/admin/roles", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = RolesResponse),
        (status = 403, description = "FORBIDDEN: needs roles:read", body = ErrorEnvelope),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let roles = state.roles.list(&caller.0, &client.0).await?;
    Ok(HttpResponse::Ok().json(RolesResponse { roles: roles.iter().map(RoleResponse::from_role).collect() }))
}

/// Create a role.
#[utoipa::path(
    post, path = "/api/v1/admin/roles", tag = "admin",
    security(("bearer" = [])),
    request_body = RoleRequest,
    responses(
        (status = 201, body = RoleResponse),
        (status = 400, description = "VALIDATION_ERROR: a bad name or permission pattern", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: needs roles:write", body = ErrorEnvelope),
        (status = 409, description = "ROLE_NAME_TAKEN", body = ErrorEnvelope),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    body: ValidJson<RoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let role = state.roles.create(&caller.0, &input(body.0), &client.0).await?;
    Ok(HttpResponse::Created().json(RoleResponse::from_role(&role)))
}

/// Replace a role's name, description and permissions.
#[utoipa::path(
    put, path = "/api/v1/admin/roles/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Role id")),
    request_body = RoleRequest,
    responses(
        (status = 200, body = RoleResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: needs roles:write", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such role", body = ErrorEnvelope),
        (status = 409, description = "ROLE_NAME_TAKEN, or ROLE_PROTECTED: a system role keeps its name and defining permissions", body = ErrorEnvelope),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
    body: ValidJson<RoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = role_id(&path)?;
    let role = state.roles.update(&caller.0, id, &input(body.0), &client.0).await?;
    Ok(HttpResponse::Ok().json(RoleResponse::from_role(&role)))
}

/// Delete a role (and every assignment of it).
#[utoipa::path(
    delete, path = "/api/v1/admin/roles/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Role id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "FORBIDDEN: needs roles:write", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such role", body = ErrorEnvelope),
        (status = 409, description = "ROLE_PROTECTED: a system role", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.roles.delete(&caller.0, role_id(&path)?, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set the roles a user holds (the complete set, by name).
#[utoipa::path(
    put, path = "/api/v1/admin/users/{id}/roles", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UserRolesRequest,
    responses(
        (status = 200, body = UserRolesResponse),
        (status = 400, description = "VALIDATION_ERROR: an unknown role", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: needs roles:assign", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such user", body = ErrorEnvelope),
        (status = 409, description = "ROLE_PROTECTED: your own admin role", body = ErrorEnvelope),
    )
)]
pub async fn set_user_roles(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
    body: ValidJson<UserRolesRequest>,
) -> Result<HttpResponse, ApiError> {
    let user: UserId = super::path_id(&path, "user")?;
    let roles = state.roles.set_user_roles(&caller.0, user, &body.0.roles, &client.0).await?;
    let roles = roles.iter().map(|r| r.name.as_str().to_owned()).collect();
    Ok(HttpResponse::Ok().json(UserRolesResponse { user_id: user.0, roles }))
}
