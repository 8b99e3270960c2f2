//! The caller's own sessions: list them, end one, end all but the current
//! one. Ending a session is the same everywhere (here, an admin's lock, a
//! removed device): the database first, then the revocation cache every
//! instance checks, then an announcement that closes its open sockets.

use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{AccessClaims, Clock, DeviceStore, EventBus, SessionStore};
use crate::revocation::Revocations;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::device::Device;
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::session::{Session, SessionLimits};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;

/// A session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub session: Session,
    /// When it ends unless used again (idle and absolute limits).
    pub expires_at: OffsetDateTime,
    /// The session of the token that asked.
    pub current: bool,
    /// The device it was opened from, when known (and not removed since).
    pub device: Option<Device>,
}

#[derive(Clone)]
pub struct SessionService {
    sessions: Arc<dyn SessionStore>,
    devices: Arc<dyn DeviceStore>,
    revocations: Revocations,
    events: Arc<dyn EventBus>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    limits: SessionLimits,
}

impl SessionService {
    pub fn new(
        sessions: Arc<dyn SessionStore>,
        devices: Arc<dyn DeviceStore>,
        revocations: Revocations,
        events: Arc<dyn EventBus>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
        limits: SessionLimits,
    ) -> Self {
        Self { sessions, devices, revocations, events, audit, clock, limits }
    }

    /// The caller's live sessions, newest first, the current one marked.
    pub async fn list(&self, claims: &AccessClaims) -> Result<Vec<SessionView>, AppError> {
        self.list_for(claims.user_id, Some(claims.session_id)).await
    }

    /// A user's live sessions (also for the admin's user detail).
    pub async fn list_for(
        &self,
        user: UserId,
        current: Option<SessionId>,
    ) -> Result<Vec<SessionView>, AppError> {
        let now = self.clock.now();
        let devices = self.devices.list(user).await?;
        Ok(self
            .sessions
            .list_active(user)
            .await?
            .into_iter()
            .map(|session| SessionView {
                expires_at: self.limits.expires_at(&session),
                current: Some(session.id) == current,
                device: devices.iter().find(|d| Some(d.id) == session.device_id).cloned(),
                session,
            })
            .filter(|view| view.expires_at > now)
            .collect())
    }

    /// Ends one of the caller's sessions (the current one too: that is a
    /// logout). Someone else's, or an ended one, is `NotFound`.
    pub async fn revoke(
        &self,
        claims: &AccessClaims,
        id: SessionId,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        let owned = self.sessions.get(id).await?.filter(|s| s.user_id == claims.user_id && s.is_active());
        if owned.is_none() || !self.sessions.revoke(id, self.clock.now()).await? {
            return Err(AppError::NotFound("session"));
        }
        self.ended(&[id]).await;
        let details = json!({ "session_id": id, "current": id == claims.session_id });
        self.audit.record(AuditAction::SessionRevoked, Some(claims.user_id), ctx, details).await;
        Ok(())
    }

    /// Ends every session of the caller but the current one; returns how many.
    pub async fn revoke_others(
        &self,
        claims: &AccessClaims,
        ctx: &RequestContext,
    ) -> Result<usize, AppError> {
        let ended = self.end_all(claims.user_id, Some(claims.session_id)).await?;
        let details = json!({ "sessions": ended.len(), "kept": claims.session_id });
        self.audit.record(AuditAction::SessionRevoked, Some(claims.user_id), ctx, details).await;
        Ok(ended.len())
    }

    /// Ends every session of `user` except `keep` (revoked in the database,
    /// then cached and announced); returns their ids.
    pub async fn end_all(&self, user: UserId, keep: Option<SessionId>) -> Result<Vec<SessionId>, AppError> {
        let ended = self.sessions.revoke_all_for_user(user, keep, self.clock.now()).await?;
        self.ended(&ended).await;
        Ok(ended)
    }

    /// After sessions were revoked in the database: their access tokens stop
    /// on every instance (revocation cache) and their sockets close. The
    /// announcement is best effort (a socket also re-checks its token at
    /// every ping).
    pub async fn ended(&self, ids: &[SessionId]) {
        for id in ids {
            self.revocations.cache_session(*id).await;
            if let Err(error) = self.events.announce_session_ended(*id).await {
                tracing::warn!(%error, session_id = %id, "could not announce the end of a session; its sockets close at their next ping");
            }
        }
    }
}
