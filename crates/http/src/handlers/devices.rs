//! `/api/v1/devices`: the devices the caller signed in from.

use crate::dto::{DeviceItem, DeviceTrustRequest, DevicesResponse, RevokedResponse};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{AuthUser, Client, ValidJson};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use portcullis_domain::ids::DeviceId;

fn device_id(raw: &str) -> Result<DeviceId, ApiError> {
    super::path_id(raw, "device")
}

/// Your devices, most recently seen first. A device is recognised by the
/// `X-Device-Id` header a client sends at sign-in, else by its user agent's
/// family and platform.
#[utoipa::path(
    get, path = "/api/v1/devices", tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = DevicesResponse), (status = 401, body = ErrorEnvelope))
)]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let devices = state.devices.list(&user.0).await?;
    Ok(HttpResponse::Ok()
        .json(DevicesResponse { devices: devices.iter().map(DeviceItem::from_device).collect() }))
}

/// Mark a device trusted (or not): sessions opened from it later get a higher
/// trust score, and with it a relaxed general rate budget.
#[utoipa::path(
    put, path = "/api/v1/devices/{id}/trust", tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Device id")),
    request_body = DeviceTrustRequest,
    responses(
        (status = 200, body = DeviceItem),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: not one of your devices", body = ErrorEnvelope),
    )
)]
pub async fn trust(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    path: web::Path<String>,
    body: ValidJson<DeviceTrustRequest>,
) -> Result<HttpResponse, ApiError> {
    let device = state.devices.set_trusted(&user.0, device_id(&path)?, body.0.trusted, &client.0).await?;
    Ok(HttpResponse::Ok().json(DeviceItem::from_device(&device)))
}

/// Forget a device and end every session opened from it.
#[utoipa::path(
    delete, path = "/api/v1/devices/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Device id")),
    responses(
        (status = 200, description = "How many sessions ended", body = RevokedResponse),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: not one of your devices", body = ErrorEnvelope),
    )
)]
pub async fn remove(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let revoked = state.devices.remove(&user.0, device_id(&path)?, &client.0).await?;
    Ok(HttpResponse::Ok().json(RevokedResponse { revoked }))
}
