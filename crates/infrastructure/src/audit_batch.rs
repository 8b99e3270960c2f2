//! Audit events written in batches (issue 13): a refresh rotation used to
//! pay one more PostgreSQL transaction, a second WAL flush, for its audit
//! event alone. `BatchedAuditLog` wraps the real log: `append` queues the
//! event, and one task writes what has queued in one multi-row insert
//! (`AuditLog::append_many`) when [`MAX_BATCH`] events are waiting or
//! [`LINGER`] after the first. Reads see every event queued before them
//! (read-your-writes on one instance): most wait for the queue to be written.
//! The two a sign-in makes (`seen_from`, `count_recent`) first look at what
//! is still queued, so a sign-in does not force an insert of its own.
//!
//! What this trades (ADR 0016): an event is in the store up to `LINGER` after
//! the request that caused it answered. It is in the structured log at once
//! (`AuditTrail` logs every event before storing it), and a graceful stop
//! flushes the queue; a crash loses at most the last `LINGER` of events from
//! the store, never from the log. A full queue makes `append` wait: memory
//! stays bounded and nothing is dropped.

use async_trait::async_trait;
use portcullis_application::ports::{AuditCursor, AuditFilter, AuditLog, StoreError};
use portcullis_domain::audit::{AuditAction, AuditEvent};
use portcullis_domain::ids::{AuditEventId, UserId};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// At most this many events per insert.
pub const MAX_BATCH: usize = 256;
/// How long the first queued event waits for company.
pub const LINGER: Duration = Duration::from_millis(10);
/// Events queued beyond this make `append` wait.
const QUEUE: usize = 8192;

enum Message {
    Event(Box<AuditEvent>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// What the sign-in reads need of an event not yet written.
struct Queued {
    id: AuditEventId,
    user_id: Option<UserId>,
    action: AuditAction,
    ip: Option<String>,
    occurred_at: OffsetDateTime,
}

/// Events appended and not yet written (or given up on). An event enters
/// before it is queued and leaves after its insert committed, so a read that
/// looks here first and in the store next misses nothing appended before it.
#[derive(Default)]
struct Unwritten(Mutex<Vec<Queued>>);

impl Unwritten {
    fn lock(&self) -> MutexGuard<'_, Vec<Queued>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn any(&self, matches: impl Fn(&Queued) -> bool) -> bool {
        self.lock().iter().any(matches)
    }
}

pub struct BatchedAuditLog {
    inner: Arc<dyn AuditLog>,
    queue: mpsc::Sender<Message>,
    unwritten: Arc<Unwritten>,
}

impl BatchedAuditLog {
    /// Starts the writer task on the current Tokio runtime.
    pub fn new(inner: Arc<dyn AuditLog>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let unwritten = Arc::new(Unwritten::default());
        tokio::spawn(write_batches(inner.clone(), receiver, unwritten.clone()));
        Self { inner, queue, unwritten }
    }

    /// Waits until every event queued so far is written (or its write failed
    /// and was logged). Called before reads and at shutdown.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

/// One write's worth: the events, and the flushes waiting for them.
#[derive(Default)]
struct Batch {
    events: Vec<AuditEvent>,
    waiting: Vec<oneshot::Sender<()>>,
}

impl Batch {
    /// Takes a message; true when it asks for the batch to be written now.
    fn take(&mut self, message: Message) -> bool {
        match message {
            Message::Event(e) => {
                self.events.push(*e);
                false
            }
            Message::Flush(done) => {
                self.waiting.push(done);
                true
            }
        }
    }
}

async fn write_batches(
    inner: Arc<dyn AuditLog>,
    mut receiver: mpsc::Receiver<Message>,
    unwritten: Arc<Unwritten>,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = Batch::default();
        let mut flush_now = batch.take(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while !flush_now && batch.events.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(message)) => flush_now = batch.take(message),
                Ok(None) | Err(_) => break,
            }
        }
        // Whatever else is already queued rides along.
        while batch.events.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(message) => {
                    batch.take(message);
                }
                Err(_) => break,
            }
        }
        write(inner.as_ref(), &batch.events).await;
        if !batch.events.is_empty() {
            let written: std::collections::HashSet<AuditEventId> =
                batch.events.iter().map(|e| e.id).collect();
            unwritten.lock().retain(|q| !written.contains(&q.id));
        }
        for done in batch.waiting {
            let _ = done.send(());
        }
    }
}

