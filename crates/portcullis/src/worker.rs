//! The worker runtime: reserves jobs, runs the handler registered for their
//! kind, and acknowledges, retries (exponential backoff with jitter) or buries
//! them. Also schedules the recurring clean-ups. Runs as `portcullis worker`
//! or inside `serve`.
//!
//! Shutdown: once asked to stop, no new job is reserved; a running job gets
//! `shutdown_grace` to finish, after which it is released back to the queue
//! for another worker (delivery is at-least-once, handlers are idempotent).

use crate::config::WorkerConfig;
use async_trait::async_trait;
use portcullis_application::jobs::{JobError, JobHandler, kinds};
use portcullis_application::ports::{
    Clock, DeadJob, Enqueued, Failed, JobQueue, NewJob, QueueStats, Reserved, StoreError,
};
use portcullis_application::relay::OutboxRelay;
use portcullis_domain::jobs::{JobId, retry_delay};
use portcullis_metrics::Metrics;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The queue as the application sees it: applies `MAX_RETRIES` to every job
/// and counts enqueued jobs for `/metrics`, whoever enqueues them.
pub struct MeteredQueue {
    inner: Arc<dyn JobQueue>,
    metrics: Metrics,
    max_retries: u32,
}

impl MeteredQueue {
    pub fn new(inner: Arc<dyn JobQueue>, metrics: Metrics, max_retries: u32) -> Self {
        Self { inner, metrics, max_retries }
    }
}

#[async_trait]
impl JobQueue for MeteredQueue {
    async fn enqueue(&self, mut job: NewJob) -> Result<Enqueued, StoreError> {
        job.max_retries = self.max_retries;
        let (queue, kind) = (job.queue.clone(), job.kind.clone());
        let enqueued = self.inner.enqueue(job).await?;
        if matches!(enqueued, Enqueued::Created(_)) {
            self.metrics.jobs.with_label_values(&[queue.as_str(), kind.as_str(), "enqueued"]).inc();
        }
        Ok(enqueued)
    }
    async fn reserve(&self, queue: &str, visibility: Duration) -> Result<Option<Reserved>, StoreError> {
        self.inner.reserve(queue, visibility).await
    }
    async fn ack(&self, reserved: &Reserved) -> Result<bool, StoreError> {
        self.inner.ack(reserved).await
    }
    async fn fail(
        &self,
        reserved: &Reserved,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<Failed, StoreError> {
        self.inner.fail(reserved, error, retry_in).await
    }
    async fn release(&self, reserved: &Reserved) -> Result<bool, StoreError> {
        self.inner.release(reserved).await
    }
    async fn stats(&self, queue: &str) -> Result<QueueStats, StoreError> {
        self.inner.stats(queue).await
    }
    async fn queues(&self) -> Result<Vec<String>, StoreError> {
        self.inner.queues().await
    }
    async fn dead_jobs(&self, queue: &str, limit: u32) -> Result<Vec<DeadJob>, StoreError> {
        self.inner.dead_jobs(queue, limit).await
    }
    async fn retry_dead(&self, queue: &str, id: JobId) -> Result<bool, StoreError> {
        self.inner.retry_dead(queue, id).await
    }
}

/// The clean-ups every worker schedules, each once per `PURGE_INTERVAL`.
pub const RECURRING: [portcullis_application::jobs::JobKind; 4] =
    [kinds::PURGE_SESSIONS, kinds::PURGE_DEVICES, kinds::PURGE_QUARANTINE, kinds::PURGE_ABANDONED_UPLOADS];

/// The handlers a worker runs, by job kind.
pub type Handlers = HashMap<&'static str, Arc<dyn JobHandler>>;

#[derive(Clone)]
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    relay: OutboxRelay,
    handlers: Arc<Handlers>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    config: WorkerConfig,
    queues: Arc<Vec<String>>,
}

/// A running worker; `shutdown` stops it gracefully.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl WorkerHandle {
    /// Kills the loops on the spot, like a crashed process: nothing is
    /// acknowledged or released (tests of at-least-once delivery).
    #[cfg(test)]
    fn crash(mut self) {
        self.tasks.abort_all();
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("workers stopped");
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// A uniform number in [0, 1) from the OS RNG (via a v4 UUID's random bits).
fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 64) as f64 / (u64::MAX as f64 + 1.0)
}

