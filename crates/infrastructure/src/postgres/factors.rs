use super::schema::{backup_codes, sms_factors, totp_factors, webauthn_credentials};
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use portcullis_application::ports::{FactorStore, FactorSummary, SmsFactor, StoreError, TotpFactor};
use portcullis_domain::ids::UserId;
use portcullis_domain::secret::TokenHash;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, Selectable)]
#[diesel(table_name = totp_factors, check_for_backend(diesel::pg::Pg))]
struct TotpRow {
    user_id: Uuid,
    sealed_secret: Vec<u8>,
    created_at: OffsetDateTime,
    confirmed_at: Option<OffsetDateTime>,
    last_used_step: Option<i64>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sms_factors, check_for_backend(diesel::pg::Pg))]
struct SmsRow {
    user_id: Uuid,
    phone: String,
    created_at: OffsetDateTime,
    confirmed_at: Option<OffsetDateTime>,
}

/// One row of [`FactorStore::summary`]: `None` = no such factor, `Some(false)` = pending.
#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    totp: Option<bool>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    sms: Option<bool>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    codes_left: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    security_keys: i64,
}

/// Steps are seconds / 30 since 1970: far inside `i64`.
fn step_to_db(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

#[derive(Clone)]
pub struct PgFactorStore(PgPool);

impl PgFactorStore {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

async fn put_codes(
    c: &mut AsyncPgConnection,
    user: Uuid,
    codes: &[TokenHash],
    now: OffsetDateTime,
) -> Result<(), DieselError> {
    diesel::delete(backup_codes::table.filter(backup_codes::user_id.eq(user))).execute(c).await?;
    let rows: Vec<_> = codes
        .iter()
        .map(|h| {
            (
                backup_codes::user_id.eq(user),
                backup_codes::code_hash.eq(h.as_bytes().to_vec()),
                backup_codes::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(backup_codes::table).values(rows).on_conflict_do_nothing().execute(c).await?;
    Ok(())
}

#[async_trait]
impl FactorStore for PgFactorStore {
    async fn summary(&self, user: UserId) -> Result<FactorSummary, StoreError> {
        let mut c = conn(&self.0).await?;
        // One round trip for the question every sign-in asks.
        let row: SummaryRow = diesel::sql_query(
            "SELECT (SELECT confirmed_at IS NOT NULL FROM totp_factors WHERE user_id = $1) AS totp,
                    (SELECT confirmed_at IS NOT NULL FROM sms_factors WHERE user_id = $1) AS sms,
                    (SELECT count(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL) AS codes_left,
                    (SELECT count(*) FROM webauthn_credentials WHERE user_id = $1 AND kind = 'security_key') AS security_keys",
        )
        .bind::<diesel::sql_types::Uuid, _>(user.as_uuid())
        .get_result(&mut c)
        .await
        .map_err(db_error)?;
        Ok(FactorSummary {
            totp_confirmed: row.totp == Some(true),
            totp_pending: row.totp == Some(false),
            sms_confirmed: row.sms == Some(true),
            sms_pending: row.sms == Some(false),
            backup_codes_left: usize::try_from(row.codes_left).unwrap_or(0),
            security_keys: usize::try_from(row.security_keys).unwrap_or(0),
        })
    }

    async fn totp(&self, user: UserId) -> Result<Option<TotpFactor>, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Option<TotpRow> = totp_factors::table
            .find(user.as_uuid())
            .select(TotpRow::as_select())
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(row.map(|r| TotpFactor {
            user_id: UserId(r.user_id),
            sealed_secret: r.sealed_secret,
            created_at: r.created_at,
            confirmed_at: r.confirmed_at,
            last_used_step: r.last_used_step.and_then(|s| u64::try_from(s).ok()),
        }))
    }

    async fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        // One statement: a pending factor is replaced, a confirmed one kept.
        let changed = diesel::sql_query(
            "INSERT INTO totp_factors (user_id, sealed_secret, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE
               SET sealed_secret = EXCLUDED.sealed_secret, created_at = EXCLUDED.created_at, last_used_step = NULL
               WHERE totp_factors.confirmed_at IS NULL",
        )
        .bind::<diesel::sql_types::Uuid, _>(user.as_uuid())
        .bind::<diesel::sql_types::Bytea, _>(sealed_secret)
        .bind::<diesel::sql_types::Timestamptz, _>(now)
        .execute(&mut c)
        .await
        .map_err(db_error)?;
        Ok(changed == 1)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let id = user.as_uuid();
        c.transaction::<_, DieselError, _>(async |c| {
            let confirmed =
                diesel::update(totp_factors::table.find(id).filter(totp_factors::confirmed_at.is_null()))
                    .set((
                        totp_factors::confirmed_at.eq(now),
                        totp_factors::last_used_step.eq(step_to_db(step)),
                    ))
                    .execute(c)
                    .await?;
            if confirmed == 0 {
                return Ok(false);
            }
            if !codes.is_empty() {
                put_codes(c, id, codes, now).await?;
            }
            Ok(true)
        })
        .await
        .map_err(db_error)
    }

    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let step = step_to_db(step);
        // One conditional UPDATE: of concurrent uses of a step, one matches.
        let changed = diesel::update(
            totp_factors::table
                .find(user.as_uuid())
                .filter(totp_factors::confirmed_at.is_not_null())
                .filter(totp_factors::last_used_step.is_null().or(totp_factors::last_used_step.lt(step))),
        )
        .set(totp_factors::last_used_step.eq(step))
        .execute(&mut c)
        .await
        .map_err(db_error)?;
        Ok(changed == 1)
    }

    async fn use_backup_code(
        &self,
        user: UserId,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let changed = diesel::update(
            backup_codes::table
                .filter(backup_codes::user_id.eq(user.as_uuid()))
                .filter(backup_codes::code_hash.eq(code.as_bytes().to_vec()))
                .filter(backup_codes::used_at.is_null()),
        )
        .set(backup_codes::used_at.eq(now))
        .execute(&mut c)
        .await
        .map_err(db_error)?;
        Ok(changed == 1)
    }

    async fn replace_backup_codes(
        &self,
        user: UserId,
        codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        let id = user.as_uuid();
        c.transaction::<_, DieselError, _>(async |c| put_codes(c, id, codes, now).await)
            .await
            .map_err(db_error)
    }

    async fn sms(&self, user: UserId) -> Result<Option<SmsFactor>, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Option<SmsRow> = sms_factors::table
            .find(user.as_uuid())
            .select(SmsRow::as_select())
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(row.map(|r| SmsFactor {
            user_id: UserId(r.user_id),
            phone: r.phone,
            created_at: r.created_at,
            confirmed_at: r.confirmed_at,
        }))
    }

    async fn begin_sms(&self, user: UserId, phone: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        // One statement: a pending phone is replaced, a confirmed one kept.
        let changed = diesel::sql_query(
            "INSERT INTO sms_factors (user_id, phone, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE
               SET phone = EXCLUDED.phone, created_at = EXCLUDED.created_at
               WHERE sms_factors.confirmed_at IS NULL",
        )
        .bind::<diesel::sql_types::Uuid, _>(user.as_uuid())
        .bind::<diesel::sql_types::Text, _>(phone)
        .bind::<diesel::sql_types::Timestamptz, _>(now)
        .execute(&mut c)
        .await
        .map_err(db_error)?;
        Ok(changed == 1)
    }

    async fn confirm_sms(
        &self,
        user: UserId,
        codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let id = user.as_uuid();
        c.transaction::<_, DieselError, _>(async |c| {
            let confirmed =
                diesel::update(sms_factors::table.find(id).filter(sms_factors::confirmed_at.is_null()))
                    .set(sms_factors::confirmed_at.eq(now))
                    .execute(c)
                    .await?;
            if confirmed == 0 {
                return Ok(false);
            }
            if !codes.is_empty() {
                put_codes(c, id, codes, now).await?;
            }
            Ok(true)
        })
        .await
        .map_err(db_error)
    }

    async fn remove_all(&self, user: UserId) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let id = user.as_uuid();
        c.transaction::<_, DieselError, _>(async |c| {
            let totp: Vec<Option<OffsetDateTime>> = diesel::delete(totp_factors::table.find(id))
                .returning(totp_factors::confirmed_at)
                .get_results(c)
                .await?;
            let sms: Vec<Option<OffsetDateTime>> = diesel::delete(sms_factors::table.find(id))
                .returning(sms_factors::confirmed_at)
                .get_results(c)
                .await?;
            diesel::delete(backup_codes::table.filter(backup_codes::user_id.eq(id))).execute(c).await?;
            let keys = diesel::delete(
                webauthn_credentials::table
                    .filter(webauthn_credentials::user_id.eq(id))
                    .filter(webauthn_credentials::kind.eq("security_key")),
            )
            .execute(c)
            .await?;
            Ok(totp.iter().chain(&sms).any(Option::is_some) || keys > 0)
        })
        .await
        .map_err(db_error)
    }
}
