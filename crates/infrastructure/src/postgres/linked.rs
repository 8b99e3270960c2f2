use super::schema::linked_accounts as la;
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use portcullis_application::ports::{LinkedAccount, LinkedAccountStore, StoreError};
use portcullis_domain::ids::UserId;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, Selectable)]
#[diesel(table_name = la, check_for_backend(diesel::pg::Pg))]
struct Row {
    id: Uuid,
    user_id: Uuid,
    provider: String,
    subject: String,
    email: Option<String>,
    sealed_tokens: Option<Vec<u8>>,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
}

impl From<Row> for LinkedAccount {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            user_id: UserId(r.user_id),
            provider: r.provider,
            subject: r.subject,
            email: r.email,
            sealed_tokens: r.sealed_tokens,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[derive(Clone)]
pub struct PgLinkedAccounts(PgPool);

impl PgLinkedAccounts {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

#[async_trait]
impl LinkedAccountStore for PgLinkedAccounts {
    async fn link(&self, a: &LinkedAccount) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        let result = diesel::insert_into(la::table)
            .values((
                la::id.eq(a.id),
                la::user_id.eq(a.user_id.as_uuid()),
                la::provider.eq(&a.provider),
                la::subject.eq(&a.subject),
                la::email.eq(&a.email),
                la::sealed_tokens.eq(&a.sealed_tokens),
                la::created_at.eq(a.created_at),
                la::last_used_at.eq(a.last_used_at),
            ))
            .execute(&mut c)
            .await;
        super::inserted(result, "provider_subject")
    }

    async fn find(&self, provider: &str, subject: &str) -> Result<Option<LinkedAccount>, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Option<Row> = la::table
            .filter(la::provider.eq(provider))
            .filter(la::subject.eq(subject))
            .select(Row::as_select())
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(row.map(LinkedAccount::from))
    }

    async fn list(&self, user: UserId) -> Result<Vec<LinkedAccount>, StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<Row> = la::table
            .filter(la::user_id.eq(user.as_uuid()))
            .order((la::created_at.asc(), la::id.asc()))
            .select(Row::as_select())
            .load(&mut c)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(LinkedAccount::from).collect())
    }

    async fn unlink(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let removed = diesel::delete(la::table.find(id).filter(la::user_id.eq(user.as_uuid())))
            .execute(&mut c)
            .await
            .map_err(db_error)?;
        Ok(removed == 1)
    }

    async fn record_use(
        &self,
        id: Uuid,
        sealed: Option<Vec<u8>>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let changed = diesel::update(la::table.find(id))
            .set((la::sealed_tokens.eq(sealed), la::last_used_at.eq(now)))
            .execute(&mut c)
            .await
            .map_err(db_error)?;
        Ok(changed == 1)
    }
}
