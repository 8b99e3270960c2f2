use super::StoreError;
use async_trait::async_trait;
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A job a request promised (a mail), kept durably until it is on the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub queue: String,
    pub kind: String,
    pub payload: Value,
}

impl OutboxMessage {
    pub fn new(queue: &str, kind: &str, payload: Value) -> Self {
        Self { queue: queue.to_owned(), kind: kind.to_owned(), payload }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: Uuid,
    pub message: OutboxMessage,
    pub created_at: OffsetDateTime,
}

/// The transactional outbox: what the API promised (202 "mail sent") is
/// written here, in the database, with the state change; a relay moves it to
/// the job queue (Redis) when that is reachable. So a queue outage delays a
/// promised mail, it never loses it.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Outbox: Send + Sync {
    async fn add(&self, message: &OutboxMessage, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Up to `limit` entries, oldest first, hidden from other claimers for
    /// `lease` (a relay that dies mid-way leaves them to the next one).
    async fn claim(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Makes claimed entries claimable again from `at` (their relay failed).
    async fn release(&self, ids: &[Uuid], at: OffsetDateTime) -> Result<(), StoreError>;
    /// Forgets relayed entries.
    async fn remove(&self, ids: &[Uuid]) -> Result<(), StoreError>;
}
