use async_trait::async_trait;
use portcullis_application::ports::{BusMessage, EventBus, EventStream, FileEvent, StoreError};
use portcullis_domain::ids::SessionId;
use tokio::sync::broadcast;

/// Events within one process (tokio broadcast). A subscriber that falls more
/// than `capacity` events behind gets [`BusMessage::Missed`], like a Redis
/// subscriber that reconnected.
pub struct MemoryEventBus(broadcast::Sender<BusMessage>);

impl Default for MemoryEventBus {
    fn default() -> Self {
        Self::with_capacity(1024)
    }
}

impl MemoryEventBus {
    pub fn with_capacity(capacity: usize) -> Self {
        Self(broadcast::channel(capacity.max(1)).0)
    }
}

/// A broadcast receiver as an event stream; falling behind is `Missed`
/// (shared with the Redis bus's local fan-out).
pub(crate) fn stream_of(receiver: broadcast::Receiver<BusMessage>) -> EventStream {
    Box::pin(futures_util::stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(message) => Some((message, receiver)),
            Err(broadcast::error::RecvError::Lagged(_)) => Some((BusMessage::Missed, receiver)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }))
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn publish(&self, event: &FileEvent) -> Result<(), StoreError> {
        // No subscriber is not an error: nobody is watching.
        let _ = self.0.send(BusMessage::File(event.clone()));
        Ok(())
    }

    async fn announce_session_ended(&self, session: SessionId) -> Result<(), StoreError> {
        let _ = self.0.send(BusMessage::SessionEnded(session));
        Ok(())
    }

    async fn subscribe(&self) -> Result<EventStream, StoreError> {
        Ok(stream_of(self.0.subscribe()))
    }
}
