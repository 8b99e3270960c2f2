//! The caller's devices: list them, mark one trusted (its future sessions
//! are trusted more), remove one (its sessions end).

use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{AccessClaims, Clock, DeviceStore, SessionStore};
use crate::sessions::SessionService;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::device::Device;
use portcullis_domain::ids::DeviceId;
use serde_json::json;
use std::sync::Arc;

#[derive(Clone)]
pub struct DeviceService {
    devices: Arc<dyn DeviceStore>,
    sessions: Arc<dyn SessionStore>,
    ending: SessionService,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl DeviceService {
    pub fn new(
        devices: Arc<dyn DeviceStore>,
        sessions: Arc<dyn SessionStore>,
        ending: SessionService,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { devices, sessions, ending, audit, clock }
    }

    /// The caller's devices, most recently seen first.
    pub async fn list(&self, claims: &AccessClaims) -> Result<Vec<Device>, AppError> {
        Ok(self.devices.list(claims.user_id).await?)
    }

    /// Marks one of the caller's devices trusted or not. Sessions opened from
    /// it afterwards get the trusted-device share of the trust score.
    pub async fn set_trusted(
        &self,
        claims: &AccessClaims,
        id: DeviceId,
        trusted: bool,
        ctx: &RequestContext,
    ) -> Result<Device, AppError> {
        let device = self
            .devices
            .set_trusted(claims.user_id, id, trusted)
            .await?
            .ok_or(AppError::NotFound("device"))?;
        let details = json!({ "device_id": id, "name": device.name, "trusted": trusted });
        self.audit.record(AuditAction::DeviceTrustChanged, Some(claims.user_id), ctx, details).await;
        Ok(device)
    }

    /// Forgets one of the caller's devices and ends every session opened
    /// from it (the current one too, if it is one of them).
    pub async fn remove(
        &self,
        claims: &AccessClaims,
        id: DeviceId,
        ctx: &RequestContext,
    ) -> Result<usize, AppError> {
        let owned = self.devices.list(claims.user_id).await?.into_iter().find(|d| d.id == id);
        let Some(device) = owned else { return Err(AppError::NotFound("device")) };
        let ended = self.sessions.revoke_for_device(claims.user_id, id, self.clock.now()).await?;
        self.ending.ended(&ended).await;
        if !self.devices.delete(claims.user_id, id).await? {
            return Err(AppError::NotFound("device"));
        }
        let details = json!({ "device_id": id, "name": device.name, "sessions_ended": ended.len() });
        self.audit.record(AuditAction::DeviceRemoved, Some(claims.user_id), ctx, details).await;
        Ok(ended.len())
    }
}
