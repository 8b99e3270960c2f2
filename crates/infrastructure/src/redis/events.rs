//! Status events over Redis pub/sub: a worker on one instance reaches the
//! sockets held by every other. One subscriber connection per process fans
//! events out to local subscribers (a tokio broadcast); when it drops, it
//! reconnects and every local subscriber is told [`BusMessage::Missed`] (they
//! re-read the state from the database, the source of truth).

use super::{RedisStore, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis;
use futures_util::StreamExt;
use portcullis_application::Cause;
use portcullis_application::ports::{BusMessage, EventBus, EventStream, FileEvent, StoreError};
use portcullis_domain::files::FileStatus;
use portcullis_domain::ids::{FileId, SessionId, UserId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::{Mutex, broadcast, watch};

/// The wire form of an event (the channel carries JSON).
#[derive(Serialize, Deserialize)]
struct Wire {
    file_id: FileId,
    owner: UserId,
    status: String,
    progress: u8,
    message: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

impl Wire {
    fn of(e: &FileEvent) -> Self {
        Self {
            file_id: e.file_id,
            owner: e.owner,
            status: e.status.as_str().to_owned(),
            progress: e.progress,
            message: e.message.clone(),
            at: e.at,
        }
    }

    fn into_event(self) -> Option<FileEvent> {
        let status: FileStatus = self.status.parse().ok()?;
        Some(FileEvent {
            file_id: self.file_id,
            owner: self.owner,
            status,
            progress: self.progress,
            message: self.message,
            at: self.at,
        })
    }
}

/// The wire form of a session's end.
#[derive(Serialize, Deserialize)]
struct EndedWire {
    session_ended: SessionId,
}

/// A channel message as the bus delivers it (`None`: unreadable).
fn decode(payload: &[u8]) -> Option<BusMessage> {
    if let Ok(ended) = serde_json::from_slice::<EndedWire>(payload) {
        return Some(BusMessage::SessionEnded(ended.session_ended));
    }
    serde_json::from_slice::<Wire>(payload).ok().and_then(Wire::into_event).map(BusMessage::File)
}

/// The process-wide fan-out, started by the first subscription.
struct Fanout {
    sender: broadcast::Sender<BusMessage>,
    /// Kept so the listener knows the bus still exists.
    _alive: watch::Receiver<Option<Result<(), String>>>,
}

pub struct RedisEventBus {
    store: RedisStore,
    url: String,
    channel: String,
    fanout: Mutex<Option<Arc<Fanout>>>,
}

impl RedisEventBus {
    /// Events on `{REDIS_KEY_PREFIX}file-events`.
    pub fn new(store: RedisStore, url: &str) -> Self {
        let channel = store.key("events", "files");
        Self { store, url: url.to_owned(), channel, fanout: Mutex::new(None) }
    }

    async fn fanout(&self) -> Result<Arc<Fanout>, StoreError> {
        let mut slot = self.fanout.lock().await;
        if let Some(fanout) = slot.as_ref() {
            return Ok(fanout.clone());
        }
        let client = redis::Client::open(self.url.as_str()).map_err(unavailable)?;
        let (sender, _) = broadcast::channel(1024);
        let (ready_tx, mut ready) = watch::channel(None);
        tokio::spawn(listen(client, self.channel.clone(), sender.clone(), ready_tx));
        // Wait for the first SUBSCRIBE (or its failure), so that a caller
        // misses nothing published after `subscribe` returns.
        let outcome =
            tokio::time::timeout(std::time::Duration::from_secs(5), ready.wait_for(Option::is_some))
                .await
                .map(|seen| seen.map(|r| r.clone()));
        match outcome {
            Ok(Ok(Some(Ok(())))) => {}
            Ok(Ok(Some(Err(why)))) => {
                return Err(StoreError::Unavailable(Cause::from(format!("redis subscribe failed: {why}"))));
            }
            _ => return Err(StoreError::Unavailable(Cause::from("redis subscribe timed out".to_owned()))),
        }
        let fanout = Arc::new(Fanout { sender, _alive: ready });
        *slot = Some(fanout.clone());
        Ok(fanout)
    }
}

/// Holds the subscription for the life of the process: forwards every
/// message, reconnects with a short pause after a failure.
async fn listen(
    client: redis::Client,
    channel: String,
    sender: broadcast::Sender<BusMessage>,
    ready: watch::Sender<Option<Result<(), String>>>,
) {
    let mut connected_before = false;
    loop {
        let subscribed = super::subscribe(&client, &channel).await;
        match subscribed {
            Ok(pubsub) => {
                if connected_before {
                    // Events published while we were away are lost to us.
                    let _ = sender.send(BusMessage::Missed);
                    tracing::info!("event bus resubscribed");
                }
                connected_before = true;
                let _ = ready.send(Some(Ok(())));
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let payload: Vec<u8> = message.get_payload_bytes().to_vec();
                    match decode(&payload) {
                        Some(message) => {
                            let _ = sender.send(message);
                        }
                        None => tracing::warn!("unreadable message on the event channel ignored"),
                    }
                }
                tracing::warn!("event bus subscription lost; reconnecting");
            }
            Err(error) => {
                if !connected_before {
                    let _ = ready.send(Some(Err(error.to_string())));
                    // The caller gave up on this listener; the next
                    // subscription starts a new one.
                    return;
                }
                tracing::debug!(%error, "event bus subscribe failed");
            }
        }
        if sender.receiver_count() == 0 && ready.is_closed() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[async_trait]
impl EventBus for RedisEventBus {
    async fn publish(&self, event: &FileEvent) -> Result<(), StoreError> {
        let payload = serde_json::to_string(&Wire::of(event))
            .map_err(|e| StoreError::Unavailable(Cause::context("event encoding", e)))?;
        self.send(payload).await
    }

    async fn announce_session_ended(&self, session: SessionId) -> Result<(), StoreError> {
        let payload = serde_json::to_string(&EndedWire { session_ended: session })
            .map_err(|e| StoreError::Unavailable(Cause::context("event encoding", e)))?;
        self.send(payload).await
    }

    async fn subscribe(&self) -> Result<EventStream, StoreError> {
        let fanout = self.fanout().await?;
        Ok(crate::memory::stream_of(fanout.sender.subscribe()))
    }
}

impl RedisEventBus {
    async fn send(&self, payload: String) -> Result<(), StoreError> {
        self.store.publish(&self.channel, &payload).await
    }
}
