use super::schema::one_time_tokens;
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use portcullis_application::ports::{Consumed, OneTimeTokenStore, StoreError};
use portcullis_domain::ids::UserId;
use portcullis_domain::one_time::TokenPurpose;
use portcullis_domain::secret::TokenHash;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone)]
pub struct PgOneTimeTokens(PgPool);

impl PgOneTimeTokens {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

#[async_trait]
impl OneTimeTokenStore for PgOneTimeTokens {
    async fn issue(
        &self,
        purpose: TokenPurpose,
        user_id: UserId,
        hash: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        let hash = hash.as_bytes().to_vec();
        c.transaction::<_, DieselError, _>(async |c| {
            diesel::update(
                one_time_tokens::table
                    .filter(one_time_tokens::user_id.eq(user_id.as_uuid()))
                    .filter(one_time_tokens::purpose.eq(purpose.as_str()))
                    .filter(one_time_tokens::used_at.is_null()),
            )
            .set(one_time_tokens::used_at.eq(now))
            .execute(c)
            .await?;
            diesel::insert_into(one_time_tokens::table)
                .values((
                    one_time_tokens::token_hash.eq(hash),
                    one_time_tokens::purpose.eq(purpose.as_str()),
                    one_time_tokens::user_id.eq(user_id.as_uuid()),
                    one_time_tokens::created_at.eq(now),
                    one_time_tokens::expires_at.eq(expires_at),
                ))
                .execute(c)
                .await?;
            Ok(())
        })
        .await
        .map_err(|e| match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::Conflict("one-time token")
            }
            e => db_error(e),
        })
    }

    async fn consume(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Consumed, StoreError> {
        let mut c = conn(&self.0).await?;
        let unused = one_time_tokens::table
            .filter(one_time_tokens::token_hash.eq(hash.as_bytes().to_vec()))
            .filter(one_time_tokens::purpose.eq(purpose.as_str()))
            .filter(one_time_tokens::used_at.is_null());
        // One UPDATE decides: of concurrent callers, only one sees the row.
        let used: Option<Uuid> = diesel::update(unused.clone().filter(one_time_tokens::expires_at.gt(now)))
            .set(one_time_tokens::used_at.eq(now))
            .returning(one_time_tokens::user_id)
            .get_result(&mut c)
            .await
            .optional()
            .map_err(db_error)?;
        if let Some(user) = used {
            return Ok(Consumed::Valid(UserId(user)));
        }
        let expired: i64 = unused.count().get_result(&mut c).await.map_err(db_error)?;
        Ok(if expired > 0 { Consumed::Expired } else { Consumed::Invalid })
    }

    async fn peek(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Consumed, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Option<(Uuid, OffsetDateTime)> = one_time_tokens::table
            .filter(one_time_tokens::token_hash.eq(hash.as_bytes().to_vec()))
            .filter(one_time_tokens::purpose.eq(purpose.as_str()))
            .filter(one_time_tokens::used_at.is_null())
            .select((one_time_tokens::user_id, one_time_tokens::expires_at))
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(match row {
            Some((user, expires_at)) if expires_at > now => Consumed::Valid(UserId(user)),
            Some(_) => Consumed::Expired,
            None => Consumed::Invalid,
        })
    }

    async fn invalidate(
        &self,
        user_id: UserId,
        purposes: &[TokenPurpose],
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut c = conn(&self.0).await?;
        let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
        let ended = diesel::update(
            one_time_tokens::table
                .filter(one_time_tokens::user_id.eq(user_id.as_uuid()))
                .filter(one_time_tokens::purpose.eq_any(purposes))
                .filter(one_time_tokens::used_at.is_null()),
        )
        .set(one_time_tokens::used_at.eq(now))
        .execute(&mut c)
        .await
        .map_err(db_error)?;
        Ok(ended as u64)
    }
}
