use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::audit::{AuditAction, AuditEvent, Severity};
use portcullis_domain::ids::{AuditEventId, UserId};
use time::OffsetDateTime;

/// Append-only store of security events.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Appends all of `events` or none (one insert where the store has
    /// transactions).
    async fn append_many(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        for event in events {
            self.append(event).await?;
        }
        Ok(())
    }
    /// The user's events, newest first, strictly older than `before` if given.
    async fn list_for_user(
        &self,
        user_id: UserId,
        before: Option<AuditEventId>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// Events matching `filter`, newest first (by time, then id), strictly
    /// after `after` in that order, at most `limit`.
    async fn query(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// How many of the user's events are `action` at or after `since`,
    /// counting at most `at_most` (e.g. "wrong passwords in the last day?").
    /// Whatever else the user did meanwhile (token refreshes) does not change
    /// the answer, and its cost does not grow with the user's history.
    async fn count_recent(
        &self,
        user_id: UserId,
        action: AuditAction,
        since: OffsetDateTime,
        at_most: u32,
    ) -> Result<u32, StoreError>;
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

/// What the admin's audit query narrows to (every part optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub user_id: Option<UserId>,
    pub action: Option<AuditAction>,
    pub severity: Option<Severity>,
    /// `occurred_at >= from`.
    pub from: Option<OffsetDateTime>,
    /// `occurred_at < to`.
    pub to: Option<OffsetDateTime>,
    pub ip: Option<String>,
}

/// Where a page of the audit query ends: the last event's time and id
/// (newest first, ties broken by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub occurred_at: OffsetDateTime,
    pub id: AuditEventId,
}

impl AuditFilter {
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.user_id.is_none_or(|u| e.user_id == Some(u))
            && self.action.is_none_or(|a| e.action == a)
            && self.severity.is_none_or(|s| e.severity == s)
            && self.from.is_none_or(|from| e.occurred_at >= from)
            && self.to.is_none_or(|to| e.occurred_at < to)
            && self.ip.as_deref().is_none_or(|ip| e.ip.as_deref() == Some(ip))
    }
}