/// One insert, retried once; a batch that still fails is named event by
/// event in the error log (each event is in the log already).
async fn write(inner: &dyn AuditLog, batch: &[AuditEvent]) {
    if batch.is_empty() {
        return;
    }
    let mut result = inner.append_many(batch).await;
    if result.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        result = inner.append_many(batch).await;
    }
    if let Err(error) = result {
        for event in batch {
            tracing::error!(
                target: "audit",
                action = event.action.as_str(),
                event_id = %event.id,
                %error,
                "audit store write failed; the logged event is the record"
            );
        }
    }
}

#[async_trait]
impl AuditLog for BatchedAuditLog {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.unwritten.lock().push(Queued {
            id: event.id,
            user_id: event.user_id,
            action: event.action,
            ip: event.ip.clone(),
            occurred_at: event.occurred_at,
        });
        let queued = self.queue.send(Message::Event(Box::new(event.clone()))).await;
        if queued.is_err() {
            self.unwritten.lock().retain(|q| q.id != event.id);
            return Err(StoreError::Unavailable("the audit writer has stopped".into()));
        }
        Ok(())
    }

    async fn list_for_user(
        &self,
        user_id: UserId,
        before: Option<AuditEventId>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.flush().await;
        self.inner.list_for_user(user_id, before, limit).await
    }

    async fn query(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.flush().await;
        self.inner.query(filter, after, limit).await
    }

    async fn count_recent(
        &self,
        user_id: UserId,
        action: AuditAction,
        since: OffsetDateTime,
        at_most: u32,
    ) -> Result<u32, StoreError> {
        // Only a matching event still queued needs the queue written first.
        if self.unwritten.any(|q| q.user_id == Some(user_id) && q.action == action && q.occurred_at >= since)
        {
            self.flush().await;
        }
        self.inner.count_recent(user_id, action, since, at_most).await
    }

    async fn seen_from(
        &self,
        user_id: UserId,
        ip: &str,
        actions: &[AuditAction],
        since: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let queued = |q: &Queued| {
            q.user_id == Some(user_id)
                && q.ip.as_deref() == Some(ip)
                && actions.contains(&q.action)
                && q.occurred_at >= since
        };
        if self.unwritten.any(queued) {
            return Ok(true);
        }
        self.inner.seen_from(user_id, ip, actions, since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryAuditLog;
    use portcullis_domain::audit::RequestContext;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// The memory log, counting inserts, refusing them while `down`.
    #[derive(Default)]
    struct Counting {
        log: MemoryAuditLog,
        inserts: AtomicUsize,
        down: AtomicBool,
    }

    #[async_trait]
    impl AuditLog for Counting {
        async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
            self.append_many(std::slice::from_ref(event)).await
        }
        async fn append_many(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("down".into()));
            }
            self.inserts.fetch_add(1, Ordering::SeqCst);
            self.log.append_many(events).await
        }
        async fn list_for_user(
            &self,
            user_id: UserId,
            before: Option<AuditEventId>,
            limit: u32,
        ) -> Result<Vec<AuditEvent>, StoreError> {
            self.log.list_for_user(user_id, before, limit).await
        }
        async fn query(
            &self,
            filter: &AuditFilter,
            after: Option<AuditCursor>,
            limit: u32,
        ) -> Result<Vec<AuditEvent>, StoreError> {
            self.log.query(filter, after, limit).await
        }
        async fn count_recent(
            &self,
            user_id: UserId,
            action: AuditAction,
            since: OffsetDateTime,
            at_most: u32,
        ) -> Result<u32, StoreError> {
            self.log.count_recent(user_id, action, since, at_most).await
        }
        async fn seen_from(
            &self,
            user_id: UserId,
            ip: &str,
            actions: &[AuditAction],
            since: OffsetDateTime,
        ) -> Result<bool, StoreError> {
            self.log.seen_from(user_id, ip, actions, since).await
        }
    }

    fn event(user: UserId) -> AuditEvent {
        let ctx = RequestContext { ip: Some("198.51.100.7".into()), ..RequestContext::default() };
        AuditEvent::new(
            AuditAction::TokenRefreshed,
            Some(user),
            &ctx,
            OffsetDateTime::now_utc(),
            serde_json::json!({}),
        )
    }

    #[tokio::test]
    async fn reads_see_every_event_appended_before_them() {
        let inner = Arc::new(Counting::default());
        let log = BatchedAuditLog::new(inner.clone());
        let user = UserId::new();
        for _ in 0..3 {
            log.append(&event(user)).await.unwrap();
        }
        assert_eq!(log.list_for_user(user, None, 10).await.unwrap().len(), 3);
        let seen =
            log.seen_from(user, "198.51.100.7", &[AuditAction::TokenRefreshed], OffsetDateTime::UNIX_EPOCH);
        assert!(seen.await.unwrap());
    }

    /// `seen_from` answers from the queue, and `count_recent` writes the
    /// queue only when a matching event is in it: a sign-in forces no insert
    /// of its own, yet neither read misses an event appended before it.
    #[tokio::test]
    async fn sign_in_reads_see_queued_events_without_forcing_an_insert() {
        // The linger cannot end on its own while the test runs.
        tokio::time::pause();
        let inner = Arc::new(Counting::default());
        let log = BatchedAuditLog::new(inner.clone());
        let (user, other) = (UserId::new(), UserId::new());
        let since = OffsetDateTime::UNIX_EPOCH;
        log.append(&event(user)).await.unwrap();
        let refreshed = [AuditAction::TokenRefreshed];
        assert!(log.seen_from(user, "198.51.100.7", &refreshed, since).await.unwrap());
        assert!(!log.seen_from(other, "198.51.100.7", &refreshed, since).await.unwrap());
        assert!(!log.seen_from(user, "203.0.113.1", &refreshed, since).await.unwrap());
        assert_eq!(log.count_recent(user, AuditAction::LoginFailed, since, 10).await.unwrap(), 0);
        assert_eq!(inner.inserts.load(Ordering::SeqCst), 0, "nothing was written for these reads");
        assert_eq!(log.count_recent(user, AuditAction::TokenRefreshed, since, 10).await.unwrap(), 1);
        assert_eq!(inner.inserts.load(Ordering::SeqCst), 1, "a matching queued event was written first");
        assert!(log.unwritten.lock().is_empty(), "written events leave the queue");
        assert!(
            log.seen_from(user, "198.51.100.7", &refreshed, since).await.unwrap(),
            "and are found in the store"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_events_share_inserts_and_all_land() {
        let inner = Arc::new(Counting::default());
        let log = Arc::new(BatchedAuditLog::new(inner.clone()));
        let user = UserId::new();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..1000 {
            let log = log.clone();
            tasks.spawn(async move { log.append(&event(user)).await.unwrap() });
        }
        tasks.join_all().await;
        log.flush().await;
        assert_eq!(inner.log.list_for_user(user, None, 2000).await.unwrap().len(), 1000);
        let inserts = inner.inserts.load(Ordering::SeqCst);
        assert!((1000 / MAX_BATCH..1000).contains(&inserts), "{inserts} inserts for 1000 events");
    }

    #[tokio::test]
    async fn a_failed_batch_does_not_stop_the_writer() {
        let inner = Arc::new(Counting::default());
        let log = BatchedAuditLog::new(inner.clone());
        let user = UserId::new();
        inner.down.store(true, Ordering::SeqCst);
        log.append(&event(user)).await.unwrap();
        log.flush().await;
        inner.down.store(false, Ordering::SeqCst);
        log.append(&event(user)).await.unwrap();
        assert_eq!(log.list_for_user(user, None, 10).await.unwrap().len(), 1, "the later event is stored");
    }
}
