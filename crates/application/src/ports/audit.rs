use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::audit::{AuditAction, AuditEvent};
use portcullis_domain::ids::{AuditEventId, UserId};
use time::OffsetDateTime;

/// Append-only store of security events.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The user's events, newest first, strictly older than `before` if given.
    async fn list_for_user(
        &self,
        user_id: UserId,
        before: Option<AuditEventId>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// True when the user has an event with one of `actions` from `ip` at or
    /// after `since` (e.g. "has this user signed in from here lately?").
    async fn seen_from(
        &self,
        user_id: UserId,
        ip: &str,
        actions: &[AuditAction],
        since: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}
