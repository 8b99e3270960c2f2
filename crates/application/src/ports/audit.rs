use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::audit::AuditEvent;
use portcullis_domain::ids::{AuditEventId, UserId};

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
}
