//! The file-intake context: uploads (streamed, inspected, deduplicated),
//! reading and deleting (owner-scoped), and the pipeline jobs that scan and
//! process what was stored. [`FileService`] serves requests; the handlers in
//! [`pipeline`] run on the workers. Each holds only the ports it uses.

pub mod intake;
pub mod pipeline;
pub mod storage;

use crate::access::Principal;
use crate::audit_trail::AuditTrail;
use crate::error::{AppError, Cause};
use crate::ports::{
    ByteStream, Clock, ConfirmedContent, EventBus, FileEvent, FileRepository, FileRepositoryError, ObjectKey,
    ObjectStore, ObjectStoreError, PresignedUrl, UrlPresigner,
};
use futures_core::Stream;
use intake::{Refusal, inspect};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::files::{FileRecord, FileStatus, FileTypes, display_name};
use portcullis_domain::ids::{FileId, UserId};
use serde_json::json;
use std::sync::Arc;
use time::Duration;

/// Tunables of file intake (from configuration).
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// `MAX_FILE_SIZE`, bytes.
    pub max_file_size: u64,
    /// `ALLOWED_FILE_TYPES`.
    pub allowed_types: FileTypes,
    /// `MAX_FILES_PER_USER`.
    pub max_files_per_user: u32,
    /// `QUARANTINE_RETENTION`: how long an infected file's bytes are kept.
    pub quarantine_retention: Duration,
    /// `PRESIGNED_URL_EXPIRY`: how long an upload or download URL works.
    pub url_expiry: Duration,
}

impl Default for FileSettings {
    fn default() -> Self {
        Self {
            max_file_size: 10 * 1024 * 1024,
            allowed_types: FileTypes::all(),
            max_files_per_user: 100,
            quarantine_retention: Duration::days(30),
            url_expiry: Duration::minutes(15),
        }
    }
}

/// An accepted upload: the new file, or the owner's file with the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub file: FileRecord,
    pub duplicate: bool,
}

/// A presigned upload: the file awaiting its bytes and where to PUT them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTicket {
    pub file: FileRecord,
    pub url: PresignedUrl,
}

/// One page of a listing, newest first; `next` continues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePage {
    pub files: Vec<FileRecord>,
    pub next: Option<FileId>,
}

/// A bus subscription narrowed to one owner's events (`Missed` passes).
struct OwnEvents {
    inner: crate::ports::EventStream,
    owner: UserId,
}

impl Stream for OwnEvents {
    type Item = crate::ports::BusMessage;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use crate::ports::BusMessage;
        loop {
            match self.inner.as_mut().poll_next(cx) {
                std::task::Poll::Ready(Some(BusMessage::File(e))) if e.owner != self.owner => continue,
                other => return other,
            }
        }
    }
}

/// Where an owner's file is kept: generated from ids only.
pub fn object_key(owner: UserId, id: FileId) -> ObjectKey {
    // Two UUIDs in hyphenated form: always a valid key.
    ObjectKey::new(format!("files/{owner}/{id}")).unwrap_or_else(|_| unreachable!("uuids form valid keys"))
}

/// The event announcing `file` as it stands now.
pub fn event_of(file: &FileRecord) -> FileEvent {
    FileEvent {
        file_id: file.id,
        owner: file.owner,
        status: file.status,
        progress: if file.status.is_final() { 100 } else { 0 },
        message: file.message.clone(),
        at: file.updated_at,
    }
}

/// Publishes best effort: the state is already in the database, an event
/// only announces it (a socket re-reads the state on subscribe).
pub(crate) async fn announce(events: &dyn EventBus, event: &FileEvent) {
    if let Err(error) = events.publish(event).await {
        tracing::warn!(%error, file_id = %event.file_id, "file event not published");
    }
}

pub(crate) fn repository_error(e: FileRepositoryError) -> AppError {
    match e {
        FileRepositoryError::NotFound => AppError::NotFound("file"),
        FileRepositoryError::QuotaExceeded(quota) => AppError::QuotaExceeded { quota },
        other => AppError::Unavailable(Cause::new(other)),
    }
}

