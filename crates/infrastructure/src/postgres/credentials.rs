use super::schema::webauthn_credentials as wc;
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use portcullis_application::Cause;
use portcullis_application::ports::{CredentialStore, StoreError, WebauthnCredential};
use portcullis_domain::ids::UserId;
use portcullis_domain::webauthn::CredentialKind;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, Selectable)]
#[diesel(table_name = wc, check_for_backend(diesel::pg::Pg))]
struct Row {
    id: Uuid,
    user_id: Uuid,
    kind: String,
    credential_id: Vec<u8>,
    name: String,
    data: serde_json::Value,
    sign_count: i64,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
}

impl Row {
    fn into_credential(self) -> Result<WebauthnCredential, StoreError> {
        let kind = CredentialKind::parse(&self.kind).ok_or_else(|| {
            StoreError::Unavailable(Cause::from(format!("unknown credential kind {:?}", self.kind)))
        })?;
        Ok(WebauthnCredential {
            id: self.id,
            user_id: UserId(self.user_id),
            kind,
            credential_id: self.credential_id,
            name: self.name,
            data: self.data.to_string(),
            sign_count: u32::try_from(self.sign_count).unwrap_or(u32::MAX),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

fn json(data: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(data)
        .map_err(|e| StoreError::Unavailable(Cause::context("credential data is not JSON", e)))
}

#[derive(Clone)]
pub struct PgCredentialStore(PgPool);

impl PgCredentialStore {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

#[async_trait]
impl CredentialStore for PgCredentialStore {
    async fn add(&self, c: &WebauthnCredential) -> Result<(), StoreError> {
        let mut conn = conn(&self.0).await?;
        let result = diesel::insert_into(wc::table)
            .values((
                wc::id.eq(c.id),
                wc::user_id.eq(c.user_id.as_uuid()),
                wc::kind.eq(c.kind.as_str()),
                wc::credential_id.eq(&c.credential_id),
                wc::name.eq(&c.name),
                wc::data.eq(json(&c.data)?),
                wc::sign_count.eq(i64::from(c.sign_count)),
                wc::created_at.eq(c.created_at),
                wc::last_used_at.eq(c.last_used_at),
            ))
            .execute(&mut conn)
            .await;
        super::inserted(result, "credential_id")
    }

    async fn list(&self, user: UserId) -> Result<Vec<WebauthnCredential>, StoreError> {
        let mut conn = conn(&self.0).await?;
        let rows: Vec<Row> = wc::table
            .filter(wc::user_id.eq(user.as_uuid()))
            .order((wc::created_at.asc(), wc::id.asc()))
            .select(Row::as_select())
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(Row::into_credential).collect()
    }

    async fn find_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebauthnCredential>, StoreError> {
        let mut conn = conn(&self.0).await?;
        let row: Option<Row> = wc::table
            .filter(wc::credential_id.eq(credential_id))
            .select(Row::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(Row::into_credential).transpose()
    }

    async fn rename(&self, user: UserId, id: Uuid, name: &str) -> Result<bool, StoreError> {
        let mut conn = conn(&self.0).await?;
        let changed = diesel::update(wc::table.find(id).filter(wc::user_id.eq(user.as_uuid())))
            .set(wc::name.eq(name))
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(changed == 1)
    }

    async fn remove(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let mut conn = conn(&self.0).await?;
        let removed = diesel::delete(wc::table.find(id).filter(wc::user_id.eq(user.as_uuid())))
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(removed == 1)
    }

    async fn record_use(
        &self,
        id: Uuid,
        sign_count: u32,
        data: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut conn = conn(&self.0).await?;
        let count = i64::from(sign_count);
        // One conditional UPDATE (`counter_advances`): of two assertions with
        // one counter value, one matches. Without a counter (0) only a
        // credential that never had one matches.
        let set = (wc::sign_count.eq(count), wc::data.eq(json(data)?), wc::last_used_at.eq(now));
        let changed = if sign_count == 0 {
            diesel::update(wc::table.find(id).filter(wc::sign_count.eq(0))).set(set).execute(&mut conn).await
        } else {
            diesel::update(wc::table.find(id).filter(wc::sign_count.lt(count)))
                .set(set)
                .execute(&mut conn)
                .await
        }
        .map_err(db_error)?;
        Ok(changed == 1)
    }
}