impl Worker {
    /// A worker for these handlers: it polls exactly the queues their job
    /// kinds name, so a new handler cannot be forgotten in a list.
    pub fn new(
        queue: Arc<dyn JobQueue>,
        relay: OutboxRelay,
        handlers: Vec<Arc<dyn JobHandler>>,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        config: WorkerConfig,
    ) -> Self {
        let mut queues: Vec<String> = handlers.iter().map(|h| h.kind().queue.name().to_owned()).collect();
        queues.sort();
        queues.dedup();
        let by_kind: Handlers = handlers.into_iter().map(|h| (h.kind().name, h)).collect();
        Self { queue, relay, handlers: Arc::new(by_kind), clock, metrics, config, queues: Arc::new(queues) }
    }

    /// Starts `concurrency` job loops and the scheduler on the current runtime.
    pub fn start(&self) -> WorkerHandle {
        let (stop, watcher) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for _ in 0..self.config.concurrency {
            let worker = self.clone();
            let watcher = watcher.clone();
            tasks.spawn(async move { worker.run(watcher).await });
        }
        let worker = self.clone();
        let relay_watcher = watcher.clone();
        tasks.spawn(async move { worker.schedule(watcher).await });
        let worker = self.clone();
        tasks.spawn(async move { worker.relay_outbox(relay_watcher).await });
        tracing::info!(concurrency = self.config.concurrency, queues = ?self.queues, "workers started");
        WorkerHandle { stop, tasks }
    }

