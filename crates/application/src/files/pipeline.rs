//! The pipeline, as queue jobs: `file.scan` (stored → scanning → infected |
//! processing, or scan_failed and retried), `file.process` (processing →
//! ready | failed) and the quarantine purge. Delivery is at-least-once, so
//! each handler starts from the state the file is in now and does only what
//! is left.

use super::{announce, event_of};
use crate::audit_trail::AuditTrail;
use crate::error::Cause;
use crate::jobs::{JobError, JobHandler, JobKind, kinds};
use crate::ports::{
    Clock, EventBus, FileEvent, FileProcessor, FileRepository, FileRepositoryError, Job, JobQueue, ObjectKey,
    ObjectStore, ObjectStoreError, OutboxMessage, ProcessError, Progress, ScanVerdict, VirusScanner,
};
use async_trait::async_trait;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::files::{FileRecord, FileStatus, FileType};
use portcullis_domain::ids::{FileId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use time::Duration;

/// What a pipeline job names.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Target {
    file_id: FileId,
    owner: UserId,
}

fn target(job: &Job) -> Result<Target, JobError> {
    serde_json::from_value(job.payload.clone()).map_err(|e| JobError::Fatal(Cause::context("payload", e)))
}

fn payload(file: &FileRecord) -> serde_json::Value {
    json!(Target { file_id: file.id, owner: file.owner })
}

/// The scan an upload promises (written to the outbox with the file).
pub fn scan_message(file: &FileRecord) -> OutboxMessage {
    kinds::FILE_SCAN.message(payload(file))
}

fn retry<E: std::error::Error + Send + Sync + 'static>(context: &'static str) -> impl FnOnce(E) -> JobError {
    move |e| JobError::Retry(Cause::context(context, e))
}

fn key_of(file: &FileRecord) -> Result<ObjectKey, JobError> {
    ObjectKey::new(file.object_key.clone()).map_err(|e| JobError::Fatal(Cause::new(e)))
}

/// The file as it is now; `None` when it was deleted meanwhile (nothing left to do).
async fn current(files: &dyn FileRepository, t: Target) -> Result<Option<FileRecord>, JobError> {
    files.get(t.owner, t.file_id).await.map_err(retry("file repository"))
}

/// Every transition of a job goes through here: persisted (with its
/// history), audited — `security.file.infected` (critical) for an infected
/// file, `file.status.changed` otherwise — and published on the bus.
struct Steps<'a> {
    files: &'a dyn FileRepository,
    events: &'a dyn EventBus,
    audit: &'a AuditTrail,
    clock: &'a dyn Clock,
    ctx: RequestContext,
}

impl<'a> Steps<'a> {
    fn of(
        files: &'a dyn FileRepository,
        events: &'a dyn EventBus,
        audit: &'a AuditTrail,
        clock: &'a dyn Clock,
        job: &Job,
    ) -> Self {
        Self { files, events, audit, clock, ctx: job_context(job) }
    }

    /// Moves the file. A refused transition means another delivery of the
    /// job moved it already: `None`, nothing more to do.
    async fn advance(
        &self,
        id: FileId,
        to: FileStatus,
        message: Option<String>,
    ) -> Result<Option<FileRecord>, JobError> {
        match self.files.transition(id, to, message, self.clock.now()).await {
            Ok(file) => {
                self.record(&file).await;
                Ok(Some(file))
            }
            Err(FileRepositoryError::Transition(_) | FileRepositoryError::NotFound) => Ok(None),
            Err(other) => Err(JobError::Retry(Cause::new(other))),
        }
    }

    /// `processing` → `ready`, with the summary.
    async fn finish(
        &self,
        id: FileId,
        summary: &portcullis_domain::files::FileSummary,
    ) -> Result<(), JobError> {
        match self.files.finish(id, summary, self.clock.now()).await {
            Ok(ready) => {
                self.record(&ready).await;
                Ok(())
            }
            Err(FileRepositoryError::Transition(_) | FileRepositoryError::NotFound) => Ok(()),
            Err(other) => Err(JobError::Retry(Cause::new(other))),
        }
    }