fn store_error(e: ObjectStoreError) -> AppError {
    match e {
        ObjectStoreError::NotFound => AppError::NotFound("file"),
        other => AppError::Unavailable(Cause::new(other)),
    }
}

#[derive(Clone)]
pub struct FileService {
    files: Arc<dyn FileRepository>,
    objects: Arc<dyn ObjectStore>,
    urls: Arc<dyn UrlPresigner>,
    events: Arc<dyn EventBus>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
    settings: FileSettings,
}

/// The ports [`FileService`] drives.
pub struct FilePorts {
    pub files: Arc<dyn FileRepository>,
    pub objects: Arc<dyn ObjectStore>,
    /// Presigned URLs: S3's own, or signed links to `/storage`.
    pub urls: Arc<dyn UrlPresigner>,
    pub events: Arc<dyn EventBus>,
    pub audit: AuditTrail,
    pub clock: Arc<dyn Clock>,
}

impl FileService {
    pub fn new(ports: FilePorts, settings: FileSettings) -> Self {
        let FilePorts { files, objects, urls, events, audit, clock } = ports;
        Self { files, objects, urls, events, audit, clock, settings }
    }

    /// Streams `content` to the store while inspecting it; keeps the file
    /// (and promises its scan) unless it is refused, a duplicate of one of the
    /// caller's files, or past the caller's quota — then nothing is kept.
    pub async fn upload(
        &self,
        caller: &Principal,
        client_name: &str,
        content: ByteStream,
        ctx: &RequestContext,
    ) -> Result<Upload, AppError> {
        let owner = caller.user_id;
        let id = FileId::new();
        let key = object_key(owner, id);
        let (stream, inspection) =
            inspect(content, self.settings.max_file_size, self.settings.allowed_types.clone());
        let put = self.objects.put(&key, stream).await;
        if let Some(refusal) = inspection.refusal() {
            return Err(self.refused(refusal));
        }
        match put {
            Ok(_) => {}
            Err(ObjectStoreError::Content(cause)) => return Err(AppError::UploadInterrupted(cause)),
            Err(other) => return Err(store_error(other)),
        }
        let Some(found) = inspection.found() else {
            return Err(AppError::Internal(Cause::from("the store finished before the content".to_owned())));
        };
        let now = self.clock.now();
        let file = FileRecord {
            id,
            owner,
            display_name: display_name(client_name),
            file_type: Some(found.file_type),
            size: found.size,
            digest: Some(found.digest),
            status: FileStatus::Stored,
            object_key: key.as_str().to_owned(),
            message: None,
            summary: None,
            created_at: now,
            updated_at: now,
        };
        let scan = pipeline::scan_message(&file);
        let inserted = self.files.insert(&file, self.settings.max_files_per_user, &[scan]).await;
        let existing = match inserted {
            Ok(()) => None,
            Err(FileRepositoryError::Duplicate(existing)) => Some(existing),
            Err(other) => {
                self.discard(&key).await;
                return Err(repository_error(other));
            }
        };
        if let Some(existing) = existing {
            self.discard(&key).await;
            let file = self.files.get(owner, existing).await.map_err(repository_error)?;
            let file = file.ok_or(AppError::NotFound("file"))?;
            return Ok(Upload { file, duplicate: true });
        }
        self.audit
            .record(
                AuditAction::FileUploaded,
                Some(owner),
                ctx,
                json!({"file_id": file.id, "size": file.size, "type": found.file_type.name()}),
            )
            .await;
        announce(&*self.events, &event_of(&file)).await;
        Ok(Upload { file, duplicate: false })
    }

    fn refused(&self, refusal: Refusal) -> AppError {
        match refusal {
            Refusal::TooLarge => AppError::FileTooLarge { limit: self.settings.max_file_size },
            Refusal::Empty => AppError::EmptyFile,
            Refusal::Unsupported(_) => AppError::UnsupportedFileType {
                allowed: self.settings.allowed_types.iter().map(|t| t.name()).collect(),
            },
        }
    }

