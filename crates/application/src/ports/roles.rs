use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::ids::{RoleId, UserId};
use portcullis_domain::permission::PermissionPattern;
use portcullis_domain::role::{Role, RoleName};
use std::collections::BTreeSet;
use time::Duration;

/// Roles and who holds them. The system roles exist from the start (the
/// migration, or the in-memory twin's constructor). Implementations give
/// every new account the `user` role in the same write that creates it
/// (see [`super::UserRepository::insert`]).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RoleRepository: Send + Sync {
    /// Every role, by name.
    async fn list(&self) -> Result<Vec<Role>, StoreError>;
    async fn get(&self, id: RoleId) -> Result<Option<Role>, StoreError>;
    async fn find_by_name(&self, name: &RoleName) -> Result<Option<Role>, StoreError>;
    /// `Err(Conflict("role_name"))` when the name is taken.
    async fn insert(&self, role: &Role) -> Result<(), StoreError>;
    /// Replaces name, description and permissions; `Err(NotFound)` if
    /// absent, `Err(Conflict("role_name"))` when the new name is taken.
    async fn update(&self, role: &Role) -> Result<(), StoreError>;
    /// Deletes the role and every assignment of it; `false` if absent.
    async fn delete(&self, id: RoleId) -> Result<bool, StoreError>;
    /// The roles `user` holds, by name (none for an unknown user).
    async fn roles_of(&self, user: UserId) -> Result<Vec<Role>, StoreError>;
    /// Makes `roles` exactly what `user` holds. `Err(NotFound)` when the user
    /// or one of the roles does not exist (then nothing changes).
    async fn set_user_roles(&self, user: UserId, roles: &BTreeSet<RoleId>) -> Result<(), StoreError>;
    /// Adds `roles` to what `user` holds (those held already stay once).
    /// `Err(NotFound)` as [`Self::set_user_roles`].
    async fn add_user_roles(&self, user: UserId, roles: &BTreeSet<RoleId>) -> Result<(), StoreError>;
}

/// What a user may do, as cached: role names and the union of their patterns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grants {
    pub roles: BTreeSet<String>,
    pub permissions: BTreeSet<PermissionPattern>,
}

impl Grants {
    pub fn of(roles: &[Role]) -> Self {
        Self {
            roles: roles.iter().map(|r| r.name.as_str().to_owned()).collect(),
            permissions: roles.iter().flat_map(|r| r.permissions.iter().cloned()).collect(),
        }
    }
}

/// The cache generation a lookup saw. An entry stored with an older
/// generation than the current one is never served: one bump invalidates
/// every user's entry on every instance at once, and an entry computed from
/// the database before a change (but stored after it) is stale on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct CacheGeneration(pub u64);

/// Effective permissions per user, kept for a while (`ttl`): the database
/// stays the source of truth, and any role or assignment change calls
/// [`PermissionCache::invalidate`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PermissionCache: Send + Sync {
    /// The user's cached grants when current, and the generation seen.
    async fn get(&self, user: UserId) -> Result<(Option<Grants>, CacheGeneration), StoreError>;
    /// Stores grants computed after [`Self::get`] returned `seen`.
    async fn put(
        &self,
        user: UserId,
        grants: &Grants,
        seen: CacheGeneration,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// Makes every entry stale (a new generation).
    async fn invalidate(&self) -> Result<(), StoreError>;
}
