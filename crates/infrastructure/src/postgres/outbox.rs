use super::schema::outbox;
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use portcullis_application::ports::{Outbox, OutboxEntry, OutboxMessage, StoreError};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
pub(super) struct OutboxRow {
    id: Uuid,
    queue: String,
    kind: String,
    payload: serde_json::Value,
    created_at: OffsetDateTime,
    available_at: OffsetDateTime,
}

/// `claim` moves `available_at` forward with `FOR UPDATE SKIP LOCKED`, so
/// concurrent relays take disjoint entries.
#[derive(Clone)]
pub struct PgOutbox(PgPool);

impl PgOutbox {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

/// Writes the messages a transaction promises, in that transaction (none:
/// no statement).
pub(super) async fn promise(c: &mut diesel_async::AsyncPgConnection, rows: &[OutboxRow]) -> QueryResult<()> {
    if !rows.is_empty() {
        diesel::insert_into(outbox::table).values(rows).execute(c).await?;
    }
    Ok(())
}

impl OutboxRow {
    pub(super) fn new(message: &OutboxMessage, now: OffsetDateTime) -> Self {
        Self {
            id: Uuid::now_v7(),
            queue: message.queue.clone(),
            kind: message.kind.clone(),
            payload: message.payload.clone(),
            created_at: now,
            available_at: now,
        }
    }
}

#[async_trait]
impl Outbox for PgOutbox {
    async fn add(&self, message: &OutboxMessage, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        diesel::insert_into(outbox::table)
            .values(OutboxRow::new(message, now))
            .execute(&mut c)
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    async fn claim(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut c = conn(&self.0).await?;
        let mut rows: Vec<OutboxRow> = c
            .transaction::<_, diesel::result::Error, _>(async |c| {
                let due: Vec<Uuid> = outbox::table
                    .filter(outbox::available_at.le(now))
                    .order(outbox::id)
                    .limit(i64::from(limit))
                    .select(outbox::id)
                    .for_update()
                    .skip_locked()
                    .load(c)
                    .await?;
                diesel::update(outbox::table.filter(outbox::id.eq_any(due)))
                    .set(outbox::available_at.eq(now + lease))
                    .returning(OutboxRow::as_returning())
                    .get_results(c)
                    .await
            })
            .await
            .map_err(db_error)?;
        rows.sort_by_key(|r| r.id);
        Ok(rows
            .into_iter()
            .map(|r| OutboxEntry {
                id: r.id,
                message: OutboxMessage { queue: r.queue, kind: r.kind, payload: r.payload },
                created_at: r.created_at,
            })
            .collect())
    }

    async fn release(&self, ids: &[Uuid], at: OffsetDateTime) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
            .set(outbox::available_at.eq(at))
            .execute(&mut c)
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    async fn remove(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        diesel::delete(outbox::table.filter(outbox::id.eq_any(ids)))
            .execute(&mut c)
            .await
            .map(|_| ())
            .map_err(db_error)
    }
}
