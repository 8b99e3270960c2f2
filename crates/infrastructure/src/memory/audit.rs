use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{AuditCursor, AuditFilter, AuditLog, StoreError};
use portcullis_domain::audit::{AuditAction, AuditEvent};
use portcullis_domain::ids::{AuditEventId, UserId};
use std::collections::BTreeMap;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Append-only: there is no way to change or remove an event. Ordered by id
/// (UUIDv7, so by time), like the Postgres index.
#[derive(Default)]
pub struct MemoryAuditLog(Mutex<BTreeMap<AuditEventId, AuditEvent>>);

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut events = lock(&self.0);
        if events.contains_key(&event.id) {
            return Err(StoreError::Conflict("audit event id"));
        }
        events.insert(event.id, event.clone());
        Ok(())
    }

    async fn append_many(&self, batch: &[AuditEvent]) -> Result<(), StoreError> {
        let mut events = lock(&self.0);
        let mut ids = std::collections::HashSet::new();
        if batch.iter().any(|e| events.contains_key(&e.id) || !ids.insert(e.id)) {
            return Err(StoreError::Conflict("audit event id"));
        }
        for event in batch {
            events.insert(event.id, event.clone());
        }
        Ok(())
    }

    async fn list_for_user(
        &self,
        user_id: UserId,
        before: Option<AuditEventId>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let events = lock(&self.0);
        let range = match before {
            Some(cursor) => events.range(..cursor),
            None => events.range(..),
        };
        Ok(range
            .rev()
            .filter(|(_, e)| e.user_id == Some(user_id))
            .take(limit as usize)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn query(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let events = lock(&self.0);
        let mut found: Vec<&AuditEvent> = events
            .values()
            .filter(|e| filter.matches(e))
            .filter(|e| after.is_none_or(|c| (e.occurred_at, e.id) < (c.occurred_at, c.id)))
            .collect();
        found.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.id)));
        Ok(found.into_iter().take(limit as usize).cloned().collect())
    }

    async fn count_recent(
        &self,
        user_id: UserId,
        action: AuditAction,
        since: OffsetDateTime,
        at_most: u32,
    ) -> Result<u32, StoreError> {
        let events = lock(&self.0);
        let n = events
            .values()
            .filter(|e| e.occurred_at >= since && e.user_id == Some(user_id) && e.action == action)
            .take(at_most as usize)
            .count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn seen_from(
        &self,
        user_id: UserId,
        ip: &str,
        actions: &[AuditAction],
        since: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let events = lock(&self.0);
        Ok(events.values().rev().any(|e| {
            e.occurred_at >= since
                && e.user_id == Some(user_id)
                && e.ip.as_deref() == Some(ip)
                && actions.contains(&e.action)
        }))
    }
}
