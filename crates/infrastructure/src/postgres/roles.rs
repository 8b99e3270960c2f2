use super::schema::{roles, user_roles, users};
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use portcullis_application::ports::{RoleRepository, StoreError};
use portcullis_domain::ids::{RoleId, UserId};
use portcullis_domain::role::{Role, RoleName};
use std::collections::BTreeSet;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = roles, check_for_backend(diesel::pg::Pg))]
struct RoleRow {
    id: Uuid,
    name: String,
    description: String,
    permissions: Vec<String>,
    system: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl RoleRow {
    fn from_domain(r: &Role) -> Self {
        Self {
            id: r.id.as_uuid(),
            name: r.name.as_str().to_owned(),
            description: r.description.clone(),
            permissions: r.permissions.iter().map(ToString::to_string).collect(),
            system: r.system,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }

    fn into_domain(self) -> Result<Role, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Unavailable(format!("postgres: role {} has an invalid {what}", self.id).into())
        };
        let permissions = self
            .permissions
            .iter()
            .map(|p| p.parse().map_err(|_| corrupt("permission")))
            .collect::<Result<_, _>>()?;
        Ok(Role {
            id: RoleId(self.id),
            name: RoleName::parse(&self.name).map_err(|_| corrupt("name"))?,
            description: self.description.clone(),
            permissions,
            system: self.system,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn conflict_or(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("roles_name_key") =>
        {
            StoreError::Conflict("role_name")
        }
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::Conflict("id"),
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) | DieselError::NotFound => {
            StoreError::NotFound
        }
        other => db_error(other),
    }
}

#[derive(Clone)]
pub struct PgRoleRepository(PgPool);

impl PgRoleRepository {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }

    async fn assign(&self, user: UserId, roles: &BTreeSet<RoleId>, replace: bool) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<_> = roles
            .iter()
            .map(|r| (user_roles::user_id.eq(user.as_uuid()), user_roles::role_id.eq(r.as_uuid())))
            .collect();
        c.transaction::<_, DieselError, _>(async |c| {
            // Lock the user row: concurrent assignments apply one after the other.
            users::table.find(user.as_uuid()).select(users::id).for_update().first::<Uuid>(c).await?;
            if replace {
                diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user.as_uuid())))
                    .execute(c)
                    .await?;
            }
            if !rows.is_empty() {
                diesel::insert_into(user_roles::table)
                    .values(rows)
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await?;
            }
            Ok(())
        })
        .await
        .map_err(conflict_or)
    }
}

#[async_trait]
impl RoleRepository for PgRoleRepository {
    async fn list(&self) -> Result<Vec<Role>, StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<RoleRow> = roles::table
            .order(roles::name.asc())
            .select(RoleRow::as_select())
            .load(&mut c)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(RoleRow::into_domain).collect()
    }

    async fn get(&self, id: RoleId) -> Result<Option<Role>, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Option<RoleRow> = roles::table
            .find(id.as_uuid())
            .select(RoleRow::as_select())
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(RoleRow::into_domain).transpose()
    }

    async fn find_by_name(&self, name: &RoleName) -> Result<Option<Role>, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Option<RoleRow> = roles::table
            .filter(roles::name.eq(name.as_str()))
            .select(RoleRow::as_select())
            .first(&mut c)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(RoleRow::into_domain).transpose()
    }

    async fn insert(&self, role: &Role) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        diesel::insert_into(roles::table)
            .values(RoleRow::from_domain(role))
            .execute(&mut c)
            .await
            .map_err(conflict_or)?;
        Ok(())
    }

    async fn update(&self, role: &Role) -> Result<(), StoreError> {
        let mut c = conn(&self.0).await?;
        let row = RoleRow::from_domain(role);
        let changed = diesel::update(roles::table.find(role.id.as_uuid()))
            .set((
                roles::name.eq(row.name),
                roles::description.eq(row.description),
                roles::permissions.eq(row.permissions),
                roles::updated_at.eq(row.updated_at),
            ))
            .execute(&mut c)
            .await
            .map_err(conflict_or)?;
        if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn delete(&self, id: RoleId) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let deleted =
            diesel::delete(roles::table.find(id.as_uuid())).execute(&mut c).await.map_err(db_error)?;
        Ok(deleted > 0)
    }

    async fn roles_of(&self, user: UserId) -> Result<Vec<Role>, StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<RoleRow> = roles::table
            .inner_join(user_roles::table)
            .filter(user_roles::user_id.eq(user.as_uuid()))
            .order(roles::name.asc())
            .select(RoleRow::as_select())
            .load(&mut c)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(RoleRow::into_domain).collect()
    }

    async fn set_user_roles(&self, user: UserId, roles: &BTreeSet<RoleId>) -> Result<(), StoreError> {
        self.assign(user, roles, true).await
    }

    async fn add_user_roles(&self, user: UserId, roles: &BTreeSet<RoleId>) -> Result<(), StoreError> {
        self.assign(user, roles, false).await
    }
}
