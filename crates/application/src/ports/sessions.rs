use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::ids::{DeviceId, SessionId, UserId};
use portcullis_domain::secret::TokenHash;
use portcullis_domain::session::{NewRefreshToken, RotationRules, Session};
use time::OffsetDateTime;

/// Result of presenting a refresh token, decided atomically by the store with
/// [`portcullis_domain::session::decide_refresh`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was current; the child given to `rotate` is now current.
    Rotated {
        session: Session,
    },
    /// The token is the current token's parent, inside the grace window; the
    /// current token, sealed for the presented one, comes back.
    Grace {
        session: Session,
        sealed_child: Vec<u8>,
    },
    /// The token had been rotated before: the session is now revoked.
    Reused {
        session: Session,
    },
    Expired,
    /// The session was revoked earlier.
    Revoked,
    /// No such token.
    Unknown,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub refresh_tokens: u64,
    pub sessions: u64,
}

/// Sessions and their refresh-token families. Implementations make `rotate`
/// atomic: N concurrent calls with one token mint at most one child.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session and its first refresh token.
    async fn create(&self, session: &Session, first: &NewRefreshToken) -> Result<(), StoreError>;
    /// Presents `presented`; stores `child` only when the outcome is `Rotated`.
    async fn rotate(
        &self,
        presented: &TokenHash,
        child: &NewRefreshToken,
        now: OffsetDateTime,
        rules: &RotationRules,
    ) -> Result<RotateOutcome, StoreError>;
    async fn get(&self, id: SessionId) -> Result<Option<Session>, StoreError>;
    /// The user's sessions not revoked, newest first (expired ones included:
    /// the caller applies the session limits).
    async fn list_active(&self, user_id: UserId) -> Result<Vec<Session>, StoreError>;
    /// Revokes the user's active sessions opened from `device`; returns their ids.
    async fn revoke_for_device(
        &self,
        user_id: UserId,
        device: DeviceId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionId>, StoreError>;
    /// Whether any session of the user (revoked or not) was opened from `ip`.
    async fn seen_ip(&self, user_id: UserId, ip: &str) -> Result<bool, StoreError>;
    /// Records a step-up: the user proved who they are again at `at`, with
    /// `second_factor` (or none). Returns the session, or `None` when it is
    /// unknown or revoked.
    async fn reauthenticated(
        &self,
        id: SessionId,
        second_factor: Option<portcullis_domain::mfa::SecondFactor>,
        at: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError>;
    /// Revokes one session; `false` if it was unknown or already revoked.
    async fn revoke(&self, id: SessionId, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// Revokes every active session of the user except `keep`; returns their ids.
    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionId>, StoreError>;
    /// Sessions revoked at or after `since`, with when: what the revocation
    /// cache is rebuilt from.
    async fn revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<(SessionId, OffsetDateTime)>, StoreError>;
    /// Deletes expired refresh tokens, sessions revoked before `revoked_before`,
    /// and sessions left without any refresh token.
    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        revoked_before: OffsetDateTime,
    ) -> Result<Purged, StoreError>;
}
