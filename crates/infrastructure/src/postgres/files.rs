use super::outbox::{OutboxRow, promise};
use super::schema::{file_status_changes as changes, files, users};
use super::{PgPool, conn};
use async_trait::async_trait;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use portcullis_application::Cause;
use portcullis_application::ports::{
    ConfirmedContent, FileRepository, FileRepositoryError, OutboxMessage, StoreError,
};
use portcullis_domain::files::{
    ContentDigest, FileRecord, FileStatus, FileSummary, StatusChange, decide_transition,
};
use portcullis_domain::ids::{FileId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = files, check_for_backend(diesel::pg::Pg))]
struct FileRow {
    id: Uuid,
    owner_id: Uuid,
    display_name: String,
    file_type: Option<String>,
    size: i64,
    digest: Option<Vec<u8>>,
    status: String,
    object_key: String,
    message: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    summary: Option<serde_json::Value>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = changes, check_for_backend(diesel::pg::Pg))]
struct ChangeRow {
    file_id: Uuid,
    from_status: Option<String>,
    to_status: String,
    message: Option<String>,
    at: OffsetDateTime,
}

impl ChangeRow {
    /// A move from `from` to `to`, for the history.
    fn step(
        id: FileId,
        from: FileStatus,
        to: FileStatus,
        message: Option<String>,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            file_id: id.as_uuid(),
            from_status: Some(from.as_str().to_owned()),
            to_status: to.as_str().to_owned(),
            message,
            at,
        }
    }
}

/// Not-a-database-error outcomes carried out of a transaction.
enum TxError {
    Db(diesel::result::Error),
    Refused(FileRepositoryError),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

impl From<TxError> for FileRepositoryError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Db(e) => unavailable(e),
            TxError::Refused(e) => e,
        }
    }
}

fn unavailable(e: diesel::result::Error) -> FileRepositoryError {
    FileRepositoryError::Unavailable(Cause::context("postgres", e))
}

fn from_store(e: StoreError) -> FileRepositoryError {
    match e {
        StoreError::Unavailable(cause) => FileRepositoryError::Unavailable(cause),
        other => FileRepositoryError::Unavailable(Cause::new(other)),
    }
}

fn corrupt(what: &str) -> FileRepositoryError {
    FileRepositoryError::Unavailable(Cause::from(format!("unreadable file row: {what}")))
}

impl FileRow {
    fn new(f: &FileRecord) -> Self {
        Self {
            id: f.id.as_uuid(),
            owner_id: f.owner.as_uuid(),
            display_name: f.display_name.clone(),
            file_type: f.file_type.map(|t| t.name().to_owned()),
            size: i64::try_from(f.size).unwrap_or(i64::MAX),
            digest: f.digest.map(|d| d.0.to_vec()),
            status: f.status.as_str().to_owned(),
            object_key: f.object_key.clone(),
            message: f.message.clone(),
            created_at: f.created_at,
            updated_at: f.updated_at,
            summary: f.summary.as_ref().and_then(|s| serde_json::to_value(s).ok()),
        }
    }

