use super::schema::audit_events;
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use portcullis_application::ports::{AuditCursor, AuditFilter, AuditLog, StoreError};
use portcullis_domain::audit::{AuditAction, AuditEvent, Severity};
use portcullis_domain::ids::{AuditEventId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: Uuid,
    occurred_at: OffsetDateTime,
    action: String,
    severity: String,
    user_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    details: serde_json::Value,
}

impl AuditRow {
    fn into_domain(self) -> Result<AuditEvent, StoreError> {
        let unknown = |what: &str, v: &str| {
            StoreError::Unavailable(
                format!("postgres: audit event {} has unknown {what} {v:?}", self.id).into(),
            )
        };
        Ok(AuditEvent {
            id: AuditEventId(self.id),
            occurred_at: self.occurred_at,
            action: AuditAction::parse(&self.action).ok_or_else(|| unknown("action", &self.action))?,
            severity: Severity::parse(&self.severity).ok_or_else(|| unknown("severity", &self.severity))?,
            user_id: self.user_id.map(UserId),
            ip: self.ip,
            user_agent: self.user_agent,
            request_id: self.request_id,
            details: self.details,
        })
    }
}

/// `audit_events` has a trigger that rejects UPDATE, DELETE and TRUNCATE.
#[derive(Clone)]
pub struct PgAuditLog(PgPool);

impl PgAuditLog {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

#[async_trait]
impl AuditLog for PgAuditLog {
    async fn append(&self, e: &AuditEvent) -> Result<(), StoreError> {
        self.append_many(std::slice::from_ref(e)).await
    }

    /// One multi-row `INSERT` (one statement, one transaction).
    async fn append_many(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut c = conn(&self.0).await?;
        let rows: Vec<AuditRow> = events
            .iter()
            .map(|e| AuditRow {
                id: e.id.as_uuid(),
                occurred_at: e.occurred_at,
                action: e.action.as_str().to_owned(),
                severity: e.severity.as_str().to_owned(),
                user_id: e.user_id.map(|u| u.as_uuid()),
                ip: e.ip.clone(),
                user_agent: e.user_agent.clone(),
                request_id: e.request_id.clone(),
                details: e.details.clone(),
            })
            .collect();
        diesel::insert_into(audit_events::table).values(rows).execute(&mut c).await.map(|_| ()).map_err(|e| {
            match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => StoreError::Conflict("audit event id"),
                e => db_error(e),
            }
        })
    }

    async fn list_for_user(
        &self,
        user_id: UserId,
        before: Option<AuditEventId>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut c = conn(&self.0).await?;
        let mut query = audit_events::table
            .filter(audit_events::user_id.eq(user_id.as_uuid()))
            .order(audit_events::id.desc())
            .limit(i64::from(limit))
            .select(AuditRow::as_select())
            .into_boxed();
        if let Some(cursor) = before {
            query = query.filter(audit_events::id.lt(cursor.as_uuid()));
        }
        let rows: Vec<AuditRow> = query.load(&mut c).await.map_err(db_error)?;
        rows.into_iter().map(AuditRow::into_domain).collect()
    }

    async fn query(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        use diesel::dsl::sql;
        use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
        let mut c = conn(&self.0).await?;
        let mut q = audit_events::table.select(AuditRow::as_select()).into_boxed();
        if let Some(user) = filter.user_id {
            q = q.filter(audit_events::user_id.eq(user.as_uuid()));
        }
        if let Some(action) = filter.action {
            q = q.filter(audit_events::action.eq(action.as_str()));
        }
        if let Some(severity) = filter.severity {
            q = q.filter(audit_events::severity.eq(severity.as_str()));
        }
        if let Some(ip) = &filter.ip {
            q = q.filter(audit_events::ip.eq(ip.clone()));
        }
        if let Some(from) = filter.from {
            q = q.filter(audit_events::occurred_at.ge(from));
        }
        if let Some(to) = filter.to {
            q = q.filter(audit_events::occurred_at.lt(to));
        }
        if let Some(cursor) = after {
            // A row comparison, so the (…, occurred_at, id) indexes serve it.
            q = q.filter(
                sql::<Bool>("(occurred_at, id) < (")
                    .bind::<Timestamptz, _>(cursor.occurred_at)
                    .sql(", ")
                    .bind::<SqlUuid, _>(cursor.id.as_uuid())
                    .sql(")"),
            );
        }
        let rows: Vec<AuditRow> = q
            .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
            .limit(i64::from(limit))
            .load(&mut c)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(AuditRow::into_domain).collect()
    }

    async fn count_recent(
        &self,
        user_id: UserId,
        action: AuditAction,
        since: OffsetDateTime,
        at_most: u32,
    ) -> Result<u32, StoreError> {
        let mut c = conn(&self.0).await?;
        // audit_events_by_user_action_time: at most `at_most` index entries.
        let ids: Vec<Uuid> = audit_events::table
            .filter(audit_events::user_id.eq(user_id.as_uuid()))
            .filter(audit_events::action.eq(action.as_str()))
            .filter(audit_events::occurred_at.ge(since))
            .select(audit_events::id)
            .limit(i64::from(at_most))
            .load(&mut c)
            .await
            .map_err(db_error)?;
        Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
    }

    async fn seen_from(
        &self,
        user_id: UserId,
        ip: &str,
        actions: &[AuditAction],
        since: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let actions: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
        diesel::select(diesel::dsl::exists(
            audit_events::table
                .filter(audit_events::user_id.eq(user_id.as_uuid()))
                .filter(audit_events::ip.eq(ip))
                .filter(audit_events::action.eq_any(actions))
                .filter(audit_events::occurred_at.ge(since)),
        ))
        .get_result(&mut c)
        .await
        .map_err(db_error)
    }
}
