use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::jobs::JobId;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub queue: String,
    /// Which handler runs it, e.g. `email.send`.
    pub kind: String,
    pub payload: Value,
    /// Run no earlier than this long from now.
    pub delay: Duration,
    /// A second enqueue with the same key (per queue, within a day) is a no-op
    /// that returns the first job's id.
    pub idempotency_key: Option<String>,
    /// Failures retried before the job goes to the dead-letter set.
    pub max_retries: u32,
}

impl NewJob {
    pub fn new(queue: &str, kind: &str, payload: Value) -> Self {
        Self {
            queue: queue.to_owned(),
            kind: kind.to_owned(),
            payload,
            delay: Duration::ZERO,
            idempotency_key: None,
            max_retries: 3,
        }
    }

    /// Runs no earlier than `delay` from now.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay.max(Duration::ZERO);
        self
    }

    /// Runs no earlier than `at` (`now` from the caller's clock; past times run at once).
    pub fn run_at(self, at: OffsetDateTime, now: OffsetDateTime) -> Self {
        self.with_delay(at - now)
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub queue: String,
    pub kind: String,
    pub payload: Value,
    /// 1 on the first delivery, incremented by every reservation.
    pub attempt: u32,
    pub max_retries: u32,
    pub enqueued_at: OffsetDateTime,
    pub last_error: Option<String>,
}

/// A job handed to one worker until `visibility` runs out. The lease tells the
/// holder apart from a worker that gets the job after the lease expired.
#[derive(Debug, Clone, PartialEq)]
pub struct Reserved {
    pub job: Job,
    pub lease: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Created(JobId),
    /// The idempotency key was seen before; this is the first job's id.
    Duplicate(JobId),
}

impl Enqueued {
    pub fn id(self) -> JobId {
        match self {
            Self::Created(id) | Self::Duplicate(id) => id,
        }
    }
}

/// What `fail` did with the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    RetryScheduled,
    Dead,
    /// The lease had expired (the job was handed to someone else); nothing changed.
    LeaseLost,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Ready to run now.
    pub pending: u64,
    /// Waiting for their delay or retry time.
    pub scheduled: u64,
    /// Reserved by a worker.
    pub running: u64,
    /// Acknowledged since the queue was created.
    pub completed: u64,
    /// In the dead-letter set.
    pub dead: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeadJob {
    pub job: Job,
    pub died_at: OffsetDateTime,
}

/// A durable, at-least-once job queue with delays, idempotency keys,
/// visibility timeouts, retries and a dead-letter set.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued, StoreError>;
    /// Hands out the oldest ready job of `queue`, first making due scheduled
    /// jobs ready and returning jobs whose visibility timed out.
    async fn reserve(&self, queue: &str, visibility: Duration) -> Result<Option<Reserved>, StoreError>;
    /// Done: removes the job. `false` if the lease was lost.
    async fn ack(&self, reserved: &Reserved) -> Result<bool, StoreError>;
    /// Failed: schedules a retry after `retry_in`, or with `None` moves the job
    /// to the dead-letter set; `error` is kept with the job.
    async fn fail(
        &self,
        reserved: &Reserved,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<Failed, StoreError>;
    /// Gives an unfinished job back at once (graceful shutdown).
    async fn release(&self, reserved: &Reserved) -> Result<bool, StoreError>;
    async fn stats(&self, queue: &str) -> Result<QueueStats, StoreError>;
    /// Queues that have ever had a job, sorted.
    async fn queues(&self) -> Result<Vec<String>, StoreError>;
    /// Dead jobs, most recent first.
    async fn dead_jobs(&self, queue: &str, limit: u32) -> Result<Vec<DeadJob>, StoreError>;
    /// Moves a dead job back to pending with a fresh retry budget; `false` if
    /// it is not in the dead-letter set.
    async fn retry_dead(&self, queue: &str, id: JobId) -> Result<bool, StoreError>;
}