    async fn record(&self, file: &FileRecord) {
        let (action, details) = match file.status {
            FileStatus::Infected => {
                (AuditAction::FileInfected, json!({"file_id": file.id, "signature": file.message}))
            }
            status => (
                AuditAction::FileStatusChanged,
                json!({"file_id": file.id, "status": status.as_str(), "message": file.message}),
            ),
        };
        self.audit.record(action, Some(file.owner), &self.ctx, details).await;
        announce(self.events, &event_of(file)).await;
    }
}

/// No request behind a job: the audit context names the worker.
fn job_context(job: &Job) -> RequestContext {
    RequestContext {
        ip: None,
        user_agent: Some(format!("worker:{}", job.kind)),
        request_id: Some(job.id.to_string()),
        route: None,
        device: None,
    }
}

/// Runs `file.scan`: streams the stored bytes to the virus scanner. A scan
/// without a verdict leaves the file `scan_failed` and the job retried; it is
/// never taken as clean.
pub struct ScanFile {
    files: Arc<dyn FileRepository>,
    objects: Arc<dyn ObjectStore>,
    scanner: Arc<dyn VirusScanner>,
    jobs: Arc<dyn JobQueue>,
    events: Arc<dyn EventBus>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl ScanFile {
    pub fn new(
        files: Arc<dyn FileRepository>,
        objects: Arc<dyn ObjectStore>,
        scanner: Arc<dyn VirusScanner>,
        jobs: Arc<dyn JobQueue>,
        events: Arc<dyn EventBus>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { files, objects, scanner, jobs, events, audit, clock }
    }

    /// Hands a clean file to processing (one job per file, whatever the retries).
    async fn enqueue_processing(&self, file: &FileRecord) -> Result<(), JobError> {
        let job =
            kinds::FILE_PROCESS.job(payload(file)).with_idempotency_key(format!("file.process:{}", file.id));
        self.jobs.enqueue(job).await.map_err(retry("job queue"))?;
        Ok(())
    }
}

#[async_trait]
impl JobHandler for ScanFile {
    fn kind(&self) -> JobKind {
        kinds::FILE_SCAN
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let t = target(job)?;
        let Some(file) = current(&*self.files, t).await? else { return Ok(()) };
        match file.status {
            FileStatus::Stored | FileStatus::ScanFailed | FileStatus::Scanning => {}
            // A delivery before this one got past the scan.
            FileStatus::Processing => return self.enqueue_processing(&file).await,
            _ => return Ok(()),
        }
        let steps = Steps::of(&*self.files, &*self.events, &self.audit, &*self.clock, job);
        if steps.advance(t.file_id, FileStatus::Scanning, None).await?.is_none() {
            return Ok(());
        }
        let content = match self.objects.get(&key_of(&file)?).await {
            Ok(content) => Ok(content),
            Err(ObjectStoreError::NotFound) => {
                // Deleted while queued: the record goes with its bytes.
                return match current(&*self.files, t).await? {
                    None => Ok(()),
                    Some(_) => {
                        Err(JobError::Fatal(Cause::from(format!("file {} has no stored bytes", t.file_id))))
                    }
                };
            }
            Err(other) => Err(other),
        };
        let verdict = match content {
            Ok(content) => self.scanner.scan(content).await.map_err(Cause::new),
            Err(e) => Err(Cause::new(e)),
        };
        match verdict {
            Ok(ScanVerdict::Clean) => {
                if let Some(file) = steps.advance(t.file_id, FileStatus::Processing, None).await? {
                    self.enqueue_processing(&file).await?;
                }
                Ok(())
            }
            Ok(ScanVerdict::Infected { signature }) => {
                steps.advance(t.file_id, FileStatus::Infected, Some(signature)).await?;
                Ok(())
            }
            Err(cause) => {
                let message = Some("the virus scan did not complete; it will be retried".to_owned());
                steps.advance(t.file_id, FileStatus::ScanFailed, message).await?;
                Err(JobError::Retry(cause))
            }
        }
    }
}

/// The processors by file type; a type without one is refused at start-up
/// (the wiring registers the built-ins, a team may replace any).
#[derive(Clone, Default)]
pub struct Processors(HashMap<FileType, Arc<dyn FileProcessor>>);

impl Processors {
    pub fn with(mut self, file_type: FileType, processor: Arc<dyn FileProcessor>) -> Self {
        self.0.insert(file_type, processor);
        self
    }