    /// Issues a presigned upload of `size` bytes: the file is recorded
    /// `awaiting_upload` (it counts toward the quota) with a URL the client
    /// PUTs the bytes to, then confirms.
    pub async fn request_upload(
        &self,
        caller: &Principal,
        client_name: &str,
        size: u64,
    ) -> Result<UploadTicket, AppError> {
        if size == 0 {
            return Err(AppError::EmptyFile);
        }
        if size > self.settings.max_file_size {
            return Err(AppError::FileTooLarge { limit: self.settings.max_file_size });
        }
        let owner = caller.user_id;
        let id = FileId::new();
        let key = object_key(owner, id);
        let now = self.clock.now();
        let file = FileRecord {
            id,
            owner,
            display_name: display_name(client_name),
            file_type: None,
            size,
            digest: None,
            status: FileStatus::AwaitingUpload,
            object_key: key.as_str().to_owned(),
            message: None,
            summary: None,
            created_at: now,
            updated_at: now,
        };
        self.files.insert(&file, self.settings.max_files_per_user, &[]).await.map_err(repository_error)?;
        match self.urls.presign_put(&key, size, now + self.settings.url_expiry, now).await {
            Ok(url) => Ok(UploadTicket { file, url }),
            Err(e) => {
                // No URL, no promise: the record goes.
                let _ = self.files.delete(owner, id).await;
                Err(store_error(e))
            }
        }
    }

