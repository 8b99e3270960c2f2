//! One subscription per in-process mirror (the revocation list, the user
//! cache): a task that holds a Redis pub/sub connection on one channel for
//! the life of its mirror, tells the mirror each message, each
//! (re)subscription (messages published while unsubscribed were missed) and
//! each loss, and resubscribes after a pause.

use deadpool_redis::redis;
use futures_util::StreamExt;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// What a mirror hears from its listener.
pub(crate) trait Heard: Send + Sync + 'static {
    /// Subscribed, for the first time or again: what was published before
    /// is not known here.
    fn subscribed(&self);
    /// One message on the channel.
    fn message(&self, payload: &[u8]);
    /// The subscription dropped: nothing published reaches this instance
    /// until the next [`Heard::subscribed`].
    fn lost(&self);
}

type Ready = watch::Receiver<Option<Result<(), String>>>;

pub(crate) struct Listener {
    url: String,
    channel: String,
    started: OnceLock<Ready>,
}

impl Listener {
    pub(crate) fn new(url: &str, channel: String) -> Self {
        Self { url: url.to_owned(), channel, started: OnceLock::new() }
    }

    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// Starts the listener on first use and waits (up to 2 s) for its first
    /// subscription, so the first requests are not refused a mirror that is
    /// merely connecting. It stops once `heard` is dropped.
    pub(crate) async fn ensure<H: Heard>(&self, heard: &Arc<H>) {
        let ready = self.started.get_or_init(|| {
            let (tx, rx) = watch::channel(None);
            match redis::Client::open(self.url.as_str()) {
                Ok(client) => {
                    tokio::spawn(listen(client, self.channel.clone(), Arc::downgrade(heard), tx));
                }
                Err(error) => {
                    tx.send_replace(Some(Err(error.to_string())));
                }
            }
            rx
        });
        if ready.borrow().is_some() {
            return;
        }
        let mut ready = ready.clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), ready.wait_for(Option::is_some)).await;
    }
}

async fn listen<H: Heard>(
    client: redis::Client,
    channel: String,
    heard: Weak<H>,
    ready: watch::Sender<Option<Result<(), String>>>,
) {
    loop {
        match super::subscribe(&client, &channel).await {
            Ok(pubsub) => {
                match heard.upgrade() {
                    Some(h) => h.subscribed(),
                    None => return,
                }
                ready.send_replace(Some(Ok(())));
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Some(h) = heard.upgrade() else { return };
                    h.message(message.get_payload_bytes());
                }
                let Some(h) = heard.upgrade() else { return };
                h.lost();
                tracing::warn!(channel, "subscription lost; resubscribing");
            }
            Err(error) => {
                ready.send_replace(Some(Err(error.to_string())));
                tracing::debug!(%error, channel, "subscribe failed");
            }
        }
        if heard.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
