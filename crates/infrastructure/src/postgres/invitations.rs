use super::outbox::{OutboxRow, promise};
use super::schema::invitations;
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use portcullis_application::ports::{InvitationStore, OutboxMessage, StoreError};
use portcullis_domain::email::Email;
use portcullis_domain::ids::{InvitationId, UserId};
use portcullis_domain::invitation::Invitation;
use portcullis_domain::role::RoleName;
use portcullis_domain::secret::TokenHash;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations, check_for_backend(diesel::pg::Pg))]
struct InvitationRow {
    id: Uuid,
    email: String,
    roles: Vec<String>,
    token_hash: Vec<u8>,
    invited_by: Option<Uuid>,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    accepted_at: Option<OffsetDateTime>,
    accepted_by: Option<Uuid>,
    revoked_at: Option<OffsetDateTime>,
}

impl InvitationRow {
    fn from_domain(i: &Invitation) -> Self {
        Self {
            id: i.id.as_uuid(),
            email: i.email.as_str().to_owned(),
            roles: i.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            token_hash: i.token_hash.as_bytes().to_vec(),
            invited_by: i.invited_by.map(|u| u.as_uuid()),
            created_at: i.created_at,
            expires_at: i.expires_at,
            accepted_at: i.accepted_at,
            accepted_by: i.accepted_by.map(|u| u.as_uuid()),
            revoked_at: i.revoked_at,
        }
    }

    fn into_domain(self) -> Result<Invitation, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Unavailable(format!("postgres: invitation {} has an invalid {what}", self.id).into())
        };
        Ok(Invitation {
            id: InvitationId(self.id),
            email: Email::parse(&self.email).map_err(|_| corrupt("email"))?,
            roles: self
                .roles
                .iter()
                .map(|r| RoleName::parse(r).map_err(|_| corrupt("role")))
                .collect::<Result<_, _>>()?,
            token_hash: TokenHash::from_slice(&self.token_hash).ok_or_else(|| corrupt("token hash"))?,
            invited_by: self.invited_by.map(UserId),
            created_at: self.created_at,
            expires_at: self.expires_at,
            accepted_at: self.accepted_at,
            accepted_by: self.accepted_by.map(UserId),
            revoked_at: self.revoked_at,
        })
    }
}

#[derive(Clone)]
pub struct PgInvitations(PgPool);

impl PgInvitations {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

#[async_trait]
impl InvitationStore for PgInvitations {
    async fn insert(
        &self,
        invitation: &Invitation,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<OutboxRow> = promised.iter().map(|m| OutboxRow::new(m, now)).collect();
        let row = InvitationRow::from_domain(invitation);
        let inserted = c
            .transaction::<_, DieselError, _>(async |c| {
                diesel::insert_into(invitations::table).values(row).execute(c).await?;
                promise(c, &rows).await?;
                Ok(())
            })
            .await;
        match inserted {
            Ok(()) => Ok(()),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
                Err(StoreError::Conflict(if info.constraint_name() == Some("invitations_token_hash_key") {
                    "token"
                } else {
                    "id"
                }))
            }
            Err(e) => Err(db_error(e)),
        }
    }

    async fn list(&self, limit: u32) -> Result<Vec<Invitation>, StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<InvitationRow> = invitations::table
            .order((invitations::created_at.desc(), invitations::id.desc()))
            .limit(i64::from(limit))
            .select(InvitationRow::as_select())
            .load(&mut c)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(InvitationRow::into_domain).collect()
    }

    async fn find_by_token(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Option<InvitationRow> = invitations::table
            .filter(invitations::token_hash.eq(token.as_bytes().to_vec()))
            .select(InvitationRow::as_select())
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(InvitationRow::into_domain).transpose()
    }

    async fn revoke(&self, id: InvitationId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let changed = diesel::update(
            invitations::table
                .find(id.as_uuid())
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::revoked_at.is_null()),
        )
        .set(invitations::revoked_at.eq(now))
        .execute(&mut c)
        .await
        .map_err(db_error)?;
        Ok(changed > 0)
    }

    async fn reissue(
        &self,
        id: InvitationId,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<Invitation>, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Result<Option<InvitationRow>, DieselError> = diesel::update(
            invitations::table
                .find(id.as_uuid())
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::revoked_at.is_null())
                .filter(invitations::expires_at.gt(now)),
        )
        .set(invitations::token_hash.eq(token.as_bytes().to_vec()))
        .returning(InvitationRow::as_returning())
        .get_result(&mut c)
        .await
        .optional();
        match row {
            Ok(row) => row.map(InvitationRow::into_domain).transpose(),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                Err(StoreError::Conflict("token"))
            }
            Err(e) => Err(db_error(e)),
        }
    }

    async fn redeem(
        &self,
        token: &TokenHash,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Option<Invitation>, StoreError> {
        let mut c = conn(&self.0).await?;
        // One conditional UPDATE: of concurrent redemptions, one matches.
        let row: Option<InvitationRow> = diesel::update(
            invitations::table
                .filter(invitations::token_hash.eq(token.as_bytes().to_vec()))
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::revoked_at.is_null())
                .filter(invitations::expires_at.gt(now)),
        )
        .set((invitations::accepted_at.eq(now), invitations::accepted_by.eq(user.as_uuid())))
        .returning(InvitationRow::as_returning())
        .get_result(&mut c)
        .await
        .optional()
        .map_err(db_error)?;
        row.map(InvitationRow::into_domain).transpose()
    }
}
