use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{Outbox, OutboxEntry, OutboxMessage, StoreError};
use std::collections::BTreeMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Entries by id (UUIDv7: oldest first), each with the time it is claimable.
#[derive(Default)]
pub struct MemoryOutboxStore(Mutex<BTreeMap<Uuid, (OutboxEntry, OffsetDateTime)>>);

impl MemoryOutboxStore {
    /// Adds at once (the user repository calls it under its own lock).
    pub(crate) fn push(&self, message: &OutboxMessage, now: OffsetDateTime) {
        let entry = OutboxEntry { id: Uuid::now_v7(), message: message.clone(), created_at: now };
        lock(&self.0).insert(entry.id, (entry, now));
    }
}

#[async_trait]
impl Outbox for MemoryOutboxStore {
    async fn add(&self, message: &OutboxMessage, now: OffsetDateTime) -> Result<(), StoreError> {
        self.push(message, now);
        Ok(())
    }

    async fn claim(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut entries = lock(&self.0);
        Ok(entries
            .values_mut()
            .filter(|(_, available_at)| *available_at <= now)
            .take(limit as usize)
            .map(|(entry, available_at)| {
                *available_at = now + lease;
                entry.clone()
            })
            .collect())
    }

    async fn release(&self, ids: &[Uuid], at: OffsetDateTime) -> Result<(), StoreError> {
        let mut entries = lock(&self.0);
        for id in ids {
            if let Some((_, available_at)) = entries.get_mut(id) {
                *available_at = at;
            }
        }
        Ok(())
    }

    async fn remove(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        let mut entries = lock(&self.0);
        for id in ids {
            entries.remove(id);
        }
        Ok(())
    }
}