    fn into_record(self) -> Result<FileRecord, FileRepositoryError> {
        let digest = match self.digest {
            None => None,
            Some(bytes) => Some(ContentDigest(bytes.try_into().map_err(|_| corrupt("digest"))?)),
        };
        Ok(FileRecord {
            id: self.id.into(),
            owner: self.owner_id.into(),
            display_name: self.display_name,
            file_type: self.file_type.map(|t| t.parse()).transpose().map_err(|_| corrupt("file_type"))?,
            size: u64::try_from(self.size).map_err(|_| corrupt("size"))?,
            digest,
            status: self.status.parse().map_err(|_| corrupt("status"))?,
            object_key: self.object_key,
            message: self.message,
            summary: self.summary.map(serde_json::from_value).transpose().map_err(|_| corrupt("summary"))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The owner's `users` row is locked for the insert, so the quota count and
/// the insert are one step per owner; the partial unique index on
/// `(owner_id, digest)` backs the dedupe. Transitions lock the file row.
#[derive(Clone)]
pub struct PgFileRepository(PgPool);

impl PgFileRepository {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }

    async fn change(
        &self,
        id: FileId,
        to: FileStatus,
        message: Option<String>,
        summary: Option<&FileSummary>,
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError> {
        let summary = summary
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| FileRepositoryError::Unavailable(Cause::context("summary", e)))?;
        let mut c = conn(&self.0).await.map_err(from_store)?;
        let result = c
            .transaction::<_, TxError, _>(async |c| {
                let current: Option<String> = files::table
                    .filter(files::id.eq(id.as_uuid()))
                    .select(files::status)
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                let Some(current) = current else {
                    return Err(TxError::Refused(FileRepositoryError::NotFound));
                };
                let from: FileStatus = current.parse().map_err(|_| TxError::Refused(corrupt("status")))?;
                decide_transition(from, to).map_err(|e| TxError::Refused(e.into()))?;
                let row: FileRow = diesel::update(files::table.filter(files::id.eq(id.as_uuid())))
                    .set((
                        files::status.eq(to.as_str()),
                        files::message.eq(&message),
                        files::updated_at.eq(now),
                        files::summary.eq(&summary),
                    ))
                    .returning(FileRow::as_returning())
                    .get_result(c)
                    .await?;
                diesel::insert_into(changes::table)
                    .values(ChangeRow::step(id, from, to, message.clone(), now))
                    .execute(c)
                    .await?;
                Ok(row)
            })
            .await;
        result?.into_record()
    }

    /// Up to `limit` files `query` matches, in its order.
    async fn load(
        &self,
        query: files::BoxedQuery<'_, Pg>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError> {
        let mut c = conn(&self.0).await.map_err(from_store)?;
        let rows: Vec<FileRow> = query
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(FileRow::as_select())
            .load(&mut c)
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(FileRow::into_record).collect()
    }

    /// The first file `query` matches, if any.
    async fn first(
        &self,
        query: files::BoxedQuery<'_, Pg>,
    ) -> Result<Option<FileRecord>, FileRepositoryError> {
        let mut c = conn(&self.0).await.map_err(from_store)?;
        let row: Option<FileRow> =
            query.select(FileRow::as_select()).first(&mut c).await.optional().map_err(unavailable)?;
        row.map(FileRow::into_record).transpose()
    }
}

#[async_trait]
impl FileRepository for PgFileRepository {
    async fn insert(
        &self,
        file: &FileRecord,
        quota: u32,
        promised: &[OutboxMessage],
    ) -> Result<(), FileRepositoryError> {
        let mut c = conn(&self.0).await.map_err(from_store)?;
        let row = FileRow::new(file);
        let promised: Vec<OutboxRow> = promised.iter().map(|m| OutboxRow::new(m, file.created_at)).collect();
        let first = ChangeRow {
            file_id: row.id,
            from_status: None,
            to_status: row.status.clone(),
            message: row.message.clone(),
            at: row.created_at,
        };
        let result = c
            .transaction::<_, TxError, _>(async |c| {
                let owner: Option<Uuid> = users::table
                    .filter(users::id.eq(row.owner_id))
                    .select(users::id)
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                if owner.is_none() {
                    return Err(TxError::Refused(FileRepositoryError::NotFound));
                }
                if let Some(digest) = &row.digest {
                    let existing: Option<Uuid> = files::table
                        .filter(files::owner_id.eq(row.owner_id).and(files::digest.eq(digest)))
                        .select(files::id)
                        .first(c)
                        .await
                        .optional()?;
                    if let Some(id) = existing {
                        return Err(TxError::Refused(FileRepositoryError::Duplicate(id.into())));
                    }
                }
                let count: i64 =
                    files::table.filter(files::owner_id.eq(row.owner_id)).count().get_result(c).await?;
                if count >= i64::from(quota) {
                    return Err(TxError::Refused(FileRepositoryError::QuotaExceeded(quota)));
                }
                diesel::insert_into(files::table).values(&row).execute(c).await?;
                diesel::insert_into(changes::table).values(&first).execute(c).await?;
                promise(c, &promised).await?;
                Ok(())
            })
            .await;
        Ok(result?)
    }

    async fn get(&self, owner: UserId, id: FileId) -> Result<Option<FileRecord>, FileRepositoryError> {
        self.first(
            files::table
                .filter(files::id.eq(id.as_uuid()).and(files::owner_id.eq(owner.as_uuid())))
                .into_boxed(),
        )
        .await
    }

    async fn find_by_digest(
        &self,
        owner: UserId,
        digest: &ContentDigest,
    ) -> Result<Option<FileRecord>, FileRepositoryError> {
        self.first(
            files::table
                .filter(files::owner_id.eq(owner.as_uuid()).and(files::digest.eq(digest.0.to_vec())))
                .into_boxed(),
        )
        .await
    }

    async fn transition(
        &self,
        id: FileId,
        to: FileStatus,
        message: Option<String>,
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError> {
        self.change(id, to, message, None, now).await
    }

    async fn confirm(
        &self,
        id: FileId,
        found: &ConfirmedContent,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError> {
        let mut c = conn(&self.0).await.map_err(from_store)?;
        let promised: Vec<OutboxRow> = promised.iter().map(|m| OutboxRow::new(m, now)).collect();
        let digest = found.digest.0.to_vec();
        let result = c
            .transaction::<_, TxError, _>(async |c| {
                let current: Option<(Uuid, String)> = files::table
                    .filter(files::id.eq(id.as_uuid()))
                    .select((files::owner_id, files::status))
                    .first(c)
                    .await
                    .optional()?;
                let Some((owner, _)) = current else {
                    return Err(TxError::Refused(FileRepositoryError::NotFound));
                };
                // The owner's row serialises this owner's inserts and confirms
                // (the digest check below), then the file row is locked.
                users::table
                    .filter(users::id.eq(owner))
                    .select(users::id)
                    .for_update()
                    .first::<Uuid>(c)
                    .await?;
                let status: String = files::table
                    .filter(files::id.eq(id.as_uuid()))
                    .select(files::status)
                    .for_update()
                    .first(c)
                    .await?;
                let from: FileStatus = status.parse().map_err(|_| TxError::Refused(corrupt("status")))?;
                decide_transition(from, FileStatus::Stored).map_err(|e| TxError::Refused(e.into()))?;
                let existing: Option<Uuid> = files::table
                    .filter(
                        files::owner_id
                            .eq(owner)
                            .and(files::digest.eq(&digest))
                            .and(files::id.ne(id.as_uuid())),
                    )
                    .select(files::id)
                    .first(c)
                    .await
                    .optional()?;
                if let Some(existing) = existing {
                    return Err(TxError::Refused(FileRepositoryError::Duplicate(existing.into())));
                }
                let row: FileRow = diesel::update(files::table.filter(files::id.eq(id.as_uuid())))
                    .set((
                        files::status.eq(FileStatus::Stored.as_str()),
                        files::file_type.eq(found.file_type.name()),
                        files::size.eq(i64::try_from(found.size).unwrap_or(i64::MAX)),
                        files::digest.eq(&digest),
                        files::message.eq(None::<String>),
                        files::updated_at.eq(now),
                    ))
                    .returning(FileRow::as_returning())
                    .get_result(c)
                    .await?;
                diesel::insert_into(changes::table)
                    .values(ChangeRow::step(id, from, FileStatus::Stored, None, now))
                    .execute(c)
                    .await?;
                promise(c, &promised).await?;
                Ok(row)
            })
            .await;
        result?.into_record()
    }

    async fn finish(
        &self,
        id: FileId,
        summary: &FileSummary,
        now: OffsetDateTime,
    ) -> Result<FileRecord, FileRepositoryError> {
        self.change(id, FileStatus::Ready, None, Some(summary), now).await
    }

    async fn history(&self, id: FileId) -> Result<Vec<StatusChange>, FileRepositoryError> {
        let mut c = conn(&self.0).await.map_err(from_store)?;
        let rows: Vec<ChangeRow> = changes::table
            .filter(changes::file_id.eq(id.as_uuid()))
            .order(changes::id)
            .select(ChangeRow::as_select())
            .load(&mut c)
            .await
            .map_err(unavailable)?;
        rows.into_iter()
            .map(|r| {
                Ok(StatusChange {
                    file_id: r.file_id.into(),
                    from: r.from_status.map(|s| s.parse()).transpose().map_err(|_| corrupt("from_status"))?,
                    to: r.to_status.parse().map_err(|_| corrupt("to_status"))?,
                    message: r.message,
                    at: r.at,
                })
            })
            .collect()
    }

    async fn list(
        &self,
        owner: UserId,
        status: Option<FileStatus>,
        before: Option<FileId>,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError> {
        let mut query = files::table.filter(files::owner_id.eq(owner.as_uuid())).into_boxed();
        if let Some(status) = status {
            query = query.filter(files::status.eq(status.as_str()));
        }
        if let Some(before) = before {
            query = query.filter(files::id.lt(before.as_uuid()));
        }
        self.load(query.order(files::id.desc()), limit).await
    }

    async fn quarantined(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError> {
        let query = files::table
            .filter(files::status.eq(FileStatus::Infected.as_str()))
            .filter(files::purged_at.is_null().and(files::updated_at.lt(before)))
            .order((files::updated_at, files::id))
            .into_boxed();
        self.load(query, limit).await
    }

    async fn count_by_status(&self) -> Result<Vec<(FileStatus, u64)>, FileRepositoryError> {
        let mut c = conn(&self.0).await.map_err(from_store)?;
        let rows: Vec<(String, i64)> = files::table
            .group_by(files::status)
            .select((files::status, diesel::dsl::count_star()))
            .load(&mut c)
            .await
            .map_err(unavailable)?;
        let mut counts = Vec::with_capacity(rows.len());
        for (status, n) in rows {
            let status: FileStatus = status.parse().map_err(|_| corrupt("status"))?;
            counts.push((status, u64::try_from(n).unwrap_or(0)));
        }
        // In the order of the pipeline, as the other adapter gives them.
        counts.sort_by_key(|(s, _)| FileStatus::ALL.iter().position(|x| x == s));
        Ok(counts)
    }

    async fn abandoned(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<FileRecord>, FileRepositoryError> {
        let query = files::table
            .filter(files::status.eq(FileStatus::AwaitingUpload.as_str()).and(files::created_at.lt(before)))
            .order((files::created_at, files::id))
            .into_boxed();
        self.load(query, limit).await
    }

    async fn mark_purged(&self, id: FileId, now: OffsetDateTime) -> Result<(), FileRepositoryError> {
        let mut c = conn(&self.0).await.map_err(from_store)?;
        // The first purge time is kept: only a row not purged yet is updated.
        let updated =
            diesel::update(files::table.filter(files::id.eq(id.as_uuid()).and(files::purged_at.is_null())))
                .set(files::purged_at.eq(now))
                .execute(&mut c)
                .await
                .map_err(unavailable)?;
        let found = if updated > 0 {
            true
        } else {
            diesel::select(diesel::dsl::exists(files::table.filter(files::id.eq(id.as_uuid()))))
                .get_result::<bool>(&mut c)
                .await
                .map_err(unavailable)?
        };
        if found { Ok(()) } else { Err(FileRepositoryError::NotFound) }
    }

    async fn delete(&self, owner: UserId, id: FileId) -> Result<Option<FileRecord>, FileRepositoryError> {
        let mut c = conn(&self.0).await.map_err(from_store)?;
        let row: Option<FileRow> = diesel::delete(
            files::table.filter(files::id.eq(id.as_uuid()).and(files::owner_id.eq(owner.as_uuid()))),
        )
        .returning(FileRow::as_returning())
        .get_result(&mut c)
        .await
        .optional()
        .map_err(unavailable)?;
        row.map(FileRow::into_record).transpose()
    }
}
