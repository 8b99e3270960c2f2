use super::outbox::{OutboxRow, promise};
use super::schema::{user_roles, users};
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use portcullis_application::ports::{OutboxMessage, StoreError, UserFilter, UserRepository};
use portcullis_domain::email::Email;
use portcullis_domain::ids::UserId;
use portcullis_domain::role::SystemRole;
use portcullis_domain::user::{DisplayName, PasswordHash, ProfileChanges, User};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
struct UserRow {
    id: Uuid,
    email: String,
    display_name: Option<String>,
    password_hash: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    email_verified_at: Option<OffsetDateTime>,
    locked_at: Option<OffsetDateTime>,
}

impl UserRow {
    fn from_domain(u: &User) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email.as_str().to_owned(),
            display_name: u.display_name.as_ref().map(|d| d.as_str().to_owned()),
            password_hash: u.password_hash.0.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            email_verified_at: u.email_verified_at,
            locked_at: u.locked_at,
        }
    }

    /// Rows were written through the domain types, so parsing only fails if
    /// someone edited the table by hand; that is reported, not hidden.
    fn into_domain(self) -> Result<User, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Unavailable(format!("postgres: user {} has an invalid {what}", self.id).into())
        };
        Ok(User {
            id: UserId(self.id),
            email: Email::parse(&self.email).map_err(|_| corrupt("email"))?,
            display_name: match &self.display_name {
                Some(d) => Some(DisplayName::parse(d).map_err(|_| corrupt("display_name"))?),
                None => None,
            },
            password_hash: PasswordHash(self.password_hash.clone()),
            created_at: self.created_at,
            updated_at: self.updated_at,
            email_verified_at: self.email_verified_at,
            locked_at: self.locked_at,
        })
    }
}

#[derive(Clone)]
pub struct PgUserRepository(PgPool);

impl PgUserRepository {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

#[async_trait]
impl UserRepository for PgUserRepository {
    async fn insert(&self, user: &User) -> Result<(), StoreError> {
        self.insert_promising(user, &[], user.created_at).await
    }

    async fn insert_promising(
        &self,
        user: &User,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<OutboxRow> = promised.iter().map(|m| OutboxRow::new(m, now)).collect();
        let inserted = c
            .transaction::<_, DieselError, _>(async |c| {
                diesel::insert_into(users::table).values(UserRow::from_domain(user)).execute(c).await?;
                // Every new account holds the `user` role, from the same write.
                diesel::insert_into(user_roles::table)
                    .values((
                        user_roles::user_id.eq(user.id.as_uuid()),
                        user_roles::role_id.eq(SystemRole::User.id().as_uuid()),
                    ))
                    .execute(c)
                    .await?;
                promise(c, &rows).await?;
                Ok(())
            })
            .await;
        match inserted {
            Ok(()) => Ok(()),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
                Err(StoreError::Conflict(if info.constraint_name() == Some("users_email_key") {
                    "email"
                } else {
                    "id"
                }))
            }
            Err(e) => Err(db_error(e)),
        }
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let mut c = conn(&self.0).await?;
        users::table
            .find(id.as_uuid())
            .select(UserRow::as_select())
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?
            .map(UserRow::into_domain)
            .transpose()
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let mut c = conn(&self.0).await?;
        users::table
            .filter(users::email.eq(email.as_str()))
            .select(UserRow::as_select())
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?
            .map(UserRow::into_domain)
            .transpose()
    }

    async fn update_profile(
        &self,
        id: UserId,
        changes: &ProfileChanges,
        now: OffsetDateTime,
    ) -> Result<User, StoreError> {
        let mut c = conn(&self.0).await?;
        let target = diesel::update(users::table.find(id.as_uuid()));
        let row = match &changes.display_name {
            Some(name) => {
                target
                    .set((
                        users::display_name.eq(name.as_ref().map(|d| d.as_str().to_owned())),
                        users::updated_at.eq(now),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(&mut c)
                    .await
            }
            None => {
                target
                    .set(users::updated_at.eq(now))
                    .returning(UserRow::as_returning())
                    .get_result(&mut c)
                    .await
            }
        };
        row.optional().map_err(db_error)?.ok_or(StoreError::NotFound)?.into_domain()
    }

    async fn mark_email_verified(&self, id: UserId, now: OffsetDateTime) -> Result<User, StoreError> {
        let mut c = conn(&self.0).await?;
        // COALESCE keeps the first verification time.
        diesel::update(users::table.find(id.as_uuid()))
            .set(
                users::email_verified_at.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                >("COALESCE(email_verified_at, ")
                .bind::<diesel::sql_types::Timestamptz, _>(now)
                .sql(")")),
            )
            .returning(UserRow::as_returning())
            .get_result(&mut c)
            .await
            .optional()
            .map_err(db_error)?
            .ok_or(StoreError::NotFound)?
            .into_domain()
    }

    async fn set_locked(&self, id: UserId, locked_at: Option<OffsetDateTime>) -> Result<User, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Option<UserRow> = diesel::update(users::table.find(id.as_uuid()))
            .set(users::locked_at.eq(locked_at))
            .returning(UserRow::as_returning())
            .get_result(&mut c)
            .await
            .optional()
            .map_err(db_error)?;
        row.ok_or(StoreError::NotFound)?.into_domain()
    }

    async fn search(
        &self,
        filter: &UserFilter,
        before: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        let mut c = conn(&self.0).await?;
        let mut q = users::table.select(UserRow::as_select()).into_boxed();
        if let Some(part) = &filter.email_contains {
            // A substring, not a pattern: LIKE's own wildcards are escaped.
            let escaped = part.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            q = q.filter(users::email.like(format!("%{escaped}%")));
        }
        if let Some(role) = filter.role {
            let holders =
                user_roles::table.filter(user_roles::role_id.eq(role.as_uuid())).select(user_roles::user_id);
            q = q.filter(users::id.eq_any(holders));
        }
        match filter.locked {
            Some(true) => q = q.filter(users::locked_at.is_not_null()),
            Some(false) => q = q.filter(users::locked_at.is_null()),
            None => {}
        }
        match filter.verified {
            Some(true) => q = q.filter(users::email_verified_at.is_not_null()),
            Some(false) => q = q.filter(users::email_verified_at.is_null()),
            None => {}
        }
        if let Some(before) = before {
            q = q.filter(users::id.lt(before.as_uuid()));
        }
        let rows: Vec<UserRow> =
            q.order(users::id.desc()).limit(i64::from(limit)).load(&mut c).await.map_err(db_error)?;
        rows.into_iter().map(UserRow::into_domain).collect()
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        let updated = diesel::update(users::table.find(id.as_uuid()))
            .set((users::password_hash.eq(&hash.0), users::updated_at.eq(now)))
            .execute(&mut c)
            .await
            .map_err(db_error)?;
        if updated == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}
