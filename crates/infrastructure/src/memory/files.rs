use super::{MemoryOutboxStore, lock};
use async_trait::async_trait;
use portcullis_application::ports::{ConfirmedContent, FileRepository, FileRepositoryError, OutboxMessage};
use portcullis_domain::files::{
    ContentDigest, FileRecord, FileStatus, FileSummary, StatusChange, decide_transition,
};
use portcullis_domain::ids::{FileId, UserId};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

#[derive(Default)]
struct State {
    /// Ordered by id, which is time-ordered: newest last.
    files: BTreeMap<FileId, FileRecord>,
    history: BTreeMap<FileId, Vec<StatusChange>>,
    purged: BTreeMap<FileId, OffsetDateTime>,
}

/// Files in one lock, so the quota and digest checks and the insert are one
/// atomic step, like the database's transaction and unique index. The jobs an
/// insert promises go to the outbox under the same lock.
#[derive(Default)]
pub struct MemoryFileRepository(Mutex<State>, Arc<MemoryOutboxStore>);

impl MemoryFileRepository {
    /// Writes promised jobs to `outbox` (shared with the relay).
    pub fn with_outbox(outbox: Arc<MemoryOutboxStore>) -> Self {
        Self(Mutex::default(), outbox)
    }

    /// Up to `limit` files `due` picks, oldest (by the time it gives) first.
    fn oldest(
        &self,
        limit: usize,
        due: impl Fn(&State, &FileRecord) -> Option<OffsetDateTime>,
    ) -> Vec<FileRecord> {
        let state = lock(&self.0);
        let mut found: Vec<(OffsetDateTime, FileRecord)> =
            state.files.values().filter_map(|f| due(&state, f).map(|at| (at, f.clone()))).collect();
        found.sort_by_key(|(at, f)| (*at, f.id));
        found.into_iter().take(limit).map(|(_, f)| f).collect()
    }

    fn change(
        &self,
        id: FileId,
        to: FileStatus,
        message: Option<String>,
        summary: Option<&FileSummary>,
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError> {
        let mut state = lock(&self.0);
        apply(&mut state, id, to, message, now, |file| {
            if let Some(summary) = summary {
                file.summary = Some(summary.clone());
            }
        })
    }
}

/// Moves a file by the pipeline rule, with `edit` applied, and appends the
/// step to its history: the one way every transition is written.
fn apply(
    state: &mut State,
    id: FileId,
    to: FileStatus,
    message: Option<String>,
    now: OffsetDateTime,
    edit: impl FnOnce(&mut FileRecord),
) -> Result<FileRecord, FileRepositoryError> {
    let file = state.files.get_mut(&id).ok_or(FileRepositoryError::NotFound)?;
    let from = file.status;
    decide_transition(from, to)?;
    edit(file);
    file.status = to;
    file.message = message.clone();
    file.updated_at = now;
    let updated = file.clone();
    state.history.entry(id).or_default().push(StatusChange {
        file_id: id,
        from: Some(from),
        to,
        message,
        at: now,
    });
    Ok(updated)
}

#[async_trait]
impl FileRepository for MemoryFileRepository {
    async fn insert(
        &self,
        file: &FileRecord,
        quota: u32,
        promised: &[OutboxMessage],
    ) -> Result<(), FileRepositoryError> {
        let mut state = lock(&self.0);
        let owned = state.files.values().filter(|f| f.owner == file.owner);
        let mut count = 0u32;
        for existing in owned {
            if file.digest.is_some() && existing.digest == file.digest {
                return Err(FileRepositoryError::Duplicate(existing.id));
            }
            count += 1;
        }
        if count >= quota {
            return Err(FileRepositoryError::QuotaExceeded(quota));
        }
        let first = StatusChange {
            file_id: file.id,
            from: None,
            to: file.status,
            message: file.message.clone(),
            at: file.created_at,
        };
        state.files.insert(file.id, file.clone());
        state.history.insert(file.id, vec![first]);
        for message in promised {
            self.1.push(message, file.created_at);
        }
        Ok(())
    }

