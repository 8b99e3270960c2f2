use super::OutboxMessage;
use crate::cause::Cause;
use async_trait::async_trait;
use portcullis_domain::files::{
    ContentDigest, FileRecord, FileStatus, FileSummary, FileType, StatusChange, TransitionRefused,
};
use portcullis_domain::ids::{FileId, UserId};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileRepositoryError {
    /// The owner already has a file with the same bytes: this one.
    #[error("the owner already has a file with these bytes")]
    Duplicate(FileId),
    /// The owner has `quota` files already.
    #[error("file quota of {0} reached")]
    QuotaExceeded(u32),
    #[error(transparent)]
    Transition(#[from] TransitionRefused),
    #[error("no such file")]
    NotFound,
    #[error("file store unavailable")]
    Unavailable(#[source] Cause),
}

/// What reading an uploaded object back found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmedContent {
    pub file_type: FileType,
    pub size: u64,
    pub digest: ContentDigest,
}

/// Files, their status history and the per-owner digest index.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait FileRepository: Send + Sync {
    /// Adds `file` (its first history entry included) unless its owner has
    /// `quota` files already or a file with the same digest — both checked
    /// atomically with the insert, so concurrent uploads cannot pass either.
    /// The jobs it `promised` (the scan) go to the outbox in the same step:
    /// both or neither.
    async fn insert(
        &self,
        file: &FileRecord,
        quota: u32,
        promised: &[OutboxMessage],
    ) -> Result<(), FileRepositoryError>;
    /// The owner's file; another owner's is `None`, as if it did not exist.
    async fn get(&self, owner: UserId, id: FileId) -> Result<Option<FileRecord>, FileRepositoryError>;
    async fn find_by_digest(
        &self,
        owner: UserId,
        digest: &ContentDigest,
    ) -> Result<Option<FileRecord>, FileRepositoryError>;
    /// Moves the file to `to` when [`portcullis_domain::files::decide_transition`]
    /// allows it from the state it is in now (checked and written atomically),
    /// and appends the change to its history.
    async fn transition(
        &self,
        id: FileId,
        to: FileStatus,
        message: Option<String>,
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError>;
    /// `awaiting_upload` → `stored` once the bytes a client uploaded were read
    /// back: records their type, size and digest and writes the `promised`
    /// jobs, in one step. Refused as [`FileRepositoryError::Duplicate`] when
    /// the owner already has a file with that digest (this one is left as it was).
    async fn confirm(
        &self,
        id: FileId,
        found: &ConfirmedContent,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError>;
    /// `processing` → `ready` with what processing found, in one step.
    async fn finish(
        &self,
        id: FileId,
        summary: &FileSummary,
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError>;
    /// Oldest first.
    async fn history(&self, id: FileId) -> Result<Vec<StatusChange>, FileRepositoryError>;
    /// The owner's files, newest first, optionally in one status; `before`
    /// is the id of the last file of the previous page.
    async fn list(
        &self,
        owner: UserId,
        status: Option<FileStatus>,
        before: Option<FileId>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError>;
    /// Infected files last changed before `before` whose bytes are still in
    /// the store (not yet [`FileRepository::mark_purged`]), oldest first.
    async fn quarantined(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError>;
    /// How many files are in each status (all owners; statuses with none are
    /// left out), for the `files_by_status` gauge.
    async fn count_by_status(&self) -> Result<Vec<(FileStatus, u64)>, FileRepositoryError>;
    /// Presigned uploads still `awaiting_upload` that were issued before
    /// `before` (their URL has expired), oldest first.
    async fn abandoned(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError>;
    /// Records that an infected file's bytes were removed from the store; the
    /// record stays (the audit trail refers to it).
    async fn mark_purged(&self, id: FileId, now: OffsetDateTime) -> Result<(), FileRepositoryError>;
    /// Removes the owner's file with its digest entry and history; returns
    /// what was removed (`None` when there was nothing).
    async fn delete(&self, owner: UserId, id: FileId) -> Result<Option<FileRecord>, FileRepositoryError>;
}
