use super::StoreError;
use async_trait::async_trait;
use futures_core::Stream;
use portcullis_domain::files::FileStatus;
use portcullis_domain::ids::{FileId, SessionId, UserId};
use std::pin::Pin;
use time::OffsetDateTime;

/// A file moved (or progressed) in its pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEvent {
    pub file_id: FileId,
    /// Whose file: a socket only ever sees its own user's events.
    pub owner: UserId,
    pub status: FileStatus,
    /// 0–100: processing progress; 100 once the file reached a final state.
    pub progress: u8,
    pub message: Option<String>,
    pub at: OffsetDateTime,
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusMessage {
    File(FileEvent),
    /// A session was revoked: sockets opened with its tokens close.
    SessionEnded(SessionId),
    /// The subscriber fell behind (or the bus reconnected) and events were
    /// lost: re-read what matters from the repository, the source of truth.
    Missed,
}

pub type EventStream = Pin<Box<dyn Stream<Item = BusMessage> + Send>>;

/// Status events between instances: a worker on one instance reaches a socket
/// held by another (Redis pub/sub; in memory within one process). Delivery is
/// best effort — the database keeps the state, events only announce it.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, event: &FileEvent) -> Result<(), StoreError>;
    /// Tells every instance that `session` was revoked (its sockets close).
    async fn announce_session_ended(&self, session: SessionId) -> Result<(), StoreError>;
    /// Every event published from now on, by any instance, in publish order
    /// per publisher.
    async fn subscribe(&self) -> Result<EventStream, StoreError>;
}