    /// Moves promised jobs from the outbox (database) to the queue. While the
    /// queue is down they wait there; one warning per outage.
    async fn relay_outbox(self, stop: watch::Receiver<bool>) {
        let mut failing = false;
        while !*stop.borrow() {
            match self.relay.relay_once().await {
                Ok(relayed) => {
                    if failing {
                        tracing::info!("outbox relay recovered");
                    }
                    failing = false;
                    if relayed > 0 {
                        continue;
                    }
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "outbox relay failed; promised jobs wait in the outbox");
                    }
                    failing = true;
                }
            }
            let idle =
                std::time::Duration::from_millis(self.config.poll_interval.whole_milliseconds() as u64);
            tokio::select! {
                _ = tokio::time::sleep(idle) => {}
                _ = stopped(stop.clone()) => {}
            }
        }
    }

    async fn run(self, stop: watch::Receiver<bool>) {
        // One warning per outage, not one per poll.
        let mut failing = false;
        while !*stop.borrow() {
            let mut worked = false;
            for queue in self.queues.iter() {
                if *stop.borrow() {
                    break;
                }
                match self.queue.reserve(queue, self.config.visibility_timeout).await {
                    Ok(reserved) => {
                        if std::mem::take(&mut failing) {
                            tracing::info!(queue, "job queue reachable again");
                        }
                        if let Some(reserved) = reserved {
                            worked = true;
                            self.process(reserved, stop.clone()).await;
                        }
                    }
                    Err(error) => {
                        if !std::mem::replace(&mut failing, true) {
                            tracing::warn!(%error, queue, "could not reserve a job; retrying quietly until the queue is back");
                        }
                    }
                }
            }
            if !worked {
                let idle =
                    std::time::Duration::from_millis(self.config.poll_interval.whole_milliseconds() as u64);
                tokio::select! {
                    _ = tokio::time::sleep(idle) => {}
                    _ = stopped(stop.clone()) => {}
                }
            }
        }
    }

    fn count(&self, job: &portcullis_application::ports::Job, event: &str) {
        self.metrics.jobs.with_label_values(&[job.queue.as_str(), job.kind.as_str(), event]).inc();
    }

    async fn bury(&self, reserved: &Reserved, error: &str) {
        match self.queue.fail(reserved, error, None).await {
            Ok(Failed::Dead) => {
                self.count(&reserved.job, "dead");
                tracing::error!(job_id = %reserved.job.id, kind = %reserved.job.kind, error, "job moved to the dead-letter set");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not bury a job; it will be redelivered"),
        }
    }

    async fn process(&self, reserved: Reserved, stop: watch::Receiver<bool>) {
        let job = &reserved.job;
        // Redelivered too often: workers keep dying on it.
        if job.attempt > job.max_retries + 1 {
            let error = format!("delivered {} times without finishing", job.attempt - 1);
            return self.bury(&reserved, &error).await;
        }
        let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
            return self.bury(&reserved, &format!("no handler for job kind {:?}", job.kind)).await;
        };
        let started = Instant::now();
        let limit: Duration = self.config.visibility_timeout * 0.9;
        let grace = self.config.shutdown_grace;
        let outcome = tokio::select! {
            result = handler.handle(job) => Some(result),
            _ = tokio::time::sleep(std::time::Duration::from_millis(limit.whole_milliseconds() as u64)) => {
                Some(Err(JobError::Retry(format!("timed out after {limit}").into())))
            }
            _ = async {
                stopped(stop).await;
                tokio::time::sleep(std::time::Duration::from_millis(grace.whole_milliseconds() as u64)).await;
            } => None,
        };
        self.metrics
            .job_duration
            .with_label_values(&[job.queue.as_str(), job.kind.as_str()])
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            None => {
                let released = self.queue.release(&reserved).await;
                tracing::warn!(job_id = %job.id, kind = %job.kind, released = ?released, "shutting down: job released unfinished");
            }
            Some(Ok(())) => match self.queue.ack(&reserved).await {
                Ok(true) => self.count(job, "completed"),
                Ok(false) => {
                    tracing::warn!(job_id = %job.id, "job finished after its lease expired; it may run again")
                }
                Err(error) => {
                    tracing::error!(%error, job_id = %job.id, "could not acknowledge a finished job")
                }
            },
            Some(Err(JobError::Retry(cause))) if job.attempt <= job.max_retries => {
                self.count(job, "failed");
                let delay =
                    retry_delay(job.attempt, self.config.backoff_base, self.config.backoff_max, jitter());
                let error = portcullis_application::error::chain(&cause);
                tracing::warn!(job_id = %job.id, kind = %job.kind, attempt = job.attempt, %error, retry_in = %delay, "job failed; retrying");
                if let Err(e) = self.queue.fail(&reserved, &error, Some(delay)).await {
                    tracing::error!(error = %e, "could not schedule a retry; the job will be redelivered");
                }
            }
            Some(Err(error)) => {
                self.count(job, "failed");
                self.bury(&reserved, &portcullis_application::error::chain(&error)).await;
            }
        }
    }

    /// Enqueues the recurring clean-ups ([`RECURRING`]) once per interval; the idempotency key
    /// (one per interval) makes several workers schedule each run only once.
    async fn schedule(self, stop: watch::Receiver<bool>) {
        let every = self.config.purge_interval;
        let seconds = every.whole_seconds().max(1);
        while !*stop.borrow() {
            let bucket = self.clock.now().unix_timestamp() / seconds;
            for kind in RECURRING {
                let job = kind
                    .job(serde_json::json!({}))
                    .with_idempotency_key(format!("{}:{seconds}:{bucket}", kind.name));
                if let Err(error) = self.queue.enqueue(job).await {
                    tracing::warn!(%error, kind = kind.name, "could not schedule a recurring clean-up");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(seconds as u64)) => {}
                _ = stopped(stop.clone()) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_application::jobs::{JobKind, Queue};
    use portcullis_application::ports::Job;
    use portcullis_infrastructure::clock::SystemClock;
    use portcullis_infrastructure::memory::MemoryJobQueue;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn config(max_retries: u32, grace_ms: i64) -> WorkerConfig {
        WorkerConfig {
            concurrency: 2,
            visibility_timeout: Duration::seconds(30),
            poll_interval: Duration::milliseconds(5),
            max_retries,
            backoff_base: Duration::milliseconds(5),
            backoff_max: Duration::milliseconds(20),
            shutdown_grace: Duration::milliseconds(grace_ms),
            in_process: true,
            purge_interval: Duration::hours(1),
        }
    }

    struct Scripted {
        calls: AtomicU32,
        behaviour: fn(u32) -> Result<(), JobError>,
    }

    const TEST_JOB: JobKind = JobKind { name: "test.job", queue: Queue::MAIL };
    const MAIL: &str = "mail";
    const MAINTENANCE: &str = "maintenance";

    #[async_trait]
    impl JobHandler for Scripted {
        fn kind(&self) -> JobKind {
            TEST_JOB
        }
        async fn handle(&self, _job: &Job) -> Result<(), JobError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            (self.behaviour)(n)
        }
    }

    /// Takes a while.
    struct Slow;

    #[async_trait]
    impl JobHandler for Slow {
        fn kind(&self) -> JobKind {
            TEST_JOB
        }
        async fn handle(&self, _job: &Job) -> Result<(), JobError> {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            Ok(())
        }
    }

    /// Never finishes on its own.
    struct Hangs;

    #[async_trait]
    impl JobHandler for Hangs {
        fn kind(&self) -> JobKind {
            TEST_JOB
        }
        async fn handle(&self, _job: &Job) -> Result<(), JobError> {
            std::future::pending::<()>().await;
            Ok(())
        }
    }

    fn relay(queue: Arc<dyn JobQueue>) -> OutboxRelay {
        let outbox = Arc::new(portcullis_infrastructure::memory::MemoryOutboxStore::default());
        OutboxRelay::new(outbox, queue, Arc::new(SystemClock))
    }

    fn setup(handler: Arc<dyn JobHandler>, config: WorkerConfig) -> (Worker, Arc<MemoryJobQueue>, Metrics) {
        let queue = Arc::new(MemoryJobQueue::new(Arc::new(SystemClock)));
        let metrics = Metrics::new().unwrap();
        let handlers = vec![handler];
        let q: Arc<dyn JobQueue> =
            Arc::new(MeteredQueue::new(queue.clone(), metrics.clone(), config.max_retries));
        let relay = relay(q.clone());
        (Worker::new(q, relay, handlers, Arc::new(SystemClock), metrics.clone(), config), queue, metrics)
    }

    async fn until(mut condition: impl AsyncFnMut() -> bool) {
        for _ in 0..500 {
            if condition().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("condition not reached in 5 s");
    }

    fn mail_job(kind: &str) -> NewJob {
        NewJob::new(MAIL, kind, serde_json::json!({}))
    }

    #[tokio::test]
    async fn successful_jobs_are_acknowledged() {
        let handler = Arc::new(Scripted { calls: AtomicU32::new(0), behaviour: |_| Ok(()) });
        let (worker, queue, metrics) = setup(handler.clone(), config(3, 1000));
        let running = worker.start();
        worker.queue.enqueue(mail_job("test.job")).await.unwrap();
        until(async || queue.stats(MAIL).await.unwrap().completed == 1).await;
        running.shutdown().await;
        assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
        assert_eq!(metrics.jobs.with_label_values(&["mail", "test.job", "completed"]).get(), 1);
        assert_eq!(metrics.jobs.with_label_values(&["mail", "test.job", "enqueued"]).get(), 1);
    }

    #[tokio::test]
    async fn retryable_failures_retry_then_die() {
        let handler = Arc::new(Scripted {
            calls: AtomicU32::new(0),
            behaviour: |n| Err(JobError::Retry(format!("try {n}").into())),
        });
        let (worker, queue, metrics) = setup(handler.clone(), config(2, 1000));
        let running = worker.start();
        worker.queue.enqueue(mail_job("test.job")).await.unwrap();
        until(async || queue.stats(MAIL).await.unwrap().dead == 1).await;
        running.shutdown().await;
        assert_eq!(handler.calls.load(Ordering::SeqCst), 3, "first run + MAX_RETRIES");
        let dead = queue.dead_jobs(MAIL, 10).await.unwrap();
        assert_eq!(dead[0].job.last_error.as_deref(), Some("try 3"));
        assert_eq!(metrics.jobs.with_label_values(&["mail", "test.job", "failed"]).get(), 3);
        assert_eq!(metrics.jobs.with_label_values(&["mail", "test.job", "dead"]).get(), 1);
    }

    #[tokio::test]
    async fn a_transient_failure_recovers_on_retry() {
        let handler = Arc::new(Scripted {
            calls: AtomicU32::new(0),
            behaviour: |n| if n == 1 { Err(JobError::Retry("smtp timeout".into())) } else { Ok(()) },
        });
        let (worker, queue, _) = setup(handler.clone(), config(3, 1000));
        let running = worker.start();
        worker.queue.enqueue(mail_job("test.job")).await.unwrap();
        until(async || queue.stats(MAIL).await.unwrap().completed == 1).await;
        running.shutdown().await;
        assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn fatal_failures_and_unknown_kinds_die_at_once() {
        let handler = Arc::new(Scripted {
            calls: AtomicU32::new(0),
            behaviour: |_| Err(JobError::Fatal("bad payload".into())),
        });
        let (worker, queue, _) = setup(handler.clone(), config(3, 1000));
        let running = worker.start();
        worker.queue.enqueue(mail_job("test.job")).await.unwrap();
        worker.queue.enqueue(mail_job("no.such.kind")).await.unwrap();
        until(async || queue.stats(MAIL).await.unwrap().dead == 2).await;
        running.shutdown().await;
        assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
        let errors: Vec<String> =
            queue.dead_jobs(MAIL, 10).await.unwrap().into_iter().filter_map(|d| d.job.last_error).collect();
        assert!(errors.iter().any(|e| e.contains("no handler")), "{errors:?}");
        assert!(errors.iter().any(|e| e == "bad payload"), "{errors:?}");
    }

    #[tokio::test]
    async fn shutdown_lets_a_running_job_finish() {
        let (worker, queue, _) = setup(Arc::new(Slow), config(3, 5000));
        let running = worker.start();
        worker.queue.enqueue(mail_job("test.job")).await.unwrap();
        until(async || queue.stats(MAIL).await.unwrap().running == 1).await;
        running.shutdown().await;
        assert_eq!(queue.stats(MAIL).await.unwrap(), QueueStats { completed: 1, ..Default::default() });
    }

    #[tokio::test]
    async fn shutdown_releases_a_job_that_outlives_the_grace() {
        let (worker, queue, _) = setup(Arc::new(Hangs), config(3, 50));
        let running = worker.start();
        worker.queue.enqueue(mail_job("test.job")).await.unwrap();
        until(async || queue.stats(MAIL).await.unwrap().running == 1).await;
        running.shutdown().await;
        assert_eq!(queue.stats(MAIL).await.unwrap(), QueueStats { pending: 1, ..Default::default() });
        let again = queue.reserve(MAIL, Duration::seconds(1)).await.unwrap().unwrap();
        assert_eq!(again.job.attempt, 1, "an interrupted run does not use up a retry");
    }

    #[tokio::test]
    async fn a_job_survives_its_worker_dying_mid_run() {
        let mut short = config(3, 1000);
        short.visibility_timeout = Duration::milliseconds(500);
        let queue: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new(Arc::new(SystemClock)));
        let worker_with = |handler: Arc<dyn JobHandler>| {
            let handlers = vec![handler];
            Worker::new(
                queue.clone(),
                relay(queue.clone()),
                handlers,
                Arc::new(SystemClock),
                Metrics::new().unwrap(),
                short.clone(),
            )
        };
        let doomed = worker_with(Arc::new(Hangs)).start();
        queue.enqueue(mail_job("test.job")).await.unwrap();
        until(async || queue.stats(MAIL).await.unwrap().running == 1).await;
        doomed.crash();

        let handler = Arc::new(Scripted { calls: AtomicU32::new(0), behaviour: |_| Ok(()) });
        let survivor = worker_with(handler.clone()).start();
        until(async || queue.stats(MAIL).await.unwrap().completed == 1).await;
        survivor.shutdown().await;
        assert_eq!(handler.calls.load(Ordering::SeqCst), 1, "delivered again after the visibility timeout");
    }

    #[tokio::test]
    async fn a_job_that_keeps_killing_workers_is_buried_unrun() {
        let handler = Arc::new(Scripted { calls: AtomicU32::new(0), behaviour: |_| Ok(()) });
        let (worker, queue, _) = setup(handler.clone(), config(1, 1000));
        worker.queue.enqueue(mail_job("test.job")).await.unwrap();
        // Two deliveries whose workers died (visibility lapses each time).
        for _ in 0..2 {
            queue.reserve(MAIL, Duration::milliseconds(1)).await.unwrap().unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let running = worker.start();
        until(async || queue.stats(MAIL).await.unwrap().dead == 1).await;
        running.shutdown().await;
        assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
    }

    /// The queues polled are those of the registered handlers: a new handler
    /// on a new queue is polled without touching a list.
    #[test]
    fn queues_come_from_the_handlers() {
        struct Other;
        #[async_trait]
        impl JobHandler for Other {
            fn kind(&self) -> JobKind {
                JobKind { name: "other.job", queue: Queue::named("other") }
            }
            async fn handle(&self, _job: &Job) -> Result<(), JobError> {
                Ok(())
            }
        }
        let queue: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new(Arc::new(SystemClock)));
        let handlers: Vec<Arc<dyn JobHandler>> = vec![Arc::new(Slow), Arc::new(Hangs), Arc::new(Other)];
        let worker = Worker::new(
            queue.clone(),
            relay(queue),
            handlers,
            Arc::new(SystemClock),
            Metrics::new().unwrap(),
            config(3, 10),
        );
        assert_eq!(*worker.queues, vec!["mail".to_owned(), "other".to_owned()]);
        assert!(worker.handlers.contains_key("other.job") && worker.handlers.contains_key("test.job"));
    }

    #[tokio::test]
    async fn the_purge_is_scheduled_once_per_interval() {
        let handler = Arc::new(Scripted { calls: AtomicU32::new(0), behaviour: |_| Ok(()) });
        let (worker, queue, _) = setup(handler, config(3, 1000));
        // Two workers (think: two machines) schedule in the same interval.
        let (a, b) = (worker.start(), worker.clone().start());
        until(async || {
            let s = queue.stats(MAINTENANCE).await.unwrap();
            s.pending + s.running + s.dead + s.completed >= RECURRING.len() as u64
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        a.shutdown().await;
        b.shutdown().await;
        let s = queue.stats(MAINTENANCE).await.unwrap();
        // No handler for the clean-ups in this test (and so no worker polls
        // the maintenance queue): each is scheduled, once.
        assert_eq!(s.pending + s.running + s.dead + s.completed, RECURRING.len() as u64, "{s:?}");
    }
}