    pub fn get(&self, file_type: FileType) -> Option<&Arc<dyn FileProcessor>> {
        self.0.get(&file_type)
    }
}

/// Publishes processing progress, at most once per 10 points.
struct Reporter<'a> {
    events: &'a dyn EventBus,
    file: &'a FileRecord,
    clock: &'a dyn Clock,
    last: AtomicU8,
}

#[async_trait]
impl Progress for Reporter<'_> {
    async fn report(&self, percent: u8) {
        let percent = percent.min(99);
        let last = self.last.load(Ordering::Relaxed);
        if percent < last.saturating_add(10) {
            return;
        }
        self.last.store(percent, Ordering::Relaxed);
        let event = FileEvent { progress: percent, at: self.clock.now(), ..event_of(self.file) };
        announce(self.events, &event).await;
    }
}

/// Runs `file.process`: the type's processor reads the clean file; its
/// summary is kept with the file (`ready`), or its reason (`failed`).
pub struct ProcessFile {
    files: Arc<dyn FileRepository>,
    objects: Arc<dyn ObjectStore>,
    processors: Processors,
    events: Arc<dyn EventBus>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl ProcessFile {
    pub fn new(
        files: Arc<dyn FileRepository>,
        objects: Arc<dyn ObjectStore>,
        processors: Processors,
        events: Arc<dyn EventBus>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { files, objects, processors, events, audit, clock }
    }
}

#[async_trait]
impl JobHandler for ProcessFile {
    fn kind(&self) -> JobKind {
        kinds::FILE_PROCESS
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let t = target(job)?;
        let Some(file) = current(&*self.files, t).await? else { return Ok(()) };
        if file.status != FileStatus::Processing {
            return Ok(());
        }
        let steps = Steps::of(&*self.files, &*self.events, &self.audit, &*self.clock, job);
        let processor = file.file_type.and_then(|kind| self.processors.get(kind));
        let Some(processor) = processor else {
            let reason = "no processor for this type of file".to_owned();
            return steps.advance(file.id, FileStatus::Failed, Some(reason)).await.map(|_| ());
        };
        let content = match self.objects.get(&key_of(&file)?).await {
            Ok(content) => content,
            Err(ObjectStoreError::NotFound) => return Ok(()),
            Err(other) => return Err(JobError::Retry(Cause::new(other))),
        };
        let reporter =
            Reporter { events: &*self.events, file: &file, clock: &*self.clock, last: AtomicU8::new(0) };
        match processor.process(&file, content, &reporter).await {
            Ok(summary) => steps.finish(file.id, &summary).await,
            Err(ProcessError::Unreadable { reason }) => {
                steps.advance(file.id, FileStatus::Failed, Some(reason)).await.map(|_| ())
            }
            Err(ProcessError::Content(cause)) => Err(JobError::Retry(cause)),
        }
    }
}

/// Runs `maintenance.purge_quarantine`: removes the bytes of files infected
/// longer than the retention ago; their records stay for the audit trail.
pub struct PurgeQuarantine {
    files: Arc<dyn FileRepository>,
    objects: Arc<dyn ObjectStore>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl PurgeQuarantine {
    pub fn new(
        files: Arc<dyn FileRepository>,
        objects: Arc<dyn ObjectStore>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
        retention: Duration,
    ) -> Self {
        Self { files, objects, audit, clock, retention }
    }
}

#[async_trait]
impl JobHandler for PurgeQuarantine {
    fn kind(&self) -> JobKind {
        kinds::PURGE_QUARANTINE
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let cutoff = self.clock.now() - self.retention;
        loop {
            let due = self.files.quarantined(cutoff, 100).await.map_err(retry("file repository"))?;
            if due.is_empty() {
                return Ok(());
            }
            for file in due {
                self.objects.delete(&key_of(&file)?).await.map_err(retry("object store"))?;
                self.files.mark_purged(file.id, self.clock.now()).await.map_err(retry("file repository"))?;
                self.audit
                    .record(
                        AuditAction::FilePurged,
                        Some(file.owner),
                        &job_context(job),
                        json!({"file_id": file.id}),
                    )
                    .await;
            }
        }
    }
}

/// How long past its URL's expiry an unconfirmed upload is kept.
pub const ABANDONED_GRACE: Duration = Duration::hours(1);

/// Runs `maintenance.purge_abandoned_uploads`: presigned uploads whose URL
/// expired more than [`ABANDONED_GRACE`] ago and were never confirmed are
/// removed (bytes, if any were PUT, then the record), so they stop counting
/// toward their owner's quota.
pub struct PurgeAbandonedUploads {
    files: Arc<dyn FileRepository>,
    objects: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    url_expiry: Duration,
}

impl PurgeAbandonedUploads {
    pub fn new(
        files: Arc<dyn FileRepository>,
        objects: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        url_expiry: Duration,
    ) -> Self {
        Self { files, objects, clock, url_expiry }
    }
}

#[async_trait]
impl JobHandler for PurgeAbandonedUploads {
    fn kind(&self) -> JobKind {
        kinds::PURGE_ABANDONED_UPLOADS
    }

    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let cutoff = self.clock.now() - self.url_expiry - ABANDONED_GRACE;
        let mut removed = 0usize;
        loop {
            let due = self.files.abandoned(cutoff, 100).await.map_err(retry("file repository"))?;
            if due.is_empty() {
                break;
            }
            for file in due {
                self.objects.delete(&key_of(&file)?).await.map_err(retry("object store"))?;
                self.files.delete(file.owner, file.id).await.map_err(retry("file repository"))?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed presigned uploads that were never confirmed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{
        MockAuditLog, MockClock, MockEventBus, MockFileRepository, MockJobQueue, MockObjectStore,
        MockVirusScanner,
    };
    use portcullis_domain::files::ContentDigest;
    use portcullis_domain::jobs::JobId;
    use time::OffsetDateTime;

    fn stored_file() -> FileRecord {
        let now = OffsetDateTime::UNIX_EPOCH;
        let (id, owner) = (FileId::new(), UserId::new());
        FileRecord {
            id,
            owner,
            display_name: "a.csv".into(),
            file_type: Some(FileType::Csv),
            size: 4,
            digest: Some(ContentDigest([1; 32])),
            status: FileStatus::Stored,
            object_key: format!("files/{owner}/{id}"),
            message: None,
            summary: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn job_for(file: &FileRecord) -> Job {
        Job {
            id: JobId::new(),
            queue: "files".into(),
            kind: "file.scan".into(),
            payload: payload(file),
            attempt: 1,
            max_retries: 3,
            enqueued_at: file.created_at,
            last_error: None,
        }
    }

    /// The store failing under the scan is no verdict: `scan_failed`, the job
    /// retried, the scanner never asked, nothing audited as infected.
    #[tokio::test]
    async fn an_unreadable_store_is_a_retried_scan_never_a_clean_one() {
        let file = stored_file();
        let mut files = MockFileRepository::new();
        let current = file.clone();
        files.expect_get().returning(move |_, _| Ok(Some(current.clone())));
        let moved = file.clone();
        let mut seq = mockall::Sequence::new();
        for to in [FileStatus::Scanning, FileStatus::ScanFailed] {
            let moved = moved.clone();
            files
                .expect_transition()
                .withf(move |_, status, _, _| *status == to)
                .times(1)
                .in_sequence(&mut seq)
                .returning(move |_, status, message, _| Ok(FileRecord { status, message, ..moved.clone() }));
        }
        let mut objects = MockObjectStore::new();
        objects
            .expect_get()
            .returning(|_| Err(ObjectStoreError::Unavailable(Cause::from("s3 down".to_owned()))));
        let mut scanner = MockVirusScanner::new();
        scanner.expect_scan().never();
        let mut jobs = MockJobQueue::new();
        jobs.expect_enqueue().never();
        let mut events = MockEventBus::new();
        events.expect_publish().times(2).returning(|_| Ok(()));
        let mut audit = MockAuditLog::new();
        // Both transitions audited, neither as infected.
        audit
            .expect_append()
            .withf(|e| e.action == AuditAction::FileStatusChanged)
            .times(2)
            .returning(|_| Ok(()));
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| OffsetDateTime::UNIX_EPOCH);
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let handler = ScanFile::new(
            Arc::new(files),
            Arc::new(objects),
            Arc::new(scanner),
            Arc::new(jobs),
            Arc::new(events),
            AuditTrail::new(Arc::new(audit), clock.clone()),
            clock,
        );
        let outcome = handler.handle(&job_for(&file)).await;
        assert!(matches!(outcome, Err(JobError::Retry(_))), "{outcome:?}");
    }
}