    async fn get(&self, owner: UserId, id: FileId) -> Result<Option<FileRecord>, FileRepositoryError> {
        Ok(lock(&self.0).files.get(&id).filter(|f| f.owner == owner).cloned())
    }

    async fn find_by_digest(
        &self,
        owner: UserId,
        digest: &ContentDigest,
    ) -> Result<Option<FileRecord>, FileRepositoryError> {
        Ok(lock(&self.0)
            .files
            .values()
            .find(|f| f.owner == owner && f.digest.as_ref() == Some(digest))
            .cloned())
    }

    async fn transition(
        &self,
        id: FileId,
        to: FileStatus,
        message: Option<String>,
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError> {
        self.change(id, to, message, None, now)
    }

    async fn confirm(
        &self,
        id: FileId,
        found: &ConfirmedContent,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError> {
        let mut state = lock(&self.0);
        let file = state.files.get(&id).ok_or(FileRepositoryError::NotFound)?;
        decide_transition(file.status, FileStatus::Stored)?;
        let owner = file.owner;
        let existing = state
            .files
            .values()
            .find(|f| f.owner == owner && f.id != id && f.digest == Some(found.digest))
            .map(|f| f.id);
        if let Some(existing) = existing {
            return Err(FileRepositoryError::Duplicate(existing));
        }
        let updated = apply(&mut state, id, FileStatus::Stored, None, now, |file| {
            file.file_type = Some(found.file_type);
            file.size = found.size;
            file.digest = Some(found.digest);
        })?;
        for message in promised {
            self.1.push(message, now);
        }
        Ok(updated)
    }

    async fn finish(
        &self,
        id: FileId,
        summary: &FileSummary,
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError> {
        self.change(id, FileStatus::Ready, None, Some(summary), now)
    }

    async fn history(&self, id: FileId) -> Result<Vec<StatusChange>, FileRepositoryError> {
        Ok(lock(&self.0).history.get(&id).cloned().unwrap_or_default())
    }

    async fn list(
        &self,
        owner: UserId,
        status: Option<FileStatus>,
        before: Option<FileId>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError> {
        let state = lock(&self.0);
        Ok(state
            .files
            .values()
            .rev()
            .filter(|f| f.owner == owner)
            .filter(|f| status.is_none_or(|s| f.status == s))
            .filter(|f| before.is_none_or(|b| f.id < b))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn quarantined(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError> {
        Ok(self.oldest(limit, |state, f| {
            (f.status == FileStatus::Infected && f.updated_at < before && !state.purged.contains_key(&f.id))
                .then_some(f.updated_at)
        }))
    }

    async fn count_by_status(&self) -> Result<Vec<(FileStatus, u64)>, FileRepositoryError> {
        let state = lock(&self.0);
        Ok(FileStatus::ALL
            .into_iter()
            .map(|status| (status, state.files.values().filter(|f| f.status == status).count() as u64))
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    async fn abandoned(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError> {
        Ok(self.oldest(limit, |_, f| {
            (f.status == FileStatus::AwaitingUpload && f.created_at < before).then_some(f.created_at)
        }))
    }

    async fn mark_purged(&self, id: FileId, now: OffsetDateTime) -> Result<(), FileRepositoryError> {
        let mut state = lock(&self.0);
        if !state.files.contains_key(&id) {
            return Err(FileRepositoryError::NotFound);
        }
        state.purged.entry(id).or_insert(now);
        Ok(())
    }

    async fn delete(&self, owner: UserId, id: FileId) -> Result<Option<FileRecord>, FileRepositoryError> {
        let mut state = lock(&self.0);
        if state.files.get(&id).is_none_or(|f| f.owner != owner) {
            return Ok(None);
        }
        state.history.remove(&id);
        state.purged.remove(&id);
        Ok(state.files.remove(&id))
    }
}