    /// Reads a presigned upload back — size, type and digest are decided
    /// from the stored bytes, nothing the client declared is trusted — and
    /// moves it to `stored` with its scan promised. A refused content is
    /// removed with its record; bytes the caller already has make this a
    /// duplicate of that file. Confirming a file already past
    /// `awaiting_upload` answers it as it is.
    pub async fn confirm(
        &self,
        caller: &Principal,
        id: FileId,
        ctx: &RequestContext,
    ) -> Result<Upload, AppError> {
        let file = self.get(caller, id).await?;
        if file.status != FileStatus::AwaitingUpload {
            return Ok(Upload { file, duplicate: false });
        }
        let key = ObjectKey::new(file.object_key.clone()).map_err(|e| AppError::Internal(Cause::new(e)))?;
        let content = match self.objects.get(&key).await {
            Ok(content) => content,
            Err(ObjectStoreError::NotFound) => return Err(AppError::UploadMissing),
            Err(other) => return Err(store_error(other)),
        };
        let (mut stream, inspection) =
            inspect(content, self.settings.max_file_size, self.settings.allowed_types.clone());
        let mut read_error = None;
        while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            if let Err(e) = chunk {
                read_error = Some(e);
                break;
            }
        }
        if let Some(refusal) = inspection.refusal() {
            self.discard(&key).await;
            let _ = self.files.delete(caller.user_id, id).await;
            return Err(self.refused(refusal));
        }
        let found = match (read_error, inspection.found()) {
            (None, Some(found)) => found,
            (Some(e), _) => return Err(AppError::Unavailable(Cause::context("object store", e))),
            (None, None) => {
                return Err(AppError::Internal(Cause::from("inspection ended without a verdict".to_owned())));
            }
        };
        let content = ConfirmedContent { file_type: found.file_type, size: found.size, digest: found.digest };
        let scan = pipeline::scan_message(&file);
        match self.files.confirm(id, &content, &[scan], self.clock.now()).await {
            Ok(stored) => {
                self.audit
                    .record(
                        AuditAction::FileUploaded,
                        Some(caller.user_id),
                        ctx,
                        json!({"file_id": id, "size": found.size, "type": found.file_type.name(), "via": "presigned"}),
                    )
                    .await;
                announce(&*self.events, &event_of(&stored)).await;
                Ok(Upload { file: stored, duplicate: false })
            }
            Err(FileRepositoryError::Duplicate(existing)) => {
                self.discard(&key).await;
                let _ = self.files.delete(caller.user_id, id).await;
                let file = self.get(caller, existing).await?;
                Ok(Upload { file, duplicate: true })
            }
            // Confirmed concurrently by another request: answer it as it is.
            Err(FileRepositoryError::Transition(_)) => {
                Ok(Upload { file: self.get(caller, id).await?, duplicate: false })
            }
            Err(other) => Err(repository_error(other)),
        }
    }

    /// A URL the owner downloads a `ready` file from (only then: an infected
    /// or unprocessed file never is).
    pub async fn download_url(&self, caller: &Principal, id: FileId) -> Result<PresignedUrl, AppError> {
        let file = self.get(caller, id).await?;
        if file.status != FileStatus::Ready {
            return Err(AppError::FileNotReady { status: file.status });
        }
        let key = ObjectKey::new(file.object_key.clone()).map_err(|e| AppError::Internal(Cause::new(e)))?;
        let now = self.clock.now();
        self.urls
            .presign_get(&key, &file.display_name, now + self.settings.url_expiry, now)
            .await
            .map_err(store_error)
    }

    /// Removes bytes nothing refers to; a failure leaves an orphan object
    /// (logged), never a file without its bytes.
    async fn discard(&self, key: &ObjectKey) {
        if let Err(error) = self.objects.delete(key).await {
            tracing::warn!(%error, %key, "could not remove an unreferenced upload");
        }
    }

    /// The caller's file; another user's is not found.
    pub async fn get(&self, caller: &Principal, id: FileId) -> Result<FileRecord, AppError> {
        self.files.get(caller.user_id, id).await.map_err(repository_error)?.ok_or(AppError::NotFound("file"))
    }

    /// The caller's files, newest first, optionally in one status.
    pub async fn list(
        &self,
        caller: &Principal,
        status: Option<FileStatus>,
        after: Option<FileId>,
        limit: usize,
    ) -> Result<FilePage, AppError> {
        let limit = limit.clamp(1, 100);
        let files =
            self.files.list(caller.user_id, status, after, limit + 1).await.map_err(repository_error)?;
        let (files, next) = crate::paging::page_of(files, limit, |f| f.id);
        Ok(FilePage { files, next })
    }

    /// The caller's files among `ids`: each found one, and the ids that are
    /// not the caller's (or do not exist) — the two are not told apart.
    pub async fn owned(
        &self,
        caller: &Principal,
        ids: &[FileId],
    ) -> Result<(Vec<FileRecord>, Vec<FileId>), AppError> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.files.get(caller.user_id, *id).await.map_err(repository_error)? {
                Some(file) => found.push(file),
                None => missing.push(*id),
            }
        }
        Ok((found, missing))
    }

    /// Status events of the caller's files from now on (other users' events
    /// never reach this stream).
    pub async fn live(&self, caller: &Principal) -> Result<crate::ports::EventStream, AppError> {
        let stream = self.events.subscribe().await.map_err(AppError::from)?;
        let owner = caller.user_id;
        Ok(Box::pin(OwnEvents { inner: stream, owner }))
    }

    /// Files per status, all owners (for operators' metrics).
    pub async fn status_counts(&self) -> Result<Vec<(FileStatus, u64)>, AppError> {
        self.files.count_by_status().await.map_err(repository_error)
    }

    /// Removes the caller's file: its bytes first (so a failure leaves the
    /// file whole), then the record and its dedupe entry.
    pub async fn delete(&self, caller: &Principal, id: FileId, ctx: &RequestContext) -> Result<(), AppError> {
        let file = self.get(caller, id).await?;
        let key = ObjectKey::new(file.object_key.clone()).map_err(|e| AppError::Internal(Cause::new(e)))?;
        self.objects.delete(&key).await.map_err(store_error)?;
        self.files.delete(caller.user_id, id).await.map_err(repository_error)?;
        self.audit.record(AuditAction::FileDeleted, Some(caller.user_id), ctx, json!({"file_id": id})).await;
        Ok(())
    }
}
